"""A job's logs: which pods, each pod's log now (in bounded time), and following them until the job ends.

The portal's pod-log stream never ends while the pod exists (the adapter polls the pod every 5 s forever): a
read takes the first event, which holds the whole log (or its `rowLimit` tail), and hangs up. Following reads
each pod's stream on its own thread; between quiet periods the job's state is looked up in the job list, and
once the job has ended the streams get a short grace to deliver their last lines. A stream quiet for the read
timeout (SCOWSPEC_TIMEOUT) is opened again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from scowspec.errors import AuthError, PortalError, ScowspecError, TransportError, UsageError
from scowspec.portal.client import PortalClient
from scowspec.portal.types import Phase, RemoteJob

# How long the streams of an ended job may still deliver lines (the adapter sends new lines every 5 s).
END_GRACE_S = 6.0
# Lines re-read when a quiet stream is opened again, to find where the printed log left off.
REREAD_ROWS = 500


@dataclass(frozen=True)
class Pod:
    pod_id: str
    name: str


@dataclass(frozen=True)
class PodLog:
    """Lines of one pod: its log so far, or (when following) the lines that just arrived."""

    pod: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class PodNote:
    """Something about one pod's stream that is not a log line (it broke off, the portal reported an error)."""

    pod: str
    text: str


@dataclass(frozen=True)
class Following:
    """The pods being followed, once they are known (a queued job has none yet)."""

    pods: tuple[str, ...]


@dataclass(frozen=True)
class JobEnded:
    state: str  # the job's last state; "" when it left the job list


LogEvent = Following | PodLog | PodNote | JobEnded


def pods_of(raw: list[dict[str, Any]]) -> list[Pod]:
    return [Pod(str(p["podId"]), str(p.get("podName") or p["podId"])) for p in raw if p.get("podId")]


def select_pods(pods: Sequence[Pod], wanted: str | None, job: RemoteJob) -> list[Pod]:
    """Every pod, or the one `--pod` names: by pod name, pod id, or index (0 is the master pod)."""
    if wanted is None:
        return list(pods)
    for pod in pods:
        if wanted in (pod.name, pod.pod_id):
            return [pod]
    if wanted.isdigit() and int(wanted) < len(pods):
        return [pods[int(wanted)]]
    known = ", ".join(f"{i} `{p.name}`" for i, p in enumerate(pods)) or "none yet"
    raise UsageError(f"--pod {wanted}: job {job.job_id} `{job.name}` has no such pod (its pods: {known})")


def read(client: PortalClient, job: RemoteJob, wanted: str | None, tail: int) -> list[PodLog]:
    """Each chosen pod's log now (its last `tail` lines when tail > 0)."""
    pods = select_pods(pods_of(client.pods(job)), wanted, job)
    return [PodLog(p.name, tuple(client.pod_log(job, p.pod_id, tail))) for p in pods]


def job_now(client: PortalClient, job: RemoteJob) -> RemoteJob | None:
    """The job as the job list shows it now; None when it is no longer listed."""
    return next((j for j in client.list_jobs(job.cluster) if j.job_id == job.job_id), None)


@dataclass(frozen=True)
class _Done:
    pod: str


def after_overlap(printed: Sequence[str], tail: Sequence[str]) -> list[str]:
    """The lines of a re-read `tail` of a log that come after the lines already `printed` (its last ones).

    The latest place where the tail repeats the end of what was printed wins; no overlap at all means more lines
    arrived meanwhile than the tail holds, so all of it is new.
    """
    for end in range(len(tail), 0, -1):
        m = min(len(printed), end)
        if m and list(tail[end - m : end]) == list(printed[-m:]):
            return list(tail[end:])
    return list(tail)


def _pump(
    client: PortalClient,
    job: RemoteJob,
    pod: Pod,
    tail: int,
    out: queue.Queue[LogEvent | _Done],
    stop: threading.Event,
) -> None:
    """One pod's stream into `out`, opened again whenever it went quiet, until it ends or `stop` is set.

    A read that timed out loses its connection (see PortalClient.follow_log), so a quiet stream is opened again
    for the last REREAD_ROWS lines, and only those after what was already printed are passed on.
    """
    printed: deque[str] = deque(maxlen=REREAD_ROWS)
    rows, again = tail, False
    try:
        while not stop.is_set():
            quiet, first = False, True
            for chunk in client.follow_log(job, pod.pod_id, rows, idle_s=client.settings.timeout_s):
                if stop.is_set():
                    return
                quiet = not chunk  # a quiet stream's last word; also an empty log that ended (then: a pause)
                new = after_overlap(printed, chunk) if (again and first) else chunk
                first = False
                if new:
                    printed.extend(new)
                    out.put(PodLog(pod.name, tuple(new)))
            if not quiet:
                return  # the stream ended: the pod is gone
            rows, again = REREAD_ROWS, True
            stop.wait(1.0)
    except ScowspecError as exc:
        out.put(PodNote(pod.name, exc.message))
    finally:
        out.put(_Done(pod.name))


def follow(
    client: PortalClient,
    job: RemoteJob,
    wanted: str | None,
    tail: int,
    *,
    interval: float = 5.0,
    grace: float = END_GRACE_S,
) -> Generator[LogEvent, None, None]:
    """The chosen pods' logs as they grow, until the job has ended (the last event is JobEnded).

    Closing the iterator (Ctrl-C in the caller) stops watching: the streams are dropped, the job goes on.
    """
    events: queue.Queue[LogEvent | _Done] = queue.Queue()
    stop = threading.Event()
    running: set[str] = set()
    started = False
    next_poll = 0.0
    ends_at: float | None = None
    last_state = job.state
    try:
        while True:
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + interval
                current = job_now(client, job)
                active = current is not None and current.phase is Phase.ACTIVE
                if not started:
                    pods = _pods_when_there(client, job, active)
                    if pods or not active:
                        started = True
                        chosen = select_pods(pods, wanted, job)
                        yield Following(tuple(p.name for p in chosen))
                        for pod in chosen:
                            running.add(pod.name)
                            threading.Thread(
                                target=_pump,
                                args=(client, job, pod, tail, events, stop),
                                name=f"scowspec-log-{pod.name}",
                                daemon=True,
                            ).start()
                if current is not None:
                    last_state = current.state
                if ends_at is None and not active:
                    last_state = "" if current is None else current.state
                    ends_at = now + grace
            if ends_at is not None and (not running or now >= ends_at):
                yield JobEnded(last_state)
                return
            wait = next_poll - now if ends_at is None else min(next_poll, ends_at) - now
            try:
                item = events.get(timeout=max(0.01, wait))
            except queue.Empty:
                continue
            if isinstance(item, _Done):
                running.discard(item.pod)
            else:
                yield item
    finally:
        stop.set()  # each stream notices within `interval` seconds and hangs up


def _pods_when_there(client: PortalClient, job: RemoteJob, active: bool) -> list[Pod]:
    """The job's pods; none yet while it is queued (a portal may answer an error for a job without pods)."""
    try:
        return pods_of(client.pods(job))
    except (AuthError, TransportError):
        raise
    except PortalError:
        if active:
            return []
        raise
