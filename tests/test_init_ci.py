"""`scowspec init --ci github|gitlab`: a lab's specs-only repository gets the CI files scowspec ships."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.authoring import CI_FILES, CiSystem, requirement_of, shipped_ci_file

from .conftest import ROOT, Run

CLI = Callable[..., Run]


@pytest.mark.parametrize(
    ("dest", "name"),
    sorted({pair for pairs in CI_FILES.values() for pair in pairs}),
    ids=lambda v: str(v),
)
def test_shipped_ci_files_are_this_repositorys_own(dest: str, name: str) -> None:
    assert shipped_ci_file(name) == (ROOT / dest).read_text("utf-8"), (
        f"compiler/scowspec/data/ci/{name} and {dest} must stay identical: copy the one you changed over the other"
    )


@pytest.mark.parametrize("system", list(CiSystem), ids=lambda s: s.value)
def test_init_ci_writes_the_files_into_a_specs_only_repository(cli: CLI, in_dir: Path, system: CiSystem) -> None:
    (in_dir / "scowspec.yaml").write_text("cluster: ai-k8s\n", "utf-8")
    (in_dir / ".gitignore").write_text("*.pyc\n", "utf-8")
    r = cli("init", "--ci", system.value)
    assert r.code == 0, r.err
    for dest, name in CI_FILES[system]:
        assert (in_dir / dest).read_text("utf-8") == shipped_ci_file(name)
    assert os.access(in_dir / "ci" / "scowspec-ci.sh", os.X_OK)
    assert (in_dir / ".gitignore").read_text("utf-8") == "*.pyc\n.scowspec/\n"
    assert "scowspec" in (in_dir / "ci" / "requirements.txt").read_text("utf-8")
    assert not (in_dir / "specs").exists(), "--ci alone writes no spec"
    again = cli("init", "--ci", system.value)
    assert again.code == 4 and "--force" in again.err
    assert cli("init", "--ci", system.value, "--force").code == 0
    assert (in_dir / ".gitignore").read_text("utf-8").count(".scowspec/") == 1


def test_init_with_ci_refused_for_an_existing_spec_writes_nothing(cli: CLI, in_dir: Path) -> None:
    (in_dir / "specs").mkdir()
    (in_dir / "specs" / "mine.yaml").write_text("kept\n", "utf-8")
    before = sorted(p.relative_to(in_dir) for p in in_dir.rglob("*"))
    r = cli("init", "mine", "--ci", "github")
    assert r.code == 4 and "nothing was written" in r.err, r.err
    assert sorted(p.relative_to(in_dir) for p in in_dir.rglob("*")) == before, "nothing was written, indeed"


def test_init_needs_a_name_or_ci(cli: CLI, in_dir: Path) -> None:
    r = cli("init")
    assert r.code == 64 and "--ci" in r.err
    assert cli("init", "--ci", "jenkins").code == 64


@pytest.mark.parametrize(
    ("direct_url", "requirement", "known"),
    [
        pytest.param(None, "scowspec==9.9", True, id="from-an-index"),
        pytest.param(
            '{"url": "https://git.example.edu.cn/lab/scowspec.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}',
            "scowspec @ git+https://git.example.edu.cn/lab/scowspec.git@abc123",
            True,
            id="from-git",
        ),
        pytest.param(
            '{"url": "https://example.edu.cn/scowspec-9.9.tar.gz", "archive_info": {}}',
            "scowspec @ https://example.edu.cn/scowspec-9.9.tar.gz",
            True,
            id="from-an-archive-url",
        ),
        pytest.param(
            '{"url": "file:///home/me/scowspec", "dir_info": {"editable": true}}',
            "scowspec==9.9",
            False,
            id="from-a-local-folder",
        ),
    ],
)
def test_ci_installs_scowspec_from_where_it_came(direct_url: str | None, requirement: str, known: bool) -> None:
    assert requirement_of(direct_url, "9.9") == (requirement, known)


def _install(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "ci" / "scowspec-ci.sh"), "install"],
        cwd=folder,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ci_install_needs_requirements_in_a_specs_only_repository(tmp_path: Path) -> None:
    r = _install(tmp_path)
    assert r.returncode == 64 and "ci/requirements.txt" in r.stderr
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "requirements.txt").write_text("pyyaml\n", "utf-8")  # already installed: pip goes offline
    ok = _install(tmp_path)
    assert ok.returncode == 0, ok.stderr
