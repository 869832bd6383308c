"""The loss curve as a PNG (matplotlib, the optional extra `report`, imported only here and only when asked)."""

from __future__ import annotations

import io

from scowspec.errors import ConfigError
from scowspec.report.trainlog import TrainLog


def loss_png(log: TrainLog, title: str) -> bytes:
    """PNG bytes of loss against step. Raises ConfigError when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: CI runners and servers
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "the loss curve needs matplotlib, which is not installed",
            hint="pip install 'scowspec[report]'",
        ) from exc
    steps = [s for s, _ in log.losses]
    losses = [loss for _, loss in log.losses]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    try:
        ax.plot(steps, losses, marker="o", markersize=3, linewidth=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        out = io.BytesIO()
        fig.tight_layout()
        fig.savefig(out, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return out.getvalue()
