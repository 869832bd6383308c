"""The sandbox HTTP server: SCOW-AI's REST routes under /ai/api, plus /_sandbox admin routes for faults.

Error bodies follow trpc-to-openapi: `{"message", "code", "data": {"detailedError"?}, "issues"?}` with the tRPC
code's HTTP status. One server speaks one portal generation (`--portal 0.5.4|main`): what differs is read from its
Profile (`portal/profile.py`), which scowspec's client follows too. Faithful where the real portal is unkind:
second-resolution job folders that collide, log streams that never end while the pod exists, mount sources that
must exist, 500 on cancelling a finished or unknown job, `tensorBoardInfo` always present, several nodes without a
framework silently becoming MPI, login tokens that expire when idle.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scowspec.portal.profile import PROFILES, Generation, Profile
from scowspec.sandbox import checks, files, joboutputs, openapi, serving
from scowspec.sandbox.checks import Rejected
from scowspec.sandbox.files import FileDriver, Raw
from scowspec.sandbox.store import Clock, Store

BASE = "/ai/api"
FINISHED = ("COMPLETED", "FAILED", "CANCELED", "TIMEOUT")


@dataclass
class Faults:
    """Injected misbehaviour. Counters count down per matching request; `route` is e.g. 'POST /jobs'."""

    latency_ms: int = 0
    fail_next: int = 0
    fail_status: int = 503
    fail_body: str = "json"  # what a failure carries: json (trpc error), html (a proxy's page), empty
    drop_next: int = 0
    lose_next_submit: int = 0
    blank_next_submit: int = 0  # accepted and stored, answered 200 with an empty body
    mkdir_gap_ms: int = 0  # between mkdir's look and its make (files.py): concurrent mkdirs of one path both pass
    route: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, what: str, route: str) -> bool:
        with self.lock:
            if getattr(self, what) > 0 and (not self.route or route.startswith(self.route)):
                setattr(self, what, getattr(self, what) - 1)
                return True
        return False


def load_seed() -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(resources.files("scowspec.sandbox").joinpath("seed.json").read_text("utf-8"))
    return seed


class Portal:
    """Routing and state; one per server, speaking one portal generation (its Profile)."""

    def __init__(
        self,
        store: Store,
        seed: dict[str, Any] | None = None,
        profile: Profile = PROFILES[Generation.MAIN],
        token_idle_s: float | None = None,
        file_driver: FileDriver = FileDriver.SCOWD,
    ) -> None:
        self.store = store
        self.seed = seed or load_seed()
        self.profile = profile
        self.file_driver = file_driver  # a cluster's setting (scowd on or off), not the portal generation's
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.closing = threading.Event()
        # Whether GET /api/openapi.json answers: the file that serves it was not found in SCOW's source, so a
        # real portal may well answer 404 (scowspec then probes GET /config/scowCluster).
        self.serves_openapi = True
        # Or answers with this status (401, 403, 500): a portal may guard the document or break on it.
        self.openapi_refusal = 0
        self.token_idle_s = float(self.seed["token_idle_seconds"] if token_idle_s is None else token_idle_s)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        for user in self.seed["users"]:
            self.store.put(user["id"], user["home"], "DIR")
            for path, content in self.seed.get("files", {}).get(user["id"], {}).items():
                self.store.put(user["id"], path, "FILE", content.encode("utf-8"))
            for kind in ("models", "datasets"):
                for asset in self.seed[kind]:
                    for v in asset["versions"]:
                        self.store.put(user["id"], v["path"], "DIR")
        self.serving = serving.Serving(self)

    # -- auth ----------------------------------------------------------------------------
    def user(self, headers: Any) -> dict[str, Any]:
        token = (headers.get("x-scow-api-auth-token") or "").strip() or _cookie(headers.get("cookie", ""), "SCOW_USER")
        if token and token == self.seed["api_secret"]:
            uid = headers.get("x-scow-user-id", "")
            found = [u for u in self.seed["users"] if u["id"] == uid]
            if found:
                return dict(found[0])
            raise Rejected(401, "UNAUTHORIZED", "UNAUTHORIZED")
        for u in self.seed["users"]:
            if token and u["token"] == token:
                # A login token lives in Redis with a sliding TTL (auth's tokenTimeoutSeconds, 1 h by default).
                now = time.monotonic()
                with self._lock:
                    last = self._seen.get(token, now)
                    if now - last > self.token_idle_s:
                        self._seen[token] = float("-inf")  # gone from Redis: never valid again
                        break
                    self._seen[token] = now
                return dict(u)
        raise Rejected(401, "UNAUTHORIZED", "UNAUTHORIZED")

    # -- routes --------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any, headers: Any) -> tuple[int, Any]:
        if path.startswith("/_sandbox/"):
            return self.admin(method, path, body)
        if not path.startswith(BASE + "/"):
            raise Rejected(404, "NOT_FOUND", f"No route {path}")
        route = path[len(BASE) :]
        if method == "GET" and route == "/openapi.json" and self.openapi_refusal:
            code = {401: "UNAUTHORIZED", 403: "FORBIDDEN"}.get(self.openapi_refusal, "INTERNAL_SERVER_ERROR")
            raise Rejected(self.openapi_refusal, code, "openapi.json refused")
        if method == "GET" and route == "/openapi.json" and self.serves_openapi:  # public, like the portal's
            doc = openapi.document(self.profile)
            doc["paths"].update(self.serving.openapi_paths())
            return 200, doc
        user = self.user(headers)
        if method == "GET" and route == "/auth/userInfo":
            return 200, {"user": {"identityId": user["id"], "name": user["id"], "token": "***"}}
        if route.startswith("/file/"):
            asked = (body if method == "POST" and isinstance(body, dict) else query).get("path")
            if isinstance(asked, str) and asked.startswith("/"):  # a job's files, up to its clock
                joboutputs.refresh(self.store, self.profile, user, asked, self.seed.get("verify_verdict", "passed"))
            gap_s = self.faults.mkdir_gap_ms / 1000
            return 200, files.route(self.store, user, method, route, query, body, self.file_driver, gap_s)
        if method == "POST" and route == "/appSessions/list":
            return 200, self.list_sessions(user, body)
        if method == "POST" and route == "/jobs":
            return 200, self.submit(user, body)
        if (m := re.fullmatch(r"/jobs/(\d+)", route)) and method == "DELETE":
            self.cancel(user, int(m.group(1)), query.get("cluster", ""))
            return 200, None
        if (m := re.fullmatch(r"/jobs/(\d+)/submissionParameters", route)) and method == "GET":
            return 200, self.submission_parameters(user, int(m.group(1)))
        if (m := re.fullmatch(r"/jobs/pods/(\d+)", route)) and method == "GET":
            return 200, self.pods(user, int(m.group(1)))
        if (m := re.fullmatch(r"/jobs/podLogs/download/(\d+)-(worker|master)-(\d+)", route)) and method == "GET":
            return 200, Raw(
                "".join(f"{line}\n" for line in self.pod_log(user, int(m.group(1)), int(m.group(3)))).encode()
            )
        if (m := re.fullmatch(r"/jobs/podLogs/(\d+)-(worker|master)-(\d+)", route)) and method == "GET":
            job_id, index = int(m.group(1)), int(m.group(3))
            rows = int(query.get("rowLimit") or 0)
            return 200, LogStream(self, user, job_id, index, rows)
        if method == "GET" and route == "/appSession":
            return 200, self.detail(user, int(query.get("jobId", "0")))
        if method == "GET" and route == "/config/cluster/availablePartitions":
            return 200, self.partitions(user, query)
        if method == "GET" and route == "/config/scowCluster":
            return 200, self.scow_clusters()
        if method == "GET" and route == "/config":
            return 200, self.public_config()
        if method == "GET" and route == "/apps/accountsAndClusters":
            return 200, {"accountClusters": {a: list(self.seed["clusters"]) for a in user["accounts"]}}
        if method == "GET" and route == "/images":
            return 200, self.images(user, query)
        if (m := re.fullmatch(r"/(models|datasets)", route)) and method == "GET":
            return 200, self.assets(user, m.group(1), query)
        if (m := re.fullmatch(r"/(models|datasets)/(\d+)/versions", route)) and method == "GET":
            return 200, self.versions(user, m.group(1), int(m.group(2)))
        handled, answer = self.serving.route(user, method, route, query, body)
        if handled:
            return 200, answer
        raise Rejected(404, "NOT_FOUND", f"No route {method} {route}")

    def max_hours(self, cluster: str) -> int:
        # main: clusters[id].ai.train.maxRunningTimeHours; 0.5.4: the global aiConfig.maxJobRunningTimeHours.
        if self.profile.max_time_per_cluster:
            return int(self.seed["clusters"][cluster].get("maxRunningTimeHours", self.seed["max_running_time_hours"]))
        return int(self.seed["max_running_time_hours"])

    def scow_clusters(self) -> dict[str, Any]:
        ai: dict[str, Any] = {"devHost": {"enabled": False}, "clusterPublicPath": "/data/public"}
        if self.profile.max_time_per_cluster:
            out = {}
            for cid in self.seed["clusters"]:
                out[cid] = {"scowdEnabled": True, "ai": {**ai, "train": {"maxRunningTimeHours": self.max_hours(cid)}}}
            return out
        return {cid: {"scowdEnabled": True, "ai": ai} for cid in self.seed["clusters"]}

    def public_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"CLUSTERS": [{"id": cid, "name": cid} for cid in self.seed["clusters"]]}
        if not self.profile.max_time_per_cluster:
            out["MAX_JOB_RUNNING_TIME_HOURS"] = self.seed["max_running_time_hours"]
        return out

    def list_sessions(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "clusterId" not in body:
            raise checks.bad("Input validation failed", {"issues": [{"path": ["clusterId"], "message": "Required"}]})
        jobs = self.serving.of_types(self.store.jobs(user["id"], body["clusterId"]), body.get("jobTypes"))
        running = body.get("isRunning")
        if running == "true":
            jobs = [j for j in jobs if j["state"] not in FINISHED]
        elif running == "false":
            jobs = [j for j in jobs if j["state"] in FINISHED]
        page, size = int(body.get("page", 1)), int(body.get("pageSize", 0))
        count = len(jobs)
        if size > 0:
            jobs = jobs[(page - 1) * size : page * size]
        return {"sessions": [self.serving.session(j, _session(j)) for j in jobs], "count": count}

    def submit(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        checks.shape(body)
        if body["clusterId"] not in self.seed["clusters"]:
            raise Rejected(404, "NOT_FOUND", f"Cluster id {body['clusterId']} is not found. Please confirm and retry.")
        if body["account"] not in user["accounts"]:
            raise Rejected(
                403,
                "FORBIDDEN",
                f"User {user['id']} is not available in account {body['account']}",
                {"type": "account_user_not_available", "userId": user["id"], "accountName": body["account"]},
            )
        parts = {p["name"]: p for p in self.seed["clusters"][body["clusterId"]]["partitions"]}
        part = parts.get(body.get("partition", ""))
        if part is None:
            raise Rejected(
                403,
                "FORBIDDEN",
                f"Partition {body.get('partition')} is not available",
                {
                    "type": "cluster_partition_not_available",
                    "clusterId": body["clusterId"],
                    "accountName": body["account"],
                    "partitionName": body.get("partition"),
                },
            )
        checks.submit(body, user["home"], self.max_hours(body["clusterId"]), self.profile, self.seed["harbor"])
        if body.get("image") is not None and not any(i["id"] == body["image"] for i in self.seed["images"]):
            raise Rejected(404, "NOT_FOUND", f"Image {body['image']} is not found")
        for mp in body.get("mountPoints", []):
            # scowdJobDriver stats every mount source before the job exists (getFileMetadata).
            if self.store.file(user["id"], mp["path"]) is None:
                raise Rejected(404, "NOT_FOUND", f"5 NOT_FOUND: {mp['path']} does not exist")
        if body.get("gpuCount", 0) > part.get("maxAcceleratorsPerPod", 8):
            raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed, MAX_ACCELERATORS_PER_POD_LIMIT")
        for kind in ("models", "datasets"):
            for ref in body.get(kind, []):
                self._accessible(user, kind, ref)
        stored = dict(body)
        if int(body["nodeCount"]) > 1 and not body.get("framework"):
            # The K8s adapter's SetEnv default branch: no framework on several nodes becomes an MPI job.
            stored["framework"] = "mpi"
        return {"jobId": self._create(user, stored)}

    def _create(
        self, user: dict[str, Any], body: dict[str, Any], kind: str = "job", name_key: str = "trainJobName"
    ) -> int:
        """The driver's folder logic: `{cluster}-{kind}-YYYYMMDD-HHmmss` (an app's id for apps), one-second
        resolution, no suffix.

        A second submit in the same second reuses the folder: entry.sh and session.json are overwritten and
        the first job's entry in total_sessions.json is replaced, so no list shows it any more; a job whose
        pod has not started yet then runs the newer command.
        """
        uid, cluster = user["id"], body["clusterId"]
        with self._submit_lock:
            session = f"{cluster}-{kind}-{time.strftime('%Y%m%d-%H%M%S', time.localtime())}"
            for older in self.store.listed_with_session(uid, cluster, session):
                self.store.unlist(older)
                old = self.store.job(older)
                if old is not None and old["state"] == "PENDING":
                    self.store.replace_body(older, {**old["body"], "command": body["command"]})
            job_dir = f"{user['home']}/scow/ai/appData/{session}"
            self.store.put(uid, job_dir + "/entry.sh", "FILE", str(body.get("command", "")).encode("utf-8"))
            job_id = self.store.add(uid, cluster, str(body[name_key]), body, session)
            self.store.put(uid, f"{job_dir}/{job_id}-input.json", "FILE", json.dumps(body).encode("utf-8"))
        return job_id

    def _accessible(self, user: dict[str, Any], kind: str, ref: Any) -> None:
        if self.serving.accessible(user, kind, ref):
            return
        for asset in self.seed[kind]:
            for v in asset["versions"]:
                if v["id"] == ref.get("id"):
                    mine = asset["owner"] == user["id"]
                    if (ref.get("isPrivate") and not mine) or (not ref.get("isPrivate") and not asset["shared"]):
                        raise Rejected(403, "FORBIDDEN", f"{kind[:-1]} version id {v['id']} is not accessible")
                    return
        raise Rejected(404, "NOT_FOUND", f"{kind[:-1]} version(s) {ref.get('id')} not found")

    def own_job(self, user: dict[str, Any], job_id: int) -> dict[str, Any]:
        job = self.store.job(job_id)
        if job is None or job["user"] != user["id"]:
            raise Rejected(404, "NOT_FOUND", f"Job {job_id} is not found")
        return job

    def submission_parameters(self, user: dict[str, Any], job_id: int) -> dict[str, Any]:
        """The submit record, `{jobId}-input.json` in the job folder; a job with none (made before the portal
        kept records, or by other means) answers 404, as the portal's fallback does."""
        job = self.own_job(user, job_id)
        record = self.store.file(user["id"], f"{user['home']}/scow/ai/appData/{job['sessionId']}/{job_id}-input.json")
        if record is None:
            raise Rejected(404, "NOT_FOUND", f"The submission parameters of job {job_id} are not found")
        body: dict[str, Any] = json.loads(bytes(record["content"]))
        return body

    def cancel(self, user: dict[str, Any], job_id: int, cluster: str) -> None:
        """The adapter's CancelJob, uncaught by the web route: its gRPC errors arrive as 500."""
        job = self.store.job(job_id)
        if job is None or job["user"] != user["id"] or job["cluster"] != cluster:
            raise Rejected(500, "INTERNAL_SERVER_ERROR", f"5 NOT_FOUND: JOB_NOT_FOUND: job {job_id} not found")
        if job["state"] in ("COMPLETED", "TIMEOUT"):
            raise Rejected(500, "INTERNAL_SERVER_ERROR", f"13 INTERNAL: JOB_COMPLETED: job {job_id} is completed")
        if job["state"] not in FINISHED:  # FAILED/CANCELED: cleanup only, 200
            self.store.force_state(job_id, "CANCELED")

    def pods(self, user: dict[str, Any], job_id: int) -> dict[str, Any]:
        job = self.own_job(user, job_id)
        nodes = int(job["body"].get("nodeCount", 1))
        return {
            "pods": [
                {"podId": f"{job_id}-{'master' if i == 0 else 'worker'}-{i}", "podName": f"{job['jobName']}-{i}"}
                for i in range(nodes)
            ]
        }

    def pod_log(self, user: dict[str, Any], job_id: int, index: int) -> list[str]:
        """A made-up but plausible log: what the entry script prints first, then one line a second while RUNNING."""
        job = self.own_job(user, job_id)
        first = str(job["body"].get("command", "")).splitlines()[:1]
        lines = [
            f"[sandbox] pod {index} of job {job_id} ({job['jobName']}) is {job['state']}",
            f"[sandbox] entry.sh: {first[0] if first else '(empty command)'}",
            "scowspec: configs written to $WORK_DIR/" + job["jobName"] + "/config",
        ]
        started = job["submitted"] + self.store.clock.pending_s
        ran = (job["ended"] or time.time()) - started
        lines += [f"[sandbox] training step {i + 1}" for i in range(max(0, int(ran)))]
        return lines

    def pod_alive(self, job_id: int) -> bool:
        job = self.store.job(job_id)
        return job is not None and job["state"] not in FINISHED and not self.closing.is_set()

    def detail(self, user: dict[str, Any], job_id: int) -> dict[str, Any]:
        job = self.own_job(user, job_id)
        out = {
            **self.serving.session(job, _session(job)),
            "account": job["body"].get("account"),
            "qos": job["body"].get("qos"),
        }
        out.update(self.serving.detail(job))
        # Always present (job.go GetJobById); node and port only once the TensorBoard service has its NodePort.
        out["tensorBoardInfo"] = {"node": "", "port": 0}
        out["podInfo"] = joboutputs.pod_info(job)
        if job["body"].get("tensorBoardDataPath") and job["state"] == "RUNNING":
            out["tensorBoardInfo"] = {"node": "node-1", "port": 30000 + job_id % 1000}
        return out

    def partitions(self, user: dict[str, Any], query: dict[str, str]) -> list[dict[str, Any]]:
        cluster = self.seed["clusters"].get(query.get("clusterId", ""))
        if cluster is None:
            raise Rejected(404, "NOT_FOUND", f"Cluster id {query.get('clusterId')} is not found.")
        if query.get("accountName") not in user["accounts"]:
            raise Rejected(403, "FORBIDDEN", f"Account {query.get('accountName')} is not available")
        return [
            dict(p, idleCores=p["cores"], idleGpus=p["gpus"], acceleratorDescriptions=[]) for p in cluster["partitions"]
        ]

    def images(self, user: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """route/image/image.ts: own images by default, `isPublic=true` shared ones, `isPlatformOwned` the
        platform's. main's list no longer carries `path` (the Harbor address); 0.5.4's does."""
        if query.get("isPlatformOwned") == "true":
            items = [i for i in self.seed["images"] if i["owner"] == "admin"]
        elif query.get("isPublic") == "true":
            items = [i for i in self.seed["images"] if i["shared"]]
        else:
            items = [i for i in self.seed["images"] if i["owner"] == user["id"]]
        if self.profile.refuses_harbor_remote_image:
            items = [{k: v for k, v in i.items() if k != "path"} for i in items]
        return {"items": items, "count": len(items)}

    def assets(self, user: dict[str, Any], kind: str, query: dict[str, str]) -> dict[str, Any]:
        public = query.get("isPublic") == "true"
        name = query.get("nameOrDesc", "")
        items = [
            {"id": a["id"], "name": a["name"], "owner": a["owner"], "isShared": a["shared"]}
            for a in self.seed[kind]
            if (a["shared"] if public else a["owner"] == user["id"]) and (not name or name in a["name"])
        ]
        items += self.serving.assets(user, kind, public, name)
        return {"items": items, "count": len(items)}

    def versions(self, user: dict[str, Any], kind: str, asset_id: int) -> dict[str, Any]:
        if (registered := self.serving.versions(user, kind, asset_id)) is not None:
            return registered
        for a in self.seed[kind]:
            if a["id"] == asset_id and (a["shared"] or a["owner"] == user["id"]):
                return {"items": [dict(v, sharedStatus="SHARED" if a["shared"] else "UNSHARED") for v in a["versions"]]}
        raise Rejected(404, "NOT_FOUND", f"{kind[:-1]} {asset_id} not found")

    def admin(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/_sandbox/faults" and method == "POST":
            with self.faults.lock:
                for k, v in (body or {}).items():
                    if k in (
                        "latency_ms",
                        "fail_next",
                        "fail_status",
                        "fail_body",
                        "drop_next",
                        "lose_next_submit",
                        "blank_next_submit",
                        "mkdir_gap_ms",
                        "route",
                    ):
                        setattr(self.faults, k, v)
            return 200, {"ok": True}
        if path == "/_sandbox/openapi" and method == "POST":
            self.serves_openapi = bool((body or {}).get("serve", True))
            self.openapi_refusal = int((body or {}).get("status", 0))
            return 200, {"ok": True}
        if path == "/_sandbox/stats" and method == "GET":
            return 200, {"requests": dict(self.requests)}
        if path == "/_sandbox/infer" and method == "POST":
            return 200, self.serving.admin(body)
        if (m := re.fullmatch(r"/_sandbox/jobs/(\d+)/state", path)) and method == "POST":
            self.store.force_state(int(m.group(1)), str((body or {}).get("state", "FAILED")))
            return 200, {"ok": True}
        if (m := re.fullmatch(r"/_sandbox/jobs/(\d+)/verify", path)) and method == "POST":
            # The verdict the job's verify step will write: passed, failed or error.
            job = self.store.job(int(m.group(1)))
            if job is None:
                raise Rejected(404, "NOT_FOUND", f"Job {m.group(1)} is not found")
            verdict = str((body or {}).get("verdict", "failed"))
            self.store.replace_body(job["jobId"], {**job["body"], joboutputs.VERDICT_KEY: verdict})
            return 200, {"ok": True}
        raise Rejected(404, "NOT_FOUND", f"No admin route {method} {path}")


@dataclass
class LogStream:
    """`GET /jobs/podLogs/{podId}`: the whole log (or its rowLimit tail) as a first event, then new lines as they
    come, and no end while the pod exists (the adapter polls every 5 s forever)."""

    portal: Portal
    user: dict[str, Any]
    job_id: int
    index: int
    rows: int
    poll_s: float = 0.2

    def events(self) -> Iterator[str]:
        lines = self.portal.pod_log(self.user, self.job_id, self.index)
        sent = len(lines)
        yield "\n".join(lines[-self.rows :] if self.rows > 0 else lines)
        alive = True
        while alive:
            alive = self.portal.pod_alive(self.job_id)  # read once more after the end: the pod's last lines
            time.sleep(self.poll_s)
            lines = self.portal.pod_log(self.user, self.job_id, self.index)
            if len(lines) > sent:
                yield "\n".join(lines[sent:])
                sent = len(lines)


def _session(job: dict[str, Any]) -> dict[str, Any]:
    body = job["body"]
    image, _, tag = str(body.get("remoteImageUrl", "")).rpartition(":")
    gpus = int(body.get("gpuCount", 0)) * int(body.get("nodeCount", 1))
    return {
        "sessionId": job["sessionId"],
        "jobName": job["jobName"],
        "jobId": job["jobId"],
        "submitTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job["submitted"])),
        "jobType": "train",
        "image": {"name": image, "tag": tag},
        "state": job["state"],
        "dataPath": f"/data/home/{job['user']}/scow/ai/appData/{job['sessionId']}",
        "runningTime": "",
        "timeLimit": f"{body.get('maxTime', 0)}m",
        "partition": body.get("partition", ""),
        "gpusReq": gpus,
        "gpusAlloc": gpus,
        "cpusReq": body.get("coreCount", 0),
        "cpusAlloc": body.get("coreCount", 0),
        "memReq": body.get("memory", 0),
        "memAlloc": body.get("memory", 0),
        "nodesReq": body.get("nodeCount", 1),
        "nodesAlloc": body.get("nodeCount", 1),
    }


def _error_body(rej: Rejected, route: str) -> dict[str, Any]:
    """trpc-to-openapi's error shape: detailedError under `data`, zod's `issues` at the top."""
    data: dict[str, Any] = {"code": rej.code, "httpStatus": rej.status, "path": route}
    err: dict[str, Any] = {"message": rej.message, "code": rej.code, "data": data}
    if rej.detailed:
        issues = rej.detailed.get("issues")
        if issues is not None:
            err["issues"] = issues
        rest = {k: v for k, v in rej.detailed.items() if k != "issues"}
        if rest:
            data["detailedError"] = rest
    return err


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (40 ms on Linux), so every request to the sandbox took ~40 ms where a real portal takes ~1.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        portal = self.server.portal
        url = urlsplit(self.path)
        route = f"{self.command} {url.path.removeprefix(BASE)}"
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not url.path.startswith("/_sandbox/"):
            with portal._lock:
                portal.requests[route] += 1
            if portal.faults.latency_ms and (not portal.faults.route or route.startswith(portal.faults.route)):
                time.sleep(portal.faults.latency_ms / 1000)
            if portal.faults.take("drop_next", route):
                self.close_connection = True
                return
            if portal.faults.take("fail_next", route):
                self._fail(portal.faults.fail_status, portal.faults.fail_body)
                return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"message": "body is not JSON", "code": "BAD_REQUEST"})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            status, out = portal.handle(self.command, url.path, query, body, self.headers)
        except Rejected as rej:
            self._send(rej.status, _error_body(rej, route))
            return
        if route in ("POST /jobs", "POST /infer", "POST /appSessions") and portal.faults.take(
            "lose_next_submit", route
        ):
            # Accepted and stored, but the answer never arrives.
            self.close_connection = True
            return
        if route == "POST /jobs" and portal.faults.take("blank_next_submit", route):
            self._send(200, None)
            return
        if isinstance(out, LogStream):
            self._stream(out)
            return
        self._send(status, out)

    def _fail(self, status: int, body: str) -> None:
        if body == "html":
            self._send(status, Raw(b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"), "text/html")
        elif body == "empty":
            self._send(status, Raw(b""))
        else:
            self._send(status, {"message": "injected failure", "code": "INTERNAL_SERVER_ERROR"})

    def _stream(self, stream: LogStream) -> None:
        """text/event-stream with no length: it ends only when the pod is gone (or the client hangs up)."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for text in stream.events():
                self.wfile.write(f"data: {json.dumps({'log': text}, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
        except OSError:  # the client went away
            return

    def _send(self, status: int, body: Any, kind: str = "") -> None:
        if isinstance(body, Raw):
            data = bytes(body)
            kind = kind or "text/plain; charset=utf-8"
        else:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
            kind = kind or "application/json"
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = _serve


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, portal: Portal, *, verbose: bool = False) -> None:
        super().__init__((host, port), _Handler)
        self.portal = portal
        self.verbose = verbose

    def shutdown(self) -> None:
        self.portal.closing.set()  # open log streams end, as when pods go away
        super().shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, dropped connection) is normal here, not a server error.
        if self.verbose:
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/ai"


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    state: str = ":memory:",
    clock: Clock | None = None,
    verbose: bool = False,
    generation: Generation = Generation.MAIN,
    token_idle_s: float | None = None,
    file_driver: FileDriver = FileDriver.SCOWD,
) -> SandboxServer:
    """A sandbox bound to HOST:PORT (port 0 picks a free one), not yet serving, speaking one portal generation."""
    portal = Portal(
        Store(state, clock or Clock()), profile=PROFILES[generation], token_idle_s=token_idle_s, file_driver=file_driver
    )
    return SandboxServer(host, port, portal, verbose=verbose)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    state: str = ":memory:",
    clock: Clock | None = None,
    verbose: bool = False,
    generation: Generation = Generation.MAIN,
    token_idle_s: float | None = None,
    file_driver: FileDriver = FileDriver.SCOWD,
) -> SandboxServer:
    """A running sandbox on a background thread."""
    server = make_server(host, port, state, clock, verbose, generation, token_idle_s, file_driver)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scowspec-sandbox", daemon=True
    ).start()
    return server
