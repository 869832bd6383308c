"""A finished job as markdown for a pull-request comment: loss summary with a text sparkline, and the verify table."""

from __future__ import annotations

import json

from scowspec.portal.types import RemoteJob
from scowspec.report.outputs import JobOutputs, Verdict
from scowspec.report.trainlog import TrainLog
from scowspec.report.verifyfile import VerifyReport

BARS = "▁▂▃▄▅▆▇█"
NO_VERIFY = "No verify.json (the spec has no `verify:` block)."
RUNS = {"trained": "trained model", "nextchat": "NextChat's system prompt", "base": "base model (control)"}


def sparkline(values: list[float], width: int = 40) -> str:
    """One bar per value (evenly resampled down to `width`), lowest value ▁, highest █."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    low, high = min(values), max(values)
    span = high - low
    return "".join(BARS[0 if span == 0 else round((v - low) / span * (len(BARS) - 1))] for v in values)


def _cell(text: str, limit: int = 80) -> str:
    """Table-safe: one line, no pipes, bounded."""
    shown = json.dumps(text, ensure_ascii=False)[1:-1].replace("|", "\\|")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _loss_section(log: TrainLog) -> list[str]:
    losses = log.losses
    if not losses:
        return ["No loss was logged yet (trainer_log.jsonl has no `loss` row)."]
    low = min(losses, key=lambda p: p[1])
    last = log.last
    progress = f"{last.step}/{last.total_steps}" if last and last.total_steps else str(last.step if last else "?")
    return [
        "| steps | first loss | min loss | last loss |",
        "|---|---:|---:|---:|",
        f"| {progress} | {losses[0][1]:.4f} (step {losses[0][0]}) | {low[1]:.4f} (step {low[0]}) "
        f"| {losses[-1][1]:.4f} (step {losses[-1][0]}) |",
        "",
        f"`{sparkline([v for _, v in losses])}`",
    ]


def _verify_section(rep: VerifyReport) -> list[str]:
    counts = ", ".join(f"{RUNS.get(k, k)} {p}/{t}" for k, (p, t) in rep.summary.items())
    lines = [f"**Verification: {rep.status}**" + (f" ({counts})" if counts else "")]
    if rep.error:
        lines.append(f"\nError: {_cell(rep.error, 300)}")
    lines += [f"\n> {w}" for w in rep.warnings]
    if rep.answers:
        lines += ["", "| | model | prompt | answer | checks |", "|---|---|---|---|---|"]
        for a in rep.answers:
            mark = "✅" if a.passed else "❌"
            checks = "; ".join(f"{'✓' if c.passed else '✗'} {c.kind} `{_cell(c.value, 40)}`" for c in a.checks)
            lines.append(
                f"| {mark} | {RUNS.get(a.run, a.run)} | {_cell(a.prompt, 60)} | {_cell(a.answer)} | {checks} |"
            )
    return lines


def report_markdown(job: str, log: TrainLog, verify: VerifyReport | None) -> str:
    lines = [f"### scowspec report: `{job}`", "", *_loss_section(log), ""]
    lines += _verify_section(verify) if verify is not None else [NO_VERIFY]
    return "\n".join(lines) + "\n"


def job_report(job: RemoteJob, outputs: JobOutputs) -> str:
    """`report NAME`: the job's state first, then its loss and verify sections (or why there are none)."""
    lines = [f"### scowspec report: `{job.name}`", "", f"Job {job.job_id} on `{job.cluster}`: **{job.state}**."]
    lines += [f"\n> {note}" for note in outputs.notes]
    if outputs.log is None:
        if outputs.place.job_dir is not None:
            lines += ["", "No trainer_log.jsonl yet."]
        return "\n".join(lines) + "\n"
    body = report_markdown(job.name, outputs.log, outputs.verify).split("\n", 2)[2]  # its own title left out
    if outputs.verify is None and outputs.place.expects_verify:
        verdict = outputs.verdict(job.phase)
        why = "the job has not finished" if verdict is Verdict.PENDING else "the job ended without a verify.json"
        body = body.replace(NO_VERIFY, f"**Verification: {verdict.value}** ({why}).")
    return "\n".join(lines) + "\n\n" + body
