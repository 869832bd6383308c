"""plan, apply, status: flags → workflow → renderer → exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scowspec import follow, workflow
from scowspec import logs as joblogs
from scowspec.apply.executor import ApplyResult, Outcome
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
from scowspec.follow import connect_and_find
from scowspec.load import files
from scowspec.plan import planfile
from scowspec.plan.model import Plan
from scowspec.portal.client import PortalClient
from scowspec.render import Output
from scowspec.render import apply as apply_view
from scowspec.render import diagnostics as diag_view
from scowspec.render import logs as logs_view
from scowspec.render import plan as plan_view
from scowspec.render import services as services_view
from scowspec.render import status as status_view
from scowspec.render import watch as watch_view

TargetOpt = Annotated[
    list[str] | None, typer.Option("--target", help="Only this spec name (repeatable).", show_default=False)
]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option("--replace", help="Run this spec's failed or cancelled job again (repeatable).", show_default=False),
]
PruneOpt = Annotated[
    bool,
    typer.Option("--prune", help="Cancel this project's running jobs whose spec is in none of the folders planned."),
]
MassOpt = Annotated[
    bool, typer.Option("--allow-mass-cancel", help="Allow cancelling more jobs than the threshold, or everything.")
]
DestroyOpt = Annotated[
    bool,
    typer.Option(
        "--destroy", help="Cancel every running job of this project in scope (the paths, --target); submit nothing."
    ),
]
BudgetOpt = Annotated[
    bool, typer.Option("--allow-over-budget", help="Allow new jobs to request more than max_gpu_hours (scowspec.yaml).")
]
AdoptOpt = Annotated[
    bool,
    typer.Option(
        "--adopt-legacy-jobs", help="Treat scowspec jobs made before project ids as this project's (else foreign)."
    ),
]
LockTimeoutOpt = Annotated[
    float, typer.Option(help="Seconds to wait for another apply of this project (any clone, any machine).")
]
ForeignOpt = Annotated[
    bool, typer.Option("--show-foreign", help="List other projects' running jobs on this portal user one by one.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _show_diagnostics(report: Report, files: int) -> None:
    if report.diagnostics:
        typer.echo(diag_view.text(report, files), nl=False, err=True)


def _prepared(paths: list[Path]) -> workflow.Prepared:
    prepared = workflow.prepare(paths)
    _show_diagnostics(prepared.compiled.report, len(prepared.compiled.loaded.files))
    return prepared


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
    destroy: DestroyOpt = False,
    allow_over_budget: BudgetOpt = False,
    adopt_legacy_jobs: AdoptOpt = False,
    show_foreign: ForeignOpt = False,
) -> int:
    """Compare the specs with the jobs on the portal and show what apply would do."""
    output = as_output(output_choice)
    spec_paths = paths_or_default(paths)
    request = workflow.PlanRequest(
        frozenset(target or ()),
        frozenset(replace or ()),
        prune,
        allow_mass_cancel,
        destroy=destroy,
        allow_over_budget=allow_over_budget,
        adopt_legacy=adopt_legacy_jobs,
        show_foreign=show_foreign,
    )
    prepared = _prepared(spec_paths)
    if prepared.client is None:
        return ExitCode.INVALID
    planned = workflow.plan_prepared(prepared, request)
    assert planned.plan is not None
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
        files.write_text(out, planfile.dumps(p, workflow.saved_request(spec_paths, request)))
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


def _finish(result: ApplyResult, output: Output, *, print_json: bool = True) -> int:
    failed = bool(result.of(Outcome.FAILED)) or any(r.outcome is Outcome.FAILED for r in result.services)
    code = ExitCode.INTERRUPTED if result.interrupted else ExitCode.PARTIAL if failed else ExitCode.OK
    if output is Output.JSON:
        if not print_json:
            return code
        typer.echo(apply_view.json_text(result, code), nl=False)
    else:
        typer.echo(apply_view.summary(result))
    return code


def _apply_specs(
    spec_paths: list[Path],
    request: workflow.PlanRequest,
    *,
    yes: bool,
    parallelism: int,
    lock_timeout: float,
    output: Output,
    saved: planfile.Saved | None = None,
    then_wait: bool = False,
) -> tuple[int, Plan | None, PortalClient | None, ApplyResult]:
    """workflow.apply_specs, shown as text or JSON. With `then_wait`, the JSON document is left to the caller,
    which adds what the wait saw."""
    text = output is not Output.JSON
    hooks = workflow.ApplyHooks(
        prepared=lambda p: _show_diagnostics(p.compiled.report, len(p.compiled.loaded.files)),
        planned=(lambda p: typer.echo(plan_view.text(p), nl=False)) if text else (lambda p: None),
        confirm=lambda p: _confirm(yes, p.cancels_running),
        progress=(lambda r: typer.echo(apply_view.line(r))) if text else None,
        service_progress=(lambda r: typer.echo(services_view.result_line(r))) if text else None,
    )
    done = workflow.apply_specs(
        spec_paths, request, hooks, parallelism=parallelism, lock_timeout=lock_timeout, saved=saved
    )
    if done.plan is None:
        return ExitCode.INVALID, None, None, done.result
    if not done.plan.has_changes:
        if not text and not then_wait:
            typer.echo(apply_view.json_text(done.result, ExitCode.OK), nl=False)
        return ExitCode.OK, done.plan, done.client, done.result
    return _finish(done.result, output, print_json=not then_wait), done.plan, done.client, done.result


def apply(
    paths: PathsArg = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Apply exactly this saved plan (refused if stale).")
    ] = None,
    yes: YesOpt = False,
    parallelism: Annotated[int, typer.Option(help="Portal calls at once.", min=1, max=64)] = 4,
    lock_timeout: LockTimeoutOpt = 60.0,
    output_choice: ApplyOutput = ApplyFormat.TEXT,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    prune: PruneOpt = False,
    allow_mass_cancel: MassOpt = False,
    destroy: DestroyOpt = False,
    allow_over_budget: BudgetOpt = False,
    adopt_legacy_jobs: AdoptOpt = False,
    show_foreign: ForeignOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Then follow the specs' jobs to their end (exit code: their outcome).")
    ] = False,
    interval: IntervalOpt = 10.0,
) -> int:
    """Make the portal match the specs: plan, show, confirm, then submit, replace and cancel jobs.

    With --wait, then follow each spec's current job like `watch`: exit 0 when all completed and verified, 2 when
    one failed, was cancelled or is not verified.
    """
    output = as_output(output_choice)
    json_wait = wait and output is Output.JSON
    if plan_file is not None:
        if paths or target or replace or prune or destroy or adopt_legacy_jobs or show_foreign:
            raise UsageError(
                "--plan applies a saved plan exactly: it takes no paths, --target, --replace, --prune, --destroy, "
                "--adopt-legacy-jobs or --show-foreign (the plan records what it was made with)"
            )
        saved = planfile.loads(files.read_text(plan_file), str(plan_file))
        spec_paths = [Path(p) for p in saved.request.paths] or paths_or_default(None)
        missing = [str(p) for p in spec_paths if not p.exists()]
        if missing:
            raise UsageError(
                f"{plan_file} was made from {', '.join(missing)}, which is not here: its paths are relative to the "
                "folder `scowspec plan --out` ran in",
                hint="run `scowspec apply --plan` from that folder",
            )
        request = workflow.request_of(saved, allow_mass_cancel, allow_over_budget)
        code, the_plan, client, result = _apply_specs(
            spec_paths,
            request,
            yes=yes,
            parallelism=parallelism,
            lock_timeout=lock_timeout,
            output=output,
            saved=saved,
            then_wait=json_wait,
        )
    else:
        request = workflow.PlanRequest(
            frozenset(target or ()),
            frozenset(replace or ()),
            prune,
            allow_mass_cancel,
            destroy=destroy,
            allow_over_budget=allow_over_budget,
            adopt_legacy=adopt_legacy_jobs,
            show_foreign=show_foreign,
        )
        code, the_plan, client, result = _apply_specs(
            paths_or_default(paths),
            request,
            yes=yes,
            parallelism=parallelism,
            lock_timeout=lock_timeout,
            output=output,
            then_wait=json_wait,
        )
    if not wait or code != ExitCode.OK or the_plan is None or client is None:
        if json_wait and the_plan is not None:  # the apply's document, left to here: nothing to wait for
            typer.echo(apply_view.json_text(result, code), nl=False)
        return code
    jobs = follow.jobs_of_apply(client, the_plan, result)
    code, finals = follow_cli.wait_for(client, jobs, interval, to_stderr=json_wait)
    if json_wait:  # one document: what apply did, how each job ended, and the exit code that says so
        typer.echo(apply_view.json_text(result, code, [watch_view.snapshot_doc(s) for s in finals]), nl=False)
    return code


def cancel(
    name: Annotated[str, typer.Argument(help="Spec name: its running jobs are cancelled.", show_default=False)],
    paths: PathsArg = None,
    yes: YesOpt = False,
    lock_timeout: LockTimeoutOpt = 60.0,
    output_choice: ApplyOutput = ApplyFormat.TEXT,
    allow_mass_cancel: MassOpt = False,
    adopt_legacy_jobs: AdoptOpt = False,
) -> int:
    """Stop a spec's running job (this project's only); asks for a typed `yes` at a terminal, --yes in CI."""
    request = workflow.PlanRequest(
        frozenset({name}),
        allow_mass_cancel=allow_mass_cancel,
        destroy=True,
        destroy_reason=f"scowspec cancel {name}",
        adopt_legacy=adopt_legacy_jobs,
    )
    code, _, _, _ = _apply_specs(
        paths_or_default(paths),
        request,
        yes=yes,
        parallelism=1,
        lock_timeout=lock_timeout,
        output=as_output(output_choice),
    )
    return code


def status(
    paths: PathsArg = None,
    output_choice: PlanOutput = PlanFormat.TEXT,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Exit 2 when a spec's current version has no job, or its job failed or was cancelled."
        ),
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
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job ends (Ctrl-C stops watching).")
    ] = False,
    pod: Annotated[
        str | None, typer.Option("--pod", help="Only this pod: its name, or its index (0 is the master pod).")
    ] = None,
    tail: Annotated[int, typer.Option("--tail", help="Only the last N lines of each pod's log (0: all).", min=0)] = 0,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="With --follow: seconds of quiet before the job's state is looked up.", min=0.1
        ),
    ] = 5.0,
) -> int:
    """Print a job's log, pod by pod, through the portal's log endpoint; --follow streams it until the job ends."""
    client, remote = connect_and_find(paths_or_default(paths), name, job)
    typer.echo(logs_view.header(remote), err=True)
    if not follow:
        for log in joblogs.read(client, remote, pod, tail):
            typer.echo(logs_view.pod_section(log), nl=False)
        return ExitCode.OK
    events = joblogs.follow(client, remote, pod, tail, interval=interval)
    prefixed = False  # one pod needs no prefix on its lines
    try:
        for event in events:
            if isinstance(event, joblogs.Following):
                prefixed = len(event.pods) > 1
                typer.echo(logs_view.following(event), err=True)
            elif isinstance(event, joblogs.PodLog):
                typer.echo(logs_view.followed(event, prefixed=prefixed), nl=False)
            elif isinstance(event, joblogs.PodNote):
                typer.echo(logs_view.note(event), err=True)
            else:
                typer.echo(logs_view.ended(remote, event), err=True)
    except KeyboardInterrupt:  # stop watching, never the job
        typer.echo(logs_view.stopped(remote), err=True)
    finally:
        events.close()
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("status")(status)
    app.command("cancel")(cancel)
