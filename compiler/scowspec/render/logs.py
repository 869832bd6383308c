"""`scowspec logs` views: pod by pod when reading, one prefixed line per line when following several pods."""

from __future__ import annotations

from scowspec.logs import Following, JobEnded, PodLog, PodNote
from scowspec.portal.types import RemoteJob


def header(job: RemoteJob) -> str:
    return f"job {job.job_id} `{job.name}` ({job.state}) on {job.cluster}"


def pod_section(log: PodLog) -> str:
    return "".join(f"{line}\n" for line in (f"==> {log.pod} <==", *log.lines))


def following(item: Following) -> str:
    pods = ", ".join(item.pods) or "none"
    return f"scowspec: following {pods} until the job ends; Ctrl-C stops watching (the job goes on)."


def followed(log: PodLog, *, prefixed: bool) -> str:
    """New lines of one pod; with several pods followed at once, each line says which pod it came from."""
    return "".join(f"{log.pod} | {line}\n" if prefixed else f"{line}\n" for line in log.lines)


def note(item: PodNote) -> str:
    return f"scowspec: {item.pod}: {item.text}"


def ended(job: RemoteJob, item: JobEnded) -> str:
    if not item.state:
        return f"scowspec: job {job.job_id} is no longer in the portal's job list; stopped following."
    return f"scowspec: job {job.job_id} ended: {item.state}."


def stopped(job: RemoteJob) -> str:
    return f"scowspec: stopped following; job {job.job_id} goes on (only `apply` cancels jobs)."
