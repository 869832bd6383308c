"""init and fmt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from scowspec.authoring import ensure_project_id, format_files, write_starter
from scowspec.cli.options import PathsArg, paths_or_default
from scowspec.diagnostics import Report
from scowspec.errors import UsageError
from scowspec.exitcodes import ExitCode
from scowspec.load import files
from scowspec.render import diagnostics as view
from scowspec.validate.schema import schema
from scowspec.workflow import suggested_project_id

NAME_HELP = "Spec name: lowercase letters, digits and `-`, at most 31 characters."


def init(
    name: Annotated[str | None, typer.Argument(help=NAME_HELP, show_default=False)] = None,
    folder: Annotated[Path, typer.Option("--dir", help="Where the spec goes.")] = Path("specs"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    project_only: Annotated[
        bool, typer.Option("--project", help="Only give scowspec.yaml a project id (kept if it has one).")
    ] = False,
) -> int:
    """Write a commented starting spec, and a project id into scowspec.yaml when it has none."""
    new_id = suggested_project_id(Path.cwd())
    if project_only or name is None:
        if name is not None:
            raise UsageError("--project writes only the project id: it takes no spec NAME")
        if not project_only:
            raise UsageError("init needs a spec NAME (or --project to write only the project id)")
        path, project, wrote = ensure_project_id(folder, new_id)
        verb = "Wrote" if wrote else "Kept"
        typer.echo(f"{verb} project id `{project}` in {files.display(path)}; commit it.", err=True)
        return ExitCode.OK
    if not re.fullmatch(schema()["properties"]["name"]["pattern"], name):
        raise UsageError(f"`{name}` is not a valid spec name: {NAME_HELP}")
    written = write_starter(folder, name, force=force, new_project_id=new_id)
    if written.project_file is not None:
        typer.echo(
            f"Wrote project id `{written.project}` in {files.display(written.project_file)}; commit it.", err=True
        )
    if written.schema is not None:
        typer.echo(f"Wrote {files.display(written.schema)} (for editors; `scowspec schema` prints it).", err=True)
    typer.echo(f"Wrote {written.spec}. Edit it, then run `scowspec validate {written.spec}`.", err=True)
    return ExitCode.OK


def fmt(
    paths: PathsArg = None,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 2 if a file would change.")] = False,
) -> int:
    """Normalise spec layout (indentation, spacing), keeping comments, key order and quotes."""
    result = format_files(paths_or_default(paths), check=check)
    if result.problems:
        typer.echo(view.text(Report.of(result.problems), result.files), nl=False, err=True)
    for path in result.changed:
        typer.echo(f"{'would reformat' if check else 'reformatted'} {files.display(path)}")
    if result.problems:
        return ExitCode.INVALID
    return ExitCode.CHANGES if (check and result.changed) else ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("fmt")(fmt)
