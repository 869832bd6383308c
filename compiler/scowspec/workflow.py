"""The GitOps commands' flows (plan, apply, status) without any printing: the CLI renders what they return."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from scowspec.apply.executor import ApplyResult, Result, apply_plan
from scowspec.apply.journal import Journal
from scowspec.compile.service import Compiled, compile_loaded, connect
from scowspec.errors import RefusedError, UsageError
from scowspec.load.files import find_project_file
from scowspec.pipeline import Loaded, load_specs
from scowspec.plan.guards import DEFAULT_MASS_CANCEL_THRESHOLD, GuardOptions, refusals
from scowspec.plan.identity import spec_of
from scowspec.plan.model import Plan
from scowspec.plan.reconcile import PlanOptions
from scowspec.plan.service import build_plan, clusters_of, observe
from scowspec.portal.client import PortalClient
from scowspec.portal.settings import from_env
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


def state_dir(paths: list[Path]) -> Path:
    """Where the journal and the apply lock live: beside scowspec.yaml, else in the current folder."""
    start = paths[0] if paths else Path.cwd() / "specs"
    project = find_project_file(start)
    return (project.parent if project else Path.cwd()) / STATE_DIR


def client_for_plan(the_plan: Plan) -> PortalClient:
    """For `apply --plan`: the portal the plan was made against (SCOWSPEC_PORTAL_URL may override it)."""
    return PortalClient(from_env(the_plan.portal_url or None))


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
        # A submit whose answer never came: apply looks the job up by name before sending anything.
        notes = [
            f"a submit of `{name}` was in flight at {entry.get('since', '?')} and its answer was lost: "
            "apply looks it up by name before submitting"
            for name, entry in sorted(pending.items())
        ]
        the_plan = replace(the_plan, notes=the_plan.notes + tuple(notes))
    return Planned(compiled, the_plan, tuple(refusals(the_plan, len(compiled.jobs), guard)), client)


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


def check_fresh(the_plan: Plan, client: PortalClient) -> None:
    """Refuse (exit 4) a saved plan whose job list moved since it was made."""
    if the_plan.portal_url and the_plan.portal_url.rstrip("/") != client.settings.url.rstrip("/"):
        raise RefusedError(
            f"the plan was made against {the_plan.portal_url}, not {client.settings.url}; nothing was changed"
        )
    now = observe(client, the_plan.clusters).fingerprint
    if now != the_plan.fingerprint:
        raise RefusedError(
            "the saved plan is stale: jobs on the portal changed since it was made; nothing was changed",
            hint="run `scowspec plan --out FILE` again and review it",
        )


def execute(
    the_plan: Plan,
    client: PortalClient,
    folder: Path,
    *,
    parallelism: int,
    progress: Callable[[Result], None] | None = None,
) -> ApplyResult:
    """Run a plan (call under `apply_lock(folder)`): refuse it if the portal moved away from it, else apply it."""
    check_fresh(the_plan, client)
    return apply_plan(the_plan, client, Journal(folder / "journal.json"), parallelism=parallelism, progress=progress)


@dataclass(frozen=True)
class SpecStatus:
    spec_name: str
    file: str
    job_name: str  # the current digest's job name
    jobs: tuple[RemoteJob, ...]  # newest first
    tensorboard: dict[int, str]
    outputs: JobOutputs | None = None  # of `shown`, read back through the file routes

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
        """The current job failed or was cancelled, or it completed and its verification failed or is missing."""
        cur = self.current
        if cur is None:
            return False
        return cur.phase is Phase.FAILED or (cur.phase is Phase.SUCCEEDED and self.verdict in UNVERIFIED)


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
    # Progress and verdicts, read in parallel: of the current job (its compiled payload stands in for a missing
    # submission record), else of the newest.
    payloads = {job.job_name: job.payload for job in compiled.jobs}
    shown = [(s, s.shown) for s in out]
    read = outputs_of_many(client, [(j, payloads.get(j.name)) for _, j in shown if j is not None])
    found = iter(read)
    out = [replace(s, outputs=next(found)) if j is not None else s for s, j in shown]
    return compiled, out, datetime.now(UTC)


@dataclass(frozen=True)
class PodLog:
    pod: str
    lines: tuple[str, ...]


def logs(paths: list[Path], name: str, job_id: int | None) -> tuple[RemoteJob, list[PodLog]]:
    """The logs of a spec's newest job (or of job `job_id`); `name` is a spec name or a job name."""
    loaded = load_specs(paths)
    client = connect(loaded)
    clusters = clusters_of(loaded)
    jobs = observe(client, clusters).jobs
    if job_id is not None:
        mine = [j for j in jobs if j.job_id == job_id]
    else:
        mine = [j for j in jobs if j.name == name or spec_of(j.name) == name]
    if not mine:
        raise UsageError(f"no job of `{name}` on {', '.join(clusters) or 'the portal'}")
    job = max(mine, key=lambda j: (j.submit_time, j.job_id))
    return job, [
        PodLog(str(p.get("podName", p.get("podId"))), tuple(client.pod_log(job, str(p["podId"]))))
        for p in client.pods(job)
    ]
