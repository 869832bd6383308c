"""`scowspec status` views."""

from __future__ import annotations

import json
from datetime import datetime

from scowspec.render import FORMAT_VERSION
from scowspec.render import services as services_view
from scowspec.workflow import SpecStatus


def _age(submit_time: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(submit_time.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    secs = int(max(0.0, (now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def text(statuses: list[SpecStatus], now: datetime) -> str:
    out: list[str] = []
    for s in statuses:
        out.append(f"{s.spec_name}  ({s.file})  current job name: {s.job_name}")
        if not s.jobs:
            out.append("    no jobs yet: `scowspec apply` submits one")
        elif s.current is None:
            out.append("    current version not submitted: `scowspec apply` submits it")
        for j in s.jobs:
            mark = "*" if j.name == s.job_name else " "
            board = f"  TensorBoard: {s.tensorboard[j.job_id]}" if j.job_id in s.tensorboard else ""
            out.append(f"  {mark} job {j.job_id:<6} {j.state:<10} {_age(j.submit_time, now):>5} ago  {j.name}{board}")
        if s.serving:
            out.append(services_view.status_line(s.service))
    flagged = [s for s in statuses if s.needs_attention]
    specs = f"{len(statuses)} spec{'s' if len(statuses) != 1 else ''}"
    out.append(
        f"{specs}; {len(flagged)} need{'s' if len(flagged) == 1 else ''} attention "
        "(current version not submitted, failed or cancelled)."
    )
    return "\n".join(out) + "\n"


def _doc(statuses: list[SpecStatus], now: datetime) -> list[dict[str, object]]:
    return [
        {
            "spec": s.spec_name,
            "file": s.file,
            "job_name": s.job_name,
            "needs_attention": s.needs_attention,
            "service": services_view.status_doc(s.service),
            "jobs": [
                {
                    "job_id": j.job_id,
                    "name": j.name,
                    "state": j.state,
                    "cluster": j.cluster,
                    "submit_time": j.submit_time,
                    "age": _age(j.submit_time, now),
                    "current": j.name == s.job_name,
                    "tensorboard": s.tensorboard.get(j.job_id),
                }
                for j in s.jobs
            ],
        }
        for s in statuses
    ]


def json_text(statuses: list[SpecStatus], now: datetime, exit_code: int) -> str:
    return (
        json.dumps(
            {"format_version": FORMAT_VERSION, "specs": _doc(statuses, now), "exit_code": exit_code},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def markdown(statuses: list[SpecStatus], now: datetime) -> str:
    rows = ["### scowspec status", "", "| spec | job | state | age | TensorBoard |", "|---|---|---|---|---|"]
    for s in statuses:
        cur = s.current
        if cur is None:
            rows.append(f"| `{s.spec_name}` | – | not submitted | – | – |")
            continue
        board = s.tensorboard.get(cur.job_id, "–")
        rows.append(
            f"| `{s.spec_name}` | {cur.job_id} `{cur.name}` | {cur.state} | {_age(cur.submit_time, now)} | {board} |"
        )
        if s.serving:
            rows.append(f"| | {services_view.status_line(s.service).strip()} | | | |")
    return "\n".join(rows) + "\n"
