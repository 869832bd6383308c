"""`scowspec status` views."""

from __future__ import annotations

import json
from datetime import datetime

from scowspec.portal.types import Phase
from scowspec.render import FORMAT_VERSION
from scowspec.render import services as services_view
from scowspec.render.report import RUNS
from scowspec.report.outputs import JobOutputs, Verdict, progress_text
from scowspec.workflow import SpecStatus


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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


def verdict_text(outputs: JobOutputs, phase: Phase) -> str:
    """`passed (trained model 4/4, base model (control) 0/4)`, or what is known instead."""
    verdict = outputs.verdict(phase)
    rep = outputs.verify
    if rep is not None:
        counts = ", ".join(f"{RUNS.get(k, k)} {p}/{t}" for k, (p, t) in rep.summary.items())
        why = f": {rep.error}" if rep.error else ""
        return f"{rep.status}{why}" + (f" ({counts})" if counts else "")
    return {
        Verdict.PENDING: "pending (the job has not finished)",
        Verdict.MISSING: "missing (the job finished without a readable verify.json)",
        Verdict.NONE: "none (the spec has no verify step)",
    }.get(verdict, verdict.value)


def outputs_lines(outputs: JobOutputs, phase: Phase) -> list[str]:
    """What the job's files say: progress while it runs, final loss and verdict once it ended, and read problems."""
    out = []
    last = outputs.last
    if phase is Phase.ACTIVE and last is not None:
        out.append(f"progress: {progress_text(last)}")
    elif last is not None:
        final = f"final loss {outputs.final_loss:.4f}" if outputs.final_loss is not None else "no loss logged"
        out.append(f"trained: {final} at step {last.step}/{last.total_steps or '?'}")
    elif outputs.place.job_dir is not None and phase is not Phase.FAILED:
        out.append("progress: no trainer_log.jsonl yet")
    if outputs.place.expects_verify:
        out.append(f"verify: {verdict_text(outputs, phase)}")
    return out + list(outputs.notes)


def _other_projects(n: int) -> str:
    return f"{n} job{'s' if n != 1 else ''} under this spec's name not this project's (another project's or hand-made): not shown"


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
            if s.outputs is not None and j is s.shown:
                out += [f"        {line}" for line in outputs_lines(s.outputs, j.phase)]
        if s.foreign:
            out.append(f"    {_other_projects(s.foreign)}")
        if s.serving:
            out.append(services_view.status_line(s.service))
    flagged = [s for s in statuses if s.needs_attention]
    specs = f"{len(statuses)} spec{'s' if len(statuses) != 1 else ''}"
    out.append(
        f"{specs}; {len(flagged)} need{'s' if len(flagged) == 1 else ''} attention "
        "(current version not submitted, failed or cancelled, or its verification failed or is missing)."
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
            "outputs": _outputs_doc(s),
            "jobs_not_this_projects": s.foreign,
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


def _outputs_doc(s: SpecStatus) -> dict[str, object] | None:
    job, o = s.shown, s.outputs
    if job is None or o is None:
        return None
    last = o.last
    rep = o.verify
    return {
        "job_id": job.job_id,
        "job_dir": o.place.job_dir,
        "lost": o.place.lost_why or None,
        "progress": None
        if last is None
        else {
            "step": last.step,
            "total_steps": last.total_steps,
            "loss": last.loss,
            "epoch": last.epoch,
            "eta": last.remaining or None,
        },
        "final_loss": o.final_loss if job.phase is not Phase.ACTIVE else None,
        "verdict": o.verdict(job.phase).value,
        "verify": None
        if rep is None
        else {
            "status": rep.status,
            "summary": {k: {"passed": p, "total": t} for k, (p, t) in rep.summary.items()},
            "error": rep.error or None,
            "warnings": list(rep.warnings),
        },
        "notes": list(o.notes),
    }


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
    rows = [
        "### scowspec status",
        "",
        "| spec | job | state | age | progress | verify | TensorBoard |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in statuses:
        cur = s.shown
        if cur is None:
            rows.append(f"| `{s.spec_name}` | – | not submitted | – | – | – | – |")
            continue
        board = s.tensorboard.get(cur.job_id, "–")
        lines = outputs_lines(s.outputs, cur.phase) if s.outputs else []
        progress = "; ".join(x.removeprefix("progress: ") for x in lines if not x.startswith("verify: ")) or "–"
        verify = verdict_text(s.outputs, cur.phase) if s.outputs and s.outputs.place.expects_verify else "–"
        rows.append(
            f"| `{s.spec_name}` | {cur.job_id} `{cur.name}` | {cur.state} | {_age(cur.submit_time, now)} "
            f"| {_cell(progress)} | {_cell(verify)} | {board} |"
        )
        if s.serving:
            rows.append(f"| | {services_view.status_line(s.service).strip()} | | | |")
    notes = [f"`{s.spec_name}`: {_other_projects(s.foreign)}." for s in statuses if s.foreign]
    return "\n".join(rows + (["", *notes] if notes else [])) + "\n"
