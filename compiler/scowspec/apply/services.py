"""apply_services: run a plan's register/serve changes, after its jobs, with the same rules as job submits.

- **register** is idempotent by construction: the model is created unless it exists (409 means it does), and the
  version is looked up by name before and after its POST (409, or a lost answer, means it is there).
- **serve**: a service submit is journalled first, then the service list is read again (a service of that name the
  plan did not know means an earlier submit got through); it goes through the same SubmitGate as job submits (one
  per cluster per portal second: app and infer folders have one-second names too); an answer lost is looked up by
  name, never resent; the new service is confirmed in the list. A replaced service is stopped only after its
  successor was accepted, so a refused submit leaves the old version serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scowspec.apply.executor import Interrupted, Outcome, SubmitGate, journaled_submit, retryable
from scowspec.apply.interrupts import ctrl_c_sets
from scowspec.apply.journal import Journal
from scowspec.errors import ConflictError, NotFoundError, PortalError, ScowspecError, TransportError
from scowspec.plan.services import Registration, ServiceAction, ServiceChange, ServicePlan
from scowspec.portal.types import Phase, RemoteJob


class ServicePortal(Protocol):
    def list_jobs(
        self, cluster: str, *, running_only: bool = False, job_types: tuple[str, ...] = ("train",)
    ) -> list[RemoteJob]: ...

    def cancel(self, cluster: str, job_id: int) -> None: ...

    def ensure_dir(self, cluster: str, path: str) -> bool: ...

    def submit_service(self, route: str, payload: dict[str, Any]) -> int: ...

    def own_model(self, cluster: str, name: str) -> tuple[int | None, list[dict[str, Any]]]: ...

    def create_model(self, cluster: str, name: str, description: str) -> int: ...

    def create_model_version(self, model_id: int, version: str, path: str, description: str) -> int: ...


@dataclass(frozen=True)
class ServiceResult:
    change: ServiceChange
    outcome: Outcome
    message: str
    job_id: int | None = None
    retryable: bool = True


def journal_key(change: ServiceChange) -> str:
    """Services share their job's name: the journal tells them apart."""
    return f"serve:{change.name}"


def _version_id(portal: ServicePortal, cluster: str, reg: Registration) -> tuple[int | None, int | None]:
    model_id, versions = portal.own_model(cluster, reg.model)
    found = [int(v["id"]) for v in versions if v.get("versionName") == reg.version and "id" in v]
    return model_id, (found[0] if found else None)


def _register(portal: ServicePortal, change: ServiceChange) -> ServiceResult:
    reg = change.registration
    assert reg is not None
    model_id, version_id = _version_id(portal, change.cluster, reg)
    if version_id is not None:
        return ServiceResult(change, Outcome.DONE, f"version `{reg.version}` of `{reg.model}` was already registered")
    made = ""
    if model_id is None:
        try:
            model_id = portal.create_model(change.cluster, reg.model, reg.description)
            made = f"created model `{reg.model}` ({model_id}); "
        except ConflictError:  # made meanwhile: what we wanted
            model_id, _ = _version_id(portal, change.cluster, reg)
        if model_id is None:
            return ServiceResult(change, Outcome.FAILED, f"model `{reg.model}` exists but is not in your own list")
    try:
        version_id = portal.create_model_version(model_id, reg.version, reg.path, reg.description)
    except ConflictError:
        return ServiceResult(change, Outcome.DONE, f"{made}version `{reg.version}` was already registered")
    except TransportError as exc:
        _, version_id = _version_id(portal, change.cluster, reg)
        if version_id is None:
            return ServiceResult(change, Outcome.FAILED, f"{made}{exc.message}; not registered (yet)")
    return ServiceResult(
        change,
        Outcome.DONE,
        f"{made}registered `{reg.path}` as version `{reg.version}` ({version_id}) of `{reg.model}`",
    )


def _find(portal: ServicePortal, change: ServiceChange) -> RemoteJob | None:
    found = [
        j
        for j in portal.list_jobs(change.cluster, job_types=(change.kind,))
        if j.name == change.name and j.job_id not in change.known_ids
    ]
    return max(found, key=lambda j: j.job_id) if found else None


def _stop(portal: ServicePortal, job: RemoteJob) -> str:
    """Stop a service; one that ended meanwhile is done (the portal answers 500 for it, not 404)."""
    try:
        portal.cancel(job.cluster, job.job_id)
    except (NotFoundError, PortalError) as exc:
        if isinstance(exc, TransportError):
            raise
        now = [j for j in portal.list_jobs(job.cluster, job_types=(job.job_type,)) if j.job_id == job.job_id]
        if not now or now[0].phase is not Phase.ACTIVE:
            return f"service {job.job_id} had already ended"
        raise
    return f"stopped service {job.job_id} `{job.name}`"


def _serve(
    portal: ServicePortal, journal: Journal, change: ServiceChange, gate: SubmitGate, stop: threading.Event
) -> ServiceResult:
    if change.payload is None:  # plans are made again before apply; this only guards the type
        return ServiceResult(change, Outcome.FAILED, "nothing to start: the change has no payload")
    cluster, payload = change.cluster, dict(change.payload)
    attempt = journaled_submit(
        journal,
        journal_key(change),
        cluster,
        payload,
        find=lambda: _find(portal, change),
        ensure_dir=portal.ensure_dir,
        send=lambda: portal.submit_service(change.route, payload),
        gate=gate,
        stop=stop,
    )
    job_id = attempt.job_id
    if (settled := attempt.settled("service", "started")) is not None:
        outcome, message = settled
        return ServiceResult(change, outcome, message, job_id or None, attempt.retryable)
    listed = [j for j in portal.list_jobs(cluster, job_types=(change.kind,)) if j.job_id == job_id]
    if not listed or listed[0].name != change.name:
        return ServiceResult(
            change,
            Outcome.FAILED,
            f"started as job {job_id}, but the portal's list does not show it as `{change.name}`: check the portal "
            "before applying again",
            job_id,
        )
    return ServiceResult(change, Outcome.DONE, f"started service {job_id} ({change.kind})", job_id)


def _run(
    portal: ServicePortal, journal: Journal, change: ServiceChange, gate: SubmitGate, stop: threading.Event
) -> ServiceResult:
    if stop.is_set():
        return ServiceResult(change, Outcome.SKIPPED, "not started: interrupted")
    try:
        if change.action is ServiceAction.REGISTER:
            return _register(portal, change)
        notes: list[str] = []
        result = None
        if change.action in (ServiceAction.SERVE, ServiceAction.RESERVE):
            result = _serve(portal, journal, change, gate, stop)
            if result.outcome is not Outcome.DONE:
                return result  # the old version keeps serving
        notes += [_stop(portal, job) for job in change.stop]
        message = "; ".join(([result.message] if result else []) + notes)
        return ServiceResult(change, Outcome.DONE, message, result.job_id if result else None)
    except Interrupted:
        return ServiceResult(change, Outcome.SKIPPED, "interrupted before the next call")
    except PortalError as exc:
        return ServiceResult(change, Outcome.FAILED, exc.message, retryable=retryable(exc))
    except ScowspecError as exc:  # the journal could not record the submit: it was not sent
        return ServiceResult(change, Outcome.FAILED, f"not started: {exc.message}")


def apply_services(
    plan: ServicePlan,
    portal: ServicePortal,
    journal: Journal,
    gate: SubmitGate,
    *,
    progress: Callable[[ServiceResult], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[tuple[ServiceResult, ...], bool]:
    """Run every service change, in plan order (a spec's register before its serve); Ctrl-C (or `stop`) starts
    nothing new."""
    stop = stop or threading.Event()
    results: list[ServiceResult] = []
    with ctrl_c_sets(stop):
        for change in (c for c in plan.changes if c.action.changes_anything):
            result = _run(portal, journal, change, gate, stop)
            results.append(result)
            if progress is not None:
                progress(result)
    return tuple(results), stop.is_set()
