"""Measurement hook of the GPU proof, active only with SCOWSPEC_E2E_HOOK=1 (this folder first on PYTHONPATH).

At exit each CUDA process prints its peak allocated GPU memory, and each training process the timing of its
steps: when the training loop started, when each `training_step` began, when the loop ended. No CUDA
synchronisation is added, so the run is timed as it runs; the lines are read by summarize.py.
"""

import atexit
import importlib.abc
import importlib.machinery
import itertools
import os
import sys
import time

_marks: dict[str, object] = {"steps": []}


def _tag() -> str:
    return f"tag={os.environ.get('SCOWSPEC_E2E_TAG', '-')} rank={os.environ.get('RANK', '-')}"


def _patch_trainer(module: object) -> None:
    trainer = getattr(module, "Trainer", None)
    if trainer is None:
        return
    loop, step = trainer._inner_training_loop, trainer.training_step

    def timed_loop(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _marks["loop_start"] = time.perf_counter()
        try:
            return loop(self, *args, **kwargs)
        finally:
            _marks["loop_end"] = time.perf_counter()

    def timed_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _marks["steps"].append(time.perf_counter())  # type: ignore[attr-defined]
        return step(self, *args, **kwargs)

    trainer._inner_training_loop, trainer.training_step = timed_loop, timed_step


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patch transformers.trainer right after it is imported (this file runs before anything else)."""

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "transformers.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):  # type: ignore[no-untyped-def]
            exec_module(module)
            _patch_trainer(module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _report() -> None:
    steps = _marks["steps"]
    if steps and "loop_start" in _marks:
        start, end = _marks["loop_start"], _marks.get("loop_end", steps[-1])
        gaps = [round(b - a, 4) for a, b in itertools.pairwise(steps)]  # type: ignore[index, arg-type]
        print(
            f"[e2e] {_tag()} steps={len(steps)} to_first_step_s={steps[0] - start:.3f} "  # type: ignore[index, operator]
            f"loop_s={end - start:.3f} last_step_to_end_s={end - steps[-1]:.3f} "  # type: ignore[index, operator]
            f"step_gaps_s={','.join(str(g) for g in gaps)}",
            flush=True,
        )
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            gib = torch.cuda.max_memory_allocated() / 2**30
            print(f"[e2e] {_tag()} peak_alloc_GiB={gib:.2f}", flush=True)
    except Exception as exc:
        print(f"[e2e] peak error {exc!r}", flush=True)


if os.environ.get("SCOWSPEC_E2E_HOOK") == "1":
    sys.meta_path.insert(0, _AfterImport())
    atexit.register(_report)
