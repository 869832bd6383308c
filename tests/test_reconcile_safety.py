"""Issue 11, reconcile safety: each finding of new-user-findings.md as a table against the sandbox (both generations).

A plan touches only this project's jobs and only the specs it was asked about; summaries never mislead.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec import follow
from scowspec.apply.executor import ApplyResult, Outcome, Result, folders_to_make
from scowspec.apply.portal_lock import PortalLock, portal_lock
from scowspec.cli.app import main
from scowspec.compile.service import compile_paths
from scowspec.errors import ScowspecError
from scowspec.plan.model import Action, Change, Plan
from scowspec.portal.client import PortalClient
from scowspec.portal.settings import PortalSettings, from_env
from scowspec.sandbox.files import FileDriver
from scowspec.sandbox.server import SandboxServer

from .conftest import TESTDATA, TOKEN, Run
from .portal_helpers import admin, jobs, make_project, sandbox_over, write_small

CLI = Callable[..., Run]
HOME = "/data/home/alice"


@pytest.fixture
def lab(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Project `lab-a` with two small specs (1 GPU-hour each), a and b, not yet applied."""
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")  # scowspec.yaml names the portal
    make_project(in_dir, portal_env, tutorial=False)
    write_small(in_dir, "a")
    write_small(in_dir, "b")
    return in_dir


def states(sandbox: SandboxServer) -> dict[str, str]:
    """Spec name → state of its newest job."""
    out: dict[str, str] = {}
    for j in sorted(jobs(sandbox), key=lambda j: j["jobId"]):
        out[j["jobName"].rsplit("-", 1)[0]] = j["state"]
    return out


def settings(folder: Path, *lines: str) -> None:
    path = folder / "scowspec.yaml"
    path.write_text(path.read_text("utf-8") + "".join(f"{line}\n" for line in lines), "utf-8")


def submit_as(sandbox: SandboxServer, spec: Path, *, project: str | None) -> int:
    """Submit `spec` as scowspec did for another project (`project`), or before ids existed (None)."""
    compiled = compile_paths([spec], offline=False)
    assert compiled.report.ok and compiled.jobs, compiled.report.diagnostics
    payload = dict(compiled.jobs[0].payload)
    first, rest = str(payload["command"]).split("\n", 1)
    first = first.split(" | project ")[0] + (f" | project {project}" if project else "")
    payload["command"] = f"{first}\n{rest}"
    client = PortalClient(from_env(sandbox.url))
    for folder in folders_to_make(payload):
        client.ensure_dir(str(payload["clusterId"]), folder)
    job_id = client.submit(payload)
    time.sleep(1.05)  # the portal's job folders have one-second resolution: the next submit must not share it
    return job_id


def lock_names(sandbox: SandboxServer) -> list[str]:
    """The names in the project's portal lock folder (it stays after a release; the names go)."""
    return sorted(c["name"] for c in sandbox.portal.store.children("alice", f"{HOME}/.scowspec/locks/lab-a"))


# -- Finding 1 (blocker): file arguments and --target never cancel anything outside them -----------------------
SCOPE_CASES = [
    pytest.param(("prune: true",), ["apply", "--yes", "specs/a.yaml"], {"a": "RUNNING", "b": "RUNNING"}, "", id="file-arg-with-prune-setting"),
    pytest.param((), ["apply", "--yes", "--prune", "specs/a.yaml"], {"a": "RUNNING", "b": "RUNNING"}, "look for jobs without a spec only in folders", id="file-arg-with-prune-flag"),
    pytest.param((), ["apply", "--yes", "--prune", "--target", "a"], {"a": "RUNNING", "b": "RUNNING"}, "", id="target-with-prune"),
    pytest.param((), ["apply", "--yes", "--destroy", "specs/a.yaml"], {"a": "CANCELED", "b": "RUNNING"}, "scowspec cancel", id="destroy-of-a-file-stops-only-it"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "args", "expected", "says"), SCOPE_CASES)
def test_scope_nothing_outside_the_arguments_is_cancelled(
    cli: CLI,
    lab: Path,
    sandbox: SandboxServer,
    lines: tuple[str, ...],
    args: list[str],
    expected: dict[str, str],
    says: str,
) -> None:
    assert cli("apply", "--yes").code == 0
    settings(lab, *lines)
    r = cli(*args)
    assert r.code == 0, r.out + r.err
    assert states(sandbox) == expected
    assert "removed from the repository" not in r.out
    if says == "scowspec cancel":
        assert "--destroy: stop this project's running jobs" in r.out
    elif says:
        assert says in r.out


def test_scope_a_folder_prune_names_what_it_checked(cli: CLI, lab: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    (lab / "specs" / "b.yaml").unlink()
    r = cli("apply", "--yes", "--prune", "specs")
    assert r.code == 0 and "no spec named `b` under specs/" in r.out
    assert states(sandbox) == {"a": "RUNNING", "b": "CANCELED"}


# -- Finding 2: jobs are tied to a project; other projects' and pre-id jobs are foreign --------------------------
OWNERSHIP_CASES = [
    pytest.param("lab-b", (), [], "CANCELED", "", id="same-project-id-is-ours"),
    pytest.param("lab-z", (), [], "RUNNING", "1 running job(s) of other projects", id="other-project-left-alone"),
    pytest.param("lab-z", (), ["--show-foreign"], "RUNNING", "belongs to project `lab-z`: foreign here", id="other-project-listed-on-request"),
    pytest.param(None, (), [], "RUNNING", "before project ids: foreign here", id="legacy-job-foreign-by-default"),
    pytest.param(None, ("adopt_legacy_jobs: true",), [], "CANCELED", "", id="legacy-adopted-by-setting"),
    pytest.param(None, (), ["--adopt-legacy-jobs"], "CANCELED", "", id="legacy-adopted-by-flag"),
]  # fmt: skip


@pytest.mark.parametrize(("owner", "lines", "flags", "expected", "note"), OWNERSHIP_CASES)
def test_ownership_is_marker_and_project_id(
    cli: CLI,
    lab: Path,
    sandbox: SandboxServer,
    owner: str | None,
    lines: tuple[str, ...],
    flags: list[str],
    expected: str,
    note: str,
) -> None:
    # Another repository (or scowspec before ids) submitted spec `gone`, which this repository has not got.
    (lab / "scowspec.yaml").write_text((lab / "scowspec.yaml").read_text("utf-8").replace("lab-a", "lab-b"), "utf-8")
    gone = write_small(lab, "gone")
    submit_as(sandbox, gone, project=owner)
    gone.unlink()
    settings(lab, *lines)
    plan = cli("plan", "--prune", *flags)
    assert plan.code == 0, plan.err
    assert note in plan.out
    assert cli("apply", "--yes", "--prune", *flags).code == 0
    assert states(sandbox)["gone"] == expected


def test_mass_cancel_threshold_counts_this_projects_jobs_only(cli: CLI, lab: Path, sandbox: SandboxServer) -> None:
    # Two running jobs of another project would pass the threshold of 1 if they counted; one of ours does not.
    settings(lab, "mass_cancel_threshold: 1")
    for i in range(2):
        submit_as(sandbox, write_small(lab, f"other-{i}"), project="lab-z")
        (lab / "specs" / f"other-{i}.yaml").unlink()
    assert cli("apply", "--yes", "specs/a.yaml").code == 0
    (lab / "specs" / "a.yaml").unlink()
    r = cli("apply", "--yes", "--prune")
    assert r.code == 0, r.err
    assert "Plan: 1 to submit, 0 to replace, 1 to cancel" in r.out
    assert list(states(sandbox).values()).count("RUNNING") == 3  # b and the other project's two


# -- status, logs, watch and report name a spec's jobs: only this project's ----------------------------------------
def test_status_and_logs_never_show_another_projects_job(cli: CLI, lab: Path, sandbox: SandboxServer) -> None:
    # Another repository has a spec `a` too, in other versions: its jobs share our spec name, not our job names.
    (lab / "specs" / "b.yaml").unlink()
    theirs = [submit_as(sandbox, write_small(lab, "a", lr="3.0e-5"), project="lab-z")]
    spec = write_small(lab, "a")
    alone = cli("status", "--check")
    assert alone.code == 2, alone.out + alone.err
    assert (
        "no jobs yet" in alone.out
        and "1 job under this spec's name not this project's (another project's or hand-made): not shown" in alone.out
    )
    assert f"job {theirs[0]}" not in alone.out
    logs = cli("logs", "a")
    assert logs.code == 64 and "no job of `a`" in logs.err and "(1 not this project's" in logs.err

    assert cli("apply", "--yes").code == 0
    ours = max(j["jobId"] for j in jobs(sandbox))
    theirs.append(submit_as(sandbox, write_small(lab, "a", lr="5.0e-5"), project="lab-z"))  # newer than ours
    write_small(lab, "a")
    [doc] = json.loads(cli("status", "-o", "json").out)["specs"]
    assert [j["job_id"] for j in doc["jobs"]] == [ours] and doc["jobs_not_this_projects"] == 2
    assert doc["outputs"]["job_id"] == ours
    logs = cli("logs", "a")
    assert logs.code == 0 and f"job {ours} " in logs.err, logs.err
    assert cli("logs", "a", "--job", str(theirs[1])).code == 0, "a job id given by hand is shown, whoever's it is"

    # The same version in the other repository: the same job name and outputs folder, so the same job to plan.
    same = submit_as(sandbox, spec, project="lab-z")
    [doc] = json.loads(cli("status", "-o", "json").out)["specs"]
    assert [j["job_id"] for j in doc["jobs"]] == [same, ours] and doc["jobs_not_this_projects"] == 2


def test_apply_wait_follows_the_job_it_submitted_not_a_newer_one_of_the_same_name(
    cli: CLI, lab: Path, sandbox: SandboxServer
) -> None:
    (lab / "specs" / "b.yaml").unlink()
    spec = write_small(lab, "a")
    r = cli("apply", "--yes", "-o", "json")
    assert r.code == 0, r.out + r.err
    [done] = json.loads(r.out)["results"]
    ours = done["job_id"]
    theirs = submit_as(sandbox, spec, project="lab-z")  # the same spec in another repository: same job name, newer
    [job] = [j for j in jobs(sandbox) if j["jobId"] == ours]
    change = Change(Action.SUBMIT, "a", job["jobName"], "ai-k8s", "new")
    client = PortalClient(from_env(sandbox.url))
    result = ApplyResult((Result(change, Outcome.DONE, "submitted", ours),))
    followed = follow.jobs_of_apply(client, Plan((change,), "fp", ("ai-k8s",)), result)
    assert [j.job_id for j, _ in followed] == [ours], f"followed {followed}, not ours ({ours}; theirs {theirs})"


# -- Finding 8: one apply per project across clones: a lock on the portal --------------------------------------
def test_two_clones_applying_at_once_never_submit_twice(
    in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = portal_env
    clones = [make_project(in_dir / name, sandbox, tutorial=False) for name in ("laptop", "ci")]
    rounds = 20
    codes: list[int] = []
    for i in range(rounds):
        for clone in clones:
            write_small(clone, "r", lr=f"{i + 1}.0e-5")  # a new version each round: both clones want to submit it
        barrier = threading.Barrier(len(clones))

        def run(clone: Path, barrier: threading.Barrier) -> None:
            barrier.wait()
            codes.append(main(["apply", "--yes", "--lock-timeout", "30", str(clone / "specs")]))

        threads = [threading.Thread(target=run, args=(c, barrier)) for c in clones]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    submits = admin(sandbox, "stats")["requests"].get("POST /jobs", 0)
    names = [j["jobName"] for j in jobs(sandbox)]
    assert codes == [0] * (2 * rounds)
    assert submits == rounds and len(names) == len(set(names)) == rounds, f"{submits} submits for {rounds} versions"
    assert lock_names(sandbox) == [], "released at the end"


LOCK_CASES = [
    pytest.param(+300, 4, "held by bob@ci-runner-pid7-abc123 until", id="held-lock-refused-naming-holder"),
    pytest.param(-5, 0, "", id="expired-lock-taken-over"),
]


@pytest.mark.parametrize(("expires_in", "code", "says"), LOCK_CASES)
def test_portal_lock_held_or_expired(
    cli: CLI, lab: Path, sandbox: SandboxServer, expires_in: int, code: int, says: str
) -> None:
    lock = f"{HOME}/.scowspec/locks/lab-a"
    until = int(time.time()) + expires_in
    sandbox.portal.store.put("alice", f"{lock}/until-{until}-by-bob@ci-runner-pid7-abc123", "DIR")
    r = cli("apply", "--yes", "--lock-timeout", "0.5")
    assert r.code == code, r.out + r.err
    assert says in r.err
    assert len(jobs(sandbox)) == (0 if code else 2)
    # Held: bob's name stays. Expired: bob's name was deleted, ours written and deleted at the end.
    assert lock_names(sandbox) == ([f"until-{until}-by-bob@ci-runner-pid7-abc123"] if code else [])


def applies_at_once(
    server: SandboxServer, n: int, *, hold_s: float, timeout_s: float
) -> tuple[list[tuple[float, float]], list[str]]:
    """`n` applies taking the project's portal lock at the same moment, each holding it `hold_s`: the (start, end)
    of each hold, and the messages of those refused."""
    held: list[tuple[float, float]] = []
    failures: list[str] = []
    barrier = threading.Barrier(n)

    def apply_like() -> None:
        client = PortalClient(PortalSettings(server.url, TOKEN, timeout_s=10.0))
        barrier.wait()
        try:
            with portal_lock(client, "ai-k8s", "lab-a", timeout_s=timeout_s):
                start_s = time.monotonic()
                time.sleep(hold_s)
                held.append((start_s, time.monotonic()))
        except ScowspecError as exc:
            failures.append(exc.message)

    threads = [threading.Thread(target=apply_like) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(held), failures


LOCK_RACES = [
    pytest.param(False, {"mkdir_gap_ms": 150}, id="mkdir-gap"),
    pytest.param(True, {"mkdir_gap_ms": 150}, id="mkdir-gap-dead-holders-name"),
    pytest.param(False, {"latency_ms": 150}, id="every-call-slow"),
]


@pytest.mark.parametrize(("stale", "faults"), LOCK_RACES)
@pytest.mark.parametrize("driver", [pytest.param(d, id=d.value) for d in FileDriver])
def test_portal_lock_holds_though_the_portals_mkdir_looks_then_makes(
    driver: FileDriver, stale: bool, faults: dict[str, int]
) -> None:
    """The portal's mkdir looks (409), then makes the folder in a second call (scowd: `mkdir -p`, no error for a
    folder made meanwhile): four applies starting together all get the lock in turn and never two at once: with
    150 ms between the look and the make, when they all find a dead holder's expired name and take over, and when
    every call is slow (names written at once must not back off in step until the timeout)."""
    with sandbox_over(driver) as server:
        if stale:
            dead = f"{HOME}/.scowspec/locks/lab-a/until-{int(time.time()) - 5}-by-bob@ci-runner-pid7-abc123"
            server.portal.store.put("alice", dead, "DIR")
        admin(server, "faults", faults)
        spans, failures = applies_at_once(server, 4, hold_s=0.2, timeout_s=30)
        assert not failures and len(spans) == 4
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"held at once: {spans}"
        assert lock_names(server) == [], "released at the end"


def test_a_claim_the_portal_refuses_never_deletes_anothers_lock(sandbox: SandboxServer) -> None:
    """Another apply writes its name while the portal refuses ours: only our name may be taken back."""
    lock = f"{HOME}/.scowspec/locks/lab-a"
    sandbox.portal.store.put("alice", lock, "DIR")
    theirs = f"until-{int(time.time()) + 300}-by-bob@ci-runner-pid7-abc123"
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))
    admin(sandbox, "faults", {"latency_ms": 300, "fail_next": 2, "fail_status": 500, "route": "POST /file/mkdir"})
    threading.Timer(0.1, sandbox.portal.store.put, ("alice", f"{lock}/{theirs}", "DIR")).start()
    with pytest.raises(ScowspecError) as refused:
        PortalLock(client, "ai-k8s", "lab-a").acquire(timeout_s=5)
    assert "500" in refused.value.message
    assert lock_names(sandbox) == [theirs]


def test_a_lock_folder_gone_after_it_was_made_is_made_again_without_spinning(sandbox: SandboxServer) -> None:
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))
    client.ensure_dir("ai-k8s", f"{HOME}/.scowspec/locks")  # remembered as made...
    sandbox.portal.store.delete("alice", f"{HOME}/.scowspec")  # ...then deleted by hand
    before = client.requests_made
    with portal_lock(client, "ai-k8s", "lab-a", timeout_s=5):
        assert len(lock_names(sandbox)) == 1
    assert client.requests_made - before < 30, "a few calls, not a loop"


def test_two_applies_starting_together_on_a_slow_portal_both_get_the_lock_in_turn() -> None:
    """At 800 ms a call, two names written at once used to be taken back in step, again and again, until both
    applies were refused at their timeout with nobody holding the lock. The first in order now keeps its place."""
    with sandbox_over(FileDriver.SCOWD) as server:
        server.portal.store.put("alice", f"{HOME}/.scowspec/locks/lab-a", "DIR")
        admin(server, "faults", {"latency_ms": 800})
        spans, failures = applies_at_once(server, 2, hold_s=0.0, timeout_s=20)
        assert not failures and len(spans) == 2, failures


def test_an_apply_refused_while_first_in_line_leaves_no_name_behind(sandbox: SandboxServer) -> None:
    """Our name went in first; another came in while the portal made ours: we keep our place and wait. Refused at
    the timeout, we take our name back (it would block every apply for ten minutes)."""
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))
    client.ensure_dir("ai-k8s", f"{HOME}/.scowspec/locks/lab-a")
    theirs = f"until-{int(time.time()) + 700}-by-bob@ci-runner-pid7-abc123"  # after ours in order
    admin(sandbox, "faults", {"mkdir_gap_ms": 300})
    threading.Timer(0.1, sandbox.portal.store.put, ("alice", f"{HOME}/.scowspec/locks/lab-a/{theirs}", "DIR")).start()
    with pytest.raises(ScowspecError) as refused:
        PortalLock(client, "ai-k8s", "lab-a").acquire(timeout_s=1.0)
    assert "held by bob@ci-runner-pid7-abc123" in refused.value.message
    assert lock_names(sandbox) == [theirs]


def test_a_name_written_by_a_clock_far_ahead_blocks_nothing(cli: CLI, lab: Path, sandbox: SandboxServer) -> None:
    sandbox.portal.store.put("alice", f"{HOME}/.scowspec/locks/lab-a/until-999999999999-by-x", "DIR")
    doctor = cli("doctor")
    assert "Internal error" not in doctor.err and "no longer valid" in doctor.out, doctor.out + doctor.err
    r = cli("apply", "--yes", "--lock-timeout", "2")
    assert r.code == 0, r.out + r.err
    assert lock_names(sandbox) == []


def test_a_holder_whose_name_was_deleted_as_expired_knows_it_lost_the_lock(sandbox: SandboxServer) -> None:
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))
    lock = PortalLock(client, "ai-k8s", "lab-a", ttl_s=3.0)  # renewed every second
    lost = threading.Event()
    lock.on_lost = lost.set
    lock.acquire(timeout_s=5)
    lock.start_heartbeat()
    try:
        [ours] = lock_names(sandbox)
        sandbox.portal.store.delete("alice", f"{HOME}/.scowspec/locks/lab-a/{ours}")  # as a waiter would
        assert lost.wait(5) and "deleted our name" in lock.lost
    finally:
        lock.release()
    assert lock_names(sandbox) == []


# -- Finding 6: a GPU-hour budget per apply ----------------------------------------------------------------------
BUDGET_CASES = [
    pytest.param((), [], 0, "", id="default-budget-passes-small-apply"),
    pytest.param(("max_gpu_hours: 1.5",), [], 4, "up to 2 GPU-hours, more than max_gpu_hours 1.5", id="over-budget-refused-with-figure"),
    pytest.param(("max_gpu_hours: 1.5",), ["--allow-over-budget"], 0, "", id="over-budget-allowed-by-flag"),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "flags", "code", "says"), BUDGET_CASES)
def test_gpu_hour_budget(
    cli: CLI, lab: Path, sandbox: SandboxServer, lines: tuple[str, ...], flags: list[str], code: int, says: str
) -> None:
    settings(lab, *lines)
    plan = cli("plan", *flags)
    assert plan.code == code and says in plan.err
    r = cli("apply", "--yes", *flags)
    assert r.code == code and says in r.err
    assert len(jobs(sandbox)) == (0 if code else 2)


# -- Finding 7: stopping a run, or all of a project's runs, on purpose --------------------------------------------
LIFECYCLE_CASES = [
    pytest.param(["cancel", "a", "--yes"], {}, 0, {"a": "CANCELED", "b": "RUNNING"}, id="cancel-name-stops-its-job"),
    pytest.param(["cancel", "a"], {"CI": "true"}, 4, {"a": "RUNNING", "b": "RUNNING"}, id="cancel-in-ci-needs-yes"),
    pytest.param(["cancel", "nope", "--yes"], {}, 64, {"a": "RUNNING", "b": "RUNNING"}, id="cancel-unknown-name"),
    pytest.param(["apply", "--destroy", "--yes"], {}, 0, {"a": "CANCELED", "b": "CANCELED"}, id="destroy-stops-all-in-scope"),
    pytest.param(["apply", "--destroy"], {"CI": "true"}, 4, {"a": "RUNNING", "b": "RUNNING"}, id="destroy-in-ci-needs-yes"),
    pytest.param(["apply", "--destroy", "--yes"], {"threshold": "1"}, 4, {"a": "RUNNING", "b": "RUNNING"}, id="destroy-under-mass-cancel-guard"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "env", "code", "expected"), LIFECYCLE_CASES)
def test_cancel_and_destroy(
    cli: CLI,
    lab: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    code: int,
    expected: dict[str, str],
) -> None:
    other = write_small(lab, "other")
    submit_as(sandbox, other, project="lab-z")  # another project's job of a spec this one also has
    other.unlink()
    assert cli("apply", "--yes").code == 0
    if "threshold" in env:
        settings(lab, f"mass_cancel_threshold: {env['threshold']}")
    if "CI" in env:
        monkeypatch.setenv("CI", env["CI"])
    r = cli(*args)
    assert r.code == code, r.out + r.err
    assert {k: v for k, v in states(sandbox).items() if k != "other"} == expected
    assert states(sandbox)["other"] == "RUNNING", "another project's job is never cancelled"


def test_cancelling_a_spec_with_nothing_running_says_so(cli: CLI, lab: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    assert cli("cancel", "a", "--yes").code == 0
    again = cli("cancel", "a", "--yes")
    assert again.code == 0 and "Nothing to stop: no running job or service of this project in scope." in again.out
    assert "No specs in scope" not in again.out, again.out


# -- Findings 4, 15, 20: summaries that never mislead ---------------------------------------------------------------
def force(sandbox: SandboxServer, spec: str, state: str) -> None:
    job = max((j for j in jobs(sandbox) if j["jobName"].rsplit("-", 1)[0] == spec), key=lambda j: j["jobId"])
    admin(sandbox, f"jobs/{job['jobId']}/state", {"state": state})


SUMMARY_CASES = [
    pytest.param("failed", "Plan: 0 to submit, 0 to replace, 0 to cancel, 1 unchanged, 1 failed.", "1 current job failed", id="failed-counted-not-matching"),
    pytest.param("orphan", "Plan: 0 to submit, 0 to replace, 0 to cancel, 1 unchanged.", "1 spec without a file still has running jobs", id="orphan-not-matching"),
    pytest.param("prune-only", "Plan: 0 to submit, 0 to replace, 1 to cancel, 1 unchanged.", "", id="cancels-only-no-gpu-hours"),
    pytest.param("none", "Plan: 0 to submit, 0 to replace, 0 to cancel, 2 unchanged.", "No changes. The portal matches the specs.", id="all-running-matches"),
]  # fmt: skip


@pytest.mark.parametrize(("situation", "line", "verdict"), SUMMARY_CASES)
def test_plan_summaries_are_honest(
    cli: CLI, lab: Path, sandbox: SandboxServer, situation: str, line: str, verdict: str
) -> None:
    assert cli("apply", "--yes").code == 0
    args = ["plan"]
    if situation == "failed":
        force(sandbox, "b", "FAILED")
    elif situation in ("orphan", "prune-only"):
        (lab / "specs" / "b.yaml").unlink()
        args += ["--prune"] if situation == "prune-only" else []
    r = cli(*args)
    assert r.code == 0, r.err
    assert r.out.rstrip().endswith(line)
    assert verdict in r.out
    assert "up to 0" not in r.out and "GPU-hours requested" not in r.out
    assert ("matches the specs" in r.out) is (situation == "none")
    doc = json.loads(cli(*args, "-o", "json").out)
    assert doc["summary"]["matches"] is (situation == "none") and doc["summary"]["gpu_hours"] is None


COMEBACK_CASES = [
    pytest.param("pruned-by-scowspec", "+ submit", "cancelled by scowspec", id="pruned-spec-comes-back-as-submit"),
    pytest.param("cancelled-by-hand", "! failed", "--replace b", id="hand-cancelled-stays-failed"),
]


@pytest.mark.parametrize(("how", "symbol", "reason"), COMEBACK_CASES)
def test_a_spec_restored_after_scowspec_pruned_it(
    cli: CLI, lab: Path, sandbox: SandboxServer, how: str, symbol: str, reason: str
) -> None:
    assert cli("apply", "--yes").code == 0
    spec = (lab / "specs" / "b.yaml").read_text("utf-8")
    if how == "pruned-by-scowspec":
        (lab / "specs" / "b.yaml").unlink()
        assert cli("apply", "--yes", "--prune").code == 0
        (lab / "specs" / "b.yaml").write_text(spec, "utf-8")  # git revert
    else:
        force(sandbox, "b", "CANCELED")
    r = cli("plan")
    assert f"{symbol}" in r.out and reason in r.out, r.out
    applied = cli("apply", "--yes")
    assert applied.code == 0
    assert states(sandbox)["b"] == ("RUNNING" if how == "pruned-by-scowspec" else "CANCELED")


# -- Finding 5 / 19: status --check exits 2 when a spec's current version has no job -------------------------------
STATUS_CASES = [
    pytest.param("never-applied", 2, "no jobs yet", id="never-submitted"),
    pytest.param("running", 0, "", id="all-running"),
    pytest.param("new-version", 2, "current version not submitted", id="changed-spec-not-applied"),
    pytest.param("failed", 2, "", id="current-failed"),
]


@pytest.mark.parametrize(("situation", "code", "says"), STATUS_CASES)
def test_status_check(cli: CLI, lab: Path, sandbox: SandboxServer, situation: str, code: int, says: str) -> None:
    if situation != "never-applied":
        assert cli("apply", "--yes").code == 0
    if situation == "new-version":
        write_small(lab, "b", lr="3.0e-4")
    if situation == "failed":
        force(sandbox, "a", "FAILED")
    r = cli("status", "--check")
    assert r.code == code, r.out
    assert says in r.out
    flagged = 0 if code == 0 else (2 if situation == "never-applied" else 1)
    assert f"2 specs; {flagged} need{'s' if flagged == 1 else ''} attention" in r.out


# -- Finding 15: validate counts the files with problems, not every file checked (offline: no portal involved) -------
VALIDATE_CASES = [
    pytest.param(7, 3, "in 3 files; 7 specs checked.", id="three-of-seven-broken"),
    pytest.param(1, 1, "in 1 file; 1 spec checked.", id="one-broken"),
    pytest.param(2, 0, "2 specs valid.", id="none-broken"),
]


@pytest.mark.parametrize(("total", "broken", "summary"), VALIDATE_CASES)
def test_validate_summary_counts_the_files_with_errors(
    cli: CLI, in_dir: Path, total: int, broken: int, summary: str
) -> None:
    (in_dir / "specs").mkdir()
    shutil.copy(TESTDATA / "scowspec.yaml", in_dir / "scowspec.yaml")
    for i in range(total):
        path = write_small(in_dir, f"s{i}")
        if i < broken:
            path.write_text(path.read_text("utf-8").replace("learning_rate: 1.0e-4", "learning_rate: fast"), "utf-8")
    r = cli("validate", "specs")
    assert r.out.rstrip().endswith(summary), r.out
    assert r.code == (3 if broken else 0)


# -- Project ids: written by init, required online ------------------------------------------------------------------
INIT_CASES = [
    pytest.param("portal_url: http://127.0.0.1:1/ai\n", True, id="adds-an-id-to-scowspec-yaml"),
    pytest.param("project: kept-id\n", False, id="keeps-an-existing-id"),
    pytest.param(None, True, id="writes-scowspec-yaml-beside-specs"),
]


@pytest.mark.parametrize(("existing", "written"), INIT_CASES)
def test_init_project_writes_a_stable_id(cli: CLI, in_dir: Path, existing: str | None, written: bool) -> None:
    (in_dir / "specs").mkdir()
    if existing is not None:
        (in_dir / "scowspec.yaml").write_text(existing, "utf-8")
    r = cli("init", "--project")
    assert r.code == 0, r.err
    text = (in_dir / "scowspec.yaml").read_text("utf-8")
    ids = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("project: ")]
    assert len(ids) == 1 and (ids[0] == "kept-id") is (not written)
    assert ("Wrote project id" in r.err) is written
    assert cli("init", "--project").code == 0 and (in_dir / "scowspec.yaml").read_text("utf-8") == text, "stable"


BROKEN_PROJECT_FILES = [
    pytest.param("project: [1\n", "scowspec.yaml:2:1: error[yaml-syntax]", id="does-not-parse"),
    pytest.param("project: 42\n", "scowspec.yaml:1:10: error[", id="id-not-a-string"),
]  # fmt: skip


@pytest.mark.parametrize(("existing", "says"), BROKEN_PROJECT_FILES)
@pytest.mark.parametrize("args", [["init", "--project"], ["init", "fresh"]], ids=["project", "spec"])
def test_init_never_appends_to_a_project_file_it_cannot_read(
    cli: CLI, in_dir: Path, existing: str, says: str, args: list[str]
) -> None:
    (in_dir / "specs").mkdir()
    (in_dir / "scowspec.yaml").write_text(existing, "utf-8")
    r = cli(*args)
    assert r.code == 4 and says in r.err and "no project id was written" in r.err, r.err
    assert (in_dir / "scowspec.yaml").read_text("utf-8") == existing
    assert list((in_dir / "specs").iterdir()) == [], "nothing was written"


def test_an_unreadable_project_file_is_one_located_error(cli: CLI, in_dir: Path) -> None:
    (in_dir / "specs").mkdir()
    (in_dir / "scowspec.yaml").write_bytes(b"project: caf\xe9\n")
    write_small(in_dir, "a")
    r = cli("validate")
    assert r.code == 3 and "scowspec.yaml:1:1: error[read-error]" in r.out and "not UTF-8" in r.out, r.out + r.err


def test_plan_without_a_project_id_says_how_to_get_one(cli: CLI, in_dir: Path, portal_env: SandboxServer) -> None:
    make_project(in_dir, portal_env, tutorial=False, project=None)
    write_small(in_dir, "a")
    for command in (["plan"], ["apply", "--yes"], ["cancel", "a", "--yes"]):
        r = cli(*command)
        assert r.code == 64 and "no `project` id" in r.err and "scowspec init --project" in r.err, r.err
    assert jobs(portal_env) == [] and admin(portal_env, "stats")["requests"] == {}


def test_a_cancelled_spec_stays_stopped_until_replace(
    cli: Callable[..., Run], in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scowspec cancel NAME` (and --destroy) stop a job on purpose: the next plain apply does not start it again."""
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    project = make_project(in_dir, portal_env, tutorial=False)
    write_small(project, "kept")
    assert cli("apply", "--yes").code == 0
    assert cli("cancel", "kept", "--yes").code == 0
    again = cli("plan", "--detailed-exitcode")
    assert "+ submit" not in again.out, again.out
    assert cli("apply", "--yes", "--replace", "kept").code == 0
    assert [j["state"] for j in portal_env.portal.store.jobs("alice", "ai-k8s")].count("RUNNING") == 1
