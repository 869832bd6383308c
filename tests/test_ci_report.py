"""The scheduled CI report (`ci/scowspec-ci.sh report`): a pushed spec's job finishes on the sandbox portal, and its
report is posted once on the pull request of the spec's last change, through a fake GitHub API on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from scowspec.sandbox.server import SandboxServer

from . import test_gitops_loop as loop
from .conftest import ROOT
from .portal_helpers import admin, jobs
from .test_follow import VERIFY_SPEC
from .test_gitops_loop import _ci, push

remote = loop.remote  # the bare repository with its post-receive hook, and a clone


class FakeGitHub(ThreadingHTTPServer):
    """Just the comment routes the report script uses; pull request 7 holds every commit."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GitHubHandler)
        self.calls: list[tuple[str, str]] = []
        self.comments: dict[int, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _GitHubHandler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self) -> None:
        gh = self.server
        gh.calls.append((self.command, self.path))
        if self.headers.get("authorization") != "Bearer gh-token":
            self._answer(401, {"message": "Bad credentials"})
            return
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.command == "GET" and re.fullmatch(r"/repos/lab/specs/commits/[0-9a-f]{40}/pulls", self.path):
            self._answer(200, [{"number": 7}])
        elif self.path == "/repos/lab/specs/issues/7/comments" and self.command == "GET":
            self._answer(200, [{"id": i, "body": b} for i, b in gh.comments.items()])
        elif self.path == "/repos/lab/specs/issues/7/comments" and self.command == "POST":
            gh.comments[len(gh.comments) + 1] = body["body"]
            self._answer(201, {"id": len(gh.comments)})
        elif (m := re.fullmatch(r"/repos/lab/specs/issues/comments/(\d+)", self.path)) and self.command == "PATCH":
            gh.comments[int(m.group(1))] = body["body"]
            self._answer(200, {"id": int(m.group(1))})
        else:
            self._answer(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = _serve


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_scheduled_report_posts_each_finished_job_once(
    remote: tuple[Path, Path], sandbox: SandboxServer, github: FakeGitHub, tmp_path: Path
) -> None:
    _, clone = remote
    (clone / "specs" / "ident.yaml").write_text(VERIFY_SPEC, "utf-8")
    assert "apply exited 0" in push(clone, "ident: a verified identity fine-tune")
    summary = tmp_path / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_TOKEN": "gh-token",
        "GITHUB_REPOSITORY": "lab/specs",
        "GITHUB_API_URL": github.url,
    }
    running = _ci(clone, "report", env)
    assert running.returncode == 0, running.stderr
    assert "0 job(s) finished since the last run" in running.stdout and github.calls == []

    (job,) = jobs(sandbox)
    admin(sandbox, f"jobs/{job['jobId']}/state", {"state": "COMPLETED"})
    done = _ci(clone, "report", env)
    assert done.returncode == 0, done.stderr
    assert (
        f"job {job['jobId']} ({job['jobName']}, COMPLETED)" in done.stdout
        and "posted on pull request #7" in done.stdout
    )
    (comment,) = github.comments.values()
    assert comment.startswith(f"<!-- scowspec-report job={job['jobId']} -->\n### scowspec report: `{job['jobName']}`")
    assert "**Verification: passed** (trained model 1/1" in comment and comment in summary.read_text("utf-8")
    reports = clone / "scowspec-reports"
    assert (reports / f"ident-{job['jobId']}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((clone / ".scowspec" / "reported.json").read_text())["reported"] == [job["jobId"]]

    github.calls.clear()
    again = _ci(clone, "report", env)
    assert again.returncode == 0 and "0 job(s) finished" in again.stdout and github.calls == []

    (clone / ".scowspec" / "reported.json").unlink()  # a lost CI cache: the same comment is updated, not doubled
    lost = _ci(clone, "report", env)
    assert lost.returncode == 0 and "updated on pull request #7" in lost.stdout and len(github.comments) == 1


def test_a_report_that_cannot_be_posted_is_tried_again(
    remote: tuple[Path, Path], sandbox: SandboxServer, github: FakeGitHub
) -> None:
    _, clone = remote
    (clone / "specs" / "ident.yaml").write_text(VERIFY_SPEC, "utf-8")
    assert "apply exited 0" in push(clone, "ident")
    (job,) = jobs(sandbox)
    admin(sandbox, f"jobs/{job['jobId']}/verify", {"verdict": "failed"})
    admin(sandbox, f"jobs/{job['jobId']}/state", {"state": "COMPLETED"})
    env = {"GITHUB_TOKEN": "wrong", "GITHUB_REPOSITORY": "lab/specs", "GITHUB_API_URL": github.url}
    refused = _ci(clone, "report", env)
    assert refused.returncode == 1 and "could not post: HTTP Error 401" in refused.stderr
    assert json.loads((clone / ".scowspec" / "reported.json").read_text())["reported"] == []
    posted = _ci(clone, "report", {**env, "GITHUB_TOKEN": "gh-token"})
    assert posted.returncode == 0 and "posted on pull request #7" in posted.stdout
    assert "**Verification: failed** (trained model 0/1" in next(iter(github.comments.values()))


def test_ci_templates_schedule_the_report() -> None:
    github = yaml.safe_load((ROOT / ".github" / "workflows" / "scowspec.yml").read_text("utf-8"))
    gitlab = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text("utf-8"))
    assert github[True]["schedule"] and "workflow_dispatch" in github[True]  # yaml reads `on:` as True
    report = github["jobs"]["report"]
    assert "bash ci/scowspec-ci.sh report" in " ".join(str(s.get("run", "")) for s in report["steps"])
    assert "github.event_name == 'schedule'" in report["if"] and report["permissions"]["pull-requests"] == "write"
    assert any("scowspec-ci.sh install report" in str(s.get("run", "")) for s in report["steps"])
    assert gitlab["scowspec-report"]["script"] == ["bash ci/scowspec-ci.sh report"]
    assert gitlab["scowspec-report"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule" && $SCOWSPEC_PORTAL_URL'}]
    assert gitlab["scowspec-report"]["cache"]["paths"] == [".scowspec/reported.json"]
    assert '$CI_PIPELINE_SOURCE != "schedule"' in gitlab["scowspec-apply"]["rules"][0]["if"], "a schedule never applies"
