"""apply_plan: run each change of a Plan; the only module that writes to the portal.

- A submit is recorded in the journal, then the job list is read again: a job of that name that
  the plan did not know means an earlier submit got through, so nothing is sent.
- A submit whose answer is lost is never repeated blindly: the job is looked up by name.
- One failed change does not stop the others; Ctrl-C lets calls in flight finish, starts nothing new.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from scowspec.apply.journal import GRACE_S, Journal, in_doubt
from scowspec.errors import NotFoundError, PortalError, ScowspecError, TransportError
from scowspec.plan.model import Action, Change, Plan
from scowspec.portal.types import RemoteJob


class Portal(Protocol):
    def list_jobs(self, cluster: str) -> list[RemoteJob]: ...

    def submit(self, payload: dict[str, object]) -> int: ...

    def cancel(self, cluster: str, job_id: int) -> None: ...


class Outcome(enum.Enum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # not started: interrupted


@dataclass(frozen=True)
class Result:
    change: Change
    outcome: Outcome
    message: str
    job_id: int | None = None


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[Result, ...]
    interrupted: bool = False

    def of(self, outcome: Outcome) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.outcome is outcome)


class _Interrupted(Exception):
    pass


def _find(portal: Portal, cluster: str, name: str, known: tuple[int, ...]) -> RemoteJob | None:
    found = [j for j in portal.list_jobs(cluster) if j.name == name and j.job_id not in known]
    return max(found, key=lambda j: j.job_id) if found else None


def _submit(portal: Portal, journal: Journal, change: Change, stop: threading.Event) -> Result:
    if change.desired is None:  # plans are made again before apply; this only guards the type
        return Result(change, Outcome.FAILED, "nothing to submit: the change has no payload")
    name, cluster = change.job_name, change.cluster
    earlier = journal.entry(name)
    existing = _find(portal, cluster, name, change.known_ids)
    if existing is not None:
        journal.end(name)
        return Result(
            change,
            Outcome.DONE,
            f"found job {existing.job_id} from an earlier submit; not submitted again",
            existing.job_id,
        )
    if earlier is not None and in_doubt(earlier, time.time()):
        return Result(change, Outcome.FAILED, _in_doubt_message(earlier))
    journal.begin(name, cluster)
    if stop.is_set():
        journal.end(name)
        raise _Interrupted
    try:
        job_id = portal.submit(change.desired.payload)
    except TransportError as exc:
        # The portal may have accepted it: look before anything else.
        try:
            existing = _find(portal, cluster, name, change.known_ids)
        except PortalError:
            existing = None
        if existing is not None:
            journal.end(name)
            return Result(
                change, Outcome.DONE, f"answer lost, but job {existing.job_id} exists: submitted once", existing.job_id
            )
        return Result(
            change,
            Outcome.FAILED,
            f"{exc.message}; the job is not on the portal yet. In doubt: no apply submits it again until it "
            f"appears or {GRACE_S / 60:.0f} minutes have passed",
        )
    except PortalError as exc:
        journal.end(name)
        return Result(change, Outcome.FAILED, exc.message)
    journal.end(name)
    return Result(change, Outcome.DONE, f"submitted as job {job_id}", job_id)


def _in_doubt_message(entry: dict[str, object]) -> str:
    since = entry.get("since_s")
    until = (
        time.strftime("%H:%M:%S UTC", time.gmtime(float(since) + GRACE_S)) if isinstance(since, float | int) else "?"
    )
    return (
        f"in doubt: a submit at {entry.get('since', '?')} got no answer and the job is not listed yet; "
        f"not submitted again until it appears or {until} (then apply submits it)"
    )


def _cancel(portal: Portal, job: RemoteJob) -> str:
    try:
        portal.cancel(job.cluster, job.job_id)
    except NotFoundError:
        return f"job {job.job_id} was already gone"
    return f"cancelled job {job.job_id}"


def _run(portal: Portal, journal: Journal, change: Change, stop: threading.Event) -> Result:
    if stop.is_set():
        return Result(change, Outcome.SKIPPED, "not started: interrupted")
    notes: list[str] = []
    try:
        for job in change.cancel:
            if stop.is_set():
                raise _Interrupted
            notes.append(_cancel(portal, job))
        if change.action in (Action.SUBMIT, Action.REPLACE):
            result = _submit(portal, journal, change, stop)
            return Result(change, result.outcome, "; ".join([*notes, result.message]), result.job_id)
    except _Interrupted:
        return Result(change, Outcome.SKIPPED, "; ".join([*notes, "interrupted before the next call"]))
    except PortalError as exc:
        return Result(change, Outcome.FAILED, "; ".join([*notes, exc.message]))
    except ScowspecError as exc:  # the journal could not record the submit: it was not sent
        return Result(change, Outcome.FAILED, "; ".join([*notes, f"not submitted: {exc.message}"]))
    return Result(change, Outcome.DONE, "; ".join(notes))


def apply_plan(
    plan: Plan,
    portal: Portal,
    journal: Journal,
    *,
    parallelism: int = 4,
    progress: Callable[[Result], None] | None = None,
) -> ApplyResult:
    """Run every change of `plan` (at most `parallelism` at once); report each outcome."""
    todo = [c for c in plan.changes if c.action.changes_anything]
    stop = threading.Event()
    results: list[Result] = []
    interrupted = False
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="scowspec-apply") as pool:
        pending: set[Future[Result]] = {pool.submit(_run, portal, journal, c, stop) for c in todo}
        while pending:
            try:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # First Ctrl-C: let calls in flight finish and be recorded; start nothing new.
                stop.set()
                interrupted = True
                continue
            for future in done:
                result = future.result()
                results.append(result)
                if progress is not None:
                    progress(result)
    order = {id(c): i for i, c in enumerate(todo)}
    results.sort(key=lambda r: order.get(id(r.change), 0))
    return ApplyResult(tuple(results), interrupted or any(r.outcome is Outcome.SKIPPED for r in results))
