"""Operational failures. Spec problems are never raised: they are Diagnostic values.

One root, a few leaves; the CLI maps `exit_code` to the process status in one place.
"""

from __future__ import annotations

from scowspec.exitcodes import ExitCode


class ScowspecError(Exception):
    """Root of every error scowspec raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ScowspecError):
    """Arguments that make no sense together, or name things that do not exist."""

    exit_code = ExitCode.USAGE


class ConfigError(ScowspecError):
    """Missing configuration needed for an operation (portal URL, token)."""

    exit_code = ExitCode.USAGE


class RefusedError(ScowspecError):
    """Nothing was changed on purpose: stale plan, safety guard, declined confirmation."""

    exit_code = ExitCode.REFUSED


class PortalError(ScowspecError):
    """The portal answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class AuthError(PortalError):
    """401 from the portal: the token is missing, wrong or expired."""


class ForbiddenError(PortalError):
    """403 from the portal: the token is fine, but this account, partition, asset or path is not allowed."""


class ConflictError(PortalError):
    """409 from the portal: the thing already exists (a folder on mkdir, a model name)."""


class NotFoundError(PortalError):
    """404 from the portal."""


class TransportError(PortalError):
    """No answer: connection refused or dropped, or a timeout. The outcome of a write is unknown."""
