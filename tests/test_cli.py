"""The command line: exit codes, output formats, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec import __version__
from scowspec.portal.profile import Generation
from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, TESTDATA, Run

CLI = Callable[..., Run]


def test_version(cli: CLI) -> None:
    r = cli("--version")
    assert (r.code, r.out.strip()) == (0, f"scowspec {__version__}")


def test_validate_repository_specs(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    r = cli("validate")
    assert r.code == 0 and r.out.strip() == "2 specs valid."


def test_validate_invalid_exits_3_with_located_lines(cli: CLI) -> None:
    r = cli("validate", str(TESTDATA / "invalid" / "schema-errors.yaml"))
    assert r.code == 3
    lines = r.out.splitlines()
    assert any(line.endswith("did you mean `lora_rank`?") and ":12:3: error[unknown-key]:" in line for line in lines)
    assert lines[-1].startswith("17 errors")  # the schema's and the rules' problems in one pass


@pytest.mark.parametrize("fmt", ["json"])
def test_validate_json_has_ranges_and_pointers(cli: CLI, fmt: str) -> None:
    r = cli("validate", "--output", fmt, str(TESTDATA / "invalid" / "reserved-keys.yaml"))
    doc = json.loads(r.out)
    assert r.code == 3 and doc["exit_code"] == 3 and doc["format_version"] == "1.0" and not doc["valid"]
    first = doc["diagnostics"][0]
    assert first["range"]["start"] == {"line": 9, "column": 3} and first["pointer"] == "/train/model_name_or_path"
    assert first["code"] == "reserved-key"


def test_validate_github_annotations(cli: CLI) -> None:
    r = cli("validate", "-o", "github", str(TESTDATA / "invalid" / "duplicate-keys.yaml"))
    assert r.code == 3
    assert "::error file=" in r.out and ",line=10,col=3," in r.out and "title=scowspec duplicate-key::" in r.out


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["validate", "--no-such-flag"], 64, id="unknown-flag"),
        pytest.param(["no-such-command"], 64, id="unknown-command"),
        pytest.param(["validate", "does/not/exist"], 64, id="missing-path"),
        pytest.param(["validate", "-o", "yaml"], 64, id="bad-choice"),
        pytest.param(["compile"], 64, id="missing-argument"),
    ],
)
def test_usage_errors_exit_64(cli: CLI, args: list[str], code: int) -> None:
    r = cli(*args)
    assert r.code == code
    assert "Traceback" not in r.out + r.err


def test_schema_prints_the_canonical_file(cli: CLI) -> None:
    r = cli("schema")
    assert r.code == 0 and r.out == (ROOT / "schema" / "finetune.schema.json").read_text("utf-8")


def test_compile_offline_names_need_the_portal(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    r = cli("compile", "--offline", "specs/qwen25-pku-identity.yaml")
    assert r.code == 3 and r.out == ""
    assert "specs/qwen25-pku-identity.yaml:7:15: error[needs-portal]" in r.err


def test_compile_against_portal_prints_golden_payload(
    cli: CLI, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch, generation: Generation
) -> None:
    monkeypatch.chdir(ROOT)
    r = cli("compile", "specs/qwen25-pku-identity.yaml")
    assert r.code == 0, r.err
    golden = json.loads((ROOT / "tests" / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    if generation is Generation.RELEASE_0_5_4:
        # The release mounts only its own job folder: scowspec mounts work_dir so the outputs outlive the pod.
        golden["mountPoints"] = [{"path": "/data/home/alice/finetune", "target": "/data/home/alice/finetune"}]
    assert json.loads(r.out) == golden
    assert "note: scowspec set train.logging_steps" in r.err


def test_compile_without_token_is_a_usage_error(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SCOWSPEC_TOKEN", raising=False)
    r = cli("compile", "specs/qwen25-pku-identity.yaml")
    assert r.code == 64 and "SCOWSPEC_TOKEN" in r.err and "Traceback" not in r.err


def test_unreachable_portal_is_exit_1_without_traceback(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SCOWSPEC_PORTAL_URL", "http://127.0.0.1:9/ai")
    monkeypatch.setenv("SCOWSPEC_TOKEN", "t")
    monkeypatch.setenv("SCOWSPEC_TIMEOUT", "1")
    r = cli("compile", "specs/qwen25-pku-identity.yaml")
    assert r.code == 1 and "Error:" in r.err and "Traceback" not in r.err


def test_binary_file_is_a_located_error_and_hides_nothing(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "empty.yaml").write_text("", "utf-8")
    r = cli("validate", str(tmp_path))
    assert r.code == 3 and "bad.yaml:1:1: error[read-error]" in r.out and "not UTF-8" in r.out
    assert "empty.yaml:1:1: error[empty-file]" in r.out


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scowspec", "validate", str(TESTDATA / "invalid" / "empty.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3 and "error[empty-file]" in proc.stdout
