"""plan_services: a pure function from what the specs' `register:`/`serve:` want and what the portal has to the
service part of a plan.

- **register**: when the current digest's job COMPLETED and its model is ready (merged, and verify.json says
  passed where the spec has `verify:`), its merged folder becomes version `<job name>` of the portal model. The
  version name carries the digest, so a version already there means done.
- **serve**: a service is long-running, one per spec. It serves the newest ready job of the spec, so it is
  replaced (new one first, then the old one stopped) only when a newer version is ready; a job still training
  leaves the running service alone. A service that ended is reported, and started again only with `--replace`.
  Services of removed specs are stopped only with `--prune`, under the same guards as jobs; a spec whose
  `serve:` was removed stops its own. Only services whose submitted command (or an app's marker variable)
  opens with scowspec's marker line are ever stopped.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scowspec.plan.identity import Owner, owner, spec_of
from scowspec.portal.types import Phase, RemoteJob

PRUNE_REASON = "its spec was removed from the repository"  # the same words the job guards count (plan/guards.py)
SERVICE_TYPES = ("infer", "app")


class ServiceAction(enum.Enum):
    REGISTER = "register"
    SERVE = "serve"
    RESERVE = "reserve"  # a newer version is ready: start its service, then stop the old one
    STOP = "stop"
    UNCHANGED = "unchanged"
    WAITING = "waiting"  # nothing to do yet, and why (a job still running, a failed verify, a service that ended)

    @property
    def changes_anything(self) -> bool:
        return self in (ServiceAction.REGISTER, ServiceAction.SERVE, ServiceAction.RESERVE, ServiceAction.STOP)


SERVICE_SYMBOLS = {
    ServiceAction.REGISTER: "+",
    ServiceAction.SERVE: "+",
    ServiceAction.RESERVE: "-/+",
    ServiceAction.STOP: "-",
    ServiceAction.UNCHANGED: "=",
    ServiceAction.WAITING: "…",
}


@dataclass(frozen=True)
class Ready:
    """Whether a completed job's model may be registered and served, and why (not)."""

    ok: bool
    why: str


@dataclass(frozen=True)
class Registration:
    model: str
    version: str  # the job name: it carries the digest
    path: str
    description: str = ""


@dataclass(frozen=True)
class WantedService:
    """One spec's `register:`/`serve:`, compiled; `bodies` maps a job name to the service body that serves it."""

    spec_name: str
    file: str
    cluster: str
    job_name: str  # the current digest's job
    register: Registration | None = None  # for the current job
    via: str = ""  # "infer" or "app" when the spec serves
    route: str = ""
    bodies: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class ServiceChange:
    action: ServiceAction
    kind: str  # "register", "infer" or "app"
    spec_name: str
    name: str  # the version or service name: the job name it comes from
    cluster: str
    reason: str
    file: str = ""
    route: str = ""
    payload: Mapping[str, Any] | None = None
    registration: Registration | None = None
    stop: tuple[RemoteJob, ...] = ()
    current: RemoteJob | None = None
    known_ids: tuple[int, ...] = ()

    @property
    def word(self) -> str:
        if self.action is ServiceAction.STOP:
            return "stop"
        return "register" if self.kind == "register" else "serve"


@dataclass(frozen=True)
class ServicePlan:
    changes: tuple[ServiceChange, ...]
    fingerprint: str
    models: tuple[tuple[str, str], ...] = ()  # (cluster, model name) whose versions the fingerprint covers
    notes: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return any(c.action.changes_anything for c in self.changes)

    def count(self, action: ServiceAction) -> int:
        return sum(1 for c in self.changes if c.action is action)

    def summary(self) -> str:
        return (
            f"Services: {self.count(ServiceAction.REGISTER)} to register, {self.count(ServiceAction.SERVE)} to serve, "
            f"{self.count(ServiceAction.RESERVE)} to replace, {self.count(ServiceAction.STOP)} to stop."
        )


def fingerprint(services: Iterable[RemoteJob], versions: Mapping[tuple[str, str], Iterable[str]]) -> str:
    """scowspec-shaped services (name, id, phase, type) and the registered versions a plan was made against."""
    rows = sorted(
        (j.cluster, j.job_id, j.name, j.phase.value, j.job_type) for j in services if spec_of(j.name) is not None
    )
    regs = sorted((c, m, sorted(v)) for (c, m), v in versions.items())
    canon = json.dumps({"services": rows, "versions": regs}, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()[:32]


def _newest_first(jobs: Iterable[RemoteJob]) -> list[RemoteJob]:
    return sorted(jobs, key=lambda j: (j.submit_time, j.job_id), reverse=True)


def _register(w: WantedService, current: RemoteJob | None, ready: Ready | None, have: set[str]) -> ServiceChange:
    reg = w.register
    assert reg is not None

    def change(action: ServiceAction, reason: str) -> ServiceChange:
        return ServiceChange(action, "register", w.spec_name, reg.version, w.cluster, reason, w.file, registration=reg)

    if reg.version in have:
        return change(ServiceAction.UNCHANGED, f"version `{reg.version}` of model `{reg.model}` is registered")
    if current is None:
        return change(ServiceAction.WAITING, "waits for its job: none for this spec version yet")
    if current.phase is not Phase.SUCCEEDED:
        return change(ServiceAction.WAITING, f"waits for job {current.job_id} ({current.state}) to complete")
    if ready is None or not ready.ok:
        return change(ServiceAction.WAITING, f"not registered: {ready.why if ready else 'not checked'}")
    return change(
        ServiceAction.REGISTER, f"job {current.job_id} completed, {ready.why}: version of model `{reg.model}`"
    )


def _serve(
    w: WantedService,
    jobs: Sequence[RemoteJob],
    ready: Mapping[str, Ready],
    services: Sequence[RemoteJob],
    owned: Any,
    replace: bool,
) -> list[ServiceChange]:
    assert w.bodies is not None
    target = next((j for j in jobs if j.phase is Phase.SUCCEEDED and ready.get(j.name, Ready(False, "")).ok), None)
    running = [s for s in services if s.phase is Phase.ACTIVE]

    def change(action: ServiceAction, name: str, reason: str, **kw: Any) -> ServiceChange:
        return ServiceChange(action, w.via, w.spec_name, name, w.cluster, reason, w.file, **kw)

    if target is None:
        current = next((j for j in jobs if j.name == w.job_name), None)
        why = (
            "no job of this spec has a ready model yet"
            if current is None
            else f"job {current.job_id} is {current.state}"
            if current.phase is not Phase.SUCCEEDED
            else f"job {current.job_id}: {ready.get(current.name, Ready(False, 'not checked')).why}"
        )
        kept = f"; service {running[0].job_id} keeps serving `{running[0].name}`" if running else ""
        return [change(ServiceAction.WAITING, w.job_name, f"nothing to serve yet: {why}{kept}")]
    body = dict(w.bodies.get(target.name, {}))
    mine = [s for s in services if s.name == target.name and s.job_type == w.via]
    live = [s for s in mine if s.phase is Phase.ACTIVE]
    stale = [s for s in running if s not in live and owned(s)]
    out: list[ServiceChange] = []
    known = tuple(sorted(s.job_id for s in mine))
    if live:
        newer = next((j for j in jobs if j.name == w.job_name and j.name != target.name), None)
        later = f"; job {newer.job_id} ({newer.state}) replaces it once ready" if newer is not None else ""
        out.append(
            change(
                ServiceAction.UNCHANGED,
                target.name,
                f"service {live[0].job_id} is {live[0].state}{later}",
                current=live[0],
            )
        )
        if stale:
            out.append(
                change(ServiceAction.STOP, target.name, f"superseded by service {live[0].job_id}", stop=tuple(stale))
            )
        return out
    if mine and not replace:
        ended = _newest_first(mine)[0]
        return [
            change(
                ServiceAction.WAITING,
                target.name,
                f"service {ended.job_id} ended {ended.state}; not restarted (--replace {w.spec_name} starts it again)",
                current=ended,
                known_ids=known,
            )
        ]
    if stale:
        why = f"`{target.name}` is the newest ready version ({ready[target.name].why}); {stale[0].name} is stopped after it starts"
        return [
            change(
                ServiceAction.RESERVE, target.name, why, route=w.route, payload=body, stop=tuple(stale), known_ids=known
            )
        ]
    why = (
        f"--replace: service {_newest_first(mine)[0].job_id} ended; starting it again"
        if mine
        else f"job {target.job_id} completed, {ready[target.name].why}"
    )
    return [change(ServiceAction.SERVE, target.name, why, route=w.route, payload=body, known_ids=known)]


def plan_services(
    wanted: Sequence[WantedService],
    jobs: Sequence[RemoteJob],
    services: Sequence[RemoteJob],
    submitted: Mapping[int, Mapping[str, Any]],
    ready: Mapping[str, Ready],
    registered: Mapping[tuple[str, str], set[str]],
    *,
    fingerprint: str,
    all_spec_names: frozenset[str],
    prune: bool,
    replace: frozenset[str],
    targets: frozenset[str],
    owner_text: Any,
    project: str = "",
    adopt_legacy: bool = False,
    destroy: bool = False,
    destroy_reason: str = "",
    folders_planned: bool = True,
) -> ServicePlan:
    """The service plan. `ready` maps completed job names to their readiness, `registered` (cluster, model) to the
    version names the model has, `submitted` service job ids to their submit bodies (ownership: `owner_text` of a
    body is the text that must open with scowspec's marker)."""
    notes: list[str] = []

    def owned(job: RemoteJob) -> bool:
        body = submitted.get(job.job_id)
        # Ownership as for jobs: scowspec's marker and this project's id (plan/identity.owner).
        ok = body is not None and owner(owner_text(body), project, adopt_legacy=adopt_legacy) is Owner.MINE
        if not ok:
            notes.append(
                f"service {job.job_id} `{job.name}` on {job.cluster} looks like scowspec's but was not started by it: "
                "left alone"
            )
        return ok

    by_spec: dict[str, list[RemoteJob]] = {}
    for s in services:
        if (name := spec_of(s.name)) is not None:
            by_spec.setdefault(name, []).append(s)
    changes: list[ServiceChange] = []
    wanted_names = {w.spec_name for w in wanted}
    for w in wanted:
        if targets and w.spec_name not in targets:
            continue
        if destroy:  # --destroy / `scowspec cancel`: stop this project's services in scope, start nothing
            running = [s for s in by_spec.get(w.spec_name, []) if s.cluster == w.cluster and s.phase is Phase.ACTIVE]
            mine_running = [s for s in running if owned(s)]
            if mine_running:
                changes.append(_stop_change(w.spec_name, mine_running, destroy_reason or "--destroy", w.file))
            continue
        mine = _newest_first(j for j in jobs if spec_of(j.name) == w.spec_name and j.cluster == w.cluster)
        current = next((j for j in mine if j.name == w.job_name), None)
        if w.register is not None:
            have = registered.get((w.cluster, w.register.model), set())
            changes.append(_register(w, current, ready.get(w.job_name), have))
        spec_services = [s for s in by_spec.get(w.spec_name, []) if s.cluster == w.cluster]
        if w.bodies is not None:
            changes += _serve(w, mine, ready, spec_services, owned, w.spec_name in replace)
        else:
            orphaned = [s for s in spec_services if s.phase is Phase.ACTIVE and owned(s)]
            if orphaned:
                changes.append(_stop_change(w.spec_name, orphaned, "its spec has no `serve:` any more", w.file))
    # Services of specs in none of the planned folders: as for jobs, only whole folders can say a spec is gone
    # (with file arguments, another spec's service is outside the plan), and --prune or --destroy stops them.
    for name in sorted(set(by_spec) - all_spec_names - wanted_names) if folders_planned else ():
        if targets and name not in targets:
            continue
        running = [s for s in by_spec[name] if s.phase is Phase.ACTIVE]
        mine_running = [s for s in running if owned(s)]
        if not mine_running:
            continue
        if prune or destroy:
            changes.append(
                _stop_change(name, mine_running, (destroy_reason or "--destroy") if destroy else PRUNE_REASON)
            )
        else:
            ids = ", ".join(str(s.job_id) for s in mine_running)
            notes.append(f"`{name}` has no spec any more but service(s) {ids} still run: `--prune` stops them")
    models = tuple(sorted({(w.cluster, w.register.model) for w in wanted if w.register is not None}))
    return ServicePlan(tuple(changes), fingerprint, models, tuple(notes))


def _stop_change(spec_name: str, running: list[RemoteJob], reason: str, file: str = "") -> ServiceChange:
    """Stop `running` (this project's services of one spec, on the first one's cluster)."""
    first = running[0]
    return ServiceChange(
        ServiceAction.STOP, first.job_type, spec_name, first.name, first.cluster, reason, file, stop=tuple(running)
    )


def pruned_services(plan: ServicePlan | None) -> list[RemoteJob]:
    """Running services a plan stops (prune, --destroy, a spec without `serve:` any more): they count towards the
    mass-cancel guard like jobs."""
    if plan is None:
        return []
    return [j for c in plan.changes if c.action is ServiceAction.STOP for j in c.stop]
