"""The GitOps commands' flows (plan, apply, status) without any printing: the CLI renders what they return."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from scowspec.apply.executor import ApplyResult, Result, SubmitGate, apply_plan
from scowspec.apply.journal import Journal, in_doubt
from scowspec.apply.lock import apply_lock
from scowspec.apply.portal_lock import PortalLock, portal_lock
from scowspec.apply.services import ServiceResult, apply_services
from scowspec.compile.service import Compiled, compile_loaded, connect, not_compiled
from scowspec.compile.serving import ServeFacts
from scowspec.diagnostics import Report
from scowspec.errors import ConfigError, RefusedError, UsageError
from scowspec.load import files
from scowspec.load.files import find_project_file
from scowspec.pipeline import Loaded, load_specs
from scowspec.plan import services_io
from scowspec.plan.guards import DEFAULT_MASS_CANCEL_THRESHOLD, DEFAULT_MAX_GPU_HOURS, GuardOptions, refusals
from scowspec.plan.identity import spec_of
from scowspec.plan.model import Change, Plan
from scowspec.plan.planfile import Saved, SavedRequest
from scowspec.plan.reconcile import PlanOptions
from scowspec.plan.service import build_plan, clusters_of, commands_of, observe, split_by_project
from scowspec.plan.services_io import ServiceStatus
from scowspec.portal.client import PortalClient
from scowspec.portal.project_home import cancelled_by_scowspec, record_cancels
from scowspec.portal.types import Phase, RemoteJob
from scowspec.report.outputs import UNVERIFIED, JobOutputs, Verdict
from scowspec.report.readback import outputs_of_many

STATE_DIR = ".scowspec"


@dataclass(frozen=True)
class Planned:
    compiled: Compiled
    plan: Plan | None  # None when the specs are invalid
    refusals: tuple[str, ...] = ()
    client: PortalClient | None = None


@dataclass(frozen=True)
class Prepared:
    """Specs loaded, validated and compiled against the portal: what planning and the portal lock need."""

    compiled: Compiled
    paths: tuple[Path, ...]
    client: PortalClient | None = None  # None when the specs are invalid
    project: str = ""
    lock_cluster: str = ""
    serve_facts: dict[str, ServeFacts] = field(default_factory=dict)  # what the portal offers `serve:`


def state_dir(paths: list[Path]) -> Path:
    """Where the journal and the apply lock live: beside scowspec.yaml, else in the current folder."""
    start = paths[0] if paths else Path.cwd() / "specs"
    project = find_project_file(start)
    return (project.parent if project else Path.cwd()) / STATE_DIR


def suggested_project_id(folder: Path) -> str:
    """A fresh id: the folder's name as a slug plus 6 random hex digits (two labs' `finetune` repos differ)."""
    slug = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")[:40].strip("-") or "project"
    return f"{slug}-{secrets.token_hex(3)}"


def project_id(loaded: Loaded) -> str:
    """The one project id the specs belong to; plan and apply touch only that project's jobs."""
    ids = sorted({p.project_id for p in loaded.projects})
    if len(ids) > 1:
        shown = ", ".join(f"`{i}`" if i else "(none)" for i in ids)
        raise UsageError(f"the paths span several projects ({shown}): plan or apply one project at a time")
    if ids and ids[0]:
        return ids[0]
    where = loaded.projects[0].file if loaded.projects else "scowspec.yaml"
    folder = Path(where).parent if loaded.projects else Path.cwd()
    raise ConfigError(
        f"{where}: no `project` id: scowspec needs one to tell this repository's jobs from other projects' "
        "jobs on the same portal user; nothing was read from or sent to the portal",
        hint=f"run `scowspec init --project` (or add `project: {suggested_project_id(folder)}` to scowspec.yaml "
        "and commit it); jobs submitted before ids existed are then left alone unless `adopt_legacy_jobs: true`",
    )


def lock_cluster(loaded: Loaded) -> str:
    """The cluster whose home folder holds the project's lock: scowspec.yaml's `cluster`, so every clone and
    every path argument agrees; else the first cluster the specs name."""
    for p in loaded.projects:
        cluster = p.defaults.get("cluster")
        if isinstance(cluster, str):
            return cluster
    clusters = clusters_of(loaded)
    return clusters[0] if clusters else ""


def prune_scope(paths: list[Path]) -> str:
    """What a job without a spec is checked against: the folders given; "" when any argument is a file."""
    if not paths or not all(p.is_dir() for p in paths):
        return ""
    return ", ".join(files.display(p).rstrip("/") + "/" for p in paths)


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked for on the command line; scowspec.yaml may turn prune on and set the limits."""

    targets: frozenset[str] = frozenset()
    replace: frozenset[str] = frozenset()
    prune: bool = False
    allow_mass_cancel: bool = False
    destroy: bool = False
    destroy_reason: str = ""
    allow_over_budget: bool = False
    adopt_legacy: bool = False
    show_foreign: bool = False

    def options(self, prepared: Prepared, cancelled: frozenset[tuple[str, int]]) -> tuple[PlanOptions, GuardOptions]:
        projects = prepared.compiled.loaded.projects
        prune = self.prune or any(p.defaults.get("prune") is True for p in projects)
        adopt = self.adopt_legacy or any(p.defaults.get("adopt_legacy_jobs") is True for p in projects)
        threshold = next(
            (v for p in projects if isinstance(v := p.defaults.get("mass_cancel_threshold"), int)),
            DEFAULT_MASS_CANCEL_THRESHOLD,
        )
        budget = next(
            (
                float(v)
                for p in projects
                if isinstance(v := p.defaults.get("max_gpu_hours"), int | float) and not isinstance(v, bool)
            ),
            DEFAULT_MAX_GPU_HOURS,
        )
        plan_options = PlanOptions(
            prune,
            self.replace,
            self.targets,
            project=prepared.project,
            adopt_legacy=adopt,
            prune_scope=prune_scope(list(prepared.paths)),
            destroy=self.destroy,
            destroy_reason=self.destroy_reason or PlanOptions.destroy_reason,
            show_foreign=self.show_foreign,
            cancelled_by_scowspec=cancelled,
        )
        return plan_options, GuardOptions(threshold, self.allow_mass_cancel, budget, self.allow_over_budget)


def prepare(paths: list[Path]) -> Prepared:
    """load → validate → compile (resolving against the portal); the project id is checked before any call."""
    loaded = load_specs(paths)
    if not loaded.report.ok:
        return Prepared(not_compiled(loaded), tuple(paths))
    project = project_id(loaded)
    client = connect(loaded)
    compiled = compile_loaded(loaded, client, client)
    if not compiled.report.ok:
        return Prepared(compiled, tuple(paths))
    serve_facts, problems = services_io.check(compiled.jobs, client)
    if problems:  # the portal lacks a route, an app or an attribute a spec names: located, before any submit
        return Prepared(replace(compiled, report=Report.of([*compiled.report.diagnostics, *problems])), tuple(paths))
    return Prepared(compiled, tuple(paths), client, project, lock_cluster(loaded), serve_facts)


@contextmanager
def project_lock(client: PortalClient, cluster: str, project: str, timeout_s: float) -> Iterator[PortalLock]:
    """The portal-side lock every clone of the project sees (apply.portal_lock)."""
    if not project or not cluster:
        raise UsageError("this plan names no project or cluster (made by an older scowspec?): plan again")
    with portal_lock(client, cluster, project, timeout_s) as lock:
        yield lock


def plan_prepared(prepared: Prepared, request: PlanRequest) -> Planned:
    """observe → plan → guards, for specs that compiled."""
    client = prepared.client
    assert client is not None
    cancelled = cancelled_by_scowspec(client, prepared.lock_cluster, prepared.project)
    options, guard = request.options(prepared, cancelled)
    the_plan = build_plan(prepared.compiled, client, options)
    the_plan = _with_services(the_plan, prepared.compiled, prepared.serve_facts, client, options)
    the_plan = replace(the_plan, lock_cluster=prepared.lock_cluster, destroy=request.destroy)
    notes: list[str] = []
    if (request.prune or request.destroy) and not options.prune_scope:
        notes.append(
            "--prune and --destroy look for jobs without a spec only in folders: with file arguments, "
            "no job of a spec outside them is cancelled"
        )
    pending = Journal(state_dir(list(prepared.paths)) / "journal.json").pending()
    # A submit whose answer never came: apply looks it up by name, and never resubmits it while in doubt.
    now = time.time()
    listed = _listed(the_plan)
    notes += [
        f"a submit of `{name}` at {entry.get('since', '?')} got no answer: "
        + (
            "its job is on the portal now (apply clears the entry)"
            if name in listed
            else "in doubt, so apply will not submit it again until it appears on the portal or the grace period ends"
            if in_doubt(entry, now)
            else "apply looks it up by name before submitting"
        )
        for name, entry in sorted(pending.items())
    ]
    if notes:
        the_plan = replace(the_plan, notes=the_plan.notes + tuple(notes))
    return Planned(prepared.compiled, the_plan, tuple(refusals(the_plan, len(prepared.compiled.jobs), guard)), client)


def plan(paths: list[Path], request: PlanRequest) -> Planned:
    """load → validate → compile (resolving against the portal) → observe → plan → guards."""
    prepared = prepare(paths)
    if prepared.client is None:
        return Planned(prepared.compiled, None)
    return plan_prepared(prepared, request)


def _listed(the_plan: Plan) -> set[str]:
    """Names of the portal's jobs the plan saw."""
    return {c.current.name for c in the_plan.changes if c.current} | {
        j.name for c in the_plan.changes for j in c.cancel
    }


def settle(folder: Path, the_plan: Plan) -> None:
    """Clear journal entries whose job the portal lists (apply calls this also when there is nothing to do)."""
    Journal(folder / "journal.json").settle(_listed(the_plan))


def saved_request(paths: list[Path], request: PlanRequest) -> SavedRequest:
    """What `plan --out` records, so that apply --plan can make the same plan again."""
    return SavedRequest(
        tuple(str(p) for p in paths),
        tuple(sorted(request.targets)),
        tuple(sorted(request.replace)),
        request.prune,
        request.destroy,
        request.adopt_legacy,
    )


def request_of(saved: Saved, allow_mass_cancel: bool, allow_over_budget: bool) -> PlanRequest:
    """The PlanRequest a saved plan was made with (the guards' overrides are the applying user's)."""
    req = saved.request
    return PlanRequest(
        frozenset(req.targets),
        frozenset(req.replace),
        req.prune,
        allow_mass_cancel,
        destroy=req.destroy,
        allow_over_budget=allow_over_budget,
        adopt_legacy=req.adopt_legacy,
    )


def replan(saved: Saved, prepared: Prepared, request: PlanRequest) -> Planned:
    """`apply --plan`: make the plan again from the specs and this project's portal; refuse (exit 4) unless it is
    the saved plan. A plan file is only a record of what was reviewed: every payload, cancel and guard is
    derived again here, so an edited file can neither submit a command no spec compiles to, nor cancel a job
    scowspec does not own, nor pass the mass-cancel guard, nor send the token to another portal."""
    planned = plan_prepared(prepared, request)
    assert planned.plan is not None and planned.client is not None
    url = planned.client.settings.url
    if saved.plan.portal_url.rstrip("/") != url.rstrip("/"):
        raise RefusedError(
            f"the saved plan names the portal {saved.plan.portal_url!r}, but this project's portal is {url}; "
            "nothing was changed (a plan is applied only to the portal of scowspec.yaml or SCOWSPEC_PORTAL_URL)"
        )
    services_then = saved.plan.services.fingerprint if saved.plan.services else ""
    services_now = planned.plan.services.fingerprint if planned.plan.services else ""
    if planned.plan.fingerprint != saved.plan.fingerprint or services_then != services_now:
        raise RefusedError(
            "the saved plan is stale: jobs, services or registered versions on the portal changed since it was "
            "made; nothing was changed",
            hint="run `scowspec plan --out FILE` again and review it",
        )
    differs = first_difference(saved.plan, planned.plan)
    if differs:
        raise RefusedError(
            f"the saved plan is not what the specs make now ({differs}); nothing was changed",
            hint="run `scowspec plan --out FILE` again and review it",
        )
    return planned


def _decisive(change: Change) -> tuple[object, ...]:
    """What a change does to the portal (not how it is described)."""
    d = change.desired
    return (
        change.action.value,
        change.job_name,
        change.cluster,
        None if d is None else (d.job_name, d.cluster, d.nodes, d.gpus_per_node, d.max_time_minutes),
        None if d is None else json.dumps(d.payload, sort_keys=True, default=repr),
        tuple((j.cluster, j.job_id, j.name) for j in change.cancel),
        tuple(change.known_ids),
    )


def _decisive_services(plan: Plan) -> list[tuple[object, ...]]:
    """What a plan's register/serve changes do to the portal."""
    if plan.services is None:
        return []
    return [
        (
            c.action.value,
            c.name,
            c.cluster,
            c.route,
            None if c.payload is None else json.dumps(dict(c.payload), sort_keys=True, default=repr),
            None if c.registration is None else (c.registration.model, c.registration.version, c.registration.path),
            tuple((j.cluster, j.job_id, j.name) for j in c.stop),
        )
        for c in plan.services.changes
        if c.action.changes_anything
    ]


def first_difference(saved: Plan, fresh: Plan) -> str:
    """'' when both plans do the same to the portal, else the first change that differs, in words."""
    mine = sorted(
        [_decisive(c) for c in saved.changes if c.action.changes_anything] + _decisive_services(saved), key=repr
    )
    theirs = sorted(
        [_decisive(c) for c in fresh.changes if c.action.changes_anything] + _decisive_services(fresh), key=repr
    )
    if mine == theirs:
        return ""
    extra = [c for c in mine if c not in theirs] or mine[len(theirs) :]
    if extra:
        return f"the file's {extra[0][0]} of `{extra[0][1]}` is not in the plan the specs make"
    missing = [c for c in theirs if c not in mine] or theirs[len(mine) :]
    return f"the specs now also {missing[0][0]} `{missing[0][1]}`"


def _with_services(
    the_plan: Plan,
    compiled: Compiled,
    facts: dict[str, ServeFacts],
    client: PortalClient,
    options: PlanOptions,
) -> Plan:
    """The plan with its register/serve part (services of removed specs are looked for even when no spec serves)."""
    wants = any(j.spec.register is not None or j.spec.serve is not None for j in compiled.jobs)
    train = observe(client, the_plan.clusters).jobs if wants else ()
    names = frozenset(j.spec.name for j in compiled.jobs)
    services, notes = services_io.build_services(compiled.jobs, facts, client, the_plan.clusters, train, options, names)
    return replace(the_plan, services=services, notes=the_plan.notes + services.notes + tuple(notes))


def in_automation() -> bool:
    """No one can answer a question: CI, or no terminal on stdin."""
    if os.environ.get("SCOWSPEC_IN_AUTOMATION") == "1":
        return True
    ci = os.environ.get("CI", "").lower()
    if ci not in ("", "0", "false", "no"):
        return True
    if any(os.environ.get(v) for v in ("GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL")):
        return True
    return not sys.stdin.isatty()


def check_fresh(the_plan: Plan, client: PortalClient) -> set[str]:
    """Refuse (exit 4) a plan whose job list moved since it was made; the names of the jobs listed now."""
    if the_plan.portal_url and the_plan.portal_url.rstrip("/") != client.settings.url.rstrip("/"):
        raise RefusedError(
            f"the plan was made against {the_plan.portal_url}, not {client.settings.url}; nothing was changed"
        )
    observed = observe(client, the_plan.clusters)
    services = the_plan.services
    moved = services is not None and services_io.current_fingerprint(services, client, the_plan.clusters) != (
        services.fingerprint
    )
    if observed.fingerprint != the_plan.fingerprint or moved:
        raise RefusedError(
            "the job list on the portal changed while this plan was made or reviewed; nothing was changed",
            hint="run the command again (with a saved plan: `scowspec plan --out FILE` again, and review it)",
        )
    return {j.name for j in observed.jobs}


def execute(
    the_plan: Plan,
    client: PortalClient,
    folder: Path,
    *,
    parallelism: int,
    progress: Callable[[Result], None] | None = None,
    service_progress: Callable[[ServiceResult], None] | None = None,
    stop: threading.Event | None = None,
) -> ApplyResult:
    """Run a plan (call under `apply_lock(folder)` and `project_lock`): refuse it if the portal moved away from
    it, else apply it. Jobs first, then registrations and services, all submits through one SubmitGate; once
    `stop` is set (Ctrl-C, the lock lost), nothing new starts."""
    listed = check_fresh(the_plan, client)
    journal, gate = Journal(folder / "journal.json"), SubmitGate()
    journal.settle(listed)
    # Written ahead, on the portal: a version whose job scowspec replaces or prunes comes back later as a plain
    # submit. Jobs stopped by --destroy or `scowspec cancel` stay stopped until `--replace NAME`.
    if not the_plan.destroy:
        cancelled = [j for c in the_plan.changes for j in c.cancel]
        record_cancels(client, the_plan.lock_cluster, the_plan.project, cancelled)
    try:
        result = apply_plan(the_plan, client, journal, parallelism=parallelism, progress=progress, gate=gate, stop=stop)
        if the_plan.services is not None and not result.interrupted:
            done, interrupted = apply_services(
                the_plan.services, client, journal, gate, progress=service_progress, stop=stop
            )
            result = replace(result, services=done, interrupted=interrupted)
    except BaseException:
        with contextlib.suppress(KeyboardInterrupt):
            gate.drain()
        raise
    # Before the project lock is released and the next apply can start. A Ctrl-C here stops nothing that was
    # sent: the summary is still shown, as interrupted.
    try:
        gate.drain()
    except KeyboardInterrupt:
        return replace(result, interrupted=True)
    return result


@dataclass(frozen=True)
class ApplyHooks:
    """What the caller shows and asks along the way (the CLI renders; tests may record). Each is called under both
    locks, so what is shown is what is applied."""

    prepared: Callable[[Prepared], None] = lambda prepared: None  # the specs' diagnostics
    planned: Callable[[Plan], None] = lambda plan: None  # the plan, before anything changes
    confirm: Callable[[Plan], None] = lambda plan: None  # raise RefusedError to change nothing
    progress: Callable[[Result], None] | None = None
    service_progress: Callable[[ServiceResult], None] | None = None


@dataclass(frozen=True)
class Applied:
    plan: Plan | None  # None: the specs did not compile
    client: PortalClient | None
    result: ApplyResult


def apply_specs(
    spec_paths: list[Path],
    request: PlanRequest,
    hooks: ApplyHooks,
    *,
    parallelism: int,
    lock_timeout: float,
    saved: Saved | None = None,
) -> Applied:
    """Plan and apply under both locks: this clone's, then the project's on the portal (every clone's). A second
    apply started meanwhile, here or in another clone, plans against what the first one did.

    With a saved plan, the plan is made again and must equal it (the file alone is never trusted)."""
    folder = state_dir(spec_paths)
    with apply_lock(folder, lock_timeout):
        prepared = prepare(spec_paths)
        hooks.prepared(prepared)
        if prepared.client is None:
            return Applied(None, None, ApplyResult(()))
        with project_lock(prepared.client, prepared.lock_cluster, prepared.project, lock_timeout) as lock:
            planned = replan(saved, prepared, request) if saved is not None else plan_prepared(prepared, request)
            assert planned.plan is not None and planned.client is not None
            the_plan = planned.plan
            hooks.planned(the_plan)
            if planned.refusals:
                raise RefusedError("; ".join(planned.refusals))
            if not the_plan.has_changes:
                settle(folder, the_plan)
                return Applied(the_plan, planned.client, ApplyResult(()))
            hooks.confirm(the_plan)
            halt = threading.Event()  # the lock lost while applying: start nothing more
            lock.on_lost = halt.set
            result = execute(
                the_plan,
                planned.client,
                folder,
                parallelism=parallelism,
                progress=hooks.progress,
                service_progress=hooks.service_progress,
                stop=halt,
            )
            if lock.lost:
                result = replace(result, lock_lost=lock.lost, interrupted=True)
    return Applied(the_plan, planned.client, result)


@dataclass(frozen=True)
class SpecStatus:
    spec_name: str
    file: str
    job_name: str  # the current digest's job name
    jobs: tuple[RemoteJob, ...]  # newest first
    tensorboard: dict[int, str]
    service: ServiceStatus | None = None  # the running service of `serve:`
    serving: bool = False  # the spec has `serve:`
    outputs: JobOutputs | None = None  # of `shown`, read back through the file routes
    foreign: int = 0  # jobs under this spec's name proven not this project's (another's, hand-made): not in `jobs`

    @property
    def current(self) -> RemoteJob | None:
        return next((j for j in self.jobs if j.name == self.job_name), None)

    @property
    def shown(self) -> RemoteJob | None:
        """The job whose progress and verdict status shows: the current one, else the newest."""
        return self.current or (self.jobs[0] if self.jobs else None)

    @property
    def verdict(self) -> Verdict:
        job = self.shown
        return self.outputs.verdict(job.phase) if self.outputs and job else Verdict.NONE

    @property
    def needs_attention(self) -> bool:
        """The current version never ran (no job), its job failed or was cancelled, or it completed and its
        verification failed or is missing."""
        cur = self.current
        if cur is None:
            return True
        return cur.phase is Phase.FAILED or (cur.phase is Phase.SUCCEEDED and self.verdict in UNVERIFIED)


def status(paths: list[Path]) -> tuple[Compiled, list[SpecStatus], datetime]:
    loaded = load_specs(paths)
    if not loaded.report.ok:
        return not_compiled(loaded), [], datetime.now(UTC)
    client = connect(loaded)
    compiled = compile_loaded(loaded, client)
    if not compiled.report.ok:
        return compiled, [], datetime.now(UTC)
    clusters = clusters_of(compiled.loaded)
    observed = observe(client, clusters)
    services = services_io.observe_services(client, clusters) if any(j.spec.serve for j in compiled.jobs) else ()
    project = compiled.loaded.project_id
    by_spec = {
        job.spec.name: sorted(
            (j for j in observed.jobs if spec_of(j.name) == job.spec.name),
            key=lambda j: (j.submit_time, j.job_id),
            reverse=True,
        )
        for job in compiled.jobs
    }
    current = {job.job_name for job in compiled.jobs}
    doubtful = [j for named in by_spec.values() for j in named if j.name not in current] if project else []
    commands = commands_of(client, doubtful)  # whose each job is: one pool for every spec
    out = []
    for job in compiled.jobs:
        mine, foreign = split_by_project(by_spec[job.spec.name], commands, project, job.job_name)
        boards = {}
        for j in mine:
            if j.phase is Phase.ACTIVE and job.spec.tensorboard_dir:
                url = client.tensorboard_url(j)
                if url:
                    boards[j.job_id] = url
        served = [s for s in services if spec_of(s.name) == job.spec.name]
        service = services_io.service_status(client, served) if job.spec.serve is not None else None
        out.append(
            SpecStatus(
                job.spec.name,
                job.spec.file,
                job.job_name,
                tuple(mine),
                boards,
                service,
                job.spec.serve is not None,
                foreign=foreign,
            )
        )
    # Progress and verdicts, read in parallel: of the current job (its compiled payload stands in for a missing
    # submission record), else of the newest.
    payloads = {job.job_name: job.payload for job in compiled.jobs}
    shown = [(s, s.shown) for s in out]
    read = outputs_of_many(client, [(j, payloads.get(j.name)) for _, j in shown if j is not None])
    found = iter(read)
    out = [replace(s, outputs=next(found)) if j is not None else s for s, j in shown]
    return compiled, out, datetime.now(UTC)
