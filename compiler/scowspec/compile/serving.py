"""`serve:` compiled: what the portal must know before a service can start (checked at plan time, located on the
spec's lines), and the exact body of `POST /api/infer` or `POST /api/appSessions`.

An inference job runs LLaMA-Factory's OpenAI-compatible server (`llamafactory-cli api`, `../shared/reference/
user-needs.md` §3.3) on the merged model, mounted at its own path; an app session starts the site's chat app with
that folder mounted and `SCOW_AI_MODEL_PATH` set, as the tutorial does by hand. The merged folder is mounted rather
than sent as a registered version so a service never waits on a registration, and a spec may serve without one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from scowspec import __version__
from scowspec.compile.command import comment_safe
from scowspec.compile.resolve import Partition, shares
from scowspec.diagnostics import Diagnostic, JsonPath, Severity
from scowspec.errors import ForbiddenError, NotFoundError
from scowspec.model.serving import ServeSpec, ServeVia
from scowspec.model.spec import FineTuneSpec
from scowspec.portal.profile import Profile

API_HOST = "0.0.0.0"
INFER_ROUTE = "/infer"
APP_ROUTE = "/appSessions"
# Apps run the site's own start command: scowspec's marker travels in this variable instead (ownership).
MARKER_ENV = "SCOWSPEC_MARKER"
CONFIG_EOF = "SCOWSPEC_API_JSON"


class ServePortal(Protocol):
    def has_infer(self) -> bool: ...

    def app_form(self, cluster: str, app_id: str) -> dict[str, Any]: ...

    def partition(self, cluster: str, account: str, name: str) -> Partition: ...

    def profile(self) -> Profile: ...


@dataclass(frozen=True)
class ServeFacts:
    """What the portal said about a spec's `serve:`: how it runs and on what."""

    via: ServeVia
    cpus: int
    memory_mb: int
    gpu_type: str | None
    qos: str | None
    profile: Profile
    app_name: str = ""


def _at(spec: FineTuneSpec, path: JsonPath, code: str, message: str) -> Diagnostic:
    span = spec.origin.span(path) if spec.origin else None  # a default: located on the nearest key the spec has
    return Diagnostic(Severity.ERROR, code, message, spec.file, span, path)


def _via(spec: FineTuneSpec, serve: ServeSpec, portal: ServePortal) -> tuple[ServeVia | None, list[Diagnostic]]:
    if serve.via is ServeVia.APP or (serve.via is None and serve.app):
        return ServeVia.APP, []
    if portal.has_infer():
        return ServeVia.INFER, []
    alternative = (
        "serve through the chat app your site configures instead: `serve: {via: app, app: <app id>}` "
        "(e.g. `nextchat`; the portal's app list shows the ids)"
    )
    return None, [
        _at(
            spec,
            ("serve", "via"),
            "portal-no-infer",
            f"this portal has no inference jobs (no `POST /api/infer`); {alternative}",
        )
    ]


def _app(spec: FineTuneSpec, serve: ServeSpec, portal: ServePortal) -> tuple[str, list[Diagnostic]]:
    try:
        form = portal.app_form(spec.cluster, serve.app)
    except (NotFoundError, ForbiddenError):
        return "", [
            _at(
                spec,
                ("serve", "app"),
                "portal-app",
                f"the portal has no app `{serve.app}` on cluster `{spec.cluster}` (GET /api/apps/{serve.app}): "
                "use the id your site configured",
            )
        ]
    attrs = {str(a.get("name")): a for a in form.get("attributes", []) if isinstance(a, dict)}
    diags: list[Diagnostic] = []
    for key, value in serve.attributes.items():
        where: JsonPath = ("serve", "attributes", key)
        attr = attrs.get(key)
        if attr is None:
            known = ", ".join(sorted(attrs)) or "none"
            diags.append(
                _at(spec, where, "portal-app", f"app `{serve.app}` has no attribute `{key}` (its attributes: {known})")
            )
        elif attr.get("type") == "NUMBER" and not isinstance(value, int | float):
            diags.append(_at(spec, where, "portal-app", f"attribute `{key}` of app `{serve.app}` is a number"))
        elif attr.get("type") == "SELECT":
            options = [o.get("value") for o in attr.get("select", []) if isinstance(o, dict)]
            if value not in options:
                shown = ", ".join(str(o) for o in options)
                diags.append(
                    _at(spec, where, "portal-app", f"attribute `{key}` of app `{serve.app}` is one of: {shown}")
                )
    missing = [n for n, a in attrs.items() if a.get("required") and n not in serve.attributes]
    if missing:
        diags.append(
            _at(
                spec,
                ("serve", "attributes"),
                "portal-app",
                f"app `{serve.app}` requires attribute(s) {', '.join(f'`{m}`' for m in missing)} in `serve.attributes`",
            )
        )
    return str(form.get("appName", serve.app)), diags


def check(spec: FineTuneSpec, portal: ServePortal) -> tuple[ServeFacts | None, list[Diagnostic]]:
    """The portal's answers for `spec.serve`, or located diagnostics: a missing route, app, attribute or partition."""
    serve = spec.serve
    if serve is None:
        return None, []
    via, diags = _via(spec, serve, portal)
    app_name = ""
    if via is ServeVia.APP:
        app_name, more = _app(spec, serve, portal)
        diags += more
    try:
        part = portal.partition(spec.cluster, spec.account, serve.partition)
    except (NotFoundError, ForbiddenError) as exc:
        return None, [*diags, _at(spec, ("serve", "partition"), "not-found", exc.message)]
    if serve.gpus > 0 and part.gpus == 0:
        diags.append(_at(spec, ("serve", "gpus"), "partition", f"partition `{part.name}` has no GPUs"))
    if via is None or diags:
        return None, diags
    cpus, memory = shares(part, serve.gpus, 1, serve.cpus, serve.memory_mb)
    qos = spec.qos or (part.qos[0] if part.qos else None)
    return ServeFacts(via, cpus, memory, part.gpu_type, qos, portal.profile(), app_name), []


def marker(spec: FineTuneSpec, via: ServeVia, name: str) -> str:
    """The first line of an infer job's command (and an app's MARKER_ENV): ownership, as for training jobs."""
    project = f" | project {spec.project}" if spec.project else ""
    return f"# scowspec {__version__} | spec {comment_safe(spec.file)} | serve {via.value} | job {name}{project}"


def merged_path(spec: FineTuneSpec, job_name: str) -> str:
    return f"{spec.work_dir}/{job_name}/merged"


def api_command(spec: FineTuneSpec, name: str) -> str:
    """Write the API's config (values in a quoted here-document: the shell parses none of them), then serve."""
    config = {
        "model_name_or_path": merged_path(spec, name),
        "template": spec.train.get("template", "default"),
        "infer_backend": "huggingface",
    }
    return "\n".join(
        [
            marker(spec, ServeVia.INFER, name),
            "# Generated by scowspec: edit the spec, not this command.",
            "set -euo pipefail",
            'CONFIG_DIR="$(mktemp -d)"',
            f"cat > \"$CONFIG_DIR/api.json\" <<'{CONFIG_EOF}'",
            json.dumps(config, ensure_ascii=False, indent=1),
            CONFIG_EOF,
            'exec llamafactory-cli api "$CONFIG_DIR/api.json"',
            "",
        ]
    )


def payload(spec: FineTuneSpec, facts: ServeFacts, name: str, image_id: int | None) -> tuple[str, dict[str, Any]]:
    """(route, body) of the service that serves job `name`'s merged model. Optional fields are left out."""
    serve = spec.serve
    assert serve is not None
    model = merged_path(spec, name)
    env: list[dict[str, str]] = [
        {"key": "WORK_DIR", "value": spec.work_dir},
        {"key": "SCOW_AI_MODEL_PATH", "value": model},
    ]
    common: dict[str, Any] = {
        "clusterId": spec.cluster,
        "account": spec.account,
        "partition": serve.partition,
        "qos": facts.qos,
        "coreCount": facts.cpus,
        "nodeCount": 1,
        "gpuCount": serve.gpus if serve.gpus > 0 else None,
        "gpuType": facts.gpu_type if serve.gpus > 0 else None,
        "memory": facts.memory_mb,
        "maxTime": serve.max_time_minutes,
        "mountPoints": [{"path": model, "target": model}],
    }
    if facts.via is ServeVia.INFER:
        env += [
            {"key": "API_HOST", "value": API_HOST},
            {"key": "API_PORT", "value": str(serve.port)},
            {"key": "API_MODEL_NAME", "value": serve.model_name},
        ]
        body = {
            **common,
            "InferenceJobName": name,
            "remoteImageUrl": spec.image if isinstance(spec.image, str) else None,
            "image": image_id,
            "command": api_command(spec, name),
            "containerServicePort": serve.port,
            "envVariables": env,
        }
        route = INFER_ROUTE
    else:
        env.append({"key": MARKER_ENV, "value": marker(spec, ServeVia.APP, name)})
        body = {
            **common,
            "appId": serve.app,
            "appJobName": name,
            "customAttributes": dict(serve.attributes),
            "envVariables": env,
            "workingDirectory": spec.work_dir,  # 0.5.4 reads this one, main WORK_DIR: send both
        }
        route = APP_ROUTE
    return route, {k: v for k, v in body.items() if v is not None}


def ownership_text(submitted: Mapping[str, Any]) -> str:
    """What proves a service job is scowspec's: an infer job's command, an app's marker variable."""
    if isinstance(submitted.get("command"), str):
        return str(submitted["command"])
    env = submitted.get("envVariables")
    found = (
        [e.get("value") for e in env if isinstance(e, dict) and e.get("key") == MARKER_ENV]
        if isinstance(env, list)
        else []
    )
    return str(found[0]) if found else ""
