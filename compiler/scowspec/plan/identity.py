"""Which portal jobs are scowspec's: names are `<spec name>-<8 hex digits>`, and the command says so."""

from __future__ import annotations

import re

_MANAGED = re.compile(r"^(?P<spec>[a-z]([a-z0-9-]{0,29}[a-z0-9])?)-(?P<digest>[0-9a-f]{8})$")
COMMAND_MARKER = "# scowspec "


def spec_of(job_name: str) -> str | None:
    """The spec name a job name belongs to, or None for names scowspec never makes."""
    m = _MANAGED.match(job_name)
    return m.group("spec") if m else None


def made_by_scowspec(command: str) -> bool:
    """The proof of ownership: every command scowspec compiles opens with its marker line."""
    return command.startswith(COMMAND_MARKER)
