"""init and fmt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from scowspec.authoring import (
    REQUIREMENTS,
    CiSystem,
    ensure_project_id,
    format_files,
    starter_target,
    write_ci,
    write_starter,
)
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
    ci: Annotated[
        CiSystem | None,
        typer.Option(
            "--ci", help="Also write the CI file, ci/scowspec-ci.sh and ci/requirements.txt.", show_default=False
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    project_only: Annotated[
        bool, typer.Option("--project", help="Only give scowspec.yaml a project id (kept if it has one).")
    ] = False,
) -> int:
    """Write a commented starting spec (with the `$schema` line editors use) and a project id into scowspec.yaml
    when it has none; with --ci the CI files; with --project only the project id."""
    new_id = suggested_project_id(Path.cwd())
    if project_only:
        if name is not None:
            raise UsageError("--project writes only the project id: it takes no spec NAME")
        path, project, wrote = ensure_project_id(folder, new_id)
        verb = "Wrote" if wrote else "Kept"
        typer.echo(f"{verb} project id `{project}` in {files.display(path)}; commit it.", err=True)
        if ci is None:
            return ExitCode.OK
    if name is None and ci is None:
        raise UsageError("say what to write: a spec NAME, --ci github|gitlab, --project, or several")
    if name is not None and not re.fullmatch(schema()["properties"]["name"]["pattern"], name):
        raise UsageError(f"`{name}` is not a valid spec name: {NAME_HELP}")
    if name is not None:
        starter_target(folder, name, force=force)  # a clash refuses before the CI files are written
    if ci is not None:
        project_file = files.find_project_file(folder)
        done = write_ci(project_file.parent if project_file else Path.cwd(), ci, force=force)
        for path in done.files:
            typer.echo(f"Wrote {files.display(path)}.", err=True)
        if not done.source_known:
            typer.echo(
                f"Edit {REQUIREMENTS}: scowspec was installed from a local folder, so CI cannot install "
                f"`{done.requirement}` from there (e.g. scowspec @ git+https://HOST/GROUP/scowspec.git@v0.1.0).",
                err=True,
            )
        typer.echo("Then set SCOWSPEC_PORTAL_URL and the SCOWSPEC_TOKEN secret (README: 'On a real portal').", err=True)
    if name is None:
        return ExitCode.OK
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
    if not Report.of(result.problems).ok:  # a file fmt leaves alone is a warning, not an invalid spec
        return ExitCode.INVALID
    return ExitCode.CHANGES if (check and result.changed) else ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("fmt")(fmt)
