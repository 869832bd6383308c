"""`scowspec` entry point: the typer app and the one place that maps failures to exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from scowspec import __version__
from scowspec.cli.conventions import wants_json
from scowspec.errors import ScowspecError
from scowspec.exitcodes import ExitCode
from scowspec.render.errors import error_json

EXIT_CODES_HELP = (
    "Exit codes: 0 success/no changes, 1 unexpected or portal error, 2 changes present, 3 invalid spec, "
    "4 refused with nothing changed, 5 apply partly failed, 64 usage error, 130 interrupted."
)

app = typer.Typer(
    name="scowspec",
    help=f"Declarative LLaMA-Factory fine-tuning jobs for SCOW-AI: validate, compile, plan, apply.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=True,
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


_registered: list[bool] = []
_registering = threading.Lock()  # tests and the fuzzer call main() from several threads
_commands: dict[bool, Any] = {}


def _register() -> None:
    # Imported here so that `scowspec --version` stays a cold start of a few imports. Once only: main() may be
    # called many times in one process (tests, the fuzzer), and each registration adds the commands again.
    with _registering:
        if _registered:
            return
        from scowspec.cli import authoring, conventions, core, doctor, follow, gitops, sandbox

        core.register(app)
        gitops.register(app)
        authoring.register(app)
        sandbox.register(app)
        doctor.register(app)
        follow.register(app)
        conventions.apply(app)
        _registered.append(True)  # only once complete: a command built before then would lack commands


def _command() -> Any:
    """The Click command behind `app`, built once per registration state: typer rebuilds it on every call, which
    is a third of an in-process command's time (tests, the fuzzer) and nothing a single CLI run needs twice."""
    with _registering:
        key = bool(_registered)
        if key not in _commands:
            _commands[key] = typer.main.get_command(app)
        return _commands[key]


def _tolerant_streams() -> None:
    """A terminal or log that cannot show a character (LANG=C, a latin-1 console) gets an escape, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            with contextlib.suppress(ValueError, OSError):  # a closed or detached stream: nothing to protect
                reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every outcome becomes one exit code (see EXIT_CODES_HELP)."""
    args = sys.argv[1:] if argv is None else argv
    _tolerant_streams()
    interrupts: list[int] = []
    previous = _watch_ctrl_c(interrupts)
    try:
        code = _main(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupts and code == ExitCode.INTERRUPTED:
        # typer turns a Ctrl-C inside a command into a plain return of 130: say it, once.
        return _fail(args, ExitCode.INTERRUPTED, "interrupted", "Interrupted.", prefix="")
    return code


def _watch_ctrl_c(interrupts: list[int]) -> Any:
    """Note a Ctrl-C (then raise KeyboardInterrupt as Python does); the previous handler, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(signum: int, frame: Any) -> None:
        interrupts.append(signum)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, on_sigint)


def _main(args: list[str]) -> int:
    try:
        if args not in (["--version"],):
            _register()  # inside the try: a Ctrl-C during these imports is one line too
        result = _command()(args=args, prog_name="scowspec", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail(args, ExitCode.INTERRUPTED, "interrupted", "Interrupted.", prefix="")
    except typer.TyperException as exc:  # usage errors: Click would exit 2, which means "changes" here
        show = getattr(exc, "show", None)
        if callable(show) and not wants_json(args):
            show()
            return ExitCode.USAGE
        return _fail(args, ExitCode.USAGE, "usage", exc.format_message())
    except ScowspecError as exc:
        return _fail(args, exc.exit_code, "error", exc.message, exc.hint)
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if os.environ.get("SCOWSPEC_DEBUG"):
            raise
        message = (
            f"Internal error: {type(exc).__name__}: {exc}. Set SCOWSPEC_DEBUG=1 for a traceback and please report it."
        )
        return _fail(args, ExitCode.ERROR, "internal", message, prefix="")
    return int(result or 0)


def _fail(args: list[str], code: int, kind: str, message: str, hint: str = "", *, prefix: str = "Error: ") -> int:
    """A failure on stderr, and also as a JSON error object on stdout when the command was asked for `-o json`."""
    typer.echo(f"{prefix}{message}", err=True)
    if hint:
        typer.echo(f"Hint: {hint}", err=True)
    if wants_json(args):
        typer.echo(error_json(code, kind, message, hint), nl=False)
    return code
