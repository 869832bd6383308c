"""git push → apply, for real on one machine: a bare repository whose post-receive hook runs the same
script CI runs (ci/scowspec-ci.sh) against a sandbox portal started here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, TOKEN
from .portal_helpers import jobs, write_small

HOOK = """#!/usr/bin/env bash
# post-receive: apply what was pushed to main, one push at a time, with the script CI runs.
set -u
while read -r old new ref; do
  [ "$ref" = refs/heads/main ] || continue
  exec 9>"$GIT_DIR/scowspec-hook.lock"
  flock 9
  work="$GIT_DIR/scowspec-worktree"     # kept between pushes: it holds .scowspec/ (journal, lock)
  mkdir -p "$work"
  find "$work" -mindepth 1 -maxdepth 1 ! -name .scowspec -exec rm -rf {} +
  git archive "$new" | tar -x -C "$work"
  (cd "$work" && bash ci/scowspec-ci.sh apply)
  echo "scowspec-hook: apply exited $?"
  flock -u 9
done
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture
def remote(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    if shutil.which("git") is None or shutil.which("flock") is None:
        pytest.skip("needs git and flock")
    monkeypatch.setenv("SCOWSPEC_TOKEN", TOKEN)
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("SCOWSPEC", str(Path(sys.executable).parent / "scowspec"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@example.org")
    bare = tmp_path / "specs.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    hook = bare / "hooks" / "post-receive"
    hook.write_text(HOOK, "utf-8")
    hook.chmod(0o755)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    git(clone, "checkout", "-q", "-b", "main")
    (clone / "ci").mkdir()
    shutil.copy(ROOT / "ci" / "scowspec-ci.sh", clone / "ci" / "scowspec-ci.sh")
    (clone / "specs").mkdir()
    (clone / "scowspec.yaml").write_text(
        f"project: gitops-loop\nportal_url: {sandbox.url}\ncluster: ai-k8s\naccount: a_pku\npartition: gpu\n"
        "image: app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4\nwork_dir: /data/home/alice/finetune\nprune: true\n",
        "utf-8",
    )
    return bare, clone


def push(clone: Path, message: str) -> str:
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    return git(clone, "push", "-q", "origin", "main")


def test_push_applies_changes_prunes_and_refuses_bad_specs(remote: tuple[Path, Path], sandbox: SandboxServer) -> None:
    _, clone = remote
    write_small(clone, "alpha")
    write_small(clone, "beta")
    out = push(clone, "two new specs")
    assert "scowspec-hook: apply exited 0" in out
    assert sorted((j["jobName"].split("-")[0], j["state"]) for j in jobs(sandbox)) == [
        ("alpha", "RUNNING"),
        ("beta", "RUNNING"),
    ]

    write_small(clone, "alpha", lr="2.0e-4")
    out = push(clone, "alpha: learning rate")
    assert "-/+ replace" in out and "scowspec-hook: apply exited 0" in out
    states = sorted((j["jobName"].split("-")[0], j["state"]) for j in jobs(sandbox))
    assert states == [("alpha", "CANCELED"), ("alpha", "RUNNING"), ("beta", "RUNNING")]

    (clone / "specs" / "beta.yaml").unlink()
    out = push(clone, "drop beta")
    assert "- cancel" in out and "scowspec-hook: apply exited 0" in out
    assert [j["state"] for j in jobs(sandbox) if j["jobName"].startswith("beta-")] == ["CANCELED"]

    before = len(jobs(sandbox))
    (clone / "specs" / "gamma.yaml").write_text("apiVersion: scowspec/v1\nkind: FineTune\nname: Gamma\n", "utf-8")
    out = push(clone, "a bad spec")
    assert "specs/gamma.yaml:3:7: error[format]" in out and "scowspec-hook: apply exited 3" in out
    assert "nothing was planned or applied" in out and len(jobs(sandbox)) == before


def test_two_pushes_close_together_never_submit_twice(remote: tuple[Path, Path], sandbox: SandboxServer) -> None:
    bare, clone = remote
    write_small(clone, "first")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "first")
    first = subprocess.Popen(
        ["git", "push", "-q", "origin", "main"], cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    head = git(clone, "rev-parse", "HEAD").strip()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the ref is updated before the first hook finishes
        ref = subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True)
        if ref.stdout.strip() == head:
            break
        time.sleep(0.02)
    write_small(clone, "second")
    second_out = push(clone, "second")
    first_out, _ = first.communicate(timeout=120)
    assert "apply exited 0" in first_out and "apply exited 0" in second_out
    got = sorted(j["jobName"].split("-")[0] for j in jobs(sandbox))
    assert got == ["first", "second"], got


def test_ci_files_parse_and_call_the_shared_script() -> None:
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "scowspec.yml").read_text("utf-8"))
    gitlab = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text("utf-8"))
    gh_runs = {name: " ".join(str(s.get("run", "")) for s in job["steps"]) for name, job in github["jobs"].items()}
    assert "bash ci/scowspec-ci.sh plan" in gh_runs["plan"] and "bash ci/scowspec-ci.sh apply" in gh_runs["apply"]
    assert github["jobs"]["apply"]["concurrency"] == {"group": "scowspec-apply", "cancel-in-progress": False}
    assert "secrets.SCOWSPEC_TOKEN" in str(github["jobs"]["apply"]["steps"])
    assert gitlab["scowspec-plan"]["script"] == ["bash ci/scowspec-ci.sh plan"]
    assert gitlab["scowspec-apply"]["script"] == ["bash ci/scowspec-ci.sh apply"]
    assert gitlab["scowspec-apply"]["resource_group"] == "scowspec-apply"
    assert gitlab["scowspec-plan"]["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"


def _ci(tmp: Path, mode: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SCOWSPEC": str(Path(sys.executable).parent / "scowspec"), **env}
    full.pop("CI", None)
    return subprocess.run(
        ["bash", str(ROOT / "ci" / "scowspec-ci.sh"), mode],
        cwd=tmp,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ci_script_plan_on_github(remote: tuple[Path, Path], sandbox: SandboxServer, tmp_path: Path) -> None:
    _, clone = remote
    write_small(clone, "alpha")
    summary = tmp_path / "summary.md"
    proc = _ci(clone, "plan", {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stderr
    assert summary.read_text("utf-8").startswith("### scowspec plan")
    assert "**Plan: 1 to submit, 0 to replace, 0 to cancel, 0 unchanged.**" in summary.read_text("utf-8")
    assert (clone / "scowspec-plan.json").exists() and jobs(sandbox) == []
    (clone / "specs" / "bad.yaml").write_text("apiVersion: scowspec/v1\nkind: FineTune\nname: Bad\n", "utf-8")
    bad = _ci(clone, "plan", {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert bad.returncode == 3 and "::error file=specs/bad.yaml,line=3,col=7," in bad.stdout


def test_ci_script_on_gitlab_writes_a_code_quality_report(remote: tuple[Path, Path]) -> None:
    _, clone = remote
    (clone / "specs" / "bad.yaml").write_text("apiVersion: scowspec/v1\nkind: FineTune\nname: Bad\n", "utf-8")
    proc = _ci(clone, "plan", {"GITLAB_CI": "true"})
    report = yaml.safe_load((clone / "gl-code-quality-report.json").read_text("utf-8"))
    assert proc.returncode == 3
    assert {"path": "specs/bad.yaml", "lines": {"begin": 3}} in [r["location"] for r in report]
