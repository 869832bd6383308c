"""The I/O around plan_services: the portal's serve facts (located diagnostics at plan time), its services, the
registered versions, and each completed job's readiness read from its files (`merged/`, `verify.json`)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scowspec.compile import serving
from scowspec.compile.payload import CompiledJob
from scowspec.compile.serving import ServeFacts
from scowspec.diagnostics import Diagnostic
from scowspec.errors import AuthError, NotFoundError, PortalError, TransportError
from scowspec.model.spec import FineTuneSpec
from scowspec.plan.identity import spec_of
from scowspec.plan.reconcile import PlanOptions
from scowspec.plan.services import (
    SERVICE_TYPES,
    Ready,
    Registration,
    ServicePlan,
    WantedService,
    fingerprint,
    plan_services,
)
from scowspec.portal.client import PortalClient
from scowspec.portal.types import Phase, RemoteJob
from scowspec.report.verifyfile import VerifyFileError, parse_verify


def check(jobs: Sequence[CompiledJob], client: PortalClient) -> tuple[dict[str, ServeFacts], list[Diagnostic]]:
    """Each serving spec's facts, or located diagnostics (no /api/infer, an app or attribute the site lacks, …)."""
    facts: dict[str, ServeFacts] = {}
    diags: list[Diagnostic] = []
    for job in jobs:
        found, problems = serving.check(job.spec, client)
        diags += problems
        if found is not None:
            facts[job.spec.name] = found
    return facts, diags


def observe_services(client: PortalClient, clusters: Iterable[str]) -> tuple[RemoteJob, ...]:
    found: list[RemoteJob] = []
    for cluster in clusters:
        found += client.list_jobs(cluster, job_types=SERVICE_TYPES)
    return tuple(found)


def registered_versions(client: PortalClient, models: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for cluster, model in models:
        _, versions = client.own_model(cluster, model)
        out[(cluster, model)] = {str(v.get("versionName")) for v in versions}
    return out


def readiness(client: PortalClient, spec: FineTuneSpec, job_name: str) -> Ready:
    """A completed job's model: merged, and (with `verify:`) passed. Existence first: the real portal may answer
    200 with an empty body for a file that is not there."""
    folder = posixpath.join(spec.work_dir, job_name)
    merged = serving.merged_path(spec, job_name)
    if not client.exists(spec.cluster, merged):
        return Ready(False, f"its merged model `{merged}` is not there")
    if spec.verify is None:
        return Ready(True, "merged")
    path = posixpath.join(folder, "verify.json")
    if not client.exists(spec.cluster, path):
        return Ready(False, f"`{path}` is not there: the job's verification did not run")
    try:
        report = parse_verify(client.download(spec.cluster, path).decode("utf-8", "replace"))
    except VerifyFileError as exc:
        return Ready(False, f"`{path}`: {exc}")
    if report.status != "passed":
        detail = f" ({report.error})" if report.error else ""
        return Ready(False, f"its verification {report.status}{detail}")
    return Ready(True, "verification passed")


@dataclass(frozen=True)
class ServiceInputs:
    wanted: tuple[WantedService, ...]
    ready: dict[str, Ready]


def _inputs(
    jobs: Sequence[CompiledJob], facts: dict[str, ServeFacts], train: Sequence[RemoteJob], client: PortalClient
) -> ServiceInputs:
    wanted: list[WantedService] = []
    ready: dict[str, Ready] = {}
    for job in jobs:
        spec = job.spec
        if spec.register is None and spec.serve is None:
            continue
        mine = sorted(
            (j for j in train if spec_of(j.name) == spec.name and j.cluster == spec.cluster),
            key=lambda j: (j.submit_time, j.job_id),
            reverse=True,
        )
        done = [j for j in mine if j.phase is Phase.SUCCEEDED]
        # Read files only as far as needed: the current job (what register wants), and newest first until one is
        # ready (what a service serves).
        if spec.register is not None and any(j.name == job.job_name for j in done):
            ready[job.job_name] = readiness(client, spec, job.job_name)
        if spec.serve is not None:
            for j in done:
                if j.name not in ready:
                    ready[j.name] = readiness(client, spec, j.name)
                if ready[j.name].ok:
                    break
        reg = (
            Registration(
                spec.register.model,
                job.job_name,
                serving.merged_path(spec, job.job_name),
                spec.register.description or f"{spec.file}: job {job.job_name}",
            )
            if spec.register is not None
            else None
        )
        serve = facts.get(spec.name)
        bodies: dict[str, dict[str, Any]] | None = None
        route = ""
        if serve is not None:
            image = job.payload.get("image")
            bodies = {}
            for j in done:
                route, bodies[j.name] = serving.payload(spec, serve, j.name, image if isinstance(image, int) else None)
        wanted.append(
            WantedService(
                spec.name,
                spec.file,
                spec.cluster,
                job.job_name,
                reg,
                serve.via.value if serve is not None else "",
                route,
                bodies,
            )
        )
    return ServiceInputs(tuple(wanted), ready)


def build_services(
    jobs: Sequence[CompiledJob],
    facts: dict[str, ServeFacts],
    client: PortalClient,
    clusters: tuple[str, ...],
    train: Sequence[RemoteJob],
    options: PlanOptions,
    all_spec_names: frozenset[str],
) -> tuple[ServicePlan, list[str]]:
    """Observe services and versions, read readiness, then plan (a pure step); notes on what could not be read."""
    services = observe_services(client, clusters)
    inputs = _inputs(jobs, facts, train, client)
    models = {(w.cluster, w.register.model) for w in inputs.wanted if w.register is not None}
    registered = registered_versions(client, sorted(models))
    submitted: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    for s in services:
        if s.phase is not Phase.ACTIVE or spec_of(s.name) is None:
            continue
        try:
            submitted[s.job_id] = client.submitted_payload(s)
        except (NotFoundError, PortalError) as exc:
            if isinstance(exc, TransportError | AuthError):
                raise
            notes.append(f"service {s.job_id} `{s.name}`: its submission parameters could not be read ({exc.message})")
    plan = plan_services(
        inputs.wanted,
        train,
        services,
        submitted,
        inputs.ready,
        registered,
        fingerprint=fingerprint(services, registered),
        all_spec_names=all_spec_names,
        prune=options.prune,
        folders_planned=bool(options.prune_scope),
        replace=options.replace,
        targets=options.targets,
        owner_text=serving.ownership_text,
        project=options.project,
        adopt_legacy=options.adopt_legacy,
        destroy=options.destroy,
        destroy_reason=options.destroy_reason,
    )
    return plan, notes


def current_fingerprint(plan: ServicePlan, client: PortalClient, clusters: Iterable[str]) -> str:
    """The fingerprint of the portal now, over what `plan` was made against (for `apply --plan`)."""
    return fingerprint(observe_services(client, clusters), registered_versions(client, plan.models))


@dataclass(frozen=True)
class ServiceStatus:
    """A spec's running service for `status`: where it is through the portal's proxy, and whether it answers."""

    job: RemoteJob
    address: str  # "" until the portal gives it a host and port
    answers: bool


def _fill(text: str, connect: dict[str, Any]) -> str:
    for key in ("HOST", "PORT", "PASSWORD"):
        text = text.replace("{{" + key + "}}", str(connect.get(key.lower(), "")))
    return text


def service_status(client: PortalClient, services: Sequence[RemoteJob]) -> ServiceStatus | None:
    """The newest running service among `services` (one spec's), with its address: an inference job's
    OpenAI-compatible `/v1` (asked for `/v1/models`), an app's page as the portal's own link builds it."""
    running = sorted((s for s in services if s.phase is Phase.ACTIVE), key=lambda s: s.job_id, reverse=True)
    if not running:
        return None
    job = running[0]
    base = f"{client.settings.url}/api/proxy/{job.cluster}"
    if job.job_type == "infer":
        detail = client.service_detail(job)
        host, port = detail.get("host"), detail.get("port")
        if not host or not isinstance(port, int) or port <= 0:
            return ServiceStatus(job, "", False)
        address = f"{base}/absolute/{host}/{port}/v1"
        return ServiceStatus(job, address, client.proxy_answers(address + "/models"))
    if job.phase is not Phase.ACTIVE or not client.app_connectivity(job):
        return ServiceStatus(job, "", False)
    got = client.app_connect(job)
    connect = got.get("connect") if isinstance(got.get("connect"), dict) else {}
    assert isinstance(connect, dict)
    path = _fill(str(connect.get("path", "/")), got)
    query = connect.get("query") if isinstance(connect.get("query"), dict) else {}
    assert isinstance(query, dict)
    params = "&".join(f"{k}={_fill(str(v), got)}" for k, v in query.items())
    proxy = "absolute" if got.get("proxyType") == "absolute" else "relative"
    address = f"{base}/{proxy}/{got.get('host')}/{got.get('port')}{path}" + (f"?{params}" if params else "")
    return ServiceStatus(job, address, True)
