"""init, fmt, and the pre-commit hook definitions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, TESTDATA, Run

CLI = Callable[..., Run]


def test_init_writes_a_spec_that_validates(cli: CLI, in_dir: Path) -> None:
    r = cli("init", "my-job")
    assert r.code == 0
    spec = in_dir / "specs" / "my-job.yaml"
    text = spec.read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/finetune.schema.json")
    assert (in_dir / "schema" / "finetune.schema.json").is_file()
    assert cli("validate").code == 0
    assert cli("init", "my-job").code == 4, "never overwrites silently"
    assert cli("init", "My_Job").code == 64


def test_init_leaves_out_what_the_project_sets(cli: CLI, in_dir: Path) -> None:
    (in_dir / "scowspec.yaml").write_text((TESTDATA / "scowspec.yaml").read_text("utf-8"), "utf-8")
    assert cli("init", "lean").code == 0
    data = yaml.safe_load((in_dir / "specs" / "lean.yaml").read_text("utf-8"))
    assert "cluster" not in data and "work_dir" not in data
    assert cli("validate").code == 0


def test_fmt_normalises_layout_and_keeps_comments(cli: CLI, in_dir: Path) -> None:
    (in_dir / "specs").mkdir()
    messy = (ROOT / "specs" / "qwen25-pku-identity.yaml").read_text("utf-8").replace("\n  ", "\n      ")
    target = in_dir / "specs" / "x.yaml"
    target.write_text(messy, "utf-8")
    check = cli("fmt", "--check")
    assert check.code == 2 and "would reformat specs/x.yaml" in check.out
    assert target.read_text("utf-8") == messy, "--check changes nothing"
    assert cli("fmt").code == 0
    text = target.read_text("utf-8")
    assert "# PKU SCOW tutorial 13" in text and "  stage: sft" in text and "      stage" not in text
    assert cli("fmt", "--check").code == 0


def test_fmt_reports_broken_yaml_with_its_location(cli: CLI, in_dir: Path) -> None:
    (in_dir / "specs").mkdir()
    (in_dir / "specs" / "bad.yaml").write_text("a: [1,\n", "utf-8")
    r = cli("fmt")
    assert r.code == 3 and "specs/bad.yaml:2:1: error[yaml-syntax]" in r.err


UNREADABLE = [
    pytest.param(lambda p: p.write_bytes(b"name: caf\xe9\n"), "not UTF-8 text", id="not-utf-8"),
    pytest.param(lambda p: p.symlink_to("/etc/hostname"), "outside the repository", id="link-out"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "says"), UNREADABLE)
def test_fmt_reports_an_unreadable_file_on_its_line_and_formats_the_others(
    cli: CLI, in_dir: Path, make: Callable[[Path], object], says: str
) -> None:
    (in_dir / ".git").mkdir()
    (in_dir / "specs").mkdir()
    make(in_dir / "specs" / "bad.yaml")
    good = in_dir / "specs" / "good.yaml"
    good.write_text((ROOT / "specs" / "qwen25-pku-identity.yaml").read_text("utf-8").replace("\n  ", "\n    "))
    check = cli("fmt", "--check")
    assert check.code == 3 and "specs/bad.yaml:1:1: error[read-error]" in check.err and says in check.err
    assert "would reformat specs/good.yaml" in check.out
    assert cli("fmt").code == 3
    assert cli("fmt", "--check", "specs/good.yaml").code == 0, "the readable file was formatted"


def test_repository_specs_are_formatted(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli("fmt", "--check").code == 0


def test_pre_commit_hooks_run_scowspec() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))}
    assert hooks["scowspec-validate"]["entry"] == "scowspec validate"
    assert hooks["scowspec-fmt"]["entry"] == "scowspec fmt"
