"""The register/serve part of plans, apply results and status, as text, markdown and JSON pieces."""

from __future__ import annotations

from typing import Any

from scowspec.apply.executor import Outcome
from scowspec.apply.services import ServiceResult
from scowspec.plan.services import SERVICE_SYMBOLS, ServiceAction, ServiceChange, ServicePlan
from scowspec.plan.services_io import ServiceStatus

_MARK = {Outcome.DONE: "ok", Outcome.FAILED: "FAILED", Outcome.SKIPPED: "skipped"}


def _details(c: ServiceChange) -> list[str]:
    lines: list[str] = []
    if c.registration is not None and c.action is ServiceAction.REGISTER:
        lines.append(f"model `{c.registration.model}` ← {c.registration.path}")
    if c.payload is not None and c.action.changes_anything:
        p = c.payload
        gpus = p.get("gpuCount", 0)
        port = f", port {p['containerServicePort']}" if "containerServicePort" in p else ""
        app = f", app `{p['appId']}`" if "appId" in p else ""
        lines.append(f"{c.kind} on {p.get('partition')}: {gpus} GPU, max {p.get('maxTime')} min{port}{app}")
    for job in c.stop:
        lines.append(f"stops service {job.job_id} `{job.name}` ({job.state}) on {job.cluster}")
    return lines


def plan_lines(plan: ServicePlan) -> list[str]:
    out: list[str] = []
    for c in plan.changes:
        where = f"  ({c.file})" if c.file else ""
        out.append(f"{SERVICE_SYMBOLS[c.action]:>3} {c.word:<9} {c.name}{where}: {c.reason}")
        out += [f"      {line}" for line in _details(c)]
    return out


def markdown_rows(plan: ServicePlan) -> list[str]:
    return [
        f"| `{SERVICE_SYMBOLS[c.action]}` | {c.word} | `{c.name}` | `{c.file}` | {c.reason} |" for c in plan.changes
    ]


def summary(plan: ServicePlan) -> dict[str, int]:
    return {
        "register": plan.count(ServiceAction.REGISTER),
        "serve": plan.count(ServiceAction.SERVE),
        "replace": plan.count(ServiceAction.RESERVE),
        "stop": plan.count(ServiceAction.STOP),
        "waiting": plan.count(ServiceAction.WAITING),
    }


def result_line(r: ServiceResult) -> str:
    c = r.change
    return f"{SERVICE_SYMBOLS[c.action]:>3} {c.word:<8} {c.name}: {_MARK[r.outcome]}: {r.message}"


def result_doc(r: ServiceResult) -> dict[str, Any]:
    return {
        "action": r.change.action.value,
        "kind": r.change.kind,
        "name": r.change.name,
        "cluster": r.change.cluster,
        "outcome": r.outcome.value,
        "message": r.message,
        "retryable": r.retryable,
        "job_id": r.job_id,
    }


def status_line(service: ServiceStatus | None) -> str:
    if service is None:
        return "    service: none running"
    j = service.job
    where = service.address or "(no address yet)"
    answers = "answers" if service.answers else "does not answer yet"
    return f"    service: {j.job_type} {j.job_id} {j.state} `{j.name}` at {where}: {answers}"


def status_doc(service: ServiceStatus | None) -> dict[str, Any] | None:
    if service is None:
        return None
    return {
        "job_id": service.job.job_id,
        "type": service.job.job_type,
        "name": service.job.name,
        "state": service.job.state,
        "address": service.address or None,
        "answers": service.answers,
    }
