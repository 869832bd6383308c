"""`scowspec logs` against the sandbox, whose pod-log streams never end while the job runs (as the portal's)."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.logs import after_overlap
from scowspec.sandbox.server import SandboxServer

from .conftest import Run, scowspec_process
from .portal_helpers import admin, jobs, make_project

CLI = Callable[..., Run]
JOB = "qwen25-pku-identity"  # 2 nodes: pods qwen25-pku-identity-7c23d06f-0 and -1


@pytest.fixture
def running(cli: CLI, in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The tutorial job, applied and RUNNING (the sandbox's clock never ends it)."""
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    make_project(in_dir, portal_env)
    (in_dir / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    assert cli("apply", "--yes").code == 0
    return portal_env


def _job_id(sandbox: SandboxServer) -> int:
    return int(jobs(sandbox)[0]["jobId"])


def _steps(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"training step (\d+)", text)]


def test_logs_of_a_running_job_come_back_though_the_stream_never_ends(cli: CLI, running: SandboxServer) -> None:
    # The stream sends a line a second and never ends: reading it to its end would never come back.
    got: list[Run] = []
    reader = threading.Thread(target=lambda: got.append(cli("logs", JOB)), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert got, "logs waited for the end of a stream that has none"
    r = got[0]
    assert r.code == 0, r.err
    assert "==> qwen25-pku-identity-7c23d06f-0 <==" in r.out and "==> qwen25-pku-identity-7c23d06f-1 <==" in r.out
    assert "entry.sh: # scowspec" in r.out and "(RUNNING) on ai-k8s" in r.err


@pytest.mark.parametrize(
    ("args", "sections"),
    [
        pytest.param(("--pod", "1"), ["qwen25-pku-identity-7c23d06f-1"], id="pod-by-index"),
        pytest.param(("--pod", "qwen25-pku-identity-7c23d06f-0"), ["qwen25-pku-identity-7c23d06f-0"], id="pod-by-name"),
        pytest.param((), ["qwen25-pku-identity-7c23d06f-0", "qwen25-pku-identity-7c23d06f-1"], id="every-pod"),
    ],
)
def test_pod_chooses_one_pod(cli: CLI, running: SandboxServer, args: tuple[str, ...], sections: list[str]) -> None:
    r = cli("logs", JOB, *args)
    assert r.code == 0, r.err
    assert re.findall(r"^==> (\S+) <==$", r.out, re.M) == sections


def test_tail_prints_the_last_lines_only(cli: CLI, running: SandboxServer) -> None:
    time.sleep(1.1)  # a training step line or more
    r = cli("logs", JOB, "--pod", "0", "--tail", "2")
    whole = cli("logs", JOB, "--pod", "0").out.splitlines()[1:]  # read after: the log only grows
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "==> qwen25-pku-identity-7c23d06f-0 <==" and len(lines) == 3
    at = whole.index(lines[1])
    assert whole[at : at + 2] == lines[1:] and at >= 2, "the tail is the log's end, not its start"


@pytest.mark.parametrize(
    "pod",
    [pytest.param("7", id="index-out-of-range"), pytest.param("no-such-pod", id="unknown-name")],
)
def test_an_unknown_pod_is_a_usage_error_naming_the_pods(cli: CLI, running: SandboxServer, pod: str) -> None:
    for follow in ((), ("-f",)):
        r = cli("logs", JOB, "--pod", pod, *follow)
        assert r.code == 64, r.err
        assert f"--pod {pod}: job" in r.err and "0 `qwen25-pku-identity-7c23d06f-0`" in r.err
        assert "Internal error" not in r.err


def test_follow_prints_new_lines_and_ends_with_the_job(cli: CLI, running: SandboxServer) -> None:
    before = _steps(cli("logs", JOB, "--pod", "0").out)
    job_id = _job_id(running)
    timer = threading.Timer(3.0, admin, (running, f"jobs/{job_id}/state", {"state": "COMPLETED"}))
    timer.start()
    try:
        r = cli("logs", JOB, "-f", "--pod", "0", "--interval", "0.5")
    finally:
        timer.cancel()
    assert r.code == 0, r.err
    assert f"job {job_id} ended: COMPLETED." in r.err
    after = _steps(r.out)
    assert after and max(after) >= max(before, default=0) + 2, r.out + r.err
    assert after == sorted(set(after)), "no line twice"
    assert "qwen25-pku-identity-7c23d06f-0 | " not in r.out, "one pod: no prefix"


def test_follow_of_several_pods_prefixes_each_line(cli: CLI, running: SandboxServer) -> None:
    admin(running, f"jobs/{_job_id(running)}/state", {"state": "FAILED"})
    r = cli("logs", JOB, "-f", "--interval", "0.2")
    assert r.code == 0, r.err
    assert "qwen25-pku-identity-7c23d06f-0 | [sandbox] pod 0 of job" in r.out
    assert "qwen25-pku-identity-7c23d06f-1 | [sandbox] pod 1 of job" in r.out
    assert "ended: FAILED." in r.err


def test_ctrl_c_stops_following_never_the_job(cli: CLI, running: SandboxServer, in_dir: Path) -> None:
    proc = scowspec_process(in_dir, "logs", JOB, "-f", "--interval", "0.5")
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 30
    while "following" not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stderr.readline()
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, seen + err
    assert "stopped following" in err and "goes on" in err
    assert "entry.sh: # scowspec" in out
    assert jobs(running)[0]["state"] == "RUNNING"


@pytest.mark.parametrize(
    ("printed", "tail", "new"),
    [
        pytest.param(["a", "b", "c"], ["a", "b", "c"], [], id="nothing-new"),
        pytest.param(["a", "b", "c"], ["b", "c", "d", "e"], ["d", "e"], id="tail-starts-inside-printed"),
        pytest.param(["c"], ["a", "b", "c", "d"], ["d"], id="tail-starts-before-printed"),
        pytest.param(["x", "y"], ["d", "e"], ["d", "e"], id="gap-longer-than-the-tail"),
        pytest.param([], ["a"], ["a"], id="nothing-printed-yet"),
        pytest.param(["a", "a"], ["a", "a", "a"], [], id="repeated-lines-latest-match"),
    ],
)
def test_a_reopened_stream_passes_on_only_new_lines(printed: list[str], tail: list[str], new: list[str]) -> None:
    assert after_overlap(printed, tail) == new
