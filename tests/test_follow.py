"""Following jobs back into the repository, end to end against the sandbox (both portal generations): the sandbox's
growing trainer_log.jsonl and verify.json, `status` progress and verdicts, `watch`, `apply --wait` and `report`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.portal.profile import Generation
from scowspec.sandbox.server import SandboxServer

from .conftest import Run
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
    assert r.code == 2 and "verify: failed (trained model 0/1" in r.out and "1 need attention" in r.out


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
