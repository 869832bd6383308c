"""validate, compile, schema: the offline commands (compile may read the portal for names)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from scowspec.cli.options import PathsArg, ValidateFormat, ValidateOutput, as_output, paths_or_default
from scowspec.compile import service
from scowspec.errors import UsageError
from scowspec.exitcodes import ExitCode
from scowspec.pipeline import load_specs
from scowspec.render import Output
from scowspec.render import diagnostics as view
from scowspec.validate.schema import schema_text


def validate(paths: PathsArg = None, output_choice: ValidateOutput = ValidateFormat.TEXT) -> int:
    """Check specs against the schema and LLaMA-Factory 0.9.4's rules, offline; report every problem at once."""
    output = as_output(output_choice)
    loaded = load_specs(paths_or_default(paths))
    code = ExitCode.OK if loaded.report.ok else ExitCode.INVALID
    nfiles = len(loaded.files)
    if output is Output.JSON:
        typer.echo(view.json_text(loaded.report, nfiles, code), nl=False)
    elif output is Output.GITHUB:
        typer.echo(view.github(loaded.report) + view.summary(loaded.report, nfiles))
    elif output is Output.CODEQUALITY:
        typer.echo(view.codequality(loaded.report), nl=False)
    else:
        typer.echo(view.text(loaded.report, nfiles), nl=False)
    return code


def compile_(
    spec: Annotated[Path, typer.Argument(help="One spec file.", show_default=False)],
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact the portal; names and derived resources become errors.")
    ] = False,
) -> int:
    """Print the JSON body of POST {portal}/api/jobs for SPEC (deterministic: same spec, same bytes)."""
    if spec.is_dir():
        raise UsageError(f"{spec} is a folder: compile takes one spec file (plan shows them all)")
    result = service.compile_paths([spec], offline=offline)
    if result.report.diagnostics:
        typer.echo(view.text(result.report, 1), nl=False, err=True)
    if not result.report.ok or not result.jobs:
        return ExitCode.INVALID
    job = result.jobs[0]
    for d in job.defaults:
        typer.echo(f"note: scowspec set {d.section.value}.{d.key} = {json.dumps(d.value)} ({d.why})", err=True)
    typer.echo(json.dumps(job.payload, indent=2, ensure_ascii=False))
    return ExitCode.OK


def schema() -> int:
    """Print the spec's JSON Schema (draft 2020-12)."""
    typer.echo(schema_text(), nl=False)
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("compile")(compile_)
    app.command("schema")(schema)
