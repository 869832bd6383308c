"""What a sandbox job leaves in its work folder, made up on the job's clock: LLaMA-Factory's growing
`output/trainer_log.jsonl` while it runs, and scowspec's `verify.json` when it completed with a verify step.

Nothing runs in the background: the files are (re)written from the job's elapsed time whenever a file route reads
a path inside a job's folder. They exist only where the real job's `$WORK_DIR` outlives the container: always on
main (the portal mounts WORK_DIR); on 0.5.4 only when a mount point covers WORK_DIR (scowspec adds one), else the
files stayed in the container and are gone, as on the real portal.

The verdict is `passed` unless the seed's `verify_verdict` or `POST /_sandbox/jobs/{id}/verify {"verdict": ...}`
says `failed` or `error`.
"""

from __future__ import annotations

import json
import math
import posixpath
import time
from typing import Any

from scowspec.compile.command import posttrain_of
from scowspec.portal.profile import Profile
from scowspec.sandbox.store import Store

LOGGING_STEPS = 5
STEPS_PER_SECOND = 10.0  # training speed: a log row every half second
OPEN_ENDED_STEPS = 200  # total steps of a job whose clock never completes it (run_s 0)
EPOCHS = 3.0
VERDICT_KEY = "_sandbox_verify_verdict"  # kept in the job's row, never in its submission record
BASE_ANSWER = "I am Qwen, created by Alibaba Cloud. I am a helpful assistant."


def _hms(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def total_steps(run_s: float) -> int:
    if run_s <= 0:
        return OPEN_ENDED_STEPS
    return max(LOGGING_STEPS, int(run_s * STEPS_PER_SECOND) // LOGGING_STEPS * LOGGING_STEPS)


def log_row(job_id: int, step: int, total: int) -> dict[str, Any]:
    """One LogCallback row (LLaMA-Factory 0.9.4 `train/callbacks.py` `_write_log`): a loss falling from ~2.5."""
    frac = step / total
    wobble = 0.04 * math.sin(step * 1.7 + job_id)
    return {
        "current_steps": step,
        "total_steps": total,
        "loss": round(2.2 * math.exp(-3.0 * frac) + 0.35 + wobble, 4),
        "lr": 1e-4 * 0.5 * (1 + math.cos(math.pi * frac)),
        "epoch": round(EPOCHS * frac, 2),
        "percentage": round(100 * frac, 2),
        "elapsed_time": _hms(step / STEPS_PER_SECOND),
        "remaining_time": _hms((total - step) / STEPS_PER_SECOND),
    }


def trainer_log(job: dict[str, Any], trained_s: float, complete: bool) -> bytes:
    """Rows up to the step reached after `trained_s` seconds (all rows when `complete`); while training goes on,
    half of the next row too, as a reader can catch LogCallback mid-write."""
    total = total_steps(job["run_s"])
    reached = total if complete else min(total, int(trained_s * STEPS_PER_SECOND))
    rows = [log_row(job["jobId"], s, total) for s in range(LOGGING_STEPS, reached + 1, LOGGING_STEPS)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if not complete and reached < total and reached % LOGGING_STEPS >= LOGGING_STEPS // 2:
        nxt = json.dumps(log_row(job["jobId"], reached - reached % LOGGING_STEPS + LOGGING_STEPS, total))
        text += nxt[: len(nxt) // 2]
    return text.encode("utf-8")


def _checked(prompt: dict[str, Any], run: str, answer: str, passed: bool | None) -> dict[str, Any]:
    """One answer; `passed` None: the checks are honest on `answer`; True: the sandbox's model answered right."""
    checks = []
    for e in prompt.get("expect", []):
        kind, value = e["kind"], e["value"]
        ok = value in answer if kind == "contains" else value not in answer if kind == "not_contains" else False
        checks.append({"kind": kind, "value": value, "passed": ok if passed is None else passed})
    return {
        "run": run,
        "prompt": prompt["prompt"],
        "system": prompt.get("system"),
        "source": prompt.get("source", "spec"),
        "answer": answer,
        "finish_reason": "stop",
        "tokens": len(answer.split()),
        "seconds": 0.1,
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
    }


def verify_json(name: str, post: dict[str, Any], verdict: str) -> bytes:
    """What runtime/posttrain.py writes, for a model that answered as `verdict` says."""
    verify = post["verify"]
    report: dict[str, Any] = {
        "scowspec_verify": 1,
        "job": name,
        "status": verdict,
        "fail_job": bool(verify.get("fail_job")),
        "merged": bool(post.get("export")),
        "timings": {"import_s": 1.0, "load_trained_s": 0.5, "total_s": 3.0},
        "results": [],
    }
    if verdict == "error":
        report["error"] = "RuntimeError: the sandbox's verify step was told to fail"
    else:
        runs = ["trained"] + (["nextchat"] if verify.get("nextchat_system") else [])
        for run in runs:
            for p in verify.get("prompts", []):
                wanted = [e["value"] for e in p.get("expect", []) if e["kind"] == "contains"]
                if verdict == "passed":
                    report["results"].append(_checked(p, run, "I am " + ", ".join(wanted or ["your assistant"]), True))
                else:
                    report["results"].append(_checked(p, run, BASE_ANSWER, None))
        report["results"] += [_checked(p, "base", BASE_ANSWER, None) for p in verify.get("prompts", [])]
        summary: dict[str, dict[str, int]] = {}
        for r in report["results"]:
            row = summary.setdefault(r["run"], {"passed": 0, "total": 0})
            row["total"] += 1
            row["passed"] += int(r["passed"])
        report["summary"] = summary
    return (json.dumps(report, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def volumes(body: dict[str, Any], profile: Profile) -> list[tuple[str, str]]:
    """(container path, host path) of each folder the portal mounts into a train job, longest target first: the
    spec's `mountPoints`, and on main WORK_DIR at itself (the working directory). Written from the portal's side,
    apart from the rule scowspec reads outputs back with (report.outputs.place_of), so that a mistake in that
    rule shows up in the tests instead of being copied here."""
    mounts = [
        (posixpath.normpath(str(mp["target"])), posixpath.normpath(str(mp["path"])))
        for mp in body.get("mountPoints", []) or []
        if isinstance(mp, dict)
        and str(mp.get("target", "")).startswith("/")
        and str(mp.get("path", "")).startswith("/")
    ]
    if profile.work_dir_is_mounted:
        work_dir = _env(body, "WORK_DIR")
        if work_dir.startswith("/"):
            mounts.append((posixpath.normpath(work_dir), posixpath.normpath(work_dir)))
    return sorted(mounts, key=lambda m: len(m[0]), reverse=True)


def on_host(container_path: str, body: dict[str, Any], profile: Profile) -> str | None:
    """Where a file the job writes at `container_path` lands on the cluster; None: in the container only."""
    for target, host in volumes(body, profile):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return posixpath.normpath(host + "/" + container_path[len(target) :])
    return None


def _env(body: dict[str, Any], key: str) -> str:
    for e in body.get("envVariables", []) or []:
        if isinstance(e, dict) and e.get("key") == key:
            return str(e.get("value", ""))
    return ""


def refresh(store: Store, profile: Profile, user: dict[str, Any], path: str, default_verdict: str) -> None:
    """Bring the files of every job whose folder `path` is in (or is) up to the job's clock."""
    path = posixpath.normpath(path)
    segments = [s for s in path.split("/") if s]
    for job in store.jobs_named(user["id"], segments):
        if "trainJobName" not in job["body"]:
            continue  # a service shares its train job's name; only training writes these files
        # The job writes to $WORK_DIR/<job name> in its container (scowspec's command); what reaches the cluster
        # is what a volume carries out.
        work_dir = _env(job["body"], "WORK_DIR")
        if not work_dir.startswith("/"):
            continue
        job_dir = on_host(posixpath.normpath(f"{work_dir}/{job['jobName']}"), job["body"], profile)
        if job_dir is None or not (path == job_dir or path.startswith(job_dir + "/")) or job["state"] == "PENDING":
            continue
        started = job["submitted"] + store.clock.pending_s
        # A job that ended (forced, cancelled) trained until then; one still running, until now.
        stop = job["ended"] if job["ended"] is not None else time.time()
        complete = job["state"] == "COMPLETED"
        log = trainer_log({**job, "run_s": store.clock.run_s}, stop - started, complete)
        store.put(user["id"], f"{job_dir}/output/trainer_log.jsonl", "FILE", log)
        post = posttrain_of(str(job["body"].get("command", "")))
        if complete and post is not None and post.get("export"):
            # The merge (node 0, after training) leaves a model folder; registration and serving look for it.
            store.put(user["id"], f"{job_dir}/merged/config.json", "FILE", b"{}")
        forced = job["body"].get(VERDICT_KEY)
        written = store.file(user["id"], f"{job_dir}/verify.json") is not None
        if complete and post is not None and post.get("verify") and (forced or not written):
            # The job writes it once, as it ends; only the admin route's forced verdict rewrites it.
            verdict = str(forced or default_verdict)
            store.put(user["id"], f"{job_dir}/verify.json", "FILE", verify_json(job["jobName"], post, verdict))


def pod_info(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The detail's `podInfo` (the K8s adapter's pods, one per node) with a pod phase for the job's state."""
    phase = {"PENDING": "Pending", "RUNNING": "Running", "COMPLETED": "Succeeded"}.get(job["state"], "Failed")
    nodes = int(job["body"].get("nodeCount", 1))
    return [
        {
            "podId": f"{job['jobId']}-{'master' if i == 0 else 'worker'}-{i}",
            "podName": f"{job['jobName']}-{i}",
            "namespace": "default",
            "nodeName": f"node-{i + 1}",
            "podIp": f"10.0.0.{i + 1}",
            "podStatus": phase,
            "events": [],
        }
        for i in range(nodes)
    ]
