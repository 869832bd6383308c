"""Summarise a GPU-proof work folder as markdown: python e2e/gpu/summarize.py WORK."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _losses(log: Path) -> list[tuple[int, float]]:
    out = []
    if log.exists():
        for line in log.read_text("utf-8").splitlines():
            row = json.loads(line)
            if "loss" in row and row.get("loss") is not None:
                out.append((int(row["current_steps"]), float(row["loss"])))
    return out


def _smi_peak(csv_path: Path) -> int:
    peak = 0
    if csv_path.exists():
        for row in csv.reader(csv_path.read_text().splitlines()):
            if len(row) == 2 and row[1].strip().isdigit():
                peak = max(peak, int(row[1]))
    return peak


def _step_timing(text: str) -> str:
    """From the hook's lines (rank 0): loop start to first step, first 5 steps, median step after step 10."""
    m = re.search(
        r"\[e2e\] tag=\S+ rank=(?:0|-) steps=(\d+) to_first_step_s=([\d.]+) loop_s=([\d.]+) "
        r"last_step_to_end_s=([\d.]+) .*?step_gaps_s=([\d.,]*)",
        text,
    )
    if not m:
        return "- | - | - | - | -"
    gc = re.search(r"gc_ms=(\d+) gc_max_ms=(\d+) gc_full=(\d+)", m.group(0))
    gc_text = f"{gc.group(1)} ({gc.group(3)} full, max {gc.group(2)})" if gc else "-"
    gaps = [float(g) for g in m.group(5).split(",") if g]
    first5 = sum(gaps[:5])
    steady = sorted(gaps[10:]) or sorted(gaps)
    median = steady[len(steady) // 2] if steady else 0.0
    return f"{float(m.group(2)):.2f} | {first5:.2f} | {median:.3f} | {float(m.group(4)):.2f} | {gc_text}"


def summarize(work: Path) -> str:
    logs = work / "logs"
    runs = (
        [json.loads(x) for x in (logs / "runs.jsonl").read_text().splitlines()]
        if (logs / "runs.jsonl").exists()
        else []
    )
    out = [
        "| run | rc | world size | steps | train_runtime s | samples/s | wall s | peak alloc GiB/rank | nvidia-smi peak MiB | "
        "loss first → last (points) | adapter | merged dirs | TB event files | "
        "to 1st step s | steps 1-5 s | median step s (11+) | last step → end s | GC pause ms in loop |",
        "|" + "---|" * 18,
    ]
    curves: dict[str, list[tuple[int, float]]] = {}
    for run in runs:
        name = run["name"]
        if name.startswith("check-"):
            continue
        text = "".join(p.read_text("utf-8", "replace") for p in sorted(logs.glob(f"{name}-node*.log")))
        worlds = sorted(set(re.findall(r"world size: (\d+)", text)))
        peaks = [float(x) for x in re.findall(r"\[e2e\] tag=\S+ rank=\S+ peak_alloc_GiB=([\d.]+)", text)]
        timing = _step_timing(text)
        job = work / "work" / name
        results = next((r for r in (_json(p) for p in sorted(job.rglob("train_results.json"))) if r), {}) or {}
        trainer_logs = sorted(job.rglob("trainer_log.jsonl"))
        loss = _losses(trainer_logs[0]) if trainer_logs else []
        steps = max((s for s, _ in loss), default=0)
        state = _json(trainer_logs[0].parent / "trainer_state.json") if trainer_logs else None
        if state:
            steps = state.get("global_step", steps)
        curves[name] = loss
        adapter = "yes" if list(job.rglob("adapter_model.safetensors")) else "no"
        merged = sorted(str(p.parent.relative_to(job)) for p in job.rglob("Modelfile"))
        tb = (
            list(Path("/data/home/alice/logs/tensorboard").glob(f"{name}-*/**/events.out.tfevents*"))
            if "tb" in name
            else []
        )
        first_last = f"{loss[0][1]:.4f} → {loss[-1][1]:.4f} ({len(loss)})" if loss else "none"
        out.append(
            f"| {name} | {run['rc']} | {','.join(worlds) or '-'} | {steps} | {results.get('train_runtime', '-')} | "
            f"{results.get('train_samples_per_second', '-')} | {run['wall_s']} | {max(peaks) if peaks else '-'} | "
            f"{_smi_peak(logs / f'{name}.smi.csv') or '-'} | {first_last} | {adapter} | {', '.join(merged) or 'none'} | "
            f"{len(tb) if 'tb' in name else '-'} | {timing} |"
        )
    checks = (
        [json.loads(x) for x in (logs / "parser-check.jsonl").read_text().splitlines()]
        if (logs / "parser-check.jsonl").exists()
        else []
    )
    out += [
        "",
        "Real-parser check (LLaMA-Factory's get_train_args / get_infer_args on the configs each compiled command wrote):",
        "",
    ]
    for c in checks:
        detail = c.get("error") or ", ".join(
            f"{k}={c[k]}"
            for k in (
                "stage",
                "finetuning_type",
                "do_train",
                "bf16",
                "logging_steps",
                "report_to",
                "export_size",
                "export_device",
            )
            if k in c
        )
        out.append(
            f"- {'OK' if c['ok'] else 'FAILED'} `{c['command']}` {Path(c['config']).parent.parent.name}: {detail}"
        )
    big = {k: v for k, v in curves.items() if k.startswith("big") and v}
    if big:
        out += ["", "Loss curves (step: loss):", ""]
        for name, loss in big.items():
            out.append(f"- {name}: " + " ".join(f"{s}:{v:.3f}" for s, v in loss))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
