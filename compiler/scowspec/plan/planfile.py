"""Saved plans: exactly the actions, plus the fingerprint of the job list they were planned against.

No token and no header is ever part of a plan; payloads hold only what the spec says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scowspec.errors import UsageError
from scowspec.plan.model import Action, Change, Desired, FieldChange, Plan
from scowspec.plan.services import Registration, ServiceAction, ServiceChange, ServicePlan
from scowspec.portal.types import RemoteJob

PLAN_FORMAT = "scowspec-plan/1"


@dataclass(frozen=True)
class SavedRequest:
    """What `plan --out` was asked for: apply --plan makes the plan again from this and compares."""

    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    prune: bool = False
    destroy: bool = False
    adopt_legacy: bool = False


@dataclass(frozen=True)
class Saved:
    plan: Plan
    request: SavedRequest


def _job(j: RemoteJob) -> dict[str, Any]:
    return {
        "cluster": j.cluster,
        "job_id": j.job_id,
        "name": j.name,
        "state": j.state,
        "submit_time": j.submit_time,
        "session_id": j.session_id,
        "job_type": j.job_type,
    }


def _remote(j: dict[str, Any]) -> RemoteJob:
    return RemoteJob(
        j["cluster"],
        int(j["job_id"]),
        j["name"],
        j["state"],
        j.get("submit_time", ""),
        j.get("session_id", ""),
        j.get("job_type", "train"),
    )


def _desired(d: Desired) -> dict[str, Any]:
    return {
        "spec_name": d.spec_name,
        "job_name": d.job_name,
        "cluster": d.cluster,
        "file": d.file,
        "nodes": d.nodes,
        "gpus_per_node": d.gpus_per_node,
        "max_time_minutes": d.max_time_minutes,
        "defaults": [list(x) for x in d.defaults],
        "payload": d.payload,
    }


def to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "scowspec_version": plan.scowspec_version,
        "created_at": plan.created_at,
        "portal_url": plan.portal_url,
        "clusters": list(plan.clusters),
        "fingerprint": plan.fingerprint,
        "notes": list(plan.notes),
        "unmatched": plan.unmatched,
        "project": plan.project,
        "lock_cluster": plan.lock_cluster,
        "changes": [
            {
                "action": c.action.value,
                "spec_name": c.spec_name,
                "job_name": c.job_name,
                "cluster": c.cluster,
                "file": c.file,
                "reason": c.reason,
                "desired": _desired(c.desired) if c.desired else None,
                "cancel": [_job(j) for j in c.cancel],
                "current": _job(c.current) if c.current else None,
                "known_ids": list(c.known_ids),
                "lost_gpu_hours": c.lost_gpu_hours,
                "changed": [{"path": f.path, "before": f.before, "after": f.after} for f in c.changed],
            }
            for c in plan.changes
        ],
        "services": _services_dict(plan.services) if plan.services is not None else None,
    }


def dumps(plan: Plan, request: SavedRequest | None = None) -> str:
    data = to_dict(plan)
    if request is not None:
        data["request"] = {
            "paths": list(request.paths),
            "targets": sorted(request.targets),
            "replace": sorted(request.replace),
            "prune": request.prune,
            "destroy": request.destroy,
            "adopt_legacy": request.adopt_legacy,
        }
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return tuple(value)


def _request(raw: Any) -> SavedRequest:
    if raw is None:
        return SavedRequest()
    flags = ("prune", "destroy", "adopt_legacy")
    if not isinstance(raw, dict) or not all(isinstance(raw.get(f, False), bool) for f in flags):
        raise TypeError("`request` is not what plan --out writes")
    return SavedRequest(
        _strings(raw.get("paths", [])),
        _strings(raw.get("targets", [])),
        _strings(raw.get("replace", [])),
        bool(raw.get("prune", False)),
        bool(raw.get("destroy", False)),
        bool(raw.get("adopt_legacy", False)),
    )


def loads(text: str, source: str) -> Saved:
    """A saved plan; a file that is not one is a usage error with the reason.

    Reading it is all this does: apply makes the plan again from the specs and refuses a file that differs.
    """
    try:
        raw = json.loads(text)
        if raw.get("format") != PLAN_FORMAT:
            raise UsageError(f"{source}: not a scowspec plan (format {raw.get('format')!r}, expected {PLAN_FORMAT!r})")

        def desired(d: dict[str, Any] | None) -> Desired | None:
            if d is None:
                return None
            return Desired(
                d["spec_name"],
                d["job_name"],
                d["cluster"],
                d["file"],
                d["payload"],
                int(d["nodes"]),
                int(d["gpus_per_node"]),
                int(d["max_time_minutes"]),
                tuple((k, v) for k, v in d.get("defaults", [])),
            )

        changes = tuple(
            Change(
                Action(c["action"]),
                c["spec_name"],
                c["job_name"],
                c["cluster"],
                c["reason"],
                c.get("file", ""),
                desired(c.get("desired")),
                tuple(_remote(j) for j in c.get("cancel", [])),
                _remote(c["current"]) if c.get("current") else None,
                tuple(int(i) for i in c.get("known_ids", [])),
                tuple(FieldChange(f["path"], f["before"], f["after"]) for f in c.get("changed", [])),
                float(c.get("lost_gpu_hours", 0.0)),
            )
            for c in raw["changes"]
        )
        plan = Plan(
            changes,
            str(raw["fingerprint"]),
            _strings(raw["clusters"]),
            tuple(str(n) for n in raw.get("notes", [])),
            str(raw.get("created_at", "")),
            str(raw.get("scowspec_version", "")),
            str(raw.get("portal_url", "")),
            int(raw.get("unmatched", 0)),
            str(raw.get("project", "")),
            str(raw.get("lock_cluster", "")),
            _services_of(raw["services"]) if raw.get("services") else None,
        )
        return Saved(plan, _request(raw.get("request")))
    except UsageError:
        raise
    except RecursionError:
        raise UsageError(f"{source}: not a readable scowspec plan (nested too deeply)") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise UsageError(f"{source}: not a readable scowspec plan ({type(exc).__name__}: {str(exc)[:200]})") from None


def _services_dict(plan: ServicePlan) -> dict[str, Any]:
    return {
        "fingerprint": plan.fingerprint,
        "models": [list(m) for m in plan.models],
        "notes": list(plan.notes),
        "changes": [
            {
                "action": c.action.value,
                "kind": c.kind,
                "spec_name": c.spec_name,
                "name": c.name,
                "cluster": c.cluster,
                "reason": c.reason,
                "file": c.file,
                "route": c.route,
                "payload": dict(c.payload) if c.payload is not None else None,
                "registration": (
                    {
                        "model": c.registration.model,
                        "version": c.registration.version,
                        "path": c.registration.path,
                        "description": c.registration.description,
                    }
                    if c.registration is not None
                    else None
                ),
                "stop": [_job(j) for j in c.stop],
                "current": _job(c.current) if c.current else None,
                "known_ids": list(c.known_ids),
            }
            for c in plan.changes
        ],
    }


def _services_of(raw: dict[str, Any]) -> ServicePlan:
    """A saved service plan (KeyError, ValueError or TypeError when it is not one: the caller reports it)."""
    changes = []
    for c in raw["changes"]:
        reg = c.get("registration")
        changes.append(
            ServiceChange(
                ServiceAction(c["action"]),
                str(c["kind"]),
                str(c["spec_name"]),
                str(c["name"]),
                str(c["cluster"]),
                str(c["reason"]),
                str(c.get("file", "")),
                str(c.get("route", "")),
                c.get("payload"),
                Registration(reg["model"], reg["version"], reg["path"], reg.get("description", "")) if reg else None,
                tuple(_remote(j) for j in c.get("stop", [])),
                _remote(c["current"]) if c.get("current") else None,
                tuple(int(i) for i in c.get("known_ids", [])),
            )
        )
    return ServicePlan(
        tuple(changes),
        str(raw["fingerprint"]),
        tuple((str(a), str(b)) for a, b in raw.get("models", [])),
        tuple(str(n) for n in raw.get("notes", [])),
    )
