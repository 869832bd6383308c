"""Following jobs until they end (`watch`, `apply --wait`) and reading one job's results (`report`), without printing.

Each poll reads the job's detail (state, pods) and its trainer_log.jsonl; once the job ended, its verify.json.
The outcome is what the job did, verification included: 0 for completed and verified, 2 otherwise. Watching never
changes a job: an interrupted watch leaves it running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scowspec.apply.executor import ApplyResult
from scowspec.compile.service import connect
from scowspec.errors import UsageError
from scowspec.exitcodes import ExitCode
from scowspec.pipeline import load_specs
from scowspec.plan.identity import spec_of
from scowspec.plan.model import Action, Plan
from scowspec.plan.service import clusters_of, newest_of_this_project, observe
from scowspec.portal.client import PortalClient
from scowspec.portal.types import Phase, RemoteJob
from scowspec.report.outputs import JobOutputs, Place, Verdict
from scowspec.report.readback import locate, read_outputs


@dataclass(frozen=True)
class Snapshot:
    job: RemoteJob  # its state as of this poll
    pods: tuple[tuple[str, str], ...]  # (pod name, pod status)
    outputs: JobOutputs

    @property
    def ended(self) -> bool:
        return self.job.phase is not Phase.ACTIVE

    @property
    def verdict(self) -> Verdict:
        return self.outputs.verdict(self.job.phase)

    @property
    def succeeded(self) -> bool:
        """Completed, and its verification (if any) passed."""
        return self.job.phase is Phase.SUCCEEDED and self.verdict in (Verdict.PASSED, Verdict.NONE)


def exit_code(finals: Sequence[Snapshot]) -> ExitCode:
    """0 when every job completed and verified; 2 when one failed, was cancelled or is not verified."""
    return ExitCode.OK if all(s.succeeded for s in finals) else ExitCode.CHANGES


def find_job(
    client: PortalClient, clusters: tuple[str, ...], name: str, job_id: int | None = None, project: str = ""
) -> RemoteJob:
    """Job `job_id`; else the newest job of a job name; else the newest of a spec's jobs that is this project's
    (an identical spec of another project shares the job name: `--job ID` shows that one)."""
    jobs = observe(client, clusters).jobs
    where = ", ".join(clusters) or "the portal"
    if job_id is not None:
        mine = [j for j in jobs if j.job_id == job_id]
        if not mine:
            raise UsageError(f"no job {job_id} on {where}")
        return mine[0]
    newest_first = sorted(
        (j for j in jobs if j.name == name or spec_of(j.name) == name),
        key=lambda j: (j.submit_time, j.job_id),
        reverse=True,
    )
    named = [j for j in newest_first if j.name == name]
    if named:
        return named[0]
    found, passed = newest_of_this_project(client, newest_first, project)
    if found is None:
        theirs = f" ({passed} not this project's, not shown; `--job ID` picks one)" if passed else ""
        raise UsageError(f"no job of `{name}` on {where}{theirs}")
    return found


def connect_and_find(paths: list[Path], name: str, job_id: int | None = None) -> tuple[PortalClient, RemoteJob]:
    """The job `watch`, `report` and `logs` show (see find_job)."""
    loaded = load_specs(paths)
    client = connect(loaded)
    return client, find_job(client, clusters_of(loaded), name, job_id, loaded.project_id)


def snapshot(client: PortalClient, job: RemoteJob, place: Place) -> Snapshot:
    detail = client.job_detail(job)
    state = str(detail.get("state") or job.state)
    pods = tuple(
        (str(p.get("podName", p.get("podId", "?"))), str(p.get("podStatus", "?")))
        for p in detail.get("podInfo", []) or []
        if isinstance(p, Mapping)
    )
    now = replace(job, state=state)
    return Snapshot(now, pods, read_outputs(client, now, place))


def follow(
    client: PortalClient,
    jobs: Sequence[tuple[RemoteJob, Mapping[str, Any] | None]],
    interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[Snapshot]]:
    """Every job's snapshot, each `interval_s`, until all of them ended (the last list yielded is final)."""
    places = [locate(client, job, fallback) for job, fallback in jobs]
    current = [job for job, _ in jobs]
    while True:
        snaps = [snapshot(client, job, place) for job, place in zip(current, places, strict=True)]
        yield snaps
        if all(s.ended for s in snaps):
            return
        current = [s.job for s in snaps]
        sleep(interval_s)


def jobs_of_apply(
    client: PortalClient, the_plan: Plan, result: ApplyResult | None
) -> list[tuple[RemoteJob, Mapping[str, Any] | None]]:
    """After an apply: each job the plan wants, by its id: the one this apply submitted (or found an earlier
    submit of), else the job the plan found unchanged or failed. Never the newest job of a name: another
    project's identical spec compiles to the same name, and its job may be newer."""
    wanted: dict[tuple[str, int], Mapping[str, Any] | None] = {
        (c.cluster, c.current.job_id): None
        for c in the_plan.changes
        if c.action is not Action.CANCEL and c.current is not None
    }
    for r in result.results if result is not None else ():
        if r.job_id is not None and r.change.action is not Action.CANCEL:
            wanted[r.change.cluster, r.job_id] = r.change.desired.payload if r.change.desired else None
    listed = {(j.cluster, j.job_id): j for j in observe(client, the_plan.clusters).jobs}
    found = [(listed[key], payload) for key, payload in wanted.items() if key in listed]
    return sorted(found, key=lambda pair: (pair[0].name, pair[0].job_id))
