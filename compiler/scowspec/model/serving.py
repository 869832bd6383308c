"""`register:` and `serve:` as typed values: what happens to a spec's merged model after its job.

Neither is part of what the job does, so neither is part of the spec's digest (model/spec.py): adding a
`serve:` to a spec whose job already completed must not train it again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scowspec.model.effective import minutes

DEFAULT_PORT = 8000  # the LLaMA-Factory image's API_PORT
DEFAULT_SERVE_MINUTES = 7 * 24 * 60
# Keys of the effective spec that say what happens after the job, not what it does.
AFTER_JOB_KEYS = ("register", "serve")


class ServeVia(enum.Enum):
    INFER = "infer"  # POST /api/infer: `llamafactory-cli api`, OpenAI-compatible
    APP = "app"  # POST /api/appSessions: an app the site configured (e.g. NextChat)


@dataclass(frozen=True)
class RegisterSpec:
    model: str  # the portal model's name
    description: str = ""


@dataclass(frozen=True)
class ServeSpec:
    via: ServeVia | None  # None: infer where the portal has /api/infer, else app
    app: str = ""
    attributes: Mapping[str, str | int | float] = field(default_factory=dict)
    port: int = DEFAULT_PORT
    model_name: str = ""
    partition: str = ""
    gpus: int = 1
    cpus: int | None = None
    memory_mb: int | None = None
    max_time_minutes: int = DEFAULT_SERVE_MINUTES


def build_register(data: Any, spec_name: str) -> RegisterSpec | None:
    if data is None or data is False:
        return None
    found = data if isinstance(data, Mapping) else {}
    return RegisterSpec(str(found.get("model", spec_name)), str(found.get("description", "")))


def build_serve(data: Mapping[str, Any] | None, spec_name: str, partition: str) -> ServeSpec | None:
    if data is None:
        return None
    return ServeSpec(
        via=ServeVia(data["via"]) if "via" in data else None,
        app=str(data.get("app", "")),
        attributes=dict(data.get("attributes", {})),
        port=int(data.get("port", DEFAULT_PORT)),
        model_name=str(data.get("model_name", spec_name)),
        partition=str(data.get("partition", partition)),
        gpus=int(data.get("gpus", 1)),
        cpus=data.get("cpus"),
        memory_mb=data.get("memory_mb"),
        max_time_minutes=minutes(data["max_time"]) if "max_time" in data else DEFAULT_SERVE_MINUTES,
    )
