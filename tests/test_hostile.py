"""Hostile input (regressions from the fuzzer, tools/fuzz/): plain errors, never a crash, injection or leak."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.compile.command import JOB_EOF, POSTTRAIN_EOF, POSTTRAIN_PY_EOF, PREPARE_EOF
from scowspec.plan.identity import marker_fields
from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, TESTDATA, TOKEN, Run
from .portal_helpers import make_project, names

CLI = Callable[..., Run]
BASE = (TESTDATA / "valid" / "minimal-version-ids.yaml").read_text("utf-8")


def _no_crash(r: Run) -> None:
    assert r.code != 1 and "Internal error" not in r.out + r.err and "Traceback" not in r.out + r.err, r.err


@pytest.mark.parametrize("path", sorted((TESTDATA / "fmt-hostile").glob("*.yaml")), ids=lambda p: p.stem)
def test_fmt_never_crashes_or_changes_data(cli: CLI, path: Path, in_dir: Path) -> None:
    shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
    (in_dir / ".git").mkdir()
    target = in_dir / path.name
    shutil.copy(path, target)
    before = cli("validate", "-o", "json", str(target))
    _no_crash(before)
    for args in (("fmt", "--check", str(target)), ("fmt", str(target))):
        _no_crash(cli(*args))
    after = cli("validate", "-o", "json", str(target))
    assert json.loads(after.out)["diagnostics"] == json.loads(before.out)["diagnostics"], "fmt changed what it means"


# -- the run command: nothing from a spec, its file name included, reaches the shell's parser ----------------
PAYLOADS = {
    "newline": "\ntouch PWNED\n",
    "crlf": "\r\ntouch PWNED\r\n",
    "heredoc-job": f"\n{JOB_EOF}\ntouch PWNED\n",
    "heredoc-prepare": f"\n{PREPARE_EOF}\ntouch PWNED\n",
    "heredoc-posttrain": f"\n{POSTTRAIN_EOF}\ntouch PWNED\n{POSTTRAIN_PY_EOF}\n",
    "substitution": "$(touch PWNED)`touch PWNED`",
    "quotes": "'\"; touch PWNED; #",
    "separators": "\u2028\u0085touch PWNED",
    "unicode": "令牌😀\u202e",
    "marker-field": " | project someone-else | job x",
}
STRING_FIELDS = [
    "train.default_system",
    "train.run_name",
    "dataset.file",
    "env.WEIRD",
    "image",
    "verify.prompt",
    "verify.system",
    "verify.contains",
]


def _command_shape(command: str) -> dict[str, object]:
    """The job description, after checking the command kept its shape (or an AssertionError)."""
    lines = command.split("\n")
    assert lines.index("set -euo pipefail") == 2 and lines[0].startswith("# ") and lines[1].startswith("# ")
    assert lines.count(JOB_EOF) == 1 and lines.count(PREPARE_EOF) == 1
    assert lines.count(POSTTRAIN_EOF) <= 1 and lines.count(POSTTRAIN_PY_EOF) <= 1
    opener = lines.index(f"cat > \"$JOB_FILE\" <<'{JOB_EOF}'")
    job: dict[str, object] = json.loads("\n".join(lines[opener + 1 : lines.index(JOB_EOF)]))
    assert subprocess.run(["bash", "-n"], input=command, text=True, check=False).returncode == 0
    return job


def _strings_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    return []


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_spec_file_name_cannot_inject(cli: CLI, in_dir: Path, payload: str) -> None:
    shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
    name = f"job{payload}.yaml"
    (in_dir / name).write_text(BASE, "utf-8")
    r = cli("compile", "--offline", name)
    assert r.code == 0, r.err
    command = json.loads(r.out)["command"]
    job = _command_shape(command)
    assert job["spec"] == name, "the job description carries the name verbatim"
    fields = marker_fields(command)
    spec = fields["spec"]
    assert (json.loads(spec) if spec.startswith('"') else spec) == name, "the marker line's spec field is whole"
    assert fields["project"] == "scowspec-testdata" and fields["job"] == job["job"], "the name adds no marker field"


@pytest.mark.parametrize("field", STRING_FIELDS)
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_string_fields_cannot_inject(cli: CLI, in_dir: Path, field: str, payload: str) -> None:
    shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
    section, _, key = field.partition(".")
    value = json.dumps(payload)
    text = BASE + (f"{section}: {{{key}: {value}}}\n" if key and section == "env" else "")
    if section == "train":
        text = text.replace("train:\n", f"train:\n  {key}: {value}\n", 1)
    elif section == "dataset":
        text = text.replace("file: identity.json", f"file: {value}")
    elif section == "image":
        text += f"image: {value}\n"
    elif section == "verify":
        prompt = {"prompt": "Who are you?", "contains": "PKU"} | {key: payload}
        text += f"verify: {{prompts: [{json.dumps(prompt)}]}}\n"
    (in_dir / "s.yaml").write_text(text, "utf-8")
    r = cli("compile", "--offline", "s.yaml")
    _no_crash(r)
    if r.code == 0:  # refused values are fine; accepted ones must arrive as written
        command = json.loads(r.out)["command"]
        _command_shape(command)
        if section == "verify":
            lines = command.split("\n")
            opener = next(i for i, line in enumerate(lines) if line.endswith(f"<<'{POSTTRAIN_EOF}'"))
            posttrain = json.loads("\n".join(lines[opener + 1 : lines.index(POSTTRAIN_EOF)]))
            assert payload in set(_strings_in(posttrain)), "the value reaches the verify step verbatim"


# -- operational inputs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "args"),
    [
        pytest.param({"SCOWSPEC_TIMEOUT": "0"}, ("plan",), id="timeout-0"),
        pytest.param({"SCOWSPEC_TIMEOUT": "-1"}, ("plan",), id="timeout-negative"),
        pytest.param({"SCOWSPEC_TIMEOUT": "nan"}, ("plan",), id="timeout-nan"),
        pytest.param({"SCOWSPEC_TOKEN": "令牌-secret"}, ("plan",), id="token-not-latin1"),
        pytest.param({"SCOWSPEC_USER": "用户"}, ("plan",), id="user-not-latin1"),
        pytest.param({}, ("apply", "--lock-timeout", "nan", "--yes"), id="lock-timeout-nan"),
        pytest.param({}, ("sandbox", "--port", "-1"), id="port-negative"),
        pytest.param({}, ("sandbox", "--port", "70000"), id="port-too-large"),
    ],
)
def test_bad_settings_are_usage_errors(
    cli: CLI,
    in_dir: Path,
    portal_env: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: tuple[str, ...],
) -> None:
    make_project(in_dir, portal_env)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = cli(*args)
    assert r.code == 64, r.err
    assert "secret" not in r.out + r.err, "the token is never shown"


def test_a_terminal_that_cannot_show_unicode_still_gets_the_report(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    shutil.copy(TESTDATA / "scowspec.yaml", tmp_path / "scowspec.yaml")
    (tmp_path / "s.yaml").write_text(BASE.replace("template: qwen", "template: 千问"), "utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    proc = subprocess.run(
        [sys.executable, "-m", "scowspec", "validate", "s.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 3 and b"Internal error" not in proc.stderr + proc.stdout
    assert b"train.template" in proc.stdout + proc.stderr


def test_a_spec_linking_out_of_the_repository_is_not_read(cli: CLI, tmp_path: Path, in_dir: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-secret.yaml"
    outside.write_text("name: TOPSECRET-0123456789\n", "utf-8")
    try:
        (in_dir / ".git").mkdir()
        shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
        (in_dir / "specs").mkdir()
        (in_dir / "specs" / "s.yaml").symlink_to(outside)
        r = cli("validate", "specs")
        assert r.code == 3 and "outside the repository" in r.out + r.err
        assert "TOPSECRET" not in r.out + r.err
    finally:
        outside.unlink()


def test_journal_and_plan_files_that_are_not_ours_are_plain_errors(
    cli: CLI, in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    make_project(in_dir, portal_env)
    state = in_dir / ".scowspec"
    state.mkdir()
    (state / "journal.json").write_text('{"pending": {"s0-00000000": "text", "\\ud800": 5}}', "utf-8")
    _no_crash(cli("plan"))
    (state / "journal.json").write_text('{"pending": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8")
    r = cli("plan")
    assert r.err.startswith("Error: ") and "unreadable journal (nested too deeply)" in r.err
    (state / "journal.json").unlink()
    for text in ('{"format": "scowspec-plan/1", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}", "[]", "{"):
        (in_dir / "p.json").write_text(text, "utf-8")
        r = cli("apply", "--plan", "p.json", "--yes")
        assert r.code == 64 and ("not a readable scowspec plan" in r.err or "not a scowspec plan" in r.err), r.err
    assert names(portal_env) == []


def test_fuzzer_replays_a_corpus_input() -> None:
    """The fuzzer itself runs (a few inputs, no findings saved) and reports its figures."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fuzz" / "fuzz.py"),
            "--count",
            "12",
            "--no-save",
            "--corpus",
            "/nonexistent",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "fuzz: seed 1, 12 inputs" in proc.stdout, proc.stdout + proc.stderr
    assert "inputs with exceptions: 0" in proc.stdout, proc.stdout


def test_token_appears_nowhere_but_the_auth_header(
    cli: CLI, in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    make_project(in_dir, portal_env)
    outputs = [
        cli("plan", "--out", "plan.json"),
        cli("plan", "-o", "json"),
        cli("apply", "--plan", "plan.json", "--yes"),
        cli("status", "-o", "json"),
        cli("apply", "--yes", "-o", "json"),
    ]
    assert outputs[2].code == 0, outputs[2].err
    text = "".join(r.out + r.err for r in outputs)
    text += "".join(p.read_text("utf-8", "replace") for p in in_dir.rglob("*") if p.is_file())
    text += json.dumps(portal_env.portal.store.jobs("alice", "ai-k8s"))  # every body the portal received
    assert TOKEN not in text and TOKEN[::-1] not in text


def test_a_project_file_refused_at_its_root_is_one_error_not_a_crash(cli: CLI, tmp_path: Path) -> None:
    """make fuzz (seed 11, input 670): a merge key over a huge collection, refused at the document's root."""
    project = tmp_path / "repo"
    shutil.copytree(TESTDATA / "hostile-project", project)
    (project / ".git").mkdir()
    r = cli("validate", str(project / "specs"))
    assert r.code == 3, r.err
    assert "scowspec.yaml:" in r.out and "Internal error" not in r.out + r.err and "Traceback" not in r.err


@pytest.mark.parametrize("output", ["text", "github", "json"])
def test_control_characters_from_a_spec_never_reach_the_terminal_raw(cli: CLI, in_dir: Path, output: str) -> None:
    """fuzz-findings.md #12: an OSC title sequence, BEL, NEL, CSI and a bidi override in a key."""
    shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
    key = "\x1b]0;pwned\x07 FAKE: all specs valid\x85\x9b2J\u202e"
    (in_dir / "s.yaml").write_text(
        BASE.replace("train: {template: qwen}", f"train: {{template: qwen, {json.dumps(key)}: 1}}"), "utf-8"
    )
    r = cli("validate", "-o", output, "s.yaml")
    assert r.code == 3, r.out + r.err
    shown = r.out + r.err
    assert "pwned" in shown and not any(c in shown for c in "\x1b\x07\x85\x9b\u202e")
