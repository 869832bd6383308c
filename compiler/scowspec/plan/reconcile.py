"""make_plan: a pure function from what the specs want and what the portal has to a Plan.

Reconciliation knows that runs end: a finished job of the current digest is done (not drift), a
failed one is reported (not resubmitted unless asked), and finished jobs of older digests are
history. Only running jobs are ever cancelled, and only jobs proven to be scowspec's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scowspec.plan import diff
from scowspec.plan.identity import made_by_scowspec, spec_of
from scowspec.plan.model import Action, Change, Desired, FieldChange, Plan
from scowspec.portal.types import Phase, RemoteJob


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    replace: frozenset[str] = frozenset()  # spec names whose failed current job is run again
    targets: frozenset[str] = frozenset()  # empty: every spec


def _newest(jobs: Sequence[RemoteJob]) -> RemoteJob:
    return max(jobs, key=lambda j: (j.submit_time, j.job_id))


def _elapsed_hours(job: RemoteJob, now: datetime) -> float:
    try:
        started = datetime.fromisoformat(job.submit_time.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (now - started).total_seconds() / 3600)


def _change(
    d: Desired,
    action: Action,
    reason: str,
    *,
    desired: Desired | None = None,
    cancel: tuple[RemoteJob, ...] = (),
    current: RemoteJob | None = None,
    known_ids: tuple[int, ...] = (),
    changed: tuple[FieldChange, ...] = (),
    lost: float = 0.0,
) -> Change:
    return Change(
        action, d.spec_name, d.job_name, d.cluster, reason, d.file, desired, cancel, current, known_ids, changed, lost
    )


def detail_wanted(desired: Sequence[Desired], existing: Sequence[RemoteJob]) -> list[RemoteJob]:
    """Jobs whose submitted payload the plan needs: running scowspec-shaped jobs that may be cancelled."""
    current = {d.job_name for d in desired}
    return [j for j in existing if j.phase is Phase.ACTIVE and spec_of(j.name) is not None and j.name not in current]


def make_plan(
    desired: Sequence[Desired],
    existing: Sequence[RemoteJob],
    submitted: Mapping[int, Mapping[str, object]],
    *,
    options: PlanOptions,
    fingerprint: str,
    clusters: tuple[str, ...],
    now: datetime,
    all_spec_names: frozenset[str] | None = None,
) -> Plan:
    """The plan. `submitted` maps job ids to the payload they were submitted with (see detail_wanted)."""
    known_specs = all_spec_names if all_spec_names is not None else frozenset(d.spec_name for d in desired)
    by_spec: dict[str, list[RemoteJob]] = {}
    for job in existing:
        name = spec_of(job.name)
        if name is not None:
            by_spec.setdefault(name, []).append(job)
    notes: list[str] = []

    def owned(job: RemoteJob) -> bool:
        payload = submitted.get(job.job_id)
        ok = payload is not None and made_by_scowspec(str(payload.get("command", "")))
        if not ok:
            notes.append(
                f"job {job.job_id} `{job.name}` on {job.cluster} looks like scowspec's but was not submitted by it: left alone"
            )
        return ok

    def nodes_gpus(job: RemoteJob) -> float:
        payload = submitted.get(job.job_id, {})
        nodes, gpus = payload.get("nodeCount", 1), payload.get("gpuCount", 0)
        return float(nodes) * float(gpus) if isinstance(nodes, int) and isinstance(gpus, int) else 0.0

    changes: list[Change] = []
    for d in desired:
        if options.targets and d.spec_name not in options.targets:
            continue
        jobs = by_spec.get(d.spec_name, [])
        current = [j for j in jobs if j.name == d.job_name and j.cluster == d.cluster]
        stale = [j for j in jobs if j not in current and j.phase is Phase.ACTIVE and owned(j)]
        lost = sum(_elapsed_hours(j, now) * nodes_gpus(j) for j in stale)
        known = tuple(sorted(j.job_id for j in current))
        newest = _newest(current) if current else None
        if newest is not None and (newest.phase is not Phase.FAILED or d.spec_name not in options.replace):
            if newest.phase is Phase.FAILED:
                why = (
                    f"job {newest.job_id} ended {newest.state}; not resubmitted (--replace {d.spec_name} runs it again)"
                )
                changes.append(_change(d, Action.FAILED, why, current=newest, known_ids=known))
            else:
                changes.append(
                    _change(
                        d, Action.UNCHANGED, f"job {newest.job_id} is {newest.state}", current=newest, known_ids=known
                    )
                )
            if stale:
                why = f"superseded by job {newest.job_id} of the current spec"
                changes.append(_change(d, Action.CANCEL, why, cancel=tuple(stale), lost=lost))
            continue
        if stale:
            before = submitted.get(_newest(stale).job_id, {})
            changes.append(
                _change(
                    d,
                    Action.REPLACE,
                    "the spec changed while its job is running",
                    desired=d,
                    cancel=tuple(stale),
                    known_ids=known,
                    changed=diff.changes(before, d.payload),
                    lost=lost,
                )
            )
        elif newest is not None:
            why = f"--replace: job {newest.job_id} ended {newest.state}; running it again"
            changes.append(_change(d, Action.SUBMIT, why, desired=d, known_ids=known))
        else:
            changes.append(_change(d, Action.SUBMIT, "no job for this spec version yet", desired=d))

    # Jobs of specs that are no longer in the repository.
    for name in sorted(set(by_spec) - known_specs):
        if options.targets and name not in options.targets:
            continue
        running = [j for j in by_spec[name] if j.phase is Phase.ACTIVE]
        if not running:
            continue
        mine = [j for j in running if owned(j)]
        if not mine:
            continue
        if options.prune:
            lost = sum(_elapsed_hours(j, now) * nodes_gpus(j) for j in mine)
            changes.append(
                Change(
                    Action.CANCEL,
                    spec_name=name,
                    job_name=mine[0].name,
                    cluster=mine[0].cluster,
                    cancel=tuple(mine),
                    lost_gpu_hours=lost,
                    reason="its spec was removed from the repository",
                )
            )
        else:
            ids = ", ".join(str(j.job_id) for j in mine)
            notes.append(f"`{name}` has no spec any more but job(s) {ids} still run: `--prune` cancels them")
    return Plan(tuple(changes), fingerprint, clusters, tuple(notes))
