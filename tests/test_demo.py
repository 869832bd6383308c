"""`make demo` (tools/demo.sh): stops at the first failure, its sandbox's included, and its closing hint works."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT
from .portal_helpers import admin

BIN = Path(sys.executable).parent


def demo_copy(folder: Path) -> Path:
    """The repository's demo, specs and scowspec.yaml in a git repository of their own (the hint edits specs/)."""
    (folder / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "demo.sh", folder / "tools" / "demo.sh")
    shutil.copytree(ROOT / "specs", folder / "specs")
    shutil.copy(ROOT / "scowspec.yaml", folder / "scowspec.yaml")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@x"
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "demo"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(folder: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOWSPEC_")}
    env.update(BIN=str(BIN), SCOWSPEC_DEMO_PORT=str(port))
    return subprocess.run(["bash", "tools/demo.sh"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("holder", [pytest.param("another-sandbox", id="port-held-by-another-portal")])
def test_demo_stops_when_its_sandbox_cannot_start(tmp_path: Path, sandbox: SandboxServer, holder: str) -> None:
    folder = demo_copy(tmp_path / "repo")
    r = run_demo(folder, int(sandbox.server_address[1]))
    assert r.returncode != 0
    assert "the sandbox did not start" in r.stderr and "Address already in use" in r.stderr
    assert "$ scowspec validate" not in r.stdout
    assert admin(sandbox, "stats")["requests"] == {}, "nothing was sent to the server that held the port"


def test_demo_runs_and_its_closing_hint_works_as_printed(tmp_path: Path) -> None:
    folder = demo_copy(tmp_path / "repo")
    port = free_port()
    r = run_demo(folder, port)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "\033[" not in r.stdout, "no terminal escapes when piped"
    hint = r.stdout.split("to try a change yourself, run from this folder:\n", 1)[1]
    script = "set -e\n" + "".join(line[2:] + "\n" for line in hint.splitlines() if line.startswith("  "))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOWSPEC_")}
    tried = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert "-/+ replace" in tried.stdout and "~ train.learning_rate: 0.0001 → 0.0002" in tried.stdout
    assert "learning_rate: 1.0e-4" in (folder / "specs" / "qwen25-pku-identity.yaml").read_text("utf-8")
