"""Plans as text (symbols with words), versioned JSON, and markdown for a pull-request comment."""

from __future__ import annotations

import json
from typing import Any

from scowspec.plan import planfile
from scowspec.plan.model import SYMBOLS, Action, Change, Plan
from scowspec.render import FORMAT_VERSION
from scowspec.render import services as services_view

MARKDOWN_BUDGET = 60_000
_WORDS = {
    Action.SUBMIT: "submit",
    Action.REPLACE: "replace",
    Action.CANCEL: "cancel",
    Action.UNCHANGED: "unchanged",
    Action.FAILED: "failed",
}


def _value(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False) if v is not None else "(unset)"
    return text if len(text) <= 80 else text[:77] + "…"


def _resources(c: Change) -> str:
    d = c.desired
    if d is None:
        return ""
    hours = d.max_time_minutes / 60
    return (
        f"{d.nodes} node{'s' if d.nodes != 1 else ''} × {d.gpus_per_node} GPU{'s' if d.gpus_per_node != 1 else ''}, "
        f"max {hours:g} h → up to {d.gpu_hours:g} GPU-hours"
    )


def _detail_lines(c: Change) -> list[str]:
    lines: list[str] = []
    if c.action is Action.REPLACE:
        lines.append(f"{c.cancel[-1].name} → {c.job_name}")
    if c.desired is not None and c.action.changes_anything:
        lines.append(_resources(c))
    for f in c.changed:
        lines.append(f"~ {f.path}: {_value(f.before)} → {_value(f.after)}")
    for job in c.cancel:
        lines.append(f"cancels job {job.job_id} `{job.name}` ({job.state}) on {job.cluster}")
    if c.lost_gpu_hours > 0.005:
        lines.append(f"throws away the running job's elapsed time: ≈ {c.lost_gpu_hours:.2f} GPU-hours")
    elif c.cancel and any(j.phase.value == "active" for j in c.cancel):
        lines.append("throws away the running job's elapsed time")
    if c.desired is not None and c.desired.defaults and c.action.changes_anything:
        chosen = ", ".join(f"{k}={json.dumps(v)}" for k, v in c.desired.defaults)
        lines.append(f"scowspec defaults: {chosen}")
    return lines


def gpu_hours_line(plan: Plan) -> str:
    """What the new jobs may use, only when there are new jobs ('' otherwise: never "up to 0")."""
    if not plan.new_jobs:
        return ""
    if plan.gpu_hours <= 0:
        return f"The new job{'s' if plan.new_jobs != 1 else ''} request no GPUs."
    return f"GPU-hours requested by new jobs: up to {plan.gpu_hours:g}."


def verdict(plan: Plan) -> str:
    """One honest sentence: never "matches" while a current job failed or a missing spec's job still runs."""
    if plan.has_changes:
        return ""
    if plan.destroy:  # --destroy and `scowspec cancel NAME`: the specs are in scope; nothing of theirs runs
        return "Nothing to stop: no running job or service of this project in scope."
    if plan.matches:
        return (
            "No changes. The portal matches the specs." if plan.changes else "No specs in scope and no jobs to touch."
        )
    problems = []
    failed = plan.count(Action.FAILED)
    if failed:
        problems.append(f"{failed} current job{'s' if failed != 1 else ''} failed (`--replace NAME` runs it again)")
    if plan.unmatched:
        problems.append(
            f"{plan.unmatched} spec{'s' if plan.unmatched != 1 else ''} without a file still "
            f"{'have' if plan.unmatched != 1 else 'has'} running jobs (`--prune` cancels them)"
        )
    return f"No changes planned, but the portal does not match the specs: {'; '.join(problems)}."


def text(plan: Plan) -> str:
    out: list[str] = []
    for c in plan.changes:
        head = f"{SYMBOLS[c.action]:>3} {_WORDS[c.action]:<9} {c.job_name}"
        where = f"  ({c.file})" if c.file else ""
        out.append(f"{head}{where}: {c.reason}")
        out += [f"      {line}" for line in _detail_lines(c)]
    if plan.services is not None:
        out += services_view.plan_lines(plan.services)
    for note in plan.notes:
        out.append(f"  note: {note}")
    out.append("")
    out += [line for line in (gpu_hours_line(plan), verdict(plan)) if line]
    out.append(plan.summary_line())
    if plan.services is not None and plan.services.changes:
        out.append(plan.services.summary())
    return "\n".join(out) + "\n"


def json_text(plan: Plan, exit_code: int) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "summary": {
            "submit": plan.count(Action.SUBMIT),
            "replace": plan.count(Action.REPLACE),
            "cancel": plan.count(Action.CANCEL),
            "unchanged": plan.count(Action.UNCHANGED),
            "failed": plan.count(Action.FAILED),
            "gpu_hours": plan.gpu_hours if plan.new_jobs else None,
            "has_changes": plan.has_changes,
            "matches": plan.matches,
            "unmatched": plan.unmatched,
            "services": services_view.summary(plan.services) if plan.services is not None else None,
        },
        "plan": planfile.to_dict(plan),
        "exit_code": exit_code,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def markdown(plan: Plan) -> str:
    """Summary table first, details folded; stays under the comment budget."""
    head = [
        "### scowspec plan",
        "",
        " ".join(x for x in (f"**{plan.summary_line()}**", gpu_hours_line(plan), verdict(plan)) if x),
        "",
        "| | action | job | spec | why |",
        "|---|---|---|---|---|",
    ]
    for c in plan.changes:
        head.append(f"| `{SYMBOLS[c.action]}` | {_WORDS[c.action]} | `{c.job_name}` | `{c.file}` | {c.reason} |")
    if plan.services is not None:
        head += services_view.markdown_rows(plan.services)
    for note in plan.notes:
        head.append(f"\n> note: {note}")
    body: list[str] = []
    for c in plan.changes:
        lines = _detail_lines(c)
        if not lines:
            continue
        block = [f"<details><summary>{_WORDS[c.action]} <code>{c.job_name}</code></summary>", "", "```diff"]
        block += [
            ("- " if line.startswith("cancels") else "+ " if line.startswith("~") else "  ") + line for line in lines
        ]
        block += ["```", "", "</details>"]
        body.append("\n".join(block))
    text_ = "\n".join(head) + "\n\n"
    for i, folded in enumerate(body):
        if len(text_) + len(folded) + 200 > MARKDOWN_BUDGET:
            text_ += f"\n_{len(body) - i} more details left out to keep this comment short: see the plan artifact._\n"
            break
        text_ += folded + "\n"
    return text_
