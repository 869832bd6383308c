"""What only a real portal does, and how scowspec copes: each behaviour of `issues show 10`, against both sandbox
generations (the `generation` fixture), through the CLI or the client as a user meets it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from scowspec.apply.executor import SubmitGate, apply_plan
from scowspec.apply.journal import Journal
from scowspec.errors import ConflictError, NotFoundError, PortalError
from scowspec.plan.model import Action, Change, Desired, Plan
from scowspec.portal.client import PortalClient
from scowspec.portal.profile import Generation
from scowspec.portal.settings import PortalSettings
from scowspec.portal.types import RemoteJob
from scowspec.sandbox.files import FileDriver
from scowspec.sandbox.server import SandboxServer, start
from scowspec.sandbox.store import Clock

from .conftest import TOKEN, Run
from .portal_helpers import admin, jobs, make_project, names, sandbox_over, write_small

CLI = Callable[..., Run]
AUTH = {"x-scow-api-auth-token": TOKEN}


@pytest.fixture
def project(in_dir: Path, portal_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SCOWSPEC_PORTAL_URL")  # the project's scowspec.yaml names the portal
    return make_project(in_dir, portal_env, tutorial=False)


def client_of(sandbox: SandboxServer, **kw: object) -> PortalClient:
    return PortalClient(PortalSettings(sandbox.url, TOKEN, timeout_s=5.0, **kw))  # type: ignore[arg-type]


def test_the_probe_tells_the_generations_apart(sandbox: SandboxServer, generation: Generation) -> None:
    assert client_of(sandbox).profile().generation is generation


def test_portal_version_in_the_project_skips_the_probe(sandbox: SandboxServer, generation: Generation) -> None:
    other = next(g for g in Generation if g is not generation)
    assert client_of(sandbox, generation=other).profile().generation is other


def test_a_base_url_without_the_ai_path_is_one_clear_error(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    (project / "scowspec.yaml").write_text(
        (project / "scowspec.yaml").read_text("utf-8").replace(sandbox.url, sandbox.url.removesuffix("/ai")), "utf-8"
    )
    write_small(project, "one")
    write_small(project, "two")
    r = cli("plan")
    assert r.code == 1 and r.err.count("Error:") == 1, r.err
    assert "Internal error" not in r.err and "/api" in r.err


def test_same_second_submits_collide_on_the_portal(sandbox: SandboxServer) -> None:
    """The sandbox reproduces the real overwrite, so the next test can show scowspec never triggers it."""
    body = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    ids = []
    for name in ("first-job", "second-job"):
        r = requests.post(f"{sandbox.url}/api/jobs", json={**body, "trainJobName": name}, headers=AUTH, timeout=10)
        ids.append(r.json()["jobId"])
    every = sandbox.portal.store.all_jobs("alice", "ai-k8s")
    if every[0]["sessionId"] == every[1]["sessionId"]:  # same second (almost always): the first vanishes
        assert names(sandbox) == ["second-job"]
    else:
        assert names(sandbox) == ["first-job", "second-job"]


def test_apply_never_submits_twice_in_one_portal_second(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    for i in range(4):
        write_small(project, f"small-{i}")
    r = cli("apply", "--yes", "--parallelism", "8")
    assert r.code == 0, r.out + r.err
    every = sandbox.portal.store.all_jobs("alice", "ai-k8s")
    assert len(every) == 4 and len({j["sessionId"] for j in every}) == 4, "no two jobs share a job folder"
    assert len(jobs(sandbox)) == 4, "every job is listed"


def test_back_to_back_applies_never_share_a_portal_second(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    """The next apply (a script, a CI retry) starts at once: it must not submit in the second of the last one."""
    for i in range(3):
        write_small(project, f"small-{i}")
        r = cli("apply", "--yes")
        assert r.code == 0, r.out + r.err
    every = sandbox.portal.store.all_jobs("alice", "ai-k8s")
    assert len(every) == 3 and len({j["sessionId"] for j in every}) == 3, "no two jobs share a job folder"
    assert [n.rsplit("-", 1)[0] for n in names(sandbox)] == ["small-0", "small-1", "small-2"], "every job is listed"


def test_ctrl_c_while_apply_waits_out_its_last_second_still_reports_the_submit(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: SubmitGate) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SubmitGate, "drain", interrupted)
    write_small(project, "small-0")
    r = cli("apply", "--yes", "-o", "json")
    assert r.code == 130, r.out + r.err
    doc = json.loads(r.out)
    assert doc["interrupted"] is True and [x["outcome"] for x in doc["results"]].count("done") >= 1, doc
    assert len(jobs(sandbox)) >= 1


def test_new_job_missing_from_the_list_is_reported(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A submit whose job the list does not show (its folder was reused) is a failure, not 'submitted'."""
    client = client_of(sandbox)
    payload = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))

    class Vanishing:
        def list_jobs(self, cluster: str, *, running_only: bool = False) -> list[RemoteJob]:
            return client.list_jobs(cluster, running_only=running_only)

        def submit(self, body: dict[str, object]) -> int:
            job_id = client.submit(body)
            sandbox.portal.store.unlist(job_id)  # as when a same-second submit replaced its session record
            return job_id

        def cancel(self, cluster: str, job_id: int) -> None:
            client.cancel(cluster, job_id)

        def ensure_dir(self, cluster: str, path: str) -> bool:
            return client.ensure_dir(cluster, path)

    desired = Desired("qwen25-pku-identity", str(payload["trainJobName"]), "ai-k8s", "specs/x.yaml", payload, 2, 2, 60)
    change = Change(Action.SUBMIT, desired.spec_name, desired.job_name, "ai-k8s", "why", desired=desired)
    plan = Plan((change,), "fp", ("ai-k8s",))
    result = apply_plan(plan, Vanishing(), Journal(tmp_path / "journal.json"))  # type: ignore[arg-type]
    assert result.results[0].outcome.value == "failed"
    assert "does not show it" in result.results[0].message


def test_logs_of_a_running_job_return_although_the_stream_never_ends(
    cli: CLI, project: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_small(project, "one")
    assert cli("apply", "--yes").code == 0
    monkeypatch.setenv("SCOWSPEC_TIMEOUT", "60")  # so that only reading the first event can end it early
    started = time.monotonic()
    r = cli("logs", "one")
    assert r.code == 0 and "entry.sh: # scowspec" in r.out, r.err
    assert time.monotonic() - started < 30


def test_tensorboard_folder_is_made_before_the_submit(
    cli: CLI, project: Path, sandbox: SandboxServer, generation: Generation
) -> None:
    spec = write_small(project, "board")
    spec.write_text(spec.read_text("utf-8") + "tensorboard: {log_dir: /data/home/alice/tb/board}\n", "utf-8")
    assert sandbox.portal.store.file("alice", "/data/home/alice/tb") is None
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    assert sandbox.portal.store.file("alice", "/data/home/alice/tb/board") is not None
    assert sandbox.portal.store.file("alice", "/data/home/alice/finetune") is not None
    body = jobs(sandbox)[0]["body"]
    mounted = {m["path"] for m in body["mountPoints"]}
    assert ("/data/home/alice/finetune" in mounted) is (generation is Generation.RELEASE_0_5_4)


def test_a_missing_mount_source_of_the_spec_is_never_created(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = write_small(project, "mounted")
    spec.write_text(spec.read_text("utf-8") + "mounts: [{path: /data/home/alice/typo, target: /mnt/x}]\n", "utf-8")
    r = cli("apply", "--yes")
    assert r.code != 0 and "/data/home/alice/typo" in r.out + r.err
    assert "Internal error" not in r.err and "applying again converges" not in r.out + r.err
    assert sandbox.portal.store.file("alice", "/data/home/alice/typo") is None and jobs(sandbox) == []


def test_cancelling_a_job_that_just_finished_is_done_not_failed(sandbox: SandboxServer, tmp_path: Path) -> None:
    client = client_of(sandbox)
    payload = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    job_id = client.submit(payload)
    job = next(j for j in client.list_jobs("ai-k8s") if j.job_id == job_id)
    admin(sandbox, f"jobs/{job_id}/state", {"state": "COMPLETED"})
    with pytest.raises(PortalError) as raw:
        client.cancel("ai-k8s", job_id)
    assert raw.value.status == 500, "the portal answers 500 (JOB_COMPLETED), not 404"
    change = Change(Action.CANCEL, "gone", job.name, "ai-k8s", "spec removed", cancel=(job,))
    result = apply_plan(Plan((change,), "fp", ("ai-k8s",)), client, Journal(tmp_path / "journal.json"))
    assert result.results[0].outcome.value == "done" and "already ended (COMPLETED)" in result.results[0].message


def test_no_tensorboard_address_without_node_and_port(sandbox: SandboxServer) -> None:
    client = client_of(sandbox)
    payload = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    job_id = client.submit(payload)
    job = next(j for j in client.list_jobs("ai-k8s") if j.job_id == job_id)
    assert client.job_detail(job)["tensorBoardInfo"] == {"node": "", "port": 0}
    assert client.tensorboard_url(job) == ""


def test_an_unreadable_submission_record_never_blocks_the_plan(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    write_small(project, "kept")
    # An old scowspec-shaped job with no submit record (the portal answers 404 for its parameters).
    sandbox.portal.store.add("alice", "ai-k8s", "old-spec-0123abcd", {"command": "# scowspec 0.1"})
    r = cli("plan", "--prune")
    assert r.code == 0, r.err
    assert "could not be read" in r.out and "left alone" in r.out
    assert "- cancel" not in r.out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"account": "a_bob"}, "403", id="403-is-access-not-the-token"),
        pytest.param({"memory": "lots"}, "memory: Expected number", id="zod-issues-shown"),
    ],
)
def test_portal_refusals_say_what_the_portal_said(
    sandbox: SandboxServer, change: dict[str, object], expected: str
) -> None:
    client = client_of(sandbox)
    payload = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    with pytest.raises(PortalError) as err:
        client.submit({**payload, **change})
    assert expected in err.value.message
    assert "SCOWSPEC_TOKEN" not in err.value.hint


def test_harbor_image_is_refused_on_main_with_the_reason(sandbox: SandboxServer, generation: Generation) -> None:
    client = client_of(sandbox)
    payload = json.loads((Path(__file__).parent / "golden" / "qwen25-pku-identity.json").read_text("utf-8"))
    harbor = {**payload, "remoteImageUrl": "harbor.scow.example.edu.cn/public/llamafactory:0.9.4"}
    if generation is Generation.MAIN:
        with pytest.raises(PortalError) as err:
            client.submit(harbor)
        assert "image_address_validation_failed" in err.value.message and "Harbor" in err.value.message
    else:
        assert client.submit(harbor) > 0


def test_an_idle_token_expires_and_is_said_to(generation: Generation) -> None:
    server = start(clock=Clock(pending_s=0, run_s=0), generation=generation, token_idle_s=0.3)
    try:
        client = client_of(server)
        assert client.user_id() == "alice"
        time.sleep(0.5)
        with pytest.raises(PortalError) as err:
            client.user_id()
        assert err.value.status == 401 and "expired" in err.value.message and "1 h" in err.value.hint
    finally:
        server.shutdown()
        server.server_close()


def test_html_error_pages_are_one_clear_line(sandbox: SandboxServer) -> None:
    client = PortalClient(PortalSettings(sandbox.url.removesuffix("/ai") + "/nowhere", TOKEN, timeout_s=5.0))
    with pytest.raises(PortalError) as err:
        client.profile()
    assert "does not look like a SCOW-AI portal" in err.value.message and "/ai" in err.value.hint


@pytest.mark.parametrize(
    ("extra", "located"),
    [
        pytest.param("mounts: [{path: /data/home/alice/typo, target: /mnt/x}]\n", ":8:", id="missing-mount-source"),
        pytest.param("mounts: [{path: /data/home/bob/x, target: /mnt/x}]\n", "portal-home", id="mount-outside-home"),
        pytest.param("work_dir: /data/home/bob/work\n", "portal-home", id="work-dir-outside-home"),
        pytest.param("account: a_bob\n", "portal-account", id="account-cannot-use-cluster"),
        pytest.param("tensorboard: {log_dir: /data/other/tb}\n", "error[portal-home]", id="tensorboard-outside-home"),
    ],
)
def test_portal_rules_are_located_at_plan_time(
    cli: CLI, project: Path, sandbox: SandboxServer, extra: str, located: str
) -> None:
    spec = write_small(project, "ruled")
    spec.write_text(spec.read_text("utf-8") + extra, "utf-8")
    r = cli("plan")
    assert r.code == 3, r.out + r.err
    assert "specs/ruled.yaml:" in r.err and located in r.err, r.err
    assert jobs(sandbox) == []


def test_max_time_above_the_cluster_limit_is_located(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = write_small(project, "long")
    spec.write_text(spec.read_text("utf-8").replace("max_time: 1h", "max_time: 100h"), "utf-8")
    r = cli("plan")
    assert r.code == 3 and "specs/long.yaml:6:" in r.err and "error[portal-max-time]" in r.err, r.err
    assert "at most 72 h" in r.err


def test_an_image_from_the_portals_list_is_sent_by_id(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = write_small(project, "harbor")
    spec.write_text(spec.read_text("utf-8") + "image: {name: llamafactory, tag: 0.9.4}\n", "utf-8")
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    body = jobs(sandbox)[0]["body"]
    assert body["image"] == 21 and "remoteImageUrl" not in body


def test_an_unknown_portal_image_is_located(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = write_small(project, "harbor")
    spec.write_text(spec.read_text("utf-8") + 'image: {name: llamafactory, tag: "9.9"}\n', "utf-8")
    r = cli("plan")
    assert r.code == 3 and "specs/harbor.yaml:8:" in r.err and "no image `llamafactory:9.9`" in r.err, r.err
    assert "llamafactory:0.9.4" in r.err


@pytest.mark.parametrize(
    ("route", "status", "body", "says"),
    [
        pytest.param("POST /appSessions/list", 500, "html", "HTML page", id="html-error-page"),
        pytest.param("POST /appSessions/list", 500, "empty", "an empty body", id="empty-error-body"),
        pytest.param("POST /appSessions/list", 200, "empty", "not a job list", id="empty-200-is-no-job-list"),
        pytest.param("POST /appSessions/list", 200, "html", "no JSON", id="html-200"),
        pytest.param("GET /config/cluster/availablePartitions", 500, "json", "injected failure", id="json-500"),
    ],
)
def test_every_bad_portal_answer_is_one_clear_line(
    cli: CLI, project: Path, sandbox: SandboxServer, route: str, status: int, body: str, says: str
) -> None:
    write_small(project, "one")
    admin(sandbox, "faults", {"fail_next": 9, "fail_status": status, "fail_body": body, "route": route})
    r = cli("plan")
    assert r.code == 1, r.out + r.err
    assert says in r.err and route.split()[1] in r.err, r.err
    assert r.err.count("Error:") == 1 and "Internal error" not in r.err and "Traceback" not in r.err


def test_a_submit_answered_without_a_job_id_is_looked_up_not_repeated(
    cli: CLI, project: Path, sandbox: SandboxServer
) -> None:
    write_small(project, "one")
    # The submit is accepted, but its answer is an empty 200: the outcome is unknown until the list shows it.
    admin(sandbox, "faults", {"blank_next_submit": 1, "route": "POST /jobs"})
    r = cli("apply", "--yes")
    assert r.code == 0, r.out + r.err
    assert "answer lost, but job" in r.out and len(jobs(sandbox)) == 1


def test_a_dataset_file_missing_from_its_version_is_located(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    spec = write_small(project, "named")
    text = spec.read_text("utf-8").replace(
        "dataset: {version_id: 12, scope: mine, file: identity.json}",
        "dataset: {name: identity, scope: mine, file: identiy.json}",
    )
    spec.write_text(text, "utf-8")
    r = cli("plan")
    assert r.code == 3 and "specs/named.yaml:5:" in r.err and "`identiy.json` is not in" in r.err, r.err
    spec.write_text(text.replace("identiy.json", "identity.json"), "utf-8")
    assert cli("plan").code == 0


def test_without_an_openapi_document_the_cluster_config_tells_the_generation(
    sandbox: SandboxServer, generation: Generation
) -> None:
    admin(sandbox, "openapi", {"serve": False})
    assert requests.get(f"{sandbox.url}/api/openapi.json", headers=AUTH, timeout=5).status_code == 404
    assert client_of(sandbox).profile().generation is generation


@pytest.mark.parametrize("status", [401, 403, 500], ids=["guarded", "forbidden", "broken"])
def test_an_openapi_document_the_portal_refuses_is_not_needed(
    sandbox: SandboxServer, generation: Generation, status: int
) -> None:
    admin(sandbox, "openapi", {"status": status})
    assert requests.get(f"{sandbox.url}/api/openapi.json", headers=AUTH, timeout=5).status_code == status
    assert client_of(sandbox).profile().generation is generation


def test_a_bad_token_at_the_probe_is_a_token_error(sandbox: SandboxServer) -> None:
    admin(sandbox, "openapi", {"serve": False})
    with pytest.raises(PortalError) as err:
        PortalClient(PortalSettings(sandbox.url, "not-the-token", timeout_s=5.0)).profile()
    assert err.value.status == 401 and "SCOWSPEC_TOKEN" in err.value.message


def test_one_broken_spec_adds_no_errors_to_the_valid_ones(cli: CLI, project: Path, sandbox: SandboxServer) -> None:
    write_small(project, "fine")
    (project / "specs" / "broken.yaml").write_text("apiVersion: scowspec/v1\nkind: FineTune\nname: broken\n", "utf-8")
    for command in ("plan", "status"):
        r = cli(command)
        assert r.code == 3, r.out + r.err
        assert "specs/fine.yaml" not in r.err and "needs-portal" not in r.err, r.err


@pytest.mark.parametrize("driver", [pytest.param(d, id=d.value) for d in FileDriver])
def test_the_file_drivers_ways_of_saying_no_such_folder_all_read_as_not_found(driver: FileDriver) -> None:
    """scowd answers a listing of a missing folder with 400 (or 404), SSH with 412; an SFTP mkdir under a missing
    parent or of a folder made meanwhile is a bare 500. scowspec asks checkExist and sees one answer each."""
    with sandbox_over(driver) as server:
        client = client_of(server)
        gone = "/data/home/alice/nowhere/deeper"
        with pytest.raises(NotFoundError):
            client.list_directory("ai-k8s", gone)
        with pytest.raises(NotFoundError):
            client.delete("ai-k8s", f"{gone}/file", folder=False)
        if driver is FileDriver.SSH:
            with pytest.raises(NotFoundError):
                client.mkdir("ai-k8s", gone)  # one level at a time over SFTP
        else:
            client.mkdir("ai-k8s", gone)  # scowd makes the parents too
            assert client.list_directory("ai-k8s", "/data/home/alice/nowhere")[0]["name"] == "deeper"
        client.mkdir("ai-k8s", "/data/home/alice/here")
        with pytest.raises(ConflictError):
            client.mkdir("ai-k8s", "/data/home/alice/here")
        with pytest.raises(PortalError) as other:
            client.list_directory("ai-k8s", "/data/home/alice/datasets/identity/v0/identity.json")  # a file
        assert not isinstance(other.value, NotFoundError)
