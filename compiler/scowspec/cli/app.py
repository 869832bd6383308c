"""`scowspec` entry point: the typer app and the one place that maps failures to exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from scowspec import __version__
from scowspec.errors import ScowspecError
from scowspec.exitcodes import ExitCode

EXIT_CODES_HELP = (
    "Exit codes: 0 success/no changes, 1 unexpected or portal error, 2 changes present, 3 invalid spec, "
    "4 refused with nothing changed, 5 apply partly failed, 64 usage error, 130 interrupted."
)

app = typer.Typer(
    name="scowspec",
    help=f"Declarative LLaMA-Factory fine-tuning jobs for SCOW-AI: validate, compile, plan, apply.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scowspec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Declarative LLaMA-Factory fine-tuning jobs for SCOW-AI."""


def _register() -> None:
    # Imported here so that `scowspec --version` stays a cold start of a few imports.
    from scowspec.cli import authoring, core, follow, gitops, sandbox

    core.register(app)
    gitops.register(app)
    authoring.register(app)
    sandbox.register(app)
    follow.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every outcome becomes one exit code (see EXIT_CODES_HELP)."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["--version"],):
        _register()
    try:
        result = app(args=args, prog_name="scowspec", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("Interrupted.", err=True)
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # usage errors: Click would exit 2, which means "changes" here
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        return ExitCode.USAGE
    except ScowspecError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"Hint: {exc.hint}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if os.environ.get("SCOWSPEC_DEBUG"):
            raise
        typer.echo(
            f"Internal error: {type(exc).__name__}: {exc}. Set SCOWSPEC_DEBUG=1 for a traceback and please report it.",
            err=True,
        )
        return ExitCode.ERROR
    return int(result or 0)
