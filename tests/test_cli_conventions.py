"""CLI conventions: plain help (no `<bool>`), examples, completion, JSON failures with `-o json`, colour only
where wanted, one line on Ctrl-C, and the README's command table matching the real commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main

from scowspec.cli.app import _register, app
from scowspec.cli.conventions import EXAMPLES
from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, Run, scowspec_process
from .portal_helpers import admin, make_project

CLI = Callable[..., Run]
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)")


def commands() -> dict[str, typer.main.click.Command]:
    _register()
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_help_has_plain_metavars_and_examples(cli: CLI, name: str) -> None:
    r = cli(name, "--help")
    assert r.code == 0
    assert "<bool>" not in r.out and "<list[" not in r.out and "<path>" not in r.out, r.out
    assert "Examples:" in r.out and f"$ {EXAMPLES[name][0]}" in r.out


def test_every_command_has_examples() -> None:
    assert set(commands()) == set(EXAMPLES)


def test_shell_completion_is_offered(cli: CLI) -> None:
    r = cli("--help")
    assert "--install-completion" in r.out and "--show-completion" in r.out


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["validate", "/nonexistent/specs", "-o", "json"], 64, "error"),
        (["status", "--output=json", "/nonexistent/specs"], 64, "error"),
        (["plan", "-o", "json", "--no-such-flag"], 64, "usage"),
    ],
    ids=["validate-missing-path", "status-missing-path", "plan-usage-error"],
)
def test_json_output_is_json_for_failures_too(cli: CLI, args: list[str], code: int, kind: str) -> None:
    r = cli(*args)
    assert r.code == code
    doc = json.loads(r.out)
    assert doc["ok"] is False and doc["exit_code"] == code and doc["error"]["kind"] == kind
    assert doc["error"]["message"] and doc["error"]["message"] in r.err


def test_text_failures_print_no_json(cli: CLI) -> None:
    r = cli("validate", "/nonexistent/specs")
    assert r.code == 64 and r.out == "" and r.err.startswith("Error: ")


def _help(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "scowspec", "plan", "--help"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "compiler"), **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_colour_only_at_a_terminal_and_never_with_no_color() -> None:
    plain = {k: "" for k in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    assert not COLOUR.search(_help(plain)), "a pipe gets no colour"
    assert COLOUR.search(_help({**plain, "FORCE_COLOR": "1"})), "a terminal (forced here) gets colour"
    assert not COLOUR.search(_help({**plain, "FORCE_COLOR": "1", "NO_COLOR": "1"})), "NO_COLOR wins"


def test_ctrl_c_while_planning_prints_one_line(tmp_path: Path, sandbox: SandboxServer) -> None:
    project = make_project(tmp_path / "repo", sandbox, extra=3)
    admin(sandbox, "faults", {"latency_ms": 5000})
    proc = scowspec_process(project, "plan", env={"SCOWSPEC_TOKEN": "sandbox-token"})
    deadline = time.monotonic() + 30
    while not admin(sandbox, "stats")["requests"] and time.monotonic() < deadline:
        time.sleep(0.05)  # until plan is inside its first (slow) portal read
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    admin(sandbox, "faults", {"latency_ms": 0})
    assert proc.returncode == 130, out + err
    assert err.splitlines() == ["Interrupted."], (out, err)


# The first cell of each README command row: `scowspec NAME …` (several commands may share a row).
ROW = re.compile(r"^\| (`scowspec [^|]*(?:\\\|[^|]*)*) \|", re.MULTILINE)


def test_readme_command_table_matches_the_cli() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    real = commands()
    documented: set[str] = set()
    for cell in ROW.findall(table):
        for usage in re.findall(r"`scowspec ([^`]*)`", cell):
            name, *rest = usage.split()
            documented.add(name)
            assert name in real, f"README documents `scowspec {name}`, which does not exist"
            opts = {o for p in real[name].params for o in (*p.opts, *p.secondary_opts)}
            for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(rest)):
                assert flag in opts, f"README: `scowspec {name}` has no option {flag}"
            choices = re.search(r"-o ([a-z|\\]+)", usage)
            if choices:
                output = next(p for p in real[name].params if "-o" in p.opts)
                allowed = {str(getattr(c, "value", c)) for c in output.type_descriptor.choices or ()}  # type: ignore[attr-defined]
                assert set(choices.group(1).replace("\\", "").split("|")) <= allowed, usage
    assert documented == set(real), f"README's table vs the CLI: {sorted(documented ^ set(real))}"
