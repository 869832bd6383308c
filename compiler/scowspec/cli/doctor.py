"""`scowspec doctor`: flags in, the probe run, a renderer, the exit code of the worst finding."""

from __future__ import annotations

import typer

from scowspec.cli.options import ApplyFormat, ApplyOutput, PathsArg, as_output, paths_or_default
from scowspec.doctor import probe
from scowspec.render import Output
from scowspec.render import doctor as view


def doctor(paths: PathsArg = None, output_choice: ApplyOutput = ApplyFormat.TEXT) -> int:
    """Check the setup against the portal: URL, API, token, user, accounts, home, partition, work_dir, apply lock.

    Exit 0 when everything is ok (warnings included), 1 on a portal problem, 64 when configuration is missing.
    """
    report = probe.run(paths_or_default(paths))
    if as_output(output_choice) is Output.JSON:
        typer.echo(view.json_text(report), nl=False)
    else:
        typer.echo(view.text(report), nl=False)
    return report.exit_code


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
