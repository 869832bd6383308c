"""The oracle's offline assets (runs in the oracle venv): a tiny Qwen2 model, one data folder, /app files.

- models/tiny: e2e/gpu/assets.py's 2-layer Qwen2 with its byte-level BPE tokenizer (random weights);
- dataset/: identity.json (LLaMA-Factory's, with {{name}}/{{author}}), pref.json (alpaca with
  chosen/rejected, for rm and dpo), kto.json (alpaca with a kto_tag), pt.json (plain text), notes.yaml
  (a file type LLaMA-Factory does not read);
- app/examples/deepspeed/: the ZeRO configs LLaMA-Factory's image ships under /app/examples/deepspeed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e" / "gpu"))
import assets as gpu_assets

ZERO = {
    "ds_z0_config.json": {"stage": 0},
    "ds_z2_config.json": {"stage": 2},
    "ds_z3_config.json": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
}


def main(root: Path, identity: Path) -> None:
    gpu_assets.main(root, identity, {"tiny"})
    rows = json.loads(identity.read_text("utf-8"))[:16]
    data = root / "dataset"
    data.mkdir(parents=True, exist_ok=True)
    (data / "identity.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), "utf-8")
    pref = [{"instruction": r["instruction"], "input": "", "chosen": r["output"], "rejected": "no"} for r in rows]
    (data / "pref.json").write_text(json.dumps(pref, ensure_ascii=False, indent=1), "utf-8")
    kto = [{**r, "kto_tag": i % 2 == 0} for i, r in enumerate(rows)]
    (data / "kto.json").write_text(json.dumps(kto, ensure_ascii=False, indent=1), "utf-8")
    pt = [{"text": r["instruction"] + " " + r["output"]} for r in rows]
    (data / "pt.json").write_text(json.dumps(pt, ensure_ascii=False, indent=1), "utf-8")
    (data / "notes.yaml").write_text("- a: b\n", "utf-8")
    ds = root / "app" / "examples" / "deepspeed"
    ds.mkdir(parents=True, exist_ok=True)
    for name, zero in ZERO.items():
        cfg = {
            "train_batch_size": "auto",
            "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto",
            "gradient_clipping": "auto",
            "zero_allow_untested_optimizer": True,
            "bf16": {"enabled": "auto"},
            "fp16": {"enabled": "auto"},
            "zero_optimization": zero,
        }
        (ds / name).write_text(json.dumps(cfg, indent=1), "utf-8")
    (root / "assets.done").write_text("ok\n", "utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
