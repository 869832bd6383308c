"""The GitOps commands' flows (plan, apply, status) without any printing: the CLI renders what they return."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from scowspec.apply.executor import ApplyResult, Result, apply_plan
from scowspec.apply.journal import Journal, in_doubt
from scowspec.compile.service import Compiled, compile_loaded, connect
from scowspec.errors import RefusedError, UsageError
from scowspec.load.files import find_project_file
from scowspec.pipeline import Loaded, load_specs
from scowspec.plan.guards import DEFAULT_MASS_CANCEL_THRESHOLD, GuardOptions, refusals
from scowspec.plan.identity import spec_of
from scowspec.plan.model import Change, Plan
from scowspec.plan.planfile import Saved, SavedRequest
from scowspec.plan.reconcile import PlanOptions
from scowspec.plan.service import build_plan, clusters_of, observe
from scowspec.portal.client import PortalClient
from scowspec.portal.types import Phase, RemoteJob

STATE_DIR = ".scowspec"


@dataclass(frozen=True)
class Planned:
    compiled: Compiled
    plan: Plan | None  # None when the specs are invalid
    refusals: tuple[str, ...] = ()
    client: PortalClient | None = None


def state_dir(paths: list[Path]) -> Path:
    """Where the journal and the apply lock live: beside scowspec.yaml, else in the current folder."""
    start = paths[0] if paths else Path.cwd() / "specs"
    project = find_project_file(start)
    return (project.parent if project else Path.cwd()) / STATE_DIR


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked for on the command line; scowspec.yaml may turn prune on and set the threshold."""

    targets: frozenset[str] = frozenset()
    replace: frozenset[str] = frozenset()
    prune: bool = False
    allow_mass_cancel: bool = False

    def options(self, loaded: Loaded) -> tuple[PlanOptions, GuardOptions]:
        prune = self.prune or any(p.defaults.get("prune") is True for p in loaded.projects)
        threshold = next(
            (v for p in loaded.projects if isinstance(v := p.defaults.get("mass_cancel_threshold"), int)),
            DEFAULT_MASS_CANCEL_THRESHOLD,
        )
        return PlanOptions(prune, self.replace, self.targets), GuardOptions(threshold, self.allow_mass_cancel)


def plan(paths: list[Path], request: PlanRequest) -> Planned:
    """load → validate → compile (resolving against the portal) → observe → plan → guards."""
    loaded = load_specs(paths)
    if not loaded.report.ok:
        return Planned(compile_loaded(loaded, None), None)
    client = connect(loaded)
    compiled = compile_loaded(loaded, client, client)
    if not compiled.report.ok:
        return Planned(compiled, None)
    options, guard = request.options(loaded)
    the_plan = build_plan(compiled, client, options)
    pending = Journal(state_dir(paths) / "journal.json").pending()
    if pending:
        # A submit whose answer never came: apply looks it up by name, and never resubmits it while in doubt.
        now = time.time()
        listed = _listed(the_plan)
        notes = [
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
        the_plan = replace(the_plan, notes=the_plan.notes + tuple(notes))
    return Planned(compiled, the_plan, tuple(refusals(the_plan, len(compiled.jobs), guard)), client)


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
        tuple(str(p) for p in paths), tuple(sorted(request.targets)), tuple(sorted(request.replace)), request.prune
    )


def replan(saved: Saved, allow_mass_cancel: bool) -> Planned:
    """`apply --plan`: make the plan again from the specs and this project's portal; refuse (exit 4) unless it is
    the saved plan. A plan file is only a record of what was reviewed: every payload, cancel and guard is
    derived again here, so an edited file can neither submit a command no spec compiles to, nor cancel a job
    scowspec does not own, nor pass the mass-cancel guard, nor send the token to another portal."""
    req = saved.request
    request = PlanRequest(frozenset(req.targets), frozenset(req.replace), req.prune, allow_mass_cancel)
    planned = plan([Path(p) for p in req.paths] or [Path("specs")], request)
    if planned.plan is None or planned.client is None:
        raise RefusedError("the specs the saved plan was made from are not valid now (see above); nothing was changed")
    url = planned.client.settings.url
    if saved.plan.portal_url.rstrip("/") != url.rstrip("/"):
        raise RefusedError(
            f"the saved plan names the portal {saved.plan.portal_url!r}, but this project's portal is {url}; "
            "nothing was changed (a plan is applied only to the portal of scowspec.yaml or SCOWSPEC_PORTAL_URL)"
        )
    if planned.plan.fingerprint != saved.plan.fingerprint:
        raise RefusedError(
            "the saved plan is stale: jobs on the portal changed since it was made; nothing was changed",
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


def first_difference(saved: Plan, fresh: Plan) -> str:
    """'' when both plans do the same to the portal, else the first change that differs, in words."""
    mine = sorted((_decisive(c) for c in saved.changes if c.action.changes_anything), key=repr)
    theirs = sorted((_decisive(c) for c in fresh.changes if c.action.changes_anything), key=repr)
    if mine == theirs:
        return ""
    extra = [c for c in mine if c not in theirs] or mine[len(theirs) :]
    if extra:
        return f"the file's {extra[0][0]} of `{extra[0][1]}` is not in the plan the specs make"
    missing = [c for c in theirs if c not in mine] or theirs[len(mine) :]
    return f"the specs now also {missing[0][0]} `{missing[0][1]}`"


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
    if observed.fingerprint != the_plan.fingerprint:
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
) -> ApplyResult:
    """Run a plan (call under `apply_lock(folder)`): refuse it if the portal moved away from it, else apply it."""
    listed = check_fresh(the_plan, client)
    journal = Journal(folder / "journal.json")
    journal.settle(listed)
    return apply_plan(the_plan, client, journal, parallelism=parallelism, progress=progress)


@dataclass(frozen=True)
class SpecStatus:
    spec_name: str
    file: str
    job_name: str  # the current digest's job name
    jobs: tuple[RemoteJob, ...]  # newest first
    tensorboard: dict[int, str]

    @property
    def current(self) -> RemoteJob | None:
        return next((j for j in self.jobs if j.name == self.job_name), None)

    @property
    def needs_attention(self) -> bool:
        cur = self.current
        return cur is not None and cur.phase is Phase.FAILED


def status(paths: list[Path]) -> tuple[Compiled, list[SpecStatus], datetime]:
    loaded = load_specs(paths)
    if not loaded.report.ok:
        return compile_loaded(loaded, None), [], datetime.now(UTC)
    client = connect(loaded)
    compiled = compile_loaded(loaded, client)
    if not compiled.report.ok:
        return compiled, [], datetime.now(UTC)
    clusters = clusters_of(compiled.loaded)
    observed = observe(client, clusters)
    out = []
    for job in compiled.jobs:
        mine = sorted(
            (j for j in observed.jobs if spec_of(j.name) == job.spec.name),
            key=lambda j: (j.submit_time, j.job_id),
            reverse=True,
        )
        boards = {}
        for j in mine:
            if j.phase is Phase.ACTIVE and job.spec.tensorboard_dir:
                url = client.tensorboard_url(j)
                if url:
                    boards[j.job_id] = url
        out.append(SpecStatus(job.spec.name, job.spec.file, job.job_name, tuple(mine), boards))
    return compiled, out, datetime.now(UTC)


def log_job(paths: list[Path], name: str, job_id: int | None) -> tuple[PortalClient, RemoteJob]:
    """The job whose logs `scowspec logs` shows: a spec's newest job, a job by name, or job `job_id`."""
    loaded = load_specs(paths)
    client = connect(loaded)
    clusters = clusters_of(loaded)
    jobs = observe(client, clusters).jobs
    if job_id is not None:
        mine = [j for j in jobs if j.job_id == job_id]
    else:
        mine = [j for j in jobs if j.name == name or spec_of(j.name) == name]
    if not mine:
        what = f"job {job_id}" if job_id is not None else f"job of `{name}`"
        raise UsageError(f"no {what} on {', '.join(clusters) or 'the portal'}")
    return client, max(mine, key=lambda j: (j.submit_time, j.job_id))
