"""init and fmt."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from scowspec.authoring import format_text, starter_spec
from scowspec.cli.options import PathsArg, paths_or_default
from scowspec.diagnostics import Report
from scowspec.errors import RefusedError, UsageError
from scowspec.exitcodes import ExitCode
from scowspec.load import files
from scowspec.load.yamlfile import parse
from scowspec.pipeline import load_project
from scowspec.render import diagnostics as view
from scowspec.validate.schema import schema, schema_text

NAME_HELP = "Spec name: lowercase letters, digits and `-`, at most 31 characters."


def init(
    name: Annotated[str, typer.Argument(help=NAME_HELP, show_default=False)],
    folder: Annotated[Path, typer.Option("--dir", help="Where the spec goes.")] = Path("specs"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> int:
    """Write a commented starting spec, with the `$schema` line editors use to complete and check it."""
    import re

    if not re.fullmatch(schema()["properties"]["name"]["pattern"], name):
        raise UsageError(f"`{name}` is not a valid spec name: {NAME_HELP}")
    target = folder / f"{name}.yaml"
    if target.exists() and not force:
        raise RefusedError(f"{target} exists; nothing was written", hint="pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    project_file = files.find_project_file(target)
    project = load_project(project_file)[0].defaults if project_file else {}
    # Editors read the schema from a file in the repository: reuse it, or write it beside the specs.
    schema_file = (project_file.parent if project_file else Path.cwd()) / "schema" / "finetune.schema.json"
    if not schema_file.exists():
        schema_file.parent.mkdir(parents=True, exist_ok=True)
        schema_file.write_text(schema_text(), "utf-8")
        typer.echo(f"Wrote {files.display(schema_file)} (for editors; `scowspec schema` prints it).", err=True)
    ref = os.path.relpath(schema_file.resolve(), folder.resolve())
    target.write_text(starter_spec(name, ref, project), "utf-8")
    typer.echo(f"Wrote {target}. Edit it, then run `scowspec validate {target}`.", err=True)
    return ExitCode.OK


def fmt(
    paths: PathsArg = None,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 2 if a file would change.")] = False,
) -> int:
    """Normalise spec layout (indentation, spacing), keeping comments, key order and quotes."""
    changed: list[Path] = []
    problems = []
    spec_files = files.discover(paths_or_default(paths))
    for path in spec_files:
        text = files.read_text(path)
        doc, diags = parse(text, files.display(path))
        if doc is None or diags:
            problems += diags
            continue
        new = format_text(text)
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, "utf-8")
    if problems:
        typer.echo(view.text(Report.of(problems), len(spec_files)), nl=False, err=True)
    for path in changed:
        typer.echo(f"{'would reformat' if check else 'reformatted'} {files.display(path)}")
    if problems:
        return ExitCode.INVALID
    return ExitCode.CHANGES if (check and changed) else ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("fmt")(fmt)
