"""Summarise the GPU proof's verify phase as markdown: python e2e/gpu/verify_summary.py LOG_FOLDER.

Per run: exit codes and wall time (run.sh's runs.jsonl), and from the job's verify.json the verdict, the counts per
pass (trained model, NextChat-like system prompt, base model as control), the step timings and the first answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _runs(log: Path) -> list[dict[str, Any]]:
    path = log / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _verify(log: Path, name: str) -> dict[str, Any] | None:
    path = log / f"{name}.verify.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def _counts(rep: dict[str, Any]) -> str:
    summary = rep.get("summary") or {}
    return ", ".join(f"{k} {v['passed']}/{v['total']}" for k, v in summary.items()) or "–"


def main(log: Path) -> None:
    print("### In-job verification and wall time (one node, one GPU)\n")
    print(
        "| run | rc | wall s (start → exit) | verdict | passed per pass | export s | load trained s | load base s | verify process s |"
    )
    print("|---|---|---:|---|---|---:|---:|---:|---:|")
    answers: list[str] = []
    for run in _runs(log):
        rep = _verify(log, run["name"])
        rc = ",".join(str(r) for r in run["rc"])
        if rep is None:
            print(f"| {run['name']} | {rc} | {run['wall_s']} | (no verify.json) | | | | | |")
            continue
        t = rep.get("timings", {})
        cells = [t.get(k, "–") for k in ("export_s", "load_trained_s", "load_base_s", "total_s")]
        print(
            f"| {run['name']} | {rc} | {run['wall_s']} | {rep['status']} | {_counts(rep)} | "
            + " | ".join(map(str, cells))
            + " |"
        )
        for r in rep.get("results", [])[:12]:
            answers.append(
                f"| {run['name']} | {r['run']} | {json.dumps(r['prompt'], ensure_ascii=False)} | "
                f"{'pass' if r['passed'] else 'FAIL'} | {r['seconds']} | {json.dumps(r['answer'][:120], ensure_ascii=False)} |"
            )
    if answers:
        print("\n| run | pass | prompt | verdict | s | answer (first 120 characters) |\n|---|---|---|---|---:|---|")
        print("\n".join(answers))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
