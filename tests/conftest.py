"""Shared fixtures: a real sandbox portal on 127.0.0.1, and the CLI run in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scowspec.cli.app import main
from scowspec.portal.profile import Generation
from scowspec.sandbox.files import FileDriver
from scowspec.sandbox.server import SandboxServer, start
from scowspec.sandbox.store import Clock

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(__file__).resolve().parent / "testdata"
TOKEN = "sandbox-token"


def scowspec_process(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`scowspec ARGS` in a real process of its own (for signals: Ctrl-C reaches it as at a terminal), stdout and
    stderr piped as text, running this checkout's package."""
    return subprocess.Popen(
        [sys.executable, "-m", "scowspec", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT / "compiler"), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files instead of comparing.")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


GENERATIONS = [pytest.param(g, id=f"portal-{g.value}") for g in Generation]


@pytest.fixture(params=GENERATIONS)
def generation(request: pytest.FixtureRequest) -> Generation:
    """Every portal test runs against both portal generations the sandbox models."""
    return request.param  # type: ignore[no-any-return]


# A cluster's file driver is its own setting, not the portal generation's: pairing them runs every portal test
# through both drivers' ways of saying "no such folder" (sandbox/files.py) without doubling the suite.
FILE_DRIVER = {Generation.RELEASE_0_5_4: FileDriver.SSH, Generation.MAIN: FileDriver.SCOWD}


@pytest.fixture
def sandbox(generation: Generation) -> Iterator[SandboxServer]:
    """A fresh portal per test: jobs stay RUNNING until cancelled or forced."""
    server = start(clock=Clock(pending_s=0.0, run_s=0.0), generation=generation, file_driver=FILE_DRIVER[generation])
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def portal_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv("SCOWSPEC_PORTAL_URL", sandbox.url)
    monkeypatch.setenv("SCOWSPEC_TOKEN", TOKEN)
    monkeypatch.setenv("SCOWSPEC_TIMEOUT", "5")
    monkeypatch.delenv("CI", raising=False)
    return sandbox


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def in_dir(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
