"""Apply results: one line per change, a summary, and the same as JSON."""

from __future__ import annotations

import json

from scowspec.apply.executor import ApplyResult, Outcome, Result
from scowspec.plan.model import SYMBOLS
from scowspec.render import FORMAT_VERSION

_MARK = {Outcome.DONE: "ok", Outcome.FAILED: "FAILED", Outcome.SKIPPED: "skipped"}


def line(r: Result) -> str:
    c = r.change
    return f"{SYMBOLS[c.action]:>3} {c.action.value:<8} {c.job_name}: {_MARK[r.outcome]}: {r.message}"


def summary(result: ApplyResult) -> str:
    done, failed, skipped = (len(result.of(o)) for o in (Outcome.DONE, Outcome.FAILED, Outcome.SKIPPED))
    text = f"Apply: {done} done, {failed} failed, {skipped} not started."
    if any(r.retryable for r in result.of(Outcome.FAILED)):
        text += " Run `scowspec plan` to see what is left; applying again converges."
    if any(not r.retryable for r in result.of(Outcome.FAILED)):
        text += " The portal refused some changes: fix what it named above (spec or portal side); applying again fails the same way until then."
    if result.interrupted:
        text += " Interrupted: calls in flight were finished and recorded."
    return text


def text(result: ApplyResult) -> str:
    return "".join(line(r) + "\n" for r in result.results) + summary(result) + "\n"


def json_text(result: ApplyResult, exit_code: int) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "results": [
            {
                "action": r.change.action.value,
                "job_name": r.change.job_name,
                "cluster": r.change.cluster,
                "outcome": r.outcome.value,
                "message": r.message,
                "retryable": r.retryable,
                "job_id": r.job_id,
            }
            for r in result.results
        ],
        "interrupted": result.interrupted,
        "exit_code": exit_code,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
