"""The GPU proof's harness: its build step runs anywhere; the training runs only where a GPU and LLaMA-Factory are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def test_build_compiles_every_run_with_scowspec(tmp_path: Path) -> None:
    build = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "e2e" / "gpu" / "build.py"), "--gpus-per-node", "1", "--out", str(build)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((build / "manifest.json").read_text("utf-8"))
    names = {run["name"] for run in manifest}
    assert {"check-qwen25-pku-identity", "tiny-2x2", "tiny-1x2", "big-compiled"} <= names
    for run in manifest:
        text = (build / f"{run['name']}.sh").read_text("utf-8")
        if not run["name"].endswith("-literal"):
            assert text.startswith("# scowspec "), run["name"]
    assert "NPROC_PER_NODE=1" in (build / "tiny-2x2.sh").read_text("utf-8")
    # The verification proof: one node, one GPU; the untrained job must fail through fail_job.
    verify = [r["name"] for r in manifest if r["kind"] == "verify"]
    assert verify[:2] == ["verify-id", "verify-id-untrained"] and "wall-scowspec" in verify
    assert all(r["nodes"] == 1 for r in manifest if r["kind"] == "verify")
    untrained = (build / "verify-id-untrained.sh").read_text("utf-8")
    assert '"fail_job": true' in untrained and '"num_train_epochs": 1.0' in untrained
    if (build / "wall-literal.sh").exists():
        literal = (build / "wall-literal.sh").read_text("utf-8")
        assert "NNODES=1" in literal and "num_train_epochs: 10.0" in literal and "llamafactory-cli export" in literal
    # The throughput comparison: scowspec's command keeps attention off cuDNN, the tutorial's does not,
    # and the eager-attention candidate needs no variables.
    assert "export TORCH_CUDNN_SDPA_DEPRIORITIZED=1" in (build / "big-compiled.sh").read_text("utf-8")
    assert "TORCH_CUDNN" not in (build / "big-compiled-eager.sh").read_text("utf-8")
    if (build / "big-literal.sh").exists():  # needs the tutorial's text from ../shared
        assert "TORCH_CUDNN" not in (build / "big-literal.sh").read_text("utf-8")


def test_big_runs_follow_only_repeat_and_get_fresh_jit_caches(tmp_path: Path) -> None:
    # The harness's bookkeeping, on a CPU: each "job" only prints the environment the harness gave it.
    build, work = tmp_path / "build", tmp_path / "work"
    build.mkdir()
    runs = [{"name": n, "kind": "big", "nodes": 2, "model": "m", "data": "d"} for n in ("big-a", "big-b")]
    (build / "manifest.json").write_text(json.dumps(runs), "utf-8")
    for run in runs:
        (build / f"{run['name']}.sh").write_text('echo "job=$SCOWSPEC_E2E_TAG rank=$RANK cache=$CUDA_CACHE_PATH"\n')
    env = {**os.environ, "LOCAL_CPU": "1", "BUILD": str(build), "WORK": str(work), "OUT": str(tmp_path / "out")}
    proc = subprocess.run(
        ["bash", str(ROOT / "e2e" / "gpu" / "run.sh"), "big"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "ONLY": "big-b big-a big-b not-a-run"},
    )
    assert proc.returncode == 0, proc.stderr
    done = [json.loads(line) for line in (work / "logs" / "runs.jsonl").read_text("utf-8").splitlines()]
    assert [(r["name"], r["rc"]) for r in done] == [("big-b", [0, 0]), ("big-a", [0, 0]), ("big-b-r2", [0, 0])]
    logs = {p.name: p.read_text("utf-8").strip() for p in (work / "logs").glob("*-node*.log")}
    assert logs["big-b-r2-node1.log"] == f"job=big-b-r2 rank=1 cache={work}/cuda-cache/big-b-r2-1"
    caches = [line.rsplit("cache=", 1)[1] for line in logs.values()]
    assert len(caches) == len(set(caches)) == 6, "one empty CUDA JIT cache per node and run"


@pytest.mark.gpu
def test_two_nodes_train_and_merge_on_a_gpu_machine() -> None:
    pytest.importorskip("llamafactory")
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no GPU here: see docs/gpu-proof.md for the device runs")
    proc = subprocess.run(
        ["bash", str(ROOT / "e2e" / "gpu" / "run.sh"), "setup", "assets", "check", "tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={"ASSETS": "tiny", **os.environ},
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "| tiny-2x2 | [0, 0] | 4 |" in proc.stdout
