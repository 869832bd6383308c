"""register: and serve: end to end against the sandbox: train → verify → register → serve → replace → prune."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from scowspec.pipeline import load_specs
from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, TESTDATA, Run
from .portal_helpers import admin, make_project, write_small

CLI = Callable[..., Run]
SPEC = TESTDATA / "valid" / "register-and-serve.yaml"
WORK = "/data/home/alice/finetune"
VERIFY_PASSED = (TESTDATA / "report" / "verify.json").read_text("utf-8")


@pytest.fixture
def project(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")
    folder = make_project(in_dir, portal_env, tutorial=False)
    shutil.copy(SPEC, folder / "specs" / SPEC.name)
    return folder


def _train_jobs(sandbox: SandboxServer) -> list[dict[str, object]]:
    return [
        j
        for j in sandbox.portal.store.jobs("alice", "ai-k8s")
        if sandbox.portal.serving.job_type(j["jobId"])[0] == "train"
    ]


def _services(sandbox: SandboxServer, state: str | None = None) -> list[dict[str, object]]:
    return [
        j
        for j in sandbox.portal.store.jobs("alice", "ai-k8s")
        if sandbox.portal.serving.job_type(j["jobId"])[0] != "train" and (state is None or j["state"] == state)
    ]


def _finish(sandbox: SandboxServer, verify: str | None = VERIFY_PASSED) -> str:
    """The newest train job completes, as its job would leave it: a merged model and (maybe) verify.json."""
    job = _train_jobs(sandbox)[0]
    name = str(job["jobName"])
    admin(sandbox, f"jobs/{job['jobId']}/state", {"state": "COMPLETED"})
    sandbox.portal.store.put("alice", f"{WORK}/{name}/merged/config.json", "FILE", b"{}")
    if verify is not None:
        sandbox.portal.store.put("alice", f"{WORK}/{name}/verify.json", "FILE", verify.encode())
    return name


def _versions(sandbox: SandboxServer) -> list[str]:
    return [str(r[0]) for r in sandbox.portal.store.sql("SELECT name FROM reg_versions ORDER BY id")]


def test_train_verify_register_serve_replace_prune(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    first = cli("plan")
    assert first.code == 0, first.err
    assert "+ submit" in first.out
    assert "  … register  register-and-serve-" in first.out and "waits for its job" in first.out
    assert cli("apply", "--yes").code == 0
    running = cli("plan", "--detailed-exitcode")
    assert running.code == 0, running.out  # waiting is not a change
    assert "to complete" in running.out and "nothing to serve yet" in running.out

    name = _finish(sandbox)
    ready = cli("plan", "--detailed-exitcode")
    assert ready.code == 2, ready.out + ready.err
    assert f"  + register  {name}" in ready.out and f"  + serve     {name}" in ready.out
    assert "verification passed" in ready.out
    assert "Services: 1 to register, 1 to serve, 0 to replace, 0 to stop." in ready.out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert _versions(sandbox) == [name]
    [service] = _services(sandbox)
    assert service["jobName"] == name and sandbox.portal.serving.job_type(int(str(service["jobId"]))) == ("infer", "")
    body = service["body"]
    assert isinstance(body, dict)
    assert body["containerServicePort"] == 8000 and body["command"].startswith("# scowspec ")
    assert "llamafactory-cli api" in body["command"]
    assert {"path": f"{WORK}/{name}/merged", "target": f"{WORK}/{name}/merged"} in body["mountPoints"]

    converged = cli("plan", "--detailed-exitcode")
    assert converged.code == 0, converged.out
    assert "=" in converged.out and f"version `{name}` of model `pku-assistant` is registered" in converged.out

    status = cli("status", "-o", "json")
    doc = json.loads(status.out)["specs"][0]["service"]
    assert doc["type"] == "infer" and doc["answers"] is True
    assert doc["address"].startswith(f"{sandbox.url}/api/proxy/ai-k8s/absolute/") and doc["address"].endswith("/v1")

    # A new spec version trains while the old model keeps being served; once it passes, the service is replaced.
    spec = project / "specs" / SPEC.name
    spec.write_text(spec.read_text("utf-8").replace("template: qwen}", "template: qwen, learning_rate: 2.0e-4}"))
    assert cli("apply", "--yes").code == 0
    training = cli("plan")
    assert "replaces it once ready" in training.out and f"= serve     {name}" in training.out
    newer = _finish(sandbox)
    swap = cli("plan")
    assert f"-/+ serve     {newer}" in swap.out and f"{name} is stopped after it starts" in swap.out
    assert cli("apply", "--yes").code == 0
    assert [s["jobName"] for s in _services(sandbox, "RUNNING")] == [newer]
    assert _versions(sandbox) == [name, newer]

    # Removed from the repository: kept without --prune, stopped with it.
    spec.unlink()
    kept = cli("plan")
    assert "still run: `--prune` stops them" in kept.out
    refused = cli("apply", "--yes", "--prune")  # the same guard as jobs: no specs never stops everything
    assert refused.code == 4 and "no specs were found" in refused.err and len(_services(sandbox, "RUNNING")) == 1
    write_small(project, "other")
    pruned = cli("apply", "--yes", "--prune")
    assert pruned.code == 0, pruned.out + pruned.err
    assert f"  - stop     {newer}: ok: stopped service" in pruned.out
    assert _services(sandbox, "RUNNING") == []


def test_another_spec_trains_from_a_registered_version(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    assert cli("apply", "--yes").code == 0
    (project / "specs" / SPEC.name).unlink()
    (project / "specs" / "downstream.yaml").write_text(
        "apiVersion: scowspec/v1\nkind: FineTune\nname: downstream\n"
        f"model: {{name: pku-assistant, version: {name}, scope: mine}}\n"
        "dataset: {name: identity, scope: mine, file: identity.json}\n"
        "resources: {nodes: 1, gpus_per_node: 1, max_time: 1h}\ntrain: {template: qwen}\n",
        "utf-8",
    )
    compiled = cli("compile", "specs/downstream.yaml")
    assert compiled.code == 0, compiled.err
    assert json.loads(compiled.out)["models"] == [{"id": 1000, "isPrivate": True}]
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err


def test_failed_verification_is_neither_registered_nor_served(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    _finish(sandbox, VERIFY_PASSED.replace('"status": "passed"', '"status": "failed"', 1))
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert "not registered: its verification failed" in plan.out
    assert "nothing to serve yet" in plan.out and "its verification failed" in plan.out


def test_registering_twice_is_a_no_op(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    assert cli("plan", "--out", "first.json").code == 0
    assert cli("apply", "--yes").code == 0
    # The saved plan's versions and services moved: it is refused, not applied twice.
    stale = cli("apply", "--plan", "first.json", "--yes")
    assert stale.code == 4 and "stale" in stale.err
    assert _versions(sandbox) == [name] and len(_services(sandbox)) == 1


def test_lost_service_answer_starts_one_service(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    _finish(sandbox)
    admin(sandbox, "faults", {"lose_next_submit": 1, "route": "POST /infer"})
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    assert "answer lost, but service" in r.out
    assert len(_services(sandbox)) == 1
    assert cli("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize(
    ("serve", "message", "line"),
    [
        pytest.param("serve: {via: app, app: chatbox}", "the portal has no app `chatbox`", 11, id="unknown-app"),
        pytest.param(
            "serve:\n  app: nextchat\n  attributes: {model_name: pku, colour: red}",
            "app `nextchat` has no attribute `colour`",
            13,
            id="unknown-attribute",
        ),
        pytest.param(
            "serve:\n  app: nextchat\n  attributes: {theme: sepia}",
            "requires attribute(s) `model_name`",
            13,
            id="required-attribute",
        ),
        pytest.param(
            "serve:\n  app: nextchat\n  attributes: {model_name: pku, theme: sepia}",
            "is one of: light, dark",
            13,
            id="select-value",
        ),
    ],
)
def test_serve_checked_against_the_site_at_plan_time(
    cli: CLI, project: Path, sandbox: SandboxServer, serve: str, message: str, line: int
) -> None:
    spec = project / "specs" / SPEC.name
    text = spec.read_text("utf-8").replace("serve: {via: infer, port: 8000, gpus: 1, max_time: 7d}", serve)
    spec.write_text(text, "utf-8")
    r = cli("plan")
    assert r.code == 3, r.out + r.err
    assert f"{SPEC.name}:{line}:" in r.err and message in r.err
    assert _train_jobs(sandbox) == []


def test_portal_without_infer_names_the_alternative(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    admin(sandbox, "infer", {"route": False})
    r = cli("plan")
    assert r.code == 3
    assert f"{SPEC.name}:11:" in r.err and "no `POST /api/infer`" in r.err and "via: app, app: <app id>" in r.err


def test_app_session_serves_the_model_with_its_path(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = project / "specs" / SPEC.name
    spec.write_text(
        spec.read_text("utf-8").replace(
            "serve: {via: infer, port: 8000, gpus: 1, max_time: 7d}",
            "serve: {via: app, app: nextchat, attributes: {model_name: pku, theme: dark}}",
        ),
        "utf-8",
    )
    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    [app] = _services(sandbox)
    body = app["body"]
    assert isinstance(body, dict)
    assert {"key": "SCOW_AI_MODEL_PATH", "value": f"{WORK}/{name}/merged"} in body["envVariables"]
    assert str(app["sessionId"]).startswith("ai-k8s-nextchat-")
    doc = json.loads(cli("status", "-o", "json").out)["specs"][0]["service"]
    assert doc["type"] == "app" and doc["answers"] is True and "/relative/node-1/" in doc["address"]
    assert "token=sandbox" in doc["address"]


def test_the_docs_whole_flow_spec_is_valid() -> None:
    loaded = load_specs([ROOT / "docs" / "examples"])
    assert loaded.report.ok and [s.name for s in loaded.specs] == ["qwen25-pku-identity"]
    spec = loaded.specs[0]
    assert spec.register is not None and spec.serve is not None and spec.verify is not None


def test_register_and_serve_are_not_part_of_the_digest(tmp_path: Path) -> None:
    tutorial = ROOT / "specs" / "qwen25-pku-identity.yaml"
    shutil.copy(ROOT / "scowspec.yaml", tmp_path / "scowspec.yaml")
    served = tmp_path / "served.yaml"
    served.write_text(tutorial.read_text("utf-8") + "register: true\nserve: {via: infer}\n", "utf-8")
    before, after = load_specs([tutorial]).specs[0], load_specs([served]).specs[0]
    assert after.serve is not None and after.job_name == before.job_name


def test_destroy_and_cancel_stop_this_projects_service(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    assert cli("apply", "--yes").code == 0
    assert [s["jobName"] for s in _services(sandbox, "RUNNING")] == [name]
    planned = cli("plan", "--destroy")
    assert planned.code == 0 and f"- stop      {name}" in planned.out and "1 to stop" in planned.out, planned.out
    stopped = cli("apply", "--destroy", "--yes")
    assert stopped.code == 0, stopped.out + stopped.err
    assert _services(sandbox, "RUNNING") == []


def test_a_removed_specs_service_is_left_to_folders_and_stopped_by_destroy(
    cli: CLI, project: Path, sandbox: SandboxServer
) -> None:
    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    assert cli("apply", "--yes").code == 0
    (project / "specs" / SPEC.name).unlink()
    write_small(project, "other")
    one_file = cli("plan", "specs/other.yaml")
    assert "still run" not in one_file.out and "`--prune` stops them" not in one_file.out, "outside a file's plan"
    assert "still run: `--prune` stops them" in cli("plan").out, "a folder's plan says what it found"
    destroyed = cli("apply", "--destroy", "--yes")
    assert destroyed.code == 0 and f"- stop      {name}" in destroyed.out, destroyed.out + destroyed.err
    assert _services(sandbox, "RUNNING") == []


def test_a_service_start_in_doubt_is_not_repeated(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    """A start whose answer never came, and whose service is not listed yet: a re-run (a CI retry) waits."""
    from scowspec.apply.journal import Journal

    assert cli("apply", "--yes").code == 0
    name = _finish(sandbox)
    Journal(project / ".scowspec" / "journal.json").begin(f"serve:{name}", "ai-k8s")
    r = cli("apply", "--yes")
    assert r.code == 5 and "in doubt" in r.out, r.out + r.err
    assert _services(sandbox) == []


def test_a_service_start_answered_without_an_id_is_looked_up(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    """An empty 200 to POST /infer: accepted or not is unknown; the service is looked up by name, once."""
    assert cli("apply", "--yes").code == 0
    _finish(sandbox)
    admin(
        sandbox,
        "faults",
        {"blank_next_submit": 0, "fail_next": 1, "fail_status": 200, "fail_body": "empty", "route": "POST /infer"},
    )
    r = cli("apply", "--yes")
    assert "Internal error" not in r.err and r.code in (0, 5), r.out + r.err
    assert len(_services(sandbox)) <= 1


def test_the_sandboxs_finished_job_leaves_what_register_needs(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    """No hand-made files: a completed export job leaves merged/ and verify.json, so the flow moves on."""
    assert cli("apply", "--yes").code == 0
    job = _train_jobs(sandbox)[0]
    admin(sandbox, f"jobs/{job['jobId']}/state", {"state": "COMPLETED"})
    ready = cli("plan", "--detailed-exitcode")
    assert ready.code == 2 and f"  + register  {job['jobName']}" in ready.out, ready.out + ready.err
