"""plan → apply → plan against the sandbox, a real HTTP server on 127.0.0.1, with its faults."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.apply.executor import Outcome, Result, apply_plan
from scowspec.apply.journal import Journal
from scowspec.plan.model import Action, Change, Desired, Plan
from scowspec.portal.client import PortalClient
from scowspec.portal.settings import PortalSettings
from scowspec.sandbox.server import SandboxServer

from .conftest import TOKEN, Run, scowspec_process
from .portal_helpers import admin, jobs, make_project, names, write_small

CLI = Callable[..., Run]


@pytest.fixture
def project(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")  # the project's scowspec.yaml names the portal
    return make_project(in_dir, portal_env)


def test_plan_apply_plan_converges(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    first = cli("plan", "--detailed-exitcode")
    assert first.code == 2 and first.out.rstrip().endswith("Plan: 2 to submit, 0 to replace, 0 to cancel, 0 unchanged.")
    assert "+ submit" in first.out and "up to 40 GPU-hours" in first.out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.err
    assert names(sandbox) == ["qwen25-pku-identity-7c23d06f", "qwen25-pku-identity-tb-0f00a7a9"]
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out
    assert again.out.rstrip().endswith("Plan: 0 to submit, 0 to replace, 0 to cancel, 2 unchanged.")
    assert cli("apply", "--yes").code == 0 and len(jobs(sandbox)) == 2


def test_changed_spec_replaces_the_running_job(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    spec = project / "specs" / "qwen25-pku-identity.yaml"
    spec.write_text(spec.read_text("utf-8").replace("learning_rate: 1.0e-4", "learning_rate: 2.0e-4"), "utf-8")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2 and "-/+ replace" in plan.out and "~ train.learning_rate: 0.0001 → 0.0002" in plan.out
    assert "throws away the running job's elapsed time" in plan.out
    assert cli("apply", "--yes").code == 0
    states = {j["jobName"]: j["state"] for j in jobs(sandbox)}
    assert states["qwen25-pku-identity-7c23d06f"] == "CANCELED"
    assert [
        n for n, s in states.items() if n.startswith("qwen25-pku-identity-") and "-tb-" not in n and s == "RUNNING"
    ] != []
    assert cli("plan", "--detailed-exitcode").code == 0


def test_stale_saved_plan_is_refused(cli: CLI, project: Path, sandbox: SandboxServer, tmp_path: Path) -> None:
    assert cli("plan", "--out", "plan.json").code == 0
    assert cli("apply", "--yes", "specs/qwen25-pku-identity.yaml").code == 0  # the world moves on
    before = len(jobs(sandbox))
    refused = cli("apply", "--plan", "plan.json")
    assert refused.code == 4 and "stale" in refused.err
    assert len(jobs(sandbox)) == before


def test_saved_plan_is_applied_exactly(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("plan", "--out", "plan.json", "--target", "qwen25-pku-identity").code == 0
    applied = cli("apply", "--plan", "plan.json", "--yes")
    assert applied.code == 0, applied.err
    assert names(sandbox) == ["qwen25-pku-identity-7c23d06f"], "only the --target the plan was made with"
    assert jobs(sandbox)[0]["body"]["maxTime"] == 600


def test_saved_plan_is_refused_when_the_spec_changed_since(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("plan", "--out", "plan.json", "--target", "qwen25-pku-identity").code == 0
    spec = project / "specs" / "qwen25-pku-identity.yaml"
    spec.write_text(spec.read_text("utf-8").replace("max_time: 10h", "max_time: 5h"), "utf-8")
    refused = cli("apply", "--plan", "plan.json", "--yes")
    assert refused.code == 4 and "not what the specs make now" in refused.err
    assert names(sandbox) == [], "neither the reviewed payload nor the edited spec is submitted"


def test_lost_submit_answer_never_makes_a_second_job(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    admin(sandbox, "faults", {"lose_next_submit": 1, "route": "POST /jobs"})
    r = cli("apply", "--yes", "--parallelism", "1")
    assert r.code == 0, r.out + r.err
    assert "answer lost, but job" in r.out
    assert names(sandbox) == ["qwen25-pku-identity-7c23d06f", "qwen25-pku-identity-tb-0f00a7a9"]
    assert cli("plan", "--detailed-exitcode").code == 0
    assert not json.loads((project / ".scowspec" / "journal.json").read_text())["pending"]


def test_submit_whose_lookup_also_fails_is_not_repeated(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    # The answer is lost and the portal then stops answering lists: apply must not guess.
    (project / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    admin(sandbox, "faults", {"lose_next_submit": 1, "route": "POST /jobs"})
    calls = {"n": 0}
    real = sandbox.portal.list_sessions

    def flaky(user: dict[str, object], body: object) -> object:
        calls["n"] += 1
        # plan and the freshness check list jobs and services, the pre-submit lookup jobs (2 pages each); then it fails
        if calls["n"] > 10:
            from scowspec.sandbox.checks import Rejected

            raise Rejected(500, "INTERNAL_SERVER_ERROR", "down")
        return real(user, body)  # type: ignore[arg-type]

    sandbox.portal.list_sessions = flaky  # type: ignore[method-assign]
    r = cli("apply", "--yes")
    assert r.code == 5
    sandbox.portal.list_sessions = real  # type: ignore[method-assign]
    assert len(jobs(sandbox)) == 1, "exactly one job, never two"
    pending = json.loads((project / ".scowspec" / "journal.json").read_text())["pending"]
    assert list(pending) == ["qwen25-pku-identity-7c23d06f"]
    assert "got no answer: its job is on the portal now" in cli("plan").out
    r2 = cli("apply", "--yes")
    assert r2.code == 0 and len(jobs(sandbox)) == 1 and "2 unchanged" not in r2.out
    assert json.loads((project / ".scowspec" / "journal.json").read_text())["pending"] == {}, "settled once listed"


def test_one_failed_submit_does_not_hide_the_others(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    admin(sandbox, "faults", {"fail_next": 1, "fail_status": 500, "route": "POST /jobs"})
    r = cli("apply", "--yes", "--parallelism", "1")
    assert r.code == 5
    assert "FAILED" in r.out and "ok: submitted as job" in r.out and "1 done, 1 failed" in r.out
    assert len(jobs(sandbox)) == 1
    assert cli("apply", "--yes").code == 0 and len(jobs(sandbox)) == 2


def test_reads_survive_503_and_dropped_connections(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    admin(sandbox, "faults", {"fail_next": 2, "fail_status": 503, "drop_next": 1, "route": "POST /appSessions/list"})
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2, r.err
    stats = admin(sandbox, "stats")["requests"]
    assert stats["POST /appSessions/list"] >= 5


def test_submit_is_not_retried_on_502(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    (project / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    admin(sandbox, "faults", {"fail_next": 1, "fail_status": 502, "route": "POST /jobs"})
    r = cli("apply", "--yes")
    assert r.code == 5 and admin(sandbox, "stats")["requests"]["POST /jobs"] == 1


def test_slow_portal_times_out_cleanly(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOWSPEC_TIMEOUT", "0.3")
    admin(sandbox, "faults", {"latency_ms": 800, "route": "POST /appSessions/list"})
    r = cli("plan")
    assert r.code == 1 and "timed out" in r.err and "Traceback" not in r.err


def test_removed_spec_is_kept_without_prune_and_cancelled_with_it(
    cli: CLI, project: Path, sandbox: SandboxServer
) -> None:
    assert cli("apply", "--yes").code == 0
    (project / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    kept = cli("plan", "--detailed-exitcode")
    assert kept.code == 0 and "--prune" in kept.out
    pruned = cli("apply", "--yes", "--prune")
    assert pruned.code == 0 and "- cancel" in pruned.out
    assert {j["jobName"]: j["state"] for j in jobs(sandbox)}["qwen25-pku-identity-tb-0f00a7a9"] == "CANCELED"


def test_prune_of_many_jobs_needs_allow_mass_cancel(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    for i in range(4):
        write_small(project, f"small-{i}")
    assert cli("apply", "--yes").code == 0
    for i in range(4):
        (project / "specs" / f"small-{i}.yaml").unlink()
    refused = cli("apply", "--yes", "--prune")
    assert refused.code == 4 and "more than the threshold" in refused.err
    assert len(names(sandbox, "RUNNING")) == 6
    allowed = cli("apply", "--yes", "--prune", "--allow-mass-cancel")
    assert allowed.code == 0 and len(names(sandbox, "CANCELED")) == 4


def test_no_specs_never_prunes_everything(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    for spec in (project / "specs").glob("*.yaml"):
        spec.unlink()
    r = cli("apply", "--yes", "--prune")
    assert r.code == 4 and "every running job of project `lab-a`" in r.err and len(names(sandbox, "RUNNING")) == 2


def test_foreign_jobs_are_never_touched(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    body = {"command": "python train.py", "remoteImageUrl": "x.io/a:1"}
    sandbox.portal.store.add("alice", "ai-k8s", "train-20251127", body)  # scowspec-shaped name, not scowspec's
    sandbox.portal.store.add("alice", "ai-k8s", "my-notebook", body)
    r = cli("apply", "--yes", "--prune")
    assert r.code == 0 and "`train-20251127`" in r.out and "left alone" in r.out
    assert names(sandbox, "RUNNING") == sorted(
        ["train-20251127", "my-notebook", "qwen25-pku-identity-7c23d06f", "qwen25-pku-identity-tb-0f00a7a9"]
    )


def test_failed_job_is_reported_and_rerun_only_when_asked(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    failed = next(j for j in jobs(sandbox) if j["jobName"] == "qwen25-pku-identity-7c23d06f")
    admin(sandbox, f"jobs/{failed['jobId']}/state", {"state": "FAILED"})
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0 and "! failed" in plan.out and "--replace qwen25-pku-identity" in plan.out
    status = cli("status", "--check")
    assert status.code == 2 and "1 needs attention" in status.out
    rerun = cli("apply", "--yes", "--replace", "qwen25-pku-identity")
    assert rerun.code == 0 and names(sandbox).count("qwen25-pku-identity-7c23d06f") == 2
    assert cli("status", "--check").code == 0


def test_unknown_target_is_a_usage_error(cli: CLI, project: Path) -> None:
    r = cli("plan", "--target", "nope")
    assert r.code == 64 and "--target nope" in r.err


def test_in_ci_apply_never_waits_for_an_answer(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    r = cli("apply")
    assert r.code == 4 and "--yes" in r.err and jobs(sandbox) == []


def test_invalid_spec_stops_before_the_portal(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    (project / "specs" / "bad.yaml").write_text("apiVersion: scowspec/v1\nkind: FineTune\nname: Bad\n", "utf-8")
    r = cli("apply", "--yes")
    assert r.code == 3 and "specs/bad.yaml:3:7: error[format]" in r.err
    assert jobs(sandbox) == [] and admin(sandbox, "stats")["requests"] == {}


def test_json_and_markdown_plans(cli: CLI, project: Path) -> None:
    doc = json.loads(cli("plan", "-o", "json").out)
    assert doc["format_version"] == "1.0" and doc["summary"]["submit"] == 2 and doc["exit_code"] == 0
    assert doc["plan"]["changes"][0]["desired"]["payload"]["trainJobName"].startswith("qwen25-pku-identity")
    md = cli("plan", "-o", "markdown").out
    assert md.startswith("### scowspec plan") and "| `+` | submit |" in md and len(md) < 60_000
    # Every default scowspec chose is visible where the change is reviewed, variables included.
    assert "disable_gradient_checkpointing=false" in md and 'env.TORCH_CUDNN_SDPA_DEPRIORITIZED="1"' in md
    chosen = dict(doc["plan"]["changes"][0]["desired"]["defaults"])
    assert chosen["env.TORCH_CUDNN_SDPA_PREFERRED"] == "0" and chosen["bf16"] is True


def test_token_appears_in_no_output_or_file(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    outputs = [cli("plan", "--out", "plan.json"), cli("apply", "--yes"), cli("status"), cli("plan", "-o", "json")]
    for run in outputs:
        assert TOKEN not in run.out + run.err
    for path in project.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_ctrl_c_finishes_the_call_in_flight_and_exits_130(project: Path, sandbox: SandboxServer) -> None:
    for i in range(6):
        write_small(project, f"small-{i}")
    (project / "specs" / "qwen25-pku-identity.yaml").unlink()
    (project / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    admin(sandbox, "faults", {"latency_ms": 600, "route": "POST /jobs"})
    proc = scowspec_process(project, "apply", "--yes", "--parallelism", "1")
    deadline = time.monotonic() + 30
    while len(jobs(sandbox)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    submitted = len(jobs(sandbox))
    assert 1 <= submitted < 6 and "Interrupted" in out
    assert not json.loads((project / ".scowspec" / "journal.json").read_text())["pending"]
    admin(sandbox, "faults", {"latency_ms": 0})
    proc2 = scowspec_process(project, "apply", "--yes")
    proc2.communicate(timeout=60)
    assert proc2.returncode == 0 and sorted(names(sandbox)) == sorted(set(names(sandbox))) and len(jobs(sandbox)) == 6


def test_ctrl_c_while_a_result_is_reported_still_sends_none_of_the_queued_submits(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Ctrl-C lands wherever the main thread is: here while it reports the first finished change. It escaped
    there once, and the pool's exit then sent every queued submit (CI: 3 of 5 landed after one Ctrl-C)."""
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))
    changes = five_submits()
    signalled: list[Result] = []

    def progress(result: Result) -> None:
        if not signalled:
            signalled.append(result)
            os.kill(os.getpid(), signal.SIGINT)

    journal = Journal(tmp_path / "journal.json")
    handler = signal.getsignal(signal.SIGINT)
    try:
        result = apply_plan(Plan(tuple(changes), "fp", ("ai-k8s",)), client, journal, parallelism=4, progress=progress)
    except KeyboardInterrupt:
        result = None
    assert signal.getsignal(signal.SIGINT) is handler, "the previous Ctrl-C handler is back"
    assert len(jobs(sandbox)) <= 2, "only the submit reported and one already sent may land"
    assert result is not None and result.interrupted, "Ctrl-C is a flag while changes run, never an exception"
    outcomes = [r.outcome for r in result.results]
    assert outcomes.count(Outcome.DONE) == len(jobs(sandbox)) and outcomes.count(Outcome.SKIPPED) >= 3
    assert not json.loads((tmp_path / "journal.json").read_text())["pending"], "nothing is in doubt"


def five_submits() -> list[Change]:
    golden = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    changes = []
    for i in range(5):
        payload = {**golden, "trainJobName": f"small-{i}"}
        desired = Desired(f"small-{i}", f"small-{i}", "ai-k8s", f"specs/small-{i}.yaml", payload, 2, 2, 60)
        changes.append(Change(Action.SUBMIT, desired.spec_name, desired.job_name, "ai-k8s", "new", desired=desired))
    return changes


def test_a_progress_line_that_cannot_be_written_sends_none_of_the_queued_submits(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A closed stdout (`scowspec apply | head -1`) fails the first progress line: the queued submits stay unsent."""
    client = PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0))

    def progress(result: Result) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    journal = Journal(tmp_path / "journal.json")
    with pytest.raises(BrokenPipeError):
        apply_plan(Plan(tuple(five_submits()), "fp", ("ai-k8s",)), client, journal, parallelism=4, progress=progress)
    assert len(jobs(sandbox)) <= 2, "only the submit reported and one already sent may land"
    assert not json.loads((tmp_path / "journal.json").read_text())["pending"], "nothing is in doubt"


def test_wrong_token_is_a_clear_error(cli: CLI, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOWSPEC_TOKEN", "not-the-token")
    r = cli("plan")
    assert r.code == 1 and "401" in r.err and "SCOWSPEC_TOKEN" in r.err and "not-the-token" not in r.err + r.out


def test_status_shows_state_age_and_tensorboard(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    doc = json.loads(cli("status", "-o", "json").out)
    by_spec = {s["spec"]: s for s in doc["specs"]}
    tb = by_spec["qwen25-pku-identity-tb"]["jobs"][0]
    assert tb["state"] == "RUNNING" and tb["current"] and tb["age"].endswith("s")
    assert tb["tensorboard"].startswith(f"{sandbox.url}/api/proxy/ai-k8s/absolute/")
    assert by_spec["qwen25-pku-identity"]["jobs"][0]["tensorboard"] is None
    md = cli("status", "-o", "markdown").out
    assert md.startswith("### scowspec status") and "| `qwen25-pku-identity-tb` |" in md


@pytest.mark.parametrize(
    ("blocker", "args", "names_in_error"),
    [
        pytest.param("plan.json", ["plan", "--out", "plan.json"], "plan.json: cannot write", id="plan-out-is-a-folder"),
        pytest.param(
            "blocked",
            ["plan", "--out", "blocked/plan.json"],
            "blocked/plan.json: cannot write",
            id="plan-out-under-a-file",
        ),
        pytest.param(
            ".scowspec", ["apply", "--yes"], ".scowspec/apply.lock: cannot create", id="apply-state-folder-is-a-file"
        ),
        pytest.param("blocked", ["init", "new-job", "--dir", "blocked/specs"], "cannot write", id="init-under-a-file"),
    ],
)
def test_unwritable_output_is_one_plain_error_and_changes_nothing(
    cli: CLI, project: Path, sandbox: SandboxServer, blocker: str, args: list[str], names_in_error: str
) -> None:
    # A folder where a file must go, or a file where a folder must go: the OS refuses even for root.
    if blocker.endswith(".json"):
        (project / blocker).mkdir()
    else:
        (project / blocker).write_text("not a folder\n", "utf-8")
    r = cli(*args)
    assert r.code == 64, r.err
    assert names_in_error in r.err and "Internal error" not in r.err and "Traceback" not in r.err
    assert jobs(sandbox) == []


def test_a_submit_the_journal_cannot_record_is_not_sent(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    # The journal writes through a temporary file; a folder in its place makes every write fail.
    (project / ".scowspec" / f"journal.tmp{os.getpid()}").mkdir(parents=True)
    r = cli("apply", "--yes")
    assert r.code == 5, r.err
    assert r.out.count("not submitted:") == 2 and "cannot write the journal" in r.out and "Traceback" not in r.err
    assert jobs(sandbox) == []


def test_ctrl_c_sends_none_of_the_submits_waiting_their_turn(project: Path, sandbox: SandboxServer) -> None:
    """With --parallelism 4, submits to one cluster queue at the one-per-second gate: Ctrl-C sends none of them."""
    for i in range(5):
        write_small(project, f"small-{i}")
    (project / "specs" / "qwen25-pku-identity.yaml").unlink()
    (project / "specs" / "qwen25-pku-identity-tensorboard.yaml").unlink()
    proc = scowspec_process(project, "apply", "--yes", "--parallelism", "4")
    deadline = time.monotonic() + 30
    while len(jobs(sandbox)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    at_signal = len(jobs(sandbox))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert len(jobs(sandbox)) <= at_signal + 1, "only a submit already sent may still land"
    assert not json.loads((project / ".scowspec" / "journal.json").read_text())["pending"], "nothing is in doubt"
