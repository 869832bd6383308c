"""`scowspec sandbox`: run the local SCOW-AI-compatible portal."""

from __future__ import annotations

import enum
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from scowspec.errors import UsageError
from scowspec.exitcodes import ExitCode


class PortalChoice(enum.Enum):
    RELEASE_0_5_4 = "0.5.4"
    MAIN = "main"


class FileDriverChoice(enum.Enum):  # sandbox.files.FileDriver, without importing the sandbox at start-up
    SCOWD = "scowd"
    SSH = "ssh"


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).", min=0, max=65535)] = 8765,
    state: Annotated[Path, typer.Option(help="SQLite file that keeps jobs across restarts.")] = Path(
        ".scowspec/sandbox.db"
    ),
    pending_seconds: Annotated[float, typer.Option(help="How long a job stays PENDING.")] = 2.0,
    run_seconds: Annotated[float, typer.Option(help="How long a job RUNS before COMPLETED (0: forever).")] = 0.0,
    latency_ms: Annotated[int, typer.Option(help="Added latency of every API call, in ms.")] = 0,
    portal: Annotated[
        PortalChoice, typer.Option("--portal", help="The SCOW-AI generation to model (README: 'The sandbox portal').")
    ] = PortalChoice.MAIN,
    file_driver: Annotated[
        FileDriverChoice,
        typer.Option(help="How the portal reaches the cluster's files: scowd, or SSH where scowd is off."),
    ] = FileDriverChoice.SCOWD,
    token_idle_seconds: Annotated[
        float | None,
        typer.Option(help="A login token expires after this long unused (the portal's default: 3600).", min=0.0),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> int:
    """Serve a local SCOW-AI-compatible portal at http://HOST:PORT/ai (token: sandbox-token, user alice)."""
    from scowspec.portal.profile import Generation
    from scowspec.sandbox.files import FileDriver
    from scowspec.sandbox.server import make_server
    from scowspec.sandbox.store import Clock

    try:
        state.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{state.parent}: cannot create the state folder: {exc.strerror}") from exc
    try:
        server = make_server(
            host,
            port,
            str(state),
            Clock(pending_seconds, run_seconds),
            verbose=verbose,
            generation=Generation(portal.value),
            token_idle_s=token_idle_seconds,
            file_driver=FileDriver(file_driver.value),
        )
    except sqlite3.Error as exc:  # a folder, or a file that is not the sandbox's database
        raise UsageError(f"{state}: cannot open the sandbox's state: {exc}", hint="pass another --state") from exc
    except (OSError, OverflowError) as exc:  # OverflowError: a port out of range reached bind()
        raise UsageError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from exc
    server.portal.faults.latency_ms = latency_ms
    typer.echo(
        f"SCOW-AI sandbox at {server.url} (portal {portal.value}, files over {file_driver.value}, state {state}); "
        "token `sandbox-token`. Ctrl-C stops it.",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.portal.store.close()
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
