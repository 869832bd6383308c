"""The sandbox answers like SCOW-AI: its validation rules, error bodies, auth and persistence."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from scowspec.portal.profile import Generation
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


BOTH = (Generation.RELEASE_0_5_4, Generation.MAIN)
MAIN = (Generation.MAIN,)

REJECTIONS = [
    pytest.param(mutated(trainJobName="x" * 44), 400, "should not exceed 43", BOTH, id="name-too-long"),
    pytest.param(mutated(trainJobName="Qwen_job"), 500, "JOB_NAME_INVALID", BOTH, id="name-charset"),
    pytest.param(mutated(envVariables=[]), 400, "WORK_DIR is required", MAIN, id="work-dir-required"),
    pytest.param(
        mutated(envVariables=[{"key": "WORK_DIR", "value": "/data/home/bob/x"}]),
        400,
        "家目录",
        MAIN,
        id="work-dir-outside-home",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice/a", "target": "/etc/a"}]),
        400,
        "system directory",
        MAIN,
        id="mount-system-dir",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice/a b", "target": "/mnt/a"}]),
        400,
        "非法字符",
        MAIN,
        id="path-whitespace",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/bob/a", "target": "/mnt/a"}]),
        400,
        "mountPoint should be in homeDir",
        (Generation.RELEASE_0_5_4,),
        id="mount-outside-home-0.5.4",
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
        MAIN,
        id="duplicate-target",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice/not-made", "target": "/mnt/a"}]),
        404,
        "does not exist",
        BOTH,
        id="mount-source-must-exist",
    ),
    pytest.param(
        mutated(mountPoints=[{"path": "/data/home/alice", "target": "/data/home/alice/finetune"}]),
        500,
        "SUBMIT_VCJOB_FAILED",
        MAIN,
        id="mount-target-is-work-dir",
    ),
    pytest.param(mutated(gpuType=None), 500, "gpuType is required", BOTH, id="gpu-type-required"),
    pytest.param(mutated(maxTime=0), 400, "greater than 0", BOTH, id="max-time-positive"),
    pytest.param(mutated(maxTime=73 * 60), 400, "cannot exceed 72 hour", BOTH, id="max-time-limit"),
    pytest.param(mutated(remoteImageUrl="llamafactory:0.9.4"), 400, "Invalid remote image", BOTH, id="image-registry"),
    pytest.param(
        mutated(remoteImageUrl="harbor.scow.example.edu.cn/public/llamafactory:0.9.4"),
        400,
        "platform's Harbor",
        MAIN,
        id="image-on-harbor",
    ),
    pytest.param(mutated(coreCount=None), 400, "Input validation failed", BOTH, id="zod-required"),
    pytest.param(mutated(qos=None, memory="lots"), 400, "Input validation failed", BOTH, id="zod-type"),
    pytest.param(mutated(account="a_bob"), 403, "not available", BOTH, id="foreign-account"),
    pytest.param(mutated(partition="nope"), 403, "Partition nope", BOTH, id="unknown-partition"),
    pytest.param(mutated(models=[{"id": 999, "isPrivate": False}]), 404, "not found", BOTH, id="unknown-model-version"),
    pytest.param(
        mutated(datasets=[{"id": 12, "isPrivate": False}]), 403, "not accessible", BOTH, id="private-dataset-as-public"
    ),
    pytest.param(mutated(clusterId="nope"), 404, "Cluster id nope is not found", BOTH, id="unknown-cluster"),
]


@pytest.mark.parametrize(("body", "status", "message", "generations"), REJECTIONS)
def test_portal_rules(
    sandbox: SandboxServer, generation: Generation, body: dict[str, Any], status: int, message: str, generations: Any
) -> None:
    r = post(sandbox, "/jobs", body)
    if generation not in generations:
        assert r.status_code == 200 or message not in r.text, f"{generation.value} has no such rule"
        return
    assert r.status_code == status, r.text
    err = r.json()
    assert message in err["message"] and err["code"] in (
        "BAD_REQUEST",
        "FORBIDDEN",
        "NOT_FOUND",
        "INTERNAL_SERVER_ERROR",
    )
    assert err["data"]["httpStatus"] == status
    assert sandbox.portal.store.jobs("alice", "ai-k8s") == []


def test_zod_issues_name_the_field(sandbox: SandboxServer) -> None:
    err = post(sandbox, "/jobs", mutated(qos=None, memory="lots")).json()
    assert err["message"] == "Input validation failed"
    assert err["issues"] == [{"path": ["memory"], "message": "Expected number, received string"}]


def test_several_nodes_without_framework_silently_become_mpi(sandbox: SandboxServer) -> None:
    r = post(sandbox, "/jobs", mutated(framework=None))
    assert r.status_code == 200, r.text
    assert sandbox.portal.store.job(r.json()["jobId"])["body"]["framework"] == "mpi"  # type: ignore[index]


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
        for i in range(3):
            time.sleep(1.01)  # one job folder per second (see the collision test)
            assert post(server, "/jobs", mutated(trainJobName=f"job-{i}")).status_code == 200
        listed = post(
            server, "/appSessions/list", {"clusterId": "ai-k8s", "isRunning": "false", "page": 2, "pageSize": 2}
        ).json()
        assert listed["count"] == 3 and len(listed["sessions"]) == 1
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
