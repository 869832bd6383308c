"""Reading a job's outputs back through the portal's file routes (checkExist, then download), bounded and in parallel.

A missing file is asked about first: on the real portal a download of a missing file may answer 200 with an empty
body. Nothing read here can stop a command: what fails becomes a note on that job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from scowspec.errors import NotFoundError, PortalError
from scowspec.portal.profile import Profile
from scowspec.portal.types import Phase, RemoteJob
from scowspec.report.outputs import TRAINER_LOG, VERIFY_FILE, JobOutputs, Place, place_of
from scowspec.report.trainlog import parse_trainer_log
from scowspec.report.verifyfile import VerifyFileError, parse_verify

MAX_LOG_BYTES = 4 * 1024 * 1024  # ~18,000 log rows; a bigger file is not read (status never pulls big files)
MAX_VERIFY_BYTES = 4 * 1024 * 1024
READERS = 8  # jobs read at once


class Files(Protocol):
    def profile(self) -> Profile: ...

    def submitted_payload(self, job: RemoteJob) -> dict[str, Any]: ...

    def exists(self, cluster: str, path: str, *, fresh: bool = False) -> bool: ...

    def download(self, cluster: str, path: str, *, limit: int = ...) -> bytes: ...


def locate(client: Files, job: RemoteJob, fallback: Mapping[str, Any] | None = None) -> Place:
    """Where the job's folder is, from what it was submitted with (or `fallback`, the payload compiled for it)."""
    try:
        payload: Mapping[str, Any] = client.submitted_payload(job)
    except NotFoundError:
        if fallback is None:
            return Place(None, "the portal keeps no submission record for this job, so its work folder is unknown")
        payload = fallback
    return place_of(job.name, payload, client.profile())


def _text(client: Files, job: RemoteJob, path: str, limit: int) -> str | None:
    if not client.exists(job.cluster, path, fresh=True):
        return None
    return client.download(job.cluster, path, limit=limit).decode("utf-8", errors="replace")


def read_outputs(client: Files, job: RemoteJob, place: Place) -> JobOutputs:
    """The job's trainer_log.jsonl and (once it finished) verify.json, as far as they can be read now."""
    if place.job_dir is None:
        return JobOutputs(place, notes=(place.lost_why,))
    notes: list[str] = []
    log = None
    try:
        text = _text(client, job, f"{place.job_dir}/{TRAINER_LOG}", MAX_LOG_BYTES)
        log = parse_trainer_log(text) if text is not None else None
    except PortalError as exc:
        notes.append(f"trainer_log.jsonl not read: {exc.message}")
    verify = None
    if place.expects_verify and job.phase is not Phase.ACTIVE:
        try:
            text = _text(client, job, f"{place.job_dir}/{VERIFY_FILE}", MAX_VERIFY_BYTES)
            verify = parse_verify(text) if text else None
        except PortalError as exc:
            notes.append(f"verify.json not read: {exc.message}")
        except VerifyFileError as exc:
            notes.append(f"verify.json: {exc}")
    return JobOutputs(place, log, verify, tuple(notes))


def outputs_of(client: Files, job: RemoteJob, fallback: Mapping[str, Any] | None = None) -> JobOutputs:
    try:
        place = locate(client, job, fallback)
    except PortalError as exc:
        return JobOutputs(Place(None, f"the job's submission record could not be read: {exc.message}"))
    return read_outputs(client, job, place)


def outputs_of_many(client: Files, jobs: Sequence[tuple[RemoteJob, Mapping[str, Any] | None]]) -> list[JobOutputs]:
    """`outputs_of` for each (job, fallback payload), READERS at a time, in order."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(READERS, len(jobs))) as pool:
        return list(pool.map(lambda pair: outputs_of(client, pair[0], pair[1]), jobs))
