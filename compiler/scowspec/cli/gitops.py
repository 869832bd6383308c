"""plan, apply, status: flags → workflow → renderer → exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scowspec import follow, workflow
from scowspec.apply.executor import ApplyResult, Outcome
from scowspec.apply.lock import apply_lock
from scowspec.cli import follow as follow_cli
from scowspec.cli.follow import IntervalOpt
from scowspec.cli.options import (
    ApplyFormat,
    ApplyOutput,
    PathsArg,
    PlanFormat,
    PlanOutput,
    as_output,
    paths_or_default,
)
from scowspec.diagnostics import Report
from scowspec.errors import RefusedError, UsageError
from scowspec.exitcodes import ExitCode
from scowspec.load import files
from scowspec.plan import planfile
from scowspec.plan.model import Plan
from scowspec.portal.client import PortalClient
from scowspec.render import Output
from scowspec.render import apply as apply_view
from scowspec.render import diagnostics as diag_view
from scowspec.render import plan as plan_view
from scowspec.render import status as status_view

TargetOpt = Annotated[
    list[str] | None, typer.Option("--target", help="Only this spec name (repeatable).", show_default=False)
]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option("--replace", help="Run this spec's failed or cancelled job again (repeatable).", show_default=False),
]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Cancel running jobs whose spec was removed from the repository.")
]
MassOpt = Annotated[
    bool, typer.Option("--allow-mass-cancel", help="Allow --prune to cancel more than the threshold, or everything.")
]


def _show_diagnostics(report: Report, files: int) -> None:
    if report.diagnostics:
        typer.echo(diag_view.text(report, files), nl=False, err=True)


def _planned(
    paths: list[Path], target: list[str] | None, replace: list[str] | None, prune: bool, allow: bool
) -> workflow.Planned:
    request = workflow.PlanRequest(frozenset(target or ()), frozenset(replace or ()), prune, allow)
    planned = workflow.plan(paths, request)
    _show_diagnostics(planned.compiled.report, len(planned.compiled.loaded.files))
    return planned


def plan(
    paths: PathsArg = None,
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan to FILE for `apply --plan FILE`.")] = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes, 0 when none.")
    ] = False,
    output_choice: PlanOutput = PlanFormat.TEXT,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    prune: PruneOpt = False,
    allow_mass_cancel: MassOpt = False,
) -> int:
    """Compare the specs with the jobs on the portal and show what apply would do."""
    output = as_output(output_choice)
    planned = _planned(paths_or_default(paths), target, replace, prune, allow_mass_cancel)
    if planned.plan is None:
        return ExitCode.INVALID
    p = planned.plan
    code = (
        ExitCode.REFUSED
        if planned.refusals
        else ExitCode.CHANGES
        if (detailed_exitcode and p.has_changes)
        else ExitCode.OK
    )
    if output is Output.JSON:
        typer.echo(plan_view.json_text(p, code), nl=False)
    elif output is Output.MARKDOWN:
        typer.echo(plan_view.markdown(p), nl=False)
    else:
        typer.echo(plan_view.text(p), nl=False)
    for reason in planned.refusals:
        typer.echo(f"Refused: {reason}", err=True)
    if out is not None and not planned.refusals:
        files.write_text(out, planfile.dumps(p))
        typer.echo(f"Saved the plan to {out}; apply it exactly with `scowspec apply --plan {out}`.", err=True)
    return code


def _confirm(yes: bool, dangerous: bool) -> None:
    if yes:
        return
    if workflow.in_automation():
        raise RefusedError(
            "apply needs confirmation and no one can answer here: nothing was changed", hint="pass --yes"
        )
    if dangerous:
        answer = typer.prompt("This cancels running jobs. Type `yes` to apply", default="", show_default=False)
        ok = answer.strip() == "yes"
    else:
        ok = typer.confirm("Apply these changes?", default=False)
    if not ok:
        raise RefusedError("apply cancelled; nothing was changed")


def _finish(result: ApplyResult, output: Output) -> int:
    failed = bool(result.of(Outcome.FAILED))
    code = ExitCode.INTERRUPTED if result.interrupted else ExitCode.PARTIAL if failed else ExitCode.OK
    if output is Output.JSON:
        typer.echo(apply_view.json_text(result, code), nl=False)
    else:
        typer.echo(apply_view.summary(result))
    return code


def apply(
    paths: PathsArg = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Apply exactly this saved plan (refused if stale).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    parallelism: Annotated[int, typer.Option(help="Portal calls at once.", min=1, max=64)] = 4,
    lock_timeout: Annotated[float, typer.Option(help="Seconds to wait for another apply in this project.")] = 60.0,
    output_choice: ApplyOutput = ApplyFormat.TEXT,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    prune: PruneOpt = False,
    allow_mass_cancel: MassOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Then follow the specs' jobs to their end (exit code: their outcome).")
    ] = False,
    interval: IntervalOpt = 10.0,
) -> int:
    """Make the portal match the specs: plan, show, confirm, then submit, replace and cancel jobs.

    With --wait, then follow each spec's current job like `watch`: exit 0 when all completed and verified, 2 when
    one failed, was cancelled or is not verified.
    """
    code, the_plan, client = _apply(
        paths, plan_file, yes, parallelism, lock_timeout, output_choice, target, replace, prune, allow_mass_cancel
    )
    if not wait or code != ExitCode.OK or the_plan is None or client is None:
        return code
    jobs = follow.jobs_of_plan(client, the_plan)
    return follow_cli.wait_for(client, jobs, interval, to_stderr=output_choice is ApplyFormat.JSON)


def _apply(
    paths: list[Path] | None,
    plan_file: Path | None,
    yes: bool,
    parallelism: int,
    lock_timeout: float,
    output_choice: ApplyFormat,
    target: list[str] | None,
    replace: list[str] | None,
    prune: bool,
    allow_mass_cancel: bool,
) -> tuple[int, Plan | None, PortalClient | None]:
    output = as_output(output_choice)
    progress = None if output is Output.JSON else (lambda r: typer.echo(apply_view.line(r)))
    if plan_file is not None:
        if paths or target or replace or prune:
            raise UsageError("--plan applies a saved plan exactly: it takes no paths, --target, --replace or --prune")
        saved = planfile.loads(files.read_text(plan_file), str(plan_file))
        folder = workflow.state_dir([])
        client = workflow.client_for_plan(saved)
        with apply_lock(folder, lock_timeout):
            result = workflow.execute(saved, client, folder, parallelism=parallelism, progress=progress)
        return _finish(result, output), saved, client
    spec_paths = paths_or_default(paths)
    folder = workflow.state_dir(spec_paths)
    # Plan under the lock: a second apply started meanwhile plans against what the first one did.
    with apply_lock(folder, lock_timeout):
        planned = _planned(spec_paths, target, replace, prune, allow_mass_cancel)
        if planned.plan is None or planned.client is None:
            return ExitCode.INVALID, None, None
        p = planned.plan
        if output is not Output.JSON:
            typer.echo(plan_view.text(p), nl=False)
        if planned.refusals:
            raise RefusedError("; ".join(planned.refusals))
        if not p.has_changes:
            if output is Output.JSON:
                typer.echo(apply_view.json_text(ApplyResult(()), ExitCode.OK), nl=False)
            return ExitCode.OK, p, planned.client
        _confirm(yes, p.cancels_running)
        result = workflow.execute(p, planned.client, folder, parallelism=parallelism, progress=progress)
    return _finish(result, output), p, planned.client


def status(
    paths: PathsArg = None,
    output_choice: PlanOutput = PlanFormat.TEXT,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 2 when a spec's current job failed or was cancelled.")
    ] = False,
) -> int:
    """Each spec's jobs on the portal: state, job id, age, and TensorBoard address."""
    output = as_output(output_choice)
    compiled, statuses, now = workflow.status(paths_or_default(paths))
    _show_diagnostics(compiled.report, len(compiled.loaded.files))
    if not compiled.report.ok:
        return ExitCode.INVALID
    code = ExitCode.CHANGES if check and any(s.needs_attention for s in statuses) else ExitCode.OK
    if output is Output.JSON:
        typer.echo(status_view.json_text(statuses, now, code), nl=False)
    elif output is Output.MARKDOWN:
        typer.echo(status_view.markdown(statuses, now), nl=False)
    else:
        typer.echo(status_view.text(statuses, now), nl=False)
    return code


def logs(
    name: Annotated[str, typer.Argument(help="Spec name (its newest job) or a job name.", show_default=False)],
    paths: PathsArg = None,
    job: Annotated[int | None, typer.Option("--job", help="This job id instead of the newest job.")] = None,
) -> int:
    """Print a job's log, pod by pod, through the portal's log endpoint."""
    remote, pods = workflow.logs(paths_or_default(paths), name, job)
    typer.echo(f"job {remote.job_id} `{remote.name}` ({remote.state}) on {remote.cluster}", err=True)
    for pod in pods:
        typer.echo(f"==> {pod.pod} <==")
        for line in pod.lines:
            typer.echo(line)
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("status")(status)
