"""`scowspec doctor` against the sandbox: one line per question, exit code of the worst finding."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scowspec.portal.profile import Generation
from scowspec.sandbox.server import SandboxServer, start
from scowspec.sandbox.store import Clock

from .conftest import Run
from .portal_helpers import admin, make_project

CLI = Callable[..., Run]


def _other(generation: Generation) -> str:
    return next(g.value for g in Generation if g is not generation)


@dataclass(frozen=True)
class Case:
    project: Callable[[Generation], dict[str, str]] = lambda g: {}  # scowspec.yaml keys set or replaced
    env: Callable[[SandboxServer], dict[str, str]] = lambda s: {}
    code: int = 0
    problem: tuple[str, str] | None = None  # (check, status) of the one finding that is not ok
    says: str = ""  # in that finding's message or hint
    unset: tuple[str, ...] = ()
    not_run: bool = False
    statuses: dict[str, str] = field(default_factory=dict)  # more (check → status) that must hold


CASES = {
    "good-project": Case(statuses={"token": "ok", "work_dir": "ok", "accounts": "ok", "partition": "ok"}),
    "portal-version-agrees": Case(project=lambda g: {"portal_version": g.value}, statuses={"api": "ok"}),
    "portal-version-disagrees": Case(
        project=lambda g: {"portal_version": _other(g)}, code=1, problem=("api", "fail"), says="but scowspec.yaml says"
    ),
    "base-url-without-ai": Case(
        env=lambda s: {"SCOWSPEC_PORTAL_URL": s.url.removesuffix("/ai")},
        code=1,
        problem=("api", "fail"),
        says="portal_url should be http://127.0.0.1:",
        not_run=True,
    ),
    "nothing-at-the-url": Case(
        env=lambda s: {"SCOWSPEC_PORTAL_URL": "http://127.0.0.1:9/ai"},
        code=1,
        problem=("portal", "fail"),
        says="GET http://127.0.0.1:9/ai/api/openapi.json failed",
        not_run=True,
    ),
    "bad-token": Case(
        env=lambda s: {"SCOWSPEC_TOKEN": "not-a-token"},
        code=1,
        problem=("token", "fail"),
        says="wrong or has expired",
        not_run=True,
    ),
    "bad-project-file": Case(
        project=lambda g: {"max_gpu_hours": "lots"}, code=64, problem=("config", "config"), says="error[", not_run=True
    ),
    "no-token": Case(unset=("SCOWSPEC_TOKEN",), code=64, problem=("config", "config"), says="SCOWSPEC_TOKEN"),
    "api-secret-as-user": Case(
        env=lambda s: {"SCOWSPEC_TOKEN": "sandbox-api-secret", "SCOWSPEC_USER": "alice"},
        statuses={"token": "ok", "user": "ok"},
        says="API secret",
    ),
    "login-token-with-another-user": Case(
        env=lambda s: {"SCOWSPEC_USER": "bob"}, problem=("token", "warn"), says="SCOWSPEC_USER=bob is ignored"
    ),
    "work-dir-outside-home": Case(
        project=lambda g: {"work_dir": "/data/home/bob/finetune"},
        code=1,
        problem=("work_dir", "fail"),
        says="outside your home folder /data/home/alice",
    ),
    "foreign-account": Case(project=lambda g: {"account": "a_bob"}, code=1, problem=("accounts", "fail")),
    "unknown-partition": Case(
        project=lambda g: {"partition": "h100"}, code=1, problem=("partition", "fail"), says="gpu ("
    ),
}


def _write_project(folder: Path, sandbox: SandboxServer, extra: dict[str, str]) -> None:
    make_project(folder, sandbox)
    path = folder / "scowspec.yaml"
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.split(":")[0] not in extra]
    path.write_text("\n".join(lines + [f"{k}: {v}" for k, v in extra.items()]) + "\n", "utf-8")


def _doctor(cli: CLI) -> tuple[Run, dict[str, Any]]:
    r = cli("doctor", "-o", "json")
    return r, json.loads(r.out)


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in CASES.items()])
def test_doctor(
    case: Case,
    cli: CLI,
    in_dir: Path,
    portal_env: SandboxServer,
    generation: Generation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _write_project(in_dir, portal_env, case.project(generation))
    for key, value in case.env(portal_env).items():
        monkeypatch.setenv(key, value)
    for key in case.unset:
        monkeypatch.delenv(key)
    r, doc = _doctor(cli)
    assert r.code == case.code == doc["exit_code"], r.out + r.err
    found = {f["check"]: f for f in doc["findings"]}
    odd = [(f["check"], f["status"]) for f in doc["findings"] if f["status"] != "ok" and f["check"] != "tensorboard"]
    assert odd == ([case.problem] if case.problem else []), r.out
    if case.problem is None and not case.unset:
        assert found["api"]["message"].startswith(f"SCOW-AI API found; the portal is generation {generation.value}")
    for check, status in case.statuses.items():
        assert found[check]["status"] == status, r.out
    if case.says:
        shown = " ".join(f["message"] + " " + f["hint"] for f in doc["findings"])
        assert case.says in shown, r.out
    assert bool(doc["not_run"]) == case.not_run or case.code == 64, r.out
    assert "Internal error" not in r.err and "Traceback" not in r.err


def test_text_output_says_each_problem_once_with_its_hint(
    cli: CLI, in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_project(in_dir, portal_env, {})
    monkeypatch.setenv("SCOWSPEC_PORTAL_URL", portal_env.url.removesuffix("/ai"))
    r = cli("doctor")
    assert r.code == 1
    fails = [ln for ln in r.out.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and fails[0].split()[1] == "api", r.out
    assert "hint: portal_url should be" in r.out and "Not checked until that is fixed: token" in r.out


@pytest.fixture
def forgetful(generation: Generation) -> Iterator[SandboxServer]:
    """A portal whose login tokens expire after 0.5 s unused."""
    server = start(clock=Clock(pending_s=0.0, run_s=0.0), generation=generation, token_idle_s=0.5)
    yield server
    server.shutdown()
    server.server_close()


def test_an_expired_token_is_said_as_such(
    cli: CLI, in_dir: Path, forgetful: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_project(in_dir, forgetful, {})
    monkeypatch.setenv("SCOWSPEC_TOKEN", "sandbox-token")
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL", raising=False)
    first, _ = _doctor(cli)
    assert first.code == 0, first.out
    time.sleep(1.0)
    r, doc = _doctor(cli)
    assert r.code == 1
    token = next(f for f in doc["findings"] if f["check"] == "token")
    assert token["status"] == "fail" and "expired" in token["message"] and "1 h" in token["hint"]


LOCK = "/data/home/alice/.scowspec/locks/lab-a"
LOCK_STATES = [
    pytest.param(None, "ok", "free: no apply of `lab-a` is running", id="free"),
    pytest.param(+300, "warn", "held by bob@ci-runner-pid7-abc123 until", id="held"),
    pytest.param(-5, "warn", "was left by bob@ci-runner-pid7-abc123, whose name is no longer valid", id="expired"),
    pytest.param(0, "ok", "free: no apply of `lab-a` is running", id="empty-lock-folder"),
]


@pytest.mark.parametrize(("expires_in", "status", "says"), LOCK_STATES)
def test_doctor_says_who_holds_the_apply_lock(
    cli: CLI, in_dir: Path, portal_env: SandboxServer, expires_in: int | None, status: str, says: str
) -> None:
    _write_project(in_dir, portal_env, {})
    if expires_in == 0:
        portal_env.portal.store.put("alice", LOCK, "DIR")
    elif expires_in is not None:
        until = int(time.time()) + expires_in
        portal_env.portal.store.put("alice", f"{LOCK}/until-{until}-by-bob@ci-runner-pid7-abc123", "DIR")
    r, doc = _doctor(cli)
    [lock] = [f for f in doc["findings"] if f["check"] == "apply lock"]
    assert lock["status"] == status and says in lock["message"] and LOCK in lock["message"], r.out
    assert r.code == 0, "a lock is something to know, not a problem"


def test_a_check_the_portal_fails_is_that_checks_failure_and_the_rest_still_run(
    cli: CLI, in_dir: Path, portal_env: SandboxServer, generation: Generation
) -> None:
    _write_project(in_dir, portal_env, {})
    route = "GET /config/scowCluster" if generation is Generation.MAIN else "GET /config"
    admin(portal_env, "faults", {"fail_next": 20, "fail_status": 500, "route": route})
    r, doc = _doctor(cli)
    found = {f["check"]: f["status"] for f in doc["findings"]}
    assert r.code == 1 and found["time limit"] == "fail", r.out
    assert found["work_dir"] == "ok" and found["apply lock"] == "ok" and not doc["not_run"], r.out
    assert "Traceback" not in r.err and "Internal error" not in r.err
