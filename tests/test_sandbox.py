"""The sandbox answers like SCOW-AI: its validation rules, error bodies, auth and persistence."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from scowspec.sandbox.server import SandboxServer, start
from scowspec.sandbox.store import Clock

from .conftest import ROOT, TOKEN, Run

GOLDEN = json.loads((ROOT / "tests" / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
AUTH = {"x-scow-api-auth-token": TOKEN}


def post(sandbox: SandboxServer, route: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/api{route}", json=body, headers=headers if headers is not None else AUTH, timeout=10
    )


def mutated(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOLDEN)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def test_golden_payload_is_accepted(sandbox: SandboxServer) -> None:
    r = post(sandbox, "/jobs", GOLDEN)
    assert r.status_code == 200 and isinstance(r.json()["jobId"], int)


REJECTIONS = [
    pytest.param(mutated(trainJobName="x" * 44), 400, "should not exceed 43", id="name-too-long"),
    pytest.param(mutated(trainJobName="Qwen_job"), 500, "JOB_NAME_INVALID", id="name-charset"),
    pytest.param(mutated(envVariables=[]), 400, "WORK_DIR is required", id="work-dir-required"),
    pytest.param(
        mutated(envVariables=[{"key": "WORK_DIR", "value": "/data/home/bob/x"}]),
        400,
        "家目录",
        id="work-dir-outside-home",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice/a", "target": "/etc/a"}]),
        400,
        "system directory",
        id="mount-system-dir",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice/a b", "target": "/mnt/a"}]),
        400,
        "非法字符",
        id="path-whitespace",
    ),
    pytest.param(
        mutated(
            mountPoints=[
                {"path": "/data/home/alice/a", "target": "/mnt/a"},
                {"path": "/data/home/alice/b", "target": "/mnt/a"},
            ]
        ),
        400,
        "duplicated",
        id="duplicate-target",
    ),
    pytest.param(mutated(gpuType=None), 500, "gpuType is required", id="gpu-type-required"),
    pytest.param(mutated(framework=None), 500, "framework is required", id="framework-required"),
    pytest.param(mutated(maxTime=0), 400, "greater than 0", id="max-time-positive"),
    pytest.param(mutated(maxTime=73 * 60), 400, "cannot exceed 72 hour", id="max-time-limit"),
    pytest.param(mutated(remoteImageUrl="llamafactory:0.9.4"), 400, "Invalid remote image", id="image-registry"),
    pytest.param(mutated(coreCount=None), 400, "Required", id="zod-required"),
    pytest.param(mutated(qos=None, memory="lots"), 400, "Expected int", id="zod-type"),
    pytest.param(mutated(account="a_bob"), 403, "not available", id="foreign-account"),
    pytest.param(mutated(partition="nope"), 403, "Partition nope", id="unknown-partition"),
    pytest.param(mutated(models=[{"id": 999, "isPrivate": False}]), 404, "not found", id="unknown-model-version"),
    pytest.param(
        mutated(datasets=[{"id": 12, "isPrivate": False}]), 403, "not accessible", id="private-dataset-as-public"
    ),
    pytest.param(mutated(clusterId="nope"), 404, "Cluster id nope is not found", id="unknown-cluster"),
]


@pytest.mark.parametrize(("body", "status", "message"), REJECTIONS)
def test_portal_rules(sandbox: SandboxServer, body: dict[str, Any], status: int, message: str) -> None:
    r = post(sandbox, "/jobs", body)
    assert r.status_code == status
    err = r.json()
    assert message in err["message"] and err["code"] in (
        "BAD_REQUEST",
        "FORBIDDEN",
        "NOT_FOUND",
        "INTERNAL_SERVER_ERROR",
    )
    assert sandbox.portal.store.jobs("alice", "ai-k8s") == []


def test_auth_is_required_and_api_secret_acts_as_user(sandbox: SandboxServer) -> None:
    assert requests.get(f"{sandbox.url}/api/auth/userInfo", timeout=10).status_code == 401
    assert (
        requests.get(
            f"{sandbox.url}/api/auth/userInfo", headers={"x-scow-api-auth-token": "wrong"}, timeout=10
        ).status_code
        == 401
    )
    secret = {"x-scow-api-auth-token": "sandbox-api-secret", "x-scow-user-id": "bob"}
    r = requests.get(f"{sandbox.url}/api/auth/userInfo", headers=secret, timeout=10)
    assert r.json()["user"]["identityId"] == "bob"


def test_jobs_move_on_the_clock_and_list_pages(tmp_path: Path) -> None:
    server = start(clock=Clock(pending_s=0.0, run_s=0.001))
    try:
        for i in range(5):
            assert post(server, "/jobs", mutated(trainJobName=f"job-{i}")).status_code == 200
        listed = post(
            server, "/appSessions/list", {"clusterId": "ai-k8s", "isRunning": "false", "page": 2, "pageSize": 2}
        ).json()
        assert listed["count"] == 5 and len(listed["sessions"]) == 2
        assert {s["state"] for s in listed["sessions"]} == {"COMPLETED"}
    finally:
        server.shutdown()
        server.server_close()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.db")
    first = start(state=state)
    assert post(first, "/jobs", GOLDEN).status_code == 200
    first.shutdown()
    first.server_close()
    second = start(state=state)
    try:
        got = post(second, "/appSessions/list", {"clusterId": "ai-k8s", "isRunning": "true"}).json()
        assert [s["jobName"] for s in got["sessions"]] == [GOLDEN["trainJobName"]]
    finally:
        second.shutdown()
        second.server_close()


def test_cancel_and_submission_parameters(sandbox: SandboxServer) -> None:
    job_id = post(sandbox, "/jobs", GOLDEN).json()["jobId"]
    params = requests.get(
        f"{sandbox.url}/api/jobs/{job_id}/submissionParameters",
        params={"clusterId": "ai-k8s"},
        headers=AUTH,
        timeout=10,
    ).json()
    assert params["command"] == GOLDEN["command"]
    r = requests.delete(f"{sandbox.url}/api/jobs/{job_id}", params={"cluster": "ai-k8s"}, headers=AUTH, timeout=10)
    assert r.status_code == 200
    assert sandbox.portal.store.job(job_id)["state"] == "CANCELED"  # type: ignore[index]


def _folder(state: Path) -> None:
    state.mkdir(parents=True)


def _not_sqlite(state: Path) -> None:
    state.parent.mkdir(parents=True)
    state.write_bytes(b"\x00not sqlite\x00" * 200)


def _parent_is_a_file(state: Path) -> None:
    state.parent.write_text("a file, not a folder\n", "utf-8")


@pytest.mark.parametrize(
    ("make_state", "names_in_error"),
    [
        pytest.param(_folder, "cannot open the sandbox's state", id="state-is-a-folder"),
        pytest.param(_not_sqlite, "cannot open the sandbox's state", id="state-is-not-sqlite"),
        pytest.param(_parent_is_a_file, "cannot create the state folder", id="parent-is-a-file"),
    ],
)
def test_unusable_sandbox_state_is_one_plain_error(
    cli: Callable[..., Run], tmp_path: Path, make_state: Callable[[Path], None], names_in_error: str
) -> None:
    state = tmp_path / "box" / "sandbox.db"
    make_state(state)
    r = cli("sandbox", "--port", "0", "--state", str(state))
    assert r.code == 64, r.err
    assert names_in_error in r.err and "Internal error" not in r.err
