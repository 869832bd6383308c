"""Plan against the portal: the I/O around make_plan (list jobs, fetch the few payloads it needs)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from scowspec import __version__
from scowspec.compile.payload import CompiledJob
from scowspec.compile.service import Compiled
from scowspec.errors import AuthError, NotFoundError, PortalError, TransportError, UsageError
from scowspec.pipeline import Loaded
from scowspec.plan.fingerprint import fingerprint
from scowspec.plan.identity import shown_as_this_projects, spec_of
from scowspec.plan.model import Desired, Plan
from scowspec.plan.reconcile import PlanOptions, detail_wanted, make_plan
from scowspec.portal.client import PortalClient
from scowspec.portal.types import RemoteJob


@dataclass(frozen=True)
class Observed:
    """What the portal said, once: jobs of every cluster involved."""

    clusters: tuple[str, ...]
    jobs: tuple[RemoteJob, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.jobs, self.clusters)


def desired_of(job: CompiledJob) -> Desired:
    res = job.spec.resources
    return Desired(
        job.spec.name,
        job.job_name,
        job.spec.cluster,
        job.spec.file,
        job.payload,
        res.nodes,
        res.gpus_per_node,
        res.max_time_minutes,
        tuple((d.label, d.value) for d in job.defaults),
    )


def clusters_of(loaded: Loaded) -> tuple[str, ...]:
    """Every cluster the specs or the project defaults name: where scowspec's jobs can be."""
    names = {spec.cluster for spec in loaded.specs}
    for project in loaded.projects:
        cluster = project.defaults.get("cluster")
        if isinstance(cluster, str):
            names.add(cluster)
    return tuple(sorted(names))


def observe(client: PortalClient, clusters: tuple[str, ...]) -> Observed:
    jobs: list[RemoteJob] = []
    for cluster in clusters:
        jobs += client.list_jobs(cluster)
    return Observed(clusters, tuple(jobs))


def _payload_or_why(client: PortalClient, job: RemoteJob) -> dict[str, Any] | str:
    """A job's submitted payload, or why its record cannot be read (an old job, a 404 or 500); a lost connection
    or a bad token is not a property of the job and stops the command."""
    try:
        return client.submitted_payload(job)
    except (NotFoundError, PortalError) as exc:
        if isinstance(exc, TransportError | AuthError):
            raise
        return exc.message


def submitted_payloads(
    client: PortalClient, jobs: list[RemoteJob]
) -> tuple[dict[int, dict[str, Any]], list[tuple[RemoteJob, str]]]:
    """Each job's submitted payload; a job whose record cannot be read is set apart, with why."""
    found: dict[int, dict[str, Any]] = {}
    unreadable: list[tuple[RemoteJob, str]] = []
    for job in jobs:
        got = _payload_or_why(client, job)
        if isinstance(got, str):
            unreadable.append((job, got))
        else:
            found[job.job_id] = got
    return found, unreadable


JobKey = tuple[str, int]  # (cluster, job id)
READERS = 8  # submission records read at once


def commands_of(client: PortalClient, jobs: Sequence[RemoteJob]) -> dict[JobKey, str | None]:
    """Each job's submitted command (None: its record cannot be read), READERS at a time."""
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=min(READERS, len(jobs))) as pool:
        read = list(pool.map(lambda job: _payload_or_why(client, job), jobs))
    return {
        (job.cluster, job.job_id): None if isinstance(got, str) else str(got.get("command", ""))
        for job, got in zip(jobs, read, strict=True)
    }


def split_by_project(
    jobs: Sequence[RemoteJob], commands: dict[JobKey, str | None], project: str, current: str = ""
) -> tuple[list[RemoteJob], int]:
    """Pure: `jobs` (found by spec name) less those that are not this project's (another project's, or hand-made
    under a scowspec-like name), and how many were left out. A job named `current` (the spec version's job name)
    stays whoever submitted it: an identical spec elsewhere compiles to the same name and the same outputs folder,
    and plan counts that job as this version's too (never cancelling it). A job absent from `commands` stays."""
    kept = [
        job
        for job in jobs
        if job.name == current or shown_as_this_projects(commands.get((job.cluster, job.job_id)), project)
    ]
    return kept, len(jobs) - len(kept)


def newest_of_this_project(
    client: PortalClient, jobs: Sequence[RemoteJob], project: str
) -> tuple[RemoteJob | None, int]:
    """The first of `jobs` (newest first) that is this project's, reading records READERS at a time and stopping
    there; with the number of jobs passed over as not this project's."""
    passed = 0
    for start in range(0, len(jobs), READERS):
        batch = jobs[start : start + READERS]
        commands = commands_of(client, batch) if project else {}
        for job in batch:
            if shown_as_this_projects(commands.get((job.cluster, job.job_id)), project):
                return job, passed
            passed += 1
    return None, passed


def build_plan(compiled: Compiled, client: PortalClient, options: PlanOptions, *, now: datetime | None = None) -> Plan:
    """Observe the portal, then compute the plan (a pure step)."""
    desired = [desired_of(j) for j in compiled.jobs]
    names = frozenset(d.spec_name for d in desired)
    observed = observe(client, clusters_of(compiled.loaded))
    orphans = {spec_of(j.name) for j in observed.jobs} - names - {None}
    unknown = sorted(options.targets - names - orphans)
    if unknown:
        raise UsageError(
            f"--target {', '.join(unknown)}: no spec or job of that name (specs: {', '.join(sorted(names)) or 'none'})"
        )
    unknown = sorted(options.replace - names)
    if unknown:
        raise UsageError(f"--replace {', '.join(unknown)}: no spec of that name")
    submitted, unreadable = submitted_payloads(client, detail_wanted(desired, observed.jobs, destroy=options.destroy))
    plan = make_plan(
        desired,
        observed.jobs,
        submitted,
        options=options,
        fingerprint=observed.fingerprint,
        clusters=observed.clusters,
        now=now or datetime.now(UTC),
        all_spec_names=names,
    )
    notes = tuple(
        f"job {j.job_id} `{j.name}`: its submission parameters could not be read ({why}); "
        "it is left alone (never cancelled) until they can be"
        for j, why in unreadable
    )
    return replace(
        plan,
        notes=plan.notes + notes,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        scowspec_version=__version__,
        portal_url=client.settings.url,
    )
