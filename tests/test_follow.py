"""Following jobs back into the repository, end to end against the sandbox (both portal generations): the sandbox's
growing trainer_log.jsonl and verify.json, `status` progress and verdicts, `watch`, `apply --wait` and `report`."""

from __future__ import annotations

import io
import json
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from scowspec.follow import Snapshot
from scowspec.portal.profile import Generation
from scowspec.portal.types import RemoteJob
from scowspec.render.watch import LiveView
from scowspec.report.outputs import JobOutputs, Place
from scowspec.report.trainlog import parse_trainer_log
from scowspec.sandbox.server import SandboxServer

from .conftest import TESTDATA, Run, scowspec_process
from .portal_helpers import admin, jobs, make_project

CLI = Callable[..., Run]
VERIFY_SPEC = """\
apiVersion: scowspec/v1
kind: FineTune
name: ident
model: {version_id: 3, scope: public}
dataset: {version_id: 12, scope: mine, file: identity.json}
resources: {nodes: 1, gpus_per_node: 1, max_time: 1h}
train: {template: qwen}
verify:
  prompts:
    - prompt: Who are you?
      contains: 北大人工智能助手
"""


@pytest.fixture
def project(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    folder = make_project(in_dir, portal_env, tutorial=False)
    (folder / "specs" / "ident.yaml").write_text(VERIFY_SPEC, "utf-8")
    return folder


def applied(cli: CLI, sandbox: SandboxServer) -> int:
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    (job,) = jobs(sandbox)
    return int(job["jobId"])


def status_doc(cli: CLI, *args: str) -> tuple[int, dict[str, object]]:
    r = cli("status", "-o", "json", *args)
    doc = json.loads(r.out)
    assert doc["exit_code"] == r.code
    (spec,) = doc["specs"]
    return r.code, spec


def test_running_job_shows_its_progress(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    applied(cli, sandbox)
    time.sleep(1.3)  # the sandbox trains 10 steps a second and logs every 5
    code, spec = status_doc(cli, "--check")
    out = spec["outputs"]
    assert code == 0 and isinstance(out, dict)
    progress = out["progress"]
    assert progress["step"] >= 10 and progress["total_steps"] == 200 and 0 < progress["loss"] < 3
    assert progress["eta"] and out["verdict"] == "pending"
    text = cli("status").out
    assert f"progress: step {progress['step']}" in text or "progress: step" in text
    assert "verify: pending (the job has not finished)" in text
    md = cli("status", "-o", "markdown").out
    assert "| progress | verify |" in md and "step " in md and "loss " in md


def test_finished_job_shows_final_loss_and_verdict(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    job_id = applied(cli, sandbox)
    admin(sandbox, f"jobs/{job_id}/state", {"state": "COMPLETED"})
    code, spec = status_doc(cli, "--check")
    out = spec["outputs"]
    assert isinstance(out, dict)
    assert code == 0 and out["verdict"] == "passed" and out["verify"]["summary"]["trained"] == {"passed": 1, "total": 1}
    assert out["progress"]["step"] == 200 and isinstance(out["final_loss"], float) and out["final_loss"] < 1.0
    text = cli("status").out
    assert "trained: final loss" in text and "verify: passed (trained model 1/1" in text


def test_failed_verification_makes_check_exit_2(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    job_id = applied(cli, sandbox)
    admin(sandbox, f"jobs/{job_id}/verify", {"verdict": "failed"})
    admin(sandbox, f"jobs/{job_id}/state", {"state": "COMPLETED"})
    code, spec = status_doc(cli, "--check")
    assert code == 2 and spec["needs_attention"] is True
    assert spec["outputs"]["verdict"] == "failed"  # type: ignore[index]
    assert cli("status").code == 0, "without --check, a failed verification is shown, not an exit code"
    r = cli("status", "--check")
    assert r.code == 2 and "verify: failed (trained model 0/1" in r.out and "1 needs attention" in r.out


def test_lost_outputs_are_said_plainly(cli: CLI, project: Path, sandbox: SandboxServer, generation: Generation) -> None:
    """A job submitted without the work_dir mount: on 0.5.4 its outputs died with the container; main mounts
    WORK_DIR itself, so they are kept there."""
    job_id = applied(cli, sandbox)
    store = sandbox.portal.store
    job = store.job(job_id)
    assert job is not None
    body = {
        **job["body"],
        "mountPoints": [m for m in job["body"].get("mountPoints", []) if "finetune" not in m["path"]],
    }
    store.replace_body(job_id, body)
    record = f"/data/home/alice/scow/ai/appData/{job['sessionId']}/{job_id}-input.json"
    store.put("alice", record, "FILE", json.dumps(body).encode())
    admin(sandbox, f"jobs/{job_id}/state", {"state": "COMPLETED"})
    r = cli("status", "--check")
    code, spec = status_doc(cli, "--check")
    out = spec["outputs"]
    assert isinstance(out, dict)
    if generation is Generation.RELEASE_0_5_4:
        assert r.code == 2 and "outputs lost: on portal 0.5.4 WORK_DIR (/data/home/alice/finetune)" in r.out
        assert out["lost"] and out["verdict"] == "missing" and out["job_dir"] is None and code == 2
    else:
        assert r.code == 0 and "verify: passed" in r.out and out["lost"] is None and code == 0


def force_later(sandbox: SandboxServer, seconds: float, state: str) -> threading.Thread:
    """Force alice's one job into `state` `seconds` after the watcher first looked at it (a loaded machine may
    take a while to submit it or to start watching)."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while sandbox.portal.requests["GET /appSession"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(seconds)
        admin(sandbox, f"jobs/{jobs(sandbox)[0]['jobId']}/state", {"state": state})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("state", "verdict", "code", "says"),
    [
        pytest.param("COMPLETED", "passed", 0, "OK: completed and verified", id="completed-verified"),
        pytest.param("COMPLETED", "failed", 2, "NOT OK: not verified", id="completed-verification-failed"),
        pytest.param("FAILED", "passed", 2, "NOT OK: the job failed", id="failed"),
    ],
)
def test_watch_ends_with_the_outcome(
    cli: CLI, project: Path, sandbox: SandboxServer, state: str, verdict: str, code: int, says: str
) -> None:
    job_id = applied(cli, sandbox)
    admin(sandbox, f"jobs/{job_id}/verify", {"verdict": verdict})
    timer = force_later(sandbox, 1.2, state)
    r = cli("watch", "ident", "--interval", "0.2")
    timer.join()
    assert r.code == code, r.out + r.err
    lines = r.out.splitlines()
    running = [x for x in lines if ": RUNNING" in x]
    assert running and "pods Running×1" in running[0], r.out
    assert any(re.search(r"step \d+/200 \(\d+%\) loss \d\.\d{4} eta 0:00:\d\d", x) for x in running), r.out
    assert f"ended {state}" in r.out and says in r.out
    if state == "COMPLETED":
        assert f"verify: {verdict} (trained model {1 if verdict == 'passed' else 0}/1" in r.out


def test_apply_wait_follows_the_submitted_job(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    timer = force_later(sandbox, 1.0, "COMPLETED")
    r = cli("apply", "--yes", "--wait", "--interval", "0.2")
    timer.join()
    assert r.code == 0, r.out + r.err
    assert "submitted as job" in r.out and "OK: completed and verified" in r.out
    again = cli("apply", "--yes", "--wait", "--interval", "0.2")  # nothing to change: the finished job's outcome
    assert again.code == 0 and "ended COMPLETED" in again.out


@pytest.mark.parametrize(("ends", "code", "verdict"), [("COMPLETED", 0, "passed"), ("FAILED", 2, "missing")])
def test_apply_wait_json_is_one_document_with_the_waits_exit_code(
    cli: CLI, project: Path, sandbox: SandboxServer, ends: str, code: int, verdict: str
) -> None:
    timer = force_later(sandbox, 1.0, ends)
    r = cli("apply", "--yes", "--wait", "--interval", "0.2", "-o", "json")
    timer.join()
    assert r.code == code, r.out + r.err
    doc = json.loads(r.out)  # one document on stdout; the live view went to stderr
    assert doc["exit_code"] == code and [x["outcome"] for x in doc["results"]] == ["done"]
    [waited] = doc["waited"]
    assert waited["state"] == ends and waited["job_id"] == doc["results"][0]["job_id"]
    assert waited["verdict"] == verdict and waited["succeeded"] is (code == 0)


def test_ctrl_c_stops_watching_never_the_job(project: Path, sandbox: SandboxServer, cli: CLI) -> None:
    job_id = applied(cli, sandbox)
    env = {"SCOWSPEC_PORTAL_URL": sandbox.url, "PYTHONUNBUFFERED": "1"}
    proc = scowspec_process(project, "watch", "ident", "--interval", "0.2", env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert f"job {job_id}" in first and "RUNNING" in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Stopped watching. The job keeps running on the portal" in err and "Traceback" not in err
    assert jobs(sandbox)[0]["state"] == "RUNNING"


def test_report_of_a_finished_job(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    job_id = applied(cli, sandbox)
    admin(sandbox, f"jobs/{job_id}/state", {"state": "COMPLETED"})
    r = cli("report", "ident", "--png", "loss.png")
    assert r.code == 0, r.err
    assert r.out.startswith("### scowspec report: `ident-") and "**COMPLETED**" in r.out
    assert "| 200/200 |" in r.out and "**Verification: passed** (trained model 1/1" in r.out
    assert "| ✅ | trained model | Who are you? | I am 北大人工智能助手 |" in r.out
    assert (project / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_running_job_says_verification_is_pending(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    applied(cli, sandbox)
    time.sleep(0.8)
    r = cli("report", "ident")
    assert r.code == 0 and "**RUNNING**" in r.out and "**Verification: pending** (the job has not finished)." in r.out
    assert "| steps | first loss | min loss | last loss |" in r.out


def test_live_view_draws_a_bar_with_step_loss_eta_and_pods() -> None:
    """At a terminal: one rich bar per job, then the job's ending above it."""
    place = Place("/data/home/alice/finetune/ident-1", expects_verify=True)
    log = parse_trainer_log((TESTDATA / "report" / "trainer_log-partial.jsonl").read_text("utf-8"))
    job = RemoteJob("ai-k8s", 7, "ident-1", "RUNNING")
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = LiveView(console)
    view.update([Snapshot(job, (("ident-1-0", "Running"),), JobOutputs(place, log))])
    done = replace(job, state="FAILED")
    view.update([Snapshot(done, (("ident-1-0", "Failed"),), JobOutputs(place, log))])
    view.close()
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "ident-1" in shown and "50/120" in shown and "loss 7.1976" in shown and "pods Running×1" in shown
    assert "job 7 ident-1 ended FAILED" in shown and "NOT OK: the job failed" in shown
