"""watch and report (and the waiting half of `apply --wait`): flags → follow → view → exit code."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scowspec import follow
from scowspec.cli.options import PathsArg, paths_or_default
from scowspec.exitcodes import ExitCode
from scowspec.load import files
from scowspec.portal.client import PortalClient
from scowspec.portal.types import RemoteJob
from scowspec.render import report as report_view
from scowspec.render import watch as watch_view
from scowspec.report.plot import loss_png
from scowspec.report.readback import locate, read_outputs

IntervalOpt = Annotated[
    float, typer.Option("--interval", help="Seconds between two looks at the portal.", min=0.1, show_default=True)
]
NameArg = Annotated[str, typer.Argument(help="Spec name (its newest job) or a job name.", show_default=False)]
JobOpt = Annotated[int | None, typer.Option("--job", help="This job id instead of the newest job.")]


def wait_for(
    client: PortalClient,
    jobs: Sequence[tuple[RemoteJob, Mapping[str, Any] | None]],
    interval: float,
    *,
    to_stderr: bool = False,
) -> tuple[int, list[follow.Snapshot]]:
    """Follow `jobs` to their end with a live view (on stderr when stdout carries JSON); the outcome as an exit
    code (130 when interrupted), and the last snapshots seen."""
    stream = sys.stderr if to_stderr else sys.stdout
    if stream.isatty():
        view: watch_view.LiveView | watch_view.PlainView = watch_view.LiveView(Console(file=stream))
    else:
        view = watch_view.PlainView(stream)
    finals: list[follow.Snapshot] = []
    try:
        for snaps in follow.follow(client, jobs, interval):
            view.update(snaps)
            finals = snaps
    except KeyboardInterrupt:
        view.close()
        typer.echo(watch_view.stopped(len(jobs)), err=True)
        return ExitCode.INTERRUPTED, finals
    view.close()
    return follow.exit_code(finals), finals


def watch(name: NameArg, paths: PathsArg = None, job: JobOpt = None, interval: IntervalOpt = 10.0) -> int:
    """Follow a job live until it ends: step, loss, ETA and pods, then its verify verdict.

    Exit 0 when it completed and verified, 2 when it failed, was cancelled or is not verified, 130 on Ctrl-C (the
    job keeps running).
    """
    client, remote = follow.connect_and_find(paths_or_default(paths), name, job)
    return wait_for(client, [(remote, None)], interval)[0]


def report(
    name: NameArg,
    paths: PathsArg = None,
    job: JobOpt = None,
    png: Annotated[
        Path | None, typer.Option("--png", help="Also draw the loss curve into FILE (needs matplotlib).")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output format (markdown).", case_sensitive=False)
    ] = "markdown",
) -> int:
    """A job's loss summary and verify table as markdown for a pull-request comment; the loss curve with --png."""
    if output.lower() != "markdown":
        raise typer.BadParameter("only markdown is offered", param_hint="--output")
    client, remote = follow.connect_and_find(paths_or_default(paths), name, job)
    outputs = read_outputs(client, remote, locate(client, remote))
    typer.echo(report_view.job_report(remote, outputs), nl=False)
    if png is not None:
        if outputs.log is None or not outputs.log.losses:
            typer.echo(f"No loss was logged, so no {png} was drawn.", err=True)
        else:
            files.write_bytes(png, loss_png(outputs.log, remote.name))
            typer.echo(f"Loss curve written to {png}.", err=True)
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
    app.command("report")(report)
