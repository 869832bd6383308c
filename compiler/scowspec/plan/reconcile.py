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
from scowspec.plan.identity import Owner, owner, project_of, spec_of
from scowspec.plan.model import Action, Change, Desired, FieldChange, Plan
from scowspec.portal.types import Phase, RemoteJob


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    replace: frozenset[str] = frozenset()  # spec names whose failed current job is run again
    targets: frozenset[str] = frozenset()  # empty: every spec in scope
    project: str = ""  # this project's id: only jobs that carry it are ever cancelled
    adopt_legacy: bool = False  # jobs scowspec made before project ids count as this project's
    # What a job without a spec was checked against, e.g. "specs/"; "" when the scope is files or names
    # (`apply specs/one.yaml`): then no other spec's job is in scope, so none is pruned.
    prune_scope: str = ""
    destroy: bool = False  # cancel every running job of this project in scope; submit nothing
    destroy_reason: str = "--destroy: stop this project's running jobs"
    show_foreign: bool = False  # list other projects' jobs one by one (else one counting note)
    cancelled_by_scowspec: frozenset[tuple[str, int]] = frozenset()  # (cluster, id) of jobs scowspec cancelled


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


def detail_wanted(
    desired: Sequence[Desired], existing: Sequence[RemoteJob], *, destroy: bool = False
) -> list[RemoteJob]:
    """Jobs whose submitted payload the plan needs: running scowspec-shaped jobs that may be cancelled."""
    current = set() if destroy else {d.job_name for d in desired}
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
    foreign: list[str] = []

    def owned(job: RemoteJob) -> bool:
        """Only jobs proven to be this project's are ever cancelled; the others are listed, never touched."""
        payload = submitted.get(job.job_id)
        if payload is None:  # unreadable: plan.service notes it
            return False
        command = str(payload.get("command", ""))
        whose = owner(command, options.project, adopt_legacy=options.adopt_legacy)
        if whose is Owner.MINE:
            return True
        where = f"job {job.job_id} `{job.name}` on {job.cluster}"
        if whose is Owner.NOT_SCOWSPEC:
            notes.append(f"{where} looks like scowspec's but was not submitted by it: left alone")
        elif whose is Owner.LEGACY:
            notes.append(
                f"{where} was submitted by scowspec before project ids: foreign here, left alone "
                "(`adopt_legacy_jobs: true` in scowspec.yaml or --adopt-legacy-jobs makes such jobs this project's)"
            )
        else:
            foreign.append(f"{where} belongs to project `{project_of(command)}`: foreign here, left alone")
        return False

    def nodes_gpus(job: RemoteJob) -> float:
        payload = submitted.get(job.job_id, {})
        nodes, gpus = payload.get("nodeCount", 1), payload.get("gpuCount", 0)
        return float(nodes) * float(gpus) if isinstance(nodes, int) and isinstance(gpus, int) else 0.0

    def lost_of(jobs: Sequence[RemoteJob]) -> float:
        return sum(_elapsed_hours(j, now) * nodes_gpus(j) for j in jobs)

    changes: list[Change] = []
    unmatched = 0
    for d in desired:
        if options.targets and d.spec_name not in options.targets:
            continue
        jobs = by_spec.get(d.spec_name, [])
        if options.destroy:
            running = [j for j in jobs if j.phase is Phase.ACTIVE and owned(j)]
            if running:
                changes.append(
                    _change(d, Action.CANCEL, options.destroy_reason, cancel=tuple(running), lost=lost_of(running))
                )
            continue
        current = [j for j in jobs if j.name == d.job_name and j.cluster == d.cluster]
        stale = [j for j in jobs if j not in current and j.phase is Phase.ACTIVE and owned(j)]
        lost = lost_of(stale)
        known = tuple(sorted(j.job_id for j in current))
        newest = _newest(current) if current else None
        # A job scowspec cancelled itself (pruned or replaced) is not a failure: the spec coming back submits it.
        ours_cancelled = newest is not None and (newest.cluster, newest.job_id) in options.cancelled_by_scowspec
        rerun = d.spec_name in options.replace or ours_cancelled
        if newest is not None and (newest.phase is not Phase.FAILED or not rerun):
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
        elif newest is not None and ours_cancelled and d.spec_name not in options.replace:
            why = f"job {newest.job_id} of this version was cancelled by scowspec; submitting it again"
            changes.append(_change(d, Action.SUBMIT, why, desired=d, known_ids=known))
        elif newest is not None:
            why = f"--replace: job {newest.job_id} ended {newest.state}; running it again"
            changes.append(_change(d, Action.SUBMIT, why, desired=d, known_ids=known))
        else:
            changes.append(_change(d, Action.SUBMIT, "no job for this spec version yet", desired=d))

    # Jobs of specs that are in none of the folders planned. Only folders can say a spec is gone: with file
    # arguments or names (prune_scope ""), a job of another spec is outside the plan, whatever --prune says.
    for name in sorted(set(by_spec) - known_specs) if options.prune_scope else ():
        if options.targets and name not in options.targets:
            continue
        running = [j for j in by_spec[name] if j.phase is Phase.ACTIVE]
        mine = [j for j in running if owned(j)]
        if not mine:
            continue
        if options.prune or options.destroy:
            reason = (
                options.destroy_reason if options.destroy else f"no spec named `{name}` under {options.prune_scope}"
            )
            changes.append(
                Change(
                    Action.CANCEL,
                    spec_name=name,
                    job_name=mine[0].name,
                    cluster=mine[0].cluster,
                    cancel=tuple(mine),
                    lost_gpu_hours=lost_of(mine),
                    reason=reason,
                )
            )
        else:
            unmatched += 1
            ids = ", ".join(str(j.job_id) for j in mine)
            notes.append(
                f"no spec named `{name}` under {options.prune_scope}, but its job(s) {ids} still run: "
                "`--prune` cancels them"
            )
    if options.show_foreign:
        notes += foreign
    elif foreign:
        notes.append(
            f"{len(foreign)} running job(s) of other projects on this portal user left alone "
            "(`--show-foreign` lists them)"
        )
    return Plan(tuple(changes), fingerprint, clusters, tuple(notes), unmatched=unmatched, project=options.project)
