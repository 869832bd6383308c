"""Options shared by several commands."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scowspec.render import Output

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Spec files or folders (searched recursively). Default: specs/.", show_default=False),
]


class ValidateFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"
    CODEQUALITY = "codequality"


class PlanFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class ApplyFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"


def _output() -> Any:
    return typer.Option("--output", "-o", help="Output format.", case_sensitive=False)


ValidateOutput = Annotated[ValidateFormat, _output()]
PlanOutput = Annotated[PlanFormat, _output()]
ApplyOutput = Annotated[ApplyFormat, _output()]


def as_output(value: enum.Enum) -> Output:
    """The renderer's format for a command's (narrower) choice."""
    return Output(value.value)


def paths_or_default(paths: list[Path] | None) -> list[Path]:
    return list(paths) if paths else [Path("specs")]
