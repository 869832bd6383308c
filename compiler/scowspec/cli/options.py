"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scowspec.render import Output

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Spec files or folders (searched recursively). Default: specs/.", show_default=False),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)]


def paths_or_default(paths: list[Path] | None) -> list[Path]:
    return list(paths) if paths else [Path("specs")]
