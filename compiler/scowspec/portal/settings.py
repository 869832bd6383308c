"""Where the portal is and who we are: URL from the environment or scowspec.yaml; secrets from the environment only."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from scowspec.errors import ConfigError
from scowspec.portal.profile import Generation

ENV_URL = "SCOWSPEC_PORTAL_URL"
ENV_TOKEN = "SCOWSPEC_TOKEN"
ENV_USER = "SCOWSPEC_USER"
ENV_TIMEOUT = "SCOWSPEC_TIMEOUT"


@dataclass(frozen=True)
class PortalSettings:
    url: str
    token: str = field(repr=False)  # never printed, logged or saved
    user: str = ""
    timeout_s: float = 30.0
    # `portal_version` from scowspec.yaml: skips the probe. None: probe `GET /api/openapi.json` once per run.
    generation: Generation | None = None


def from_env(
    project_url: str | None, environ: Mapping[str, str] | None = None, generation: Generation | None = None
) -> PortalSettings:
    env = os.environ if environ is None else environ
    url = env.get(ENV_URL) or project_url
    if not url:
        raise ConfigError(
            "no portal URL: set SCOWSPEC_PORTAL_URL or `portal_url` in scowspec.yaml",
            hint="e.g. export SCOWSPEC_PORTAL_URL=https://scow.example.edu.cn/ai",
        )
    token = env.get(ENV_TOKEN, "")
    if not token:
        raise ConfigError("no token: set SCOWSPEC_TOKEN (your SCOW_USER token, or the API secret with SCOWSPEC_USER)")
    user = env.get(ENV_USER, "")
    for name, value in ((ENV_TOKEN, token), (ENV_USER, user)):
        if not _header_safe(value):  # the value itself is never shown: it may be a secret
            raise ConfigError(f"{name} has characters an HTTP header cannot carry (only printable ASCII)")
    try:
        timeout = float(env.get(ENV_TIMEOUT, "30"))
    except ValueError as exc:
        raise ConfigError(f"{ENV_TIMEOUT} must be a number of seconds") from exc
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"{ENV_TIMEOUT} must be a number of seconds greater than 0")
    return PortalSettings(url.rstrip("/"), token, user, timeout, generation)


def _header_safe(value: str) -> bool:
    return all(" " <= c <= "~" for c in value)
