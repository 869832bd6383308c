"""Compile the GPU proof's jobs with scowspec (runs here, where scowspec is installed; no GPU needed).

Writes e2e/gpu/build/: one entry script per run (the payload's `command`, exactly what SCOW-AI writes to
entry.sh), the tutorial's literal command for the baseline, and manifest.json describing each run.
    python e2e/gpu/build.py [--cpu] [--gpus-per-node N] [--out DIR]
--cpu: a CPU smoke test (bf16 off, use_cpu on); --gpus-per-node 1: for a 2-GPU machine (2 nodes x 1 GPU);
--out: another folder than e2e/gpu/build/ (the tests use one, so they never replace a build made for a device).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from scowspec.compile.service import compile_loaded
from scowspec.pipeline import load_specs
from scowspec.portal.client import PortalClient
from scowspec.portal.settings import PortalSettings
from scowspec.sandbox.server import start

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(__file__).resolve().parent / "build"
TUTORIAL = ROOT / "specs" / "qwen25-pku-identity.yaml"
SEED = ROOT.parent / "shared" / "seed" / "tutorial13-llamafactory-multinode.md"

LIGER_IMAGE = "app-store-images.pku.edu.cn/hiyouga/llamafactory-liger:0.9.4"
# Candidate defaults measured against the literal command on the 1.5B-shaped model: the same
# global batch (8 per GPU x 4 GPUs), steps and learning-rate schedule, so the loss curves compare.
BIG_VARIANTS: dict[str, dict[str, Any]] = {
    "big-compiled": {},
    # Measured on 4 x H100 (docs/gpu-proof.md): neither helped, within run-to-run noise.
    "big-compiled-fusedadam": {"optim": "adamw_torch_fused"},
    "big-compiled-workers": {"dataloader_num_workers": 2, "dataloader_persistent_workers": True},
    # Per-step synchronisation and the final checkpoint; the adapter is still saved by LLaMA-Factory.
    "big-compiled-lean": {"ddp_broadcast_buffers": False, "save_strategy": "no"},
    # LoRA weights kept in bf16 (no fp32 upcast, no autocast casts).
    "big-compiled-purebf16": {"pure_bf16": True, "bf16": False},
    # Fused Triton kernels (RMSNorm, SwiGLU, RoPE, linear+cross-entropy); needs liger-kernel in the image.
    "big-compiled-liger": {"enable_liger_kernel": True},
    # Session 2: the step is bound by issuing work (e2e/gpu/stepbench.py); fewer operators per step.
    "big-compiled-noamp": {"bf16": False},  # no autocast: LoRA in fp32 as the literal command, base in bf16
    "big-compiled-nonan": {"logging_nan_inf_filter": False},  # no loss NaN check: one sync a step fewer
    "big-compiled-liger-noamp": {"enable_liger_kernel": True, "bf16": False},
    # Eager attention: no SDPA kernel selection or per-shape plans; same math (short sequences here).
    "big-compiled-eager": {"flash_attn": "disabled"},
    "big-compiled-liger-lean": {
        "enable_liger_kernel": True,
        "logging_nan_inf_filter": False,
        "ddp_broadcast_buffers": False,
    },
}


def spec_data(path: Path, **train: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    data["train"].update(train)
    return data


def compile_specs(specs: dict[str, dict[str, Any]], client: PortalClient) -> dict[str, str]:
    """name -> command, compiled by scowspec from spec data (written as files, loaded like any spec)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "scowspec.yaml", folder / "scowspec.yaml")
        (folder / "specs").mkdir()
        for name, data in specs.items():
            (folder / "specs" / f"{name}.yaml").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        here = Path.cwd()
        os.chdir(folder)  # so the command's header names `specs/<name>.yaml`, as in a user's repository
        try:
            compiled = compile_loaded(load_specs([Path("specs")]), client)
        finally:
            os.chdir(here)
        if not compiled.report.ok:
            raise SystemExit("\n".join(d.message for d in compiled.report.errors))
        return {Path(j.spec.file).stem: str(j.payload["command"]) for j in compiled.jobs}


def literal_command(logging_steps: int) -> str:
    """The tutorial's command, verbatim, but each node gets its own /app (as each container has one)."""
    text = SEED.read_text("utf-8")
    block = text.split("运行命令填写：")[1].split("```")[1].removeprefix("\n")
    block = block.replace("/app", "/tmp/app-node${RANK}")
    # Only so the baseline's loss curve can be compared; the tutorial itself logs no point in 60 steps.
    block = block.replace("lr_scheduler_type: cosine\n", f"lr_scheduler_type: cosine\nlogging_steps: {logging_steps}\n")
    return "mkdir -p /tmp/app-node${RANK}/data\n" + block


# In-job verification (issue 12), on one GPU. The small model learns the 91 identity rows in about a minute
# (shared/reference/verify-recipe.md: LoRA rank 64 on all modules, lr 2e-3, 60 epochs); one epoch teaches it nothing,
# so `fail_job: true` must fail that job. The wall runs compare the tutorial's command (start -> merged model) with
# scowspec's (start -> merged AND verified model) on the 1.5B-shaped model, 10 epochs, one node, one GPU.
ID_TRAIN: dict[str, Any] = {
    "lora_rank": 64,
    "learning_rate": 2.0e-3,
    "num_train_epochs": 60.0,
    "warmup_ratio": 0.03,
    "save_strategy": "no",
}
VERIFY_RUNS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # name: (model, train overrides, verify block)
    "verify-id": ("id4m", ID_TRAIN, {"identity": True, "fail_job": True}),
    "verify-id-untrained": ("id4m", {**ID_TRAIN, "num_train_epochs": 1.0}, {"identity": True, "fail_job": True}),
    "wall-scowspec": ("qwen15b", {"num_train_epochs": 10.0, "logging_steps": 5}, {"identity": True}),
}
WALL_EPOCHS = 10


def verify_runs(client: PortalClient, extra: dict[str, Any]) -> list[dict[str, Any]]:
    one_gpu = {"nodes": 1, "gpus_per_node": 0 if extra else 1, "max_time": "1h"}
    specs = {
        name: {**spec_data(TUTORIAL, **{**train, **extra}), "name": name, "resources": one_gpu, "verify": verify}
        for name, (_, train, verify) in VERIFY_RUNS.items()
    }
    runs = [
        {"name": name, "kind": "verify", "command": cmd, "nodes": 1, "model": VERIFY_RUNS[name][0], "data": "raw"}
        for name, cmd in sorted(compile_specs(specs, client).items(), key=lambda item: list(VERIFY_RUNS).index(item[0]))
    ]
    if SEED.exists():
        # The tutorial's command on one node: its NNODES=2 becomes 1; one node has no RANK or MASTER_* of its own.
        literal = (
            literal_command(5)
            .replace("NNODES=2", "NNODES=1")
            .replace("num_train_epochs: 20.0", "num_train_epochs: 10.0")
        )
        literal = "RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29650\n" + literal
        runs.insert(
            2,
            {
                "name": "wall-literal",
                "kind": "verify",
                "command": literal,
                "nodes": 1,
                "model": "qwen15b",
                "data": "filled",
            },
        )
    return runs


def main(cpu: bool, gpus: int, out: Path = BUILD) -> None:
    extra: dict[str, Any] = {"bf16": False, "use_cpu": True} if cpu else {}
    resources = {"nodes": 2, "gpus_per_node": gpus, "max_time": "10h"}
    server = start()
    client = PortalClient(PortalSettings(server.url, "sandbox-token"))
    runs: list[dict[str, Any]] = []
    try:
        checks = {p.stem: spec_data(p, **extra) for p in sorted((ROOT / "specs").glob("*.yaml"))}
        commands = compile_specs(checks, client)
        for name, cmd in commands.items():
            runs.append(
                {"name": f"check-{name}", "kind": "check", "command": cmd, "nodes": 2, "model": "tiny", "data": "raw"}
            )
        tiny = {
            "tiny-2x2": {**spec_data(TUTORIAL, **extra), "name": "tiny-2x2", "resources": resources},
            "tiny-1x2": {
                **spec_data(TUTORIAL, **extra),
                "name": "tiny-1x2",
                "resources": {"nodes": 1, "gpus_per_node": gpus, "max_time": "1h"},
            },
            "tiny-2x2-tb": {
                **spec_data(ROOT / "specs" / "qwen25-pku-identity-tensorboard.yaml", **extra),
                "name": "tiny-2x2-tb",
                "resources": resources,
            },
        }
        for name, cmd in compile_specs(tiny, client).items():
            runs.append(
                {
                    "name": name,
                    "kind": "tiny",
                    "command": cmd,
                    "nodes": 2 if "2x2" in name else 1,
                    "model": "tiny",
                    "data": "raw",
                }
            )
        big = {
            name: {
                **spec_data(TUTORIAL, **{"logging_steps": 5, **extra, **train}),
                "name": name,
                "resources": resources,
                # LLaMA-Factory's own image lacks liger-kernel (an `extra-package` error there): name an image that adds it.
                **({"image": LIGER_IMAGE} if train.get("enable_liger_kernel") else {}),
            }
            for name, train in BIG_VARIANTS.items()
        }
        compiled_big = compile_specs(big, client)
        if SEED.exists():  # the tutorial's own text (the repository's shared/ folder)
            runs.append(
                {
                    "name": "big-literal",
                    "kind": "big",
                    "command": literal_command(5),
                    "nodes": 2,
                    "model": "qwen15b",
                    "data": "filled",
                }
            )
        for name in BIG_VARIANTS:
            runs.append(
                {
                    "name": name,
                    "kind": "big",
                    "command": compiled_big[name],
                    "nodes": 2,
                    "model": "qwen15b",
                    "data": "raw",
                }
            )
        runs += verify_runs(client, extra)
    finally:
        server.shutdown()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for run in runs:
        (out / f"{run['name']}.sh").write_text(run.pop("command"), "utf-8")
    (out / "manifest.json").write_text(json.dumps(runs, indent=1) + "\n", "utf-8")
    names = ", ".join(r["name"] for r in runs)
    print(f"build: {len(runs)} entry scripts in {out}: {names}")
    for run in runs:
        first = (out / f"{run['name']}.sh").read_text("utf-8").splitlines()[0]
        if re.match(r"# scowspec ", first):
            print(f"  {run['name']}: {first}")


if __name__ == "__main__":
    gpus = int(sys.argv[sys.argv.index("--gpus-per-node") + 1]) if "--gpus-per-node" in sys.argv else 2
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else BUILD
    main("--cpu" in sys.argv, gpus, out)
