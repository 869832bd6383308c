"""Which portal jobs are this project's: names are `<spec name>-<8 hex digits>`, and the command says so.

Every command scowspec compiles opens with its marker line,
`# scowspec VERSION | spec FILE | digest D | job NAME | project ID`. The name shape only makes a job a
candidate; the marker proves scowspec made it, and the project field says which repository it belongs to.
Jobs made before project ids existed have no `project` field: foreign unless the project adopts them.
"""

from __future__ import annotations

import enum
import re

_MANAGED = re.compile(r"^(?P<spec>[a-z]([a-z0-9-]{0,29}[a-z0-9])?)-(?P<digest>[0-9a-f]{8})$")
COMMAND_MARKER = "# scowspec "


class Owner(enum.Enum):
    """Whose a scowspec-shaped job is, as far as this project is concerned."""

    MINE = "mine"  # scowspec's marker with this project's id (or an adopted legacy job)
    OTHER_PROJECT = "other-project"  # scowspec's marker with another project's id
    LEGACY = "legacy"  # scowspec's marker without any project id, not adopted
    NOT_SCOWSPEC = "not-scowspec"  # no marker: a hand-submitted job whose name only looks like ours


def spec_of(job_name: str) -> str | None:
    """The spec name a job name belongs to, or None for names scowspec never makes."""
    m = _MANAGED.match(job_name)
    return m.group("spec") if m else None


def made_by_scowspec(command: str) -> bool:
    """The proof that scowspec made a job: every command it compiles opens with its marker line."""
    return command.startswith(COMMAND_MARKER)


def marker_fields(command: str) -> dict[str, str]:
    """The marker line's `key value` fields ({} for commands scowspec did not make)."""
    if not made_by_scowspec(command):
        return {}
    first = command.split("\n", 1)[0][len(COMMAND_MARKER) :]
    fields: dict[str, str] = {}
    for i, part in enumerate(first.split(" | ")):
        key, _, value = part.strip().partition(" ")
        fields["scowspec" if i == 0 else key] = value if i else key
    return fields


def owner(command: str, project: str, *, adopt_legacy: bool = False) -> Owner:
    """Whose job this is: ownership is scowspec's marker and this project's id."""
    fields = marker_fields(command)
    if not fields:
        return Owner.NOT_SCOWSPEC
    theirs = fields.get("project", "")
    if not theirs:
        return Owner.MINE if adopt_legacy else Owner.LEGACY
    return Owner.MINE if theirs == project else Owner.OTHER_PROJECT


def project_of(command: str) -> str:
    """The project id in a command's marker line ('' when none)."""
    return marker_fields(command).get("project", "")


def shown_as_this_projects(command: str | None, project: str) -> bool:
    """Whether status, watch, logs and report may show a job under this project's spec name: not when it is
    proven another project's or hand-made. A job from before project ids stays (most likely this repository's
    own), and so does one whose record could not be read (`command` None): either may well be ours."""
    if command is None or not project:
        return True
    return owner(command, project) in (Owner.MINE, Owner.LEGACY)
