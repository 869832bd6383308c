"""Measurement hook of the GPU proof, active only with SCOWSPEC_E2E_HOOK=1 (this folder first on PYTHONPATH).

At exit each CUDA process prints its peak allocated GPU memory, and each training process the timing of its
steps: when the training loop started, when each `training_step` began, when the loop ended. No CUDA
synchronisation is added, so the run is timed as it runs; the lines are read by summarize.py.
"""

import atexit
import gc
import importlib.abc
import importlib.machinery
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Timing:
    """What this process measured (perf_counter seconds; GC pauses in ms)."""

    steps: list[float] = field(default_factory=list)
    loop_start: float | None = None
    loop_end: float | None = None
    gc_started: float = 0.0
    gc_ms: float = 0.0
    gc_max_ms: float = 0.0
    gc_full: int = 0
    profiler: Any = None


_t = _Timing()


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    """Time the collector's pauses while the training loop runs (gc.callbacks)."""
    if _t.loop_start is None or _t.loop_end is not None:
        return
    if phase == "start":
        _t.gc_started = time.perf_counter()
        return
    ms = 1000 * (time.perf_counter() - _t.gc_started)
    _t.gc_ms += ms
    _t.gc_max_ms = max(_t.gc_max_ms, ms)
    _t.gc_full += info.get("generation") == 2


def _profile_step(n: int) -> None:
    """SCOWSPEC_E2E_PROFILE=1: global rank 0 profiles steps 1-6 (CPU and CUDA) and prints where time went."""
    if os.environ.get("SCOWSPEC_E2E_PROFILE") != "1" or os.environ.get("RANK", "0") != "0":
        return
    import torch

    if n == 1:
        _t.profiler = torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        )
        _t.profiler.__enter__()
    elif n == 7 and _t.profiler is not None:
        prof, _t.profiler = _t.profiler, None
        prof.__exit__(None, None, None)
        events = prof.key_averages()
        print("[e2e-profile] steps 1-6, by self CPU time", flush=True)
        print(events.table(sort_by="self_cpu_time_total", row_limit=30), flush=True)
        print("[e2e-profile] steps 1-6, by self CUDA time", flush=True)
        print(events.table(sort_by="self_device_time_total", row_limit=15), flush=True)


def _tag() -> str:
    return f"tag={os.environ.get('SCOWSPEC_E2E_TAG', '-')} rank={os.environ.get('RANK', '-')}"


def _patch_trainer(module: object) -> None:
    trainer = getattr(module, "Trainer", None)
    if trainer is None:
        return
    loop, step = trainer._inner_training_loop, trainer.training_step

    def timed_loop(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _t.loop_start = time.perf_counter()
        try:
            return loop(self, *args, **kwargs)
        finally:
            _t.loop_end = time.perf_counter()

    def timed_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _t.steps.append(time.perf_counter())
        _profile_step(len(_t.steps))
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
    steps = _t.steps
    if steps and _t.loop_start is not None:
        start, end = _t.loop_start, _t.loop_end if _t.loop_end is not None else steps[-1]
        gaps = [round(b - a, 4) for a, b in itertools.pairwise(steps)]
        print(
            f"[e2e] {_tag()} steps={len(steps)} to_first_step_s={steps[0] - start:.3f} "
            f"loop_s={end - start:.3f} last_step_to_end_s={end - steps[-1]:.3f} "
            f"gc_ms={_t.gc_ms:.0f} gc_max_ms={_t.gc_max_ms:.0f} gc_full={_t.gc_full} "
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
    gc.callbacks.append(_gc_timer)
    atexit.register(_report)
