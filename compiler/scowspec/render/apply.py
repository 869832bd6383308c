"""Apply results: one line per change, a summary, and the same as JSON."""

from __future__ import annotations

import json

from scowspec.apply.executor import ApplyResult, Outcome, Result
from scowspec.plan.model import SYMBOLS
from scowspec.render import FORMAT_VERSION
from scowspec.render import services as services_view

_MARK = {Outcome.DONE: "ok", Outcome.FAILED: "FAILED", Outcome.SKIPPED: "skipped"}


def line(r: Result) -> str:
    c = r.change
    return f"{SYMBOLS[c.action]:>3} {c.action.value:<8} {c.job_name}: {_MARK[r.outcome]}: {r.message}"


def summary(result: ApplyResult) -> str:
    done, failed, skipped = (
        len(result.of(o)) + sum(1 for r in result.services if r.outcome is o)
        for o in (Outcome.DONE, Outcome.FAILED, Outcome.SKIPPED)
    )
    text = f"Apply: {done} done, {failed} failed, {skipped} not started."
    failures = [r.retryable for r in result.of(Outcome.FAILED)]
    failures += [r.retryable for r in result.services if r.outcome is Outcome.FAILED]
    if any(failures):
        text += " Run `scowspec plan` to see what is left; applying again converges."
    if not all(failures):
        text += " The portal refused some changes: fix what it named above (spec or portal side); applying again fails the same way until then."
    if result.lock_lost:
        text += (
            f" Stopped: the project's portal lock was lost ({result.lock_lost}), so another apply may be running;"
            " calls in flight were finished and recorded. Run `scowspec plan` before applying again."
        )
    elif result.interrupted:
        text += " Interrupted: calls in flight were finished and recorded."
    return text


def text(result: ApplyResult) -> str:
    lines = [line(r) for r in result.results] + [services_view.result_line(r) for r in result.services]
    return "".join(x + "\n" for x in lines) + summary(result) + "\n"


def json_text(result: ApplyResult, exit_code: int, waited: list[dict[str, object]] | None = None) -> str:
    """The apply's JSON document; with `waited` (apply --wait), each followed job's end, and the exit code is
    theirs."""
    doc: dict[str, object] = {
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
        "services": [services_view.result_doc(r) for r in result.services],
        "interrupted": result.interrupted,
        "lock_lost": result.lock_lost or None,
        **({"waited": waited} if waited is not None else {}),
        "exit_code": exit_code,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
