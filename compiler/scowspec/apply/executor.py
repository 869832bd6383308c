"""apply_plan: run each change of a Plan; the only module that writes to the portal.

- A submit is recorded in the journal, then the job list is read again: a job of that name that
  the plan did not know means an earlier submit got through, so nothing is sent.
- A submit whose answer is lost is never repeated blindly: the job is looked up by name.
- Never two submits of one user to one cluster in the same portal second: the portal names a job's folder
  `{cluster}-job-YYYYMMDD-HHmmss`, and a second submit in that second overwrites the first's command and
  session record (the first job vanishes from every list). Submits to one cluster go through a SubmitGate;
  other clusters, and every read, stay parallel. Each new job is then confirmed in the list under its own name.
- One failed change does not stop the others; Ctrl-C lets calls in flight finish, starts nothing new.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from scowspec.apply.interrupts import ctrl_c_sets
from scowspec.apply.journal import GRACE_S, Journal, in_doubt
from scowspec.errors import NotFoundError, PortalError, ScowspecError, TransportError
from scowspec.plan.model import Action, Change, Plan
from scowspec.portal.types import Phase, RemoteJob

if TYPE_CHECKING:
    from scowspec.apply.services import ServiceResult

# The portal's folder names have one-second resolution. A submit is stamped no later than its answer arrives, and
# the next one no earlier than it is sent, so sending at least this long after the previous answer (by the
# same monotonic clock rate) lands in another second, whatever the offset between the two clocks.
SUBMIT_SPACING_S = 1.02


class Portal(Protocol):
    def list_jobs(self, cluster: str, *, running_only: bool = False) -> list[RemoteJob]: ...

    def submit(self, payload: dict[str, object]) -> int: ...

    def cancel(self, cluster: str, job_id: int) -> None: ...

    def ensure_dir(self, cluster: str, path: str) -> bool: ...


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
    # False when the portal refused the request itself (a 4xx): applying again fails the same way until the spec
    # or the portal side is fixed.
    retryable: bool = True


@dataclass(frozen=True)
class ApplyResult:
    results: tuple[Result, ...]
    interrupted: bool = False
    services: tuple[ServiceResult, ...] = ()  # register: and serve: (apply/services.py)
    lock_lost: str = ""  # why the project's portal lock was lost while applying (nothing new started after)

    def of(self, outcome: Outcome) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.outcome is outcome)


class Interrupted(Exception):
    """Ctrl-C came before this call was sent (the `stop` flag): it was not."""


class SubmitGate:
    """One submit at a time per cluster, each at least SUBMIT_SPACING_S after the previous answer."""

    def __init__(self, spacing_s: float = SUBMIT_SPACING_S) -> None:
        self.spacing_s = spacing_s
        self._lock = threading.Lock()
        self._clusters: dict[str, tuple[threading.Lock, list[float]]] = {}

    def call(self, cluster: str, send: Callable[[], int], stop: threading.Event | None = None) -> int:
        """Any submit that makes a one-second job folder on `cluster` (train, infer, app), spaced like the others.

        A submit still waiting its turn when Ctrl-C comes (`stop`) is not sent: it had not started."""
        with self._lock:
            lock, last = self._clusters.setdefault(cluster, (threading.Lock(), [float("-inf")]))
        with lock:
            wait = last[0] + self.spacing_s - time.monotonic()
            if wait > 0:
                if stop is None:
                    time.sleep(wait)
                elif stop.wait(wait):  # Ctrl-C wakes it at once
                    raise Interrupted
            if stop is not None and stop.is_set():
                raise Interrupted
            try:
                return send()
            finally:
                last[0] = time.monotonic()

    def drain(self) -> None:
        """Return once the portal second of every submit sent through this gate has passed, so that the next
        submit (the next `scowspec apply`, run right after this one or by another clone once the project lock is
        released) can't land in the same one-second job folder."""
        with self._lock:
            latest = max((last[0] for _, last in self._clusters.values()), default=float("-inf"))
        wait = latest + self.spacing_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _find(portal: Portal, cluster: str, name: str, known: tuple[int, ...]) -> RemoteJob | None:
    found = [j for j in portal.list_jobs(cluster) if j.name == name and j.job_id not in known]
    return max(found, key=lambda j: j.job_id) if found else None


def _confirm(portal: Portal, cluster: str, name: str, job_id: int) -> str:
    """'' when the list shows job `job_id` under `name`, in a folder no other listed job shares; else why not."""
    listed = portal.list_jobs(cluster, running_only=True)  # a new job is pending or running: a short list
    if not any(j.job_id == job_id for j in listed):
        listed = portal.list_jobs(cluster)  # or it ended at once
    mine = [j for j in listed if j.job_id == job_id]
    if not mine:
        return (
            f"submitted as job {job_id}, but the portal's list does not show it: its job folder may have been "
            "reused by another submit in the same second. Check the portal before applying again"
        )
    job = mine[0]
    if job.name != name:
        return f"submitted as job {job_id}, but the portal lists that job as `{job.name}`"
    shared = [j for j in listed if j.session_id and j.session_id == job.session_id and j.job_id != job_id]
    if shared:
        return f"job {job_id} shares its job folder {job.session_id} with job {shared[0].job_id}"
    return ""


def folders_to_make(payload: dict[str, object]) -> list[str]:
    """Folders scowspec owns and creates before a submit: WORK_DIR and the TensorBoard folder.

    The portal stats every mount source before it accepts a job (404 when missing), and on main the kubelet
    would create a missing WORK_DIR as root. A spec's own `mounts:` are never created: a missing one is a
    typo that plan reports on the spec's line.
    """
    env = payload.get("envVariables")
    work_dir = (
        [str(e["value"]) for e in env if isinstance(e, dict) and e.get("key") == "WORK_DIR"]
        if isinstance(env, list)
        else []
    )
    board = payload.get("tensorBoardDataPath")
    return work_dir + ([board] if isinstance(board, str) else [])


class Sent(enum.Enum):
    """How one journalled submit went (journaled_submit)."""

    FOUND = "found"  # an earlier submit had got through: nothing sent
    IN_DOUBT = "in-doubt"  # an earlier submit's answer was lost and its job is not listed yet: nothing sent
    NO_FOLDERS = "no-folders"  # its folders could not be made: nothing sent
    SUBMITTED = "submitted"  # the portal answered with the job id
    LOST_BUT_LISTED = "lost-but-listed"  # the answer was lost, and the job is listed: submitted once
    LOST = "lost"  # the answer was lost and the job is not listed: in doubt from now on
    REFUSED = "refused"  # the portal refused it


@dataclass(frozen=True)
class Attempt:
    sent: Sent
    job_id: int = 0  # FOUND, SUBMITTED, LOST_BUT_LISTED (portal job ids start at 1)
    why: str = ""  # NO_FOLDERS, LOST, REFUSED: the portal's words (REFUSED: with its hint)
    retryable: bool = True  # REFUSED: False for a 4xx
    earlier: dict[str, object] | None = None  # IN_DOUBT: the journal's entry

    def settled(self, what: str, done: str) -> tuple[Outcome, str] | None:
        """The outcome and its words for a `what` ("job", "service") that is `done` ("submitted", "started") when
        sent, unless it was SUBMITTED (the caller confirms that one in the list)."""
        match self.sent:
            case Sent.FOUND:
                return Outcome.DONE, f"found {what} {self.job_id} from an earlier submit; not {done} again"
            case Sent.IN_DOUBT:
                entry = self.earlier or {}
                since = entry.get("since_s")
                until = (
                    time.strftime("%H:%M:%S UTC", time.gmtime(float(since) + GRACE_S))
                    if isinstance(since, float | int)
                    else "?"
                )
                return Outcome.FAILED, (
                    f"in doubt: a submit at {entry.get('since', '?')} got no answer and the {what} is not listed "
                    f"yet; not {done} again until it appears or {until} (then apply sends it)"
                )
            case Sent.NO_FOLDERS:
                return Outcome.FAILED, f"not {done}: could not create its folders: {self.why}"
            case Sent.LOST_BUT_LISTED:
                return Outcome.DONE, f"answer lost, but {what} {self.job_id} exists: {done} once"
            case Sent.LOST:
                return Outcome.FAILED, (
                    f"{self.why}; the {what} is not on the portal yet. In doubt: no apply sends it again until it "
                    f"appears or {GRACE_S / 60:.0f} minutes have passed"
                )
            case Sent.REFUSED:
                return Outcome.FAILED, self.why
        return None


def journaled_submit(
    journal: Journal,
    key: str,
    cluster: str,
    payload: dict[str, object],
    *,
    find: Callable[[], RemoteJob | None],
    ensure_dir: Callable[[str, str], object],
    send: Callable[[], int],
    gate: SubmitGate,
    stop: threading.Event | None = None,
) -> Attempt:
    """The one submit protocol of jobs and services: look first (an earlier submit may have got through), never
    resend one in doubt, make its folders, journal it, send it through the gate, and look again when the answer
    is lost. A submit still waiting its turn when Ctrl-C comes was never sent: it leaves nothing in doubt."""
    earlier = journal.entry(key)
    existing = find()
    if existing is not None:
        journal.end(key)
        return Attempt(Sent.FOUND, existing.job_id)
    if earlier is not None and in_doubt(earlier, time.time()):
        return Attempt(Sent.IN_DOUBT, earlier=earlier)
    if stop is not None and stop.is_set():
        raise Interrupted
    try:  # before the journal: a folder that could not be made means nothing was sent
        for folder in folders_to_make(payload):
            ensure_dir(cluster, folder)
    except PortalError as exc:
        return Attempt(Sent.NO_FOLDERS, why=exc.message)
    sent: list[bool] = []

    def tracked() -> int:
        sent.append(True)
        return send()

    journal.begin(key, cluster)
    try:
        job_id = gate.call(cluster, tracked, stop)
    except (Interrupted, KeyboardInterrupt):
        if not sent:
            journal.end(key)
        raise
    except TransportError as exc:  # the portal may have accepted it: look before anything else
        try:
            existing = find()
        except PortalError:
            existing = None
        if existing is not None:
            journal.end(key)
            return Attempt(Sent.LOST_BUT_LISTED, existing.job_id)
        return Attempt(Sent.LOST, why=exc.message)
    except PortalError as exc:
        journal.end(key)
        return Attempt(Sent.REFUSED, why=with_hint(exc), retryable=retryable(exc))
    journal.end(key)
    return Attempt(Sent.SUBMITTED, job_id)


def _submit(portal: Portal, journal: Journal, change: Change, stop: threading.Event, gate: SubmitGate) -> Result:
    if change.desired is None:  # plans are made again before apply; this only guards the type
        return Result(change, Outcome.FAILED, "nothing to submit: the change has no payload")
    name, cluster, payload = change.job_name, change.cluster, change.desired.payload
    attempt = journaled_submit(
        journal,
        name,
        cluster,
        payload,
        find=lambda: _find(portal, cluster, name, change.known_ids),
        ensure_dir=portal.ensure_dir,
        send=lambda: portal.submit(payload),
        gate=gate,
        stop=stop,
    )
    job_id = attempt.job_id
    if (settled := attempt.settled("job", "submitted")) is not None:
        outcome, message = settled
        return Result(change, outcome, message, job_id or None, attempt.retryable)
    try:
        problem = _confirm(portal, cluster, name, job_id)
    except PortalError as exc:
        problem = f"submitted as job {job_id}; confirming it in the list failed: {exc.message}"
    if problem:
        return Result(change, Outcome.FAILED, problem, job_id)
    return Result(change, Outcome.DONE, f"submitted as job {job_id}", job_id)


def retryable(exc: PortalError) -> bool:
    """Whether applying again may succeed: not when the portal refused the request itself (a 4xx)."""
    return exc.status is None or exc.status >= 500 or exc.status == 429


def with_hint(exc: PortalError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def _cancel(portal: Portal, job: RemoteJob) -> str:
    """Cancel; a job that ended meanwhile is done, not a failure (the portal answers 500 for it, not 404)."""
    try:
        portal.cancel(job.cluster, job.job_id)
    except (NotFoundError, PortalError) as exc:
        if isinstance(exc, TransportError):
            raise
        now = [j for j in portal.list_jobs(job.cluster) if j.job_id == job.job_id]
        if not now:
            return f"job {job.job_id} was already gone"
        if now[0].phase is not Phase.ACTIVE:
            return f"job {job.job_id} had already ended ({now[0].state})"
        raise
    return f"cancelled job {job.job_id}"


def _run(portal: Portal, journal: Journal, change: Change, stop: threading.Event, gate: SubmitGate) -> Result:
    if stop.is_set():
        return Result(change, Outcome.SKIPPED, "not started: interrupted")
    notes: list[str] = []
    try:
        for job in change.cancel:
            if stop.is_set():
                raise Interrupted
            notes.append(_cancel(portal, job))
        if change.action in (Action.SUBMIT, Action.REPLACE):
            result = _submit(portal, journal, change, stop, gate)
            message = "; ".join([*notes, result.message])
            return Result(change, result.outcome, message, result.job_id, result.retryable)
    except Interrupted:
        return Result(change, Outcome.SKIPPED, "; ".join([*notes, "interrupted before the next call"]))
    except PortalError as exc:
        return Result(change, Outcome.FAILED, "; ".join([*notes, exc.message]), retryable=retryable(exc))
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
    gate: SubmitGate | None = None,
    stop: threading.Event | None = None,
) -> ApplyResult:
    """Run every change of `plan` (at most `parallelism` at once); report each outcome. `stop` (Ctrl-C, or the
    portal lock lost) starts nothing new."""
    todo = [c for c in plan.changes if c.action.changes_anything]
    stop = stop or threading.Event()
    gate = gate or SubmitGate()
    # The pool's exit waits for every change handed to it: Ctrl-C must set `stop` (ctrl_c_sets), never escape.
    with (
        ctrl_c_sets(stop),
        ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="scowspec-apply") as pool,
    ):
        futures = [pool.submit(_run, portal, journal, c, stop, gate) for c in todo]
        pending: set[Future[Result]] = set(futures)
        try:
            while pending:
                # A timeout, so that the main thread (the only one Python runs signal handlers on) looks often.
                done, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                for future in done:
                    if progress is not None:
                        progress(future.result())
        except BaseException:  # a progress line that could not be written, say: start nothing more
            stop.set()
            raise
    results = [f.result() for f in futures]  # in plan order
    return ApplyResult(tuple(results), stop.is_set() or any(r.outcome is Outcome.SKIPPED for r in results))
