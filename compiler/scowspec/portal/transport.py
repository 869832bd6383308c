"""The HTTP session the portal client uses: the token goes to the configured portal's origin and nowhere else.

`requests` strips only `Authorization` on a redirect to another host; our token travels in
`x-scow-api-auth-token`, which it would forward. So a redirect whose target is not the portal's own
origin (scheme, host and port: https→http is another origin too) is refused before anything is sent
there. TLS is verified (requests' default, never turned off); SCOWSPEC_CA_BUNDLE names a campus CA.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from scowspec.errors import ConfigError, PortalError

ENV_CA_BUNDLE = "SCOWSPEC_CA_BUNDLE"


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:  # a port that is not a number: no origin matches it
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class RedirectRefused(PortalError):
    """The portal redirected somewhere the token must not go; nothing was sent there."""


class PortalSession(requests.Session):
    """A Session that follows redirects only within the portal's origin, and verifies TLS."""

    def __init__(self, portal_url: str, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.portal_origin = origin(portal_url)
        env = os.environ if environ is None else environ
        bundle = env.get(ENV_CA_BUNDLE, "")
        if bundle:
            if not Path(bundle).is_file():
                raise ConfigError(f"{ENV_CA_BUNDLE}={bundle}: no such file (a PEM file of CA certificates)")
            self.verify = bundle

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        absolute = urljoin(resp.url, target)
        if origin(absolute) != self.portal_origin:
            scheme, host, port = origin(absolute)
            raise RedirectRefused(
                f"the portal redirected to {scheme}://{host}:{port}, another origin than the portal's "
                f"({self.portal_origin[0]}://{self.portal_origin[1]}:{self.portal_origin[2]}); refused, so the "
                "token was not sent there",
                hint="set SCOWSPEC_PORTAL_URL (or portal_url) to the address the portal really answers on",
            )
        return target

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:  # requests' own TypedDict of settings
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):  # SCOWSPEC_CA_BUNDLE wins over REQUESTS_CA_BUNDLE
            settings["verify"] = self.verify
        return settings
