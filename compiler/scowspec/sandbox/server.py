"""The sandbox HTTP server: SCOW-AI's REST routes under /ai/api, plus /_sandbox admin routes for faults.

Error bodies follow trpc-to-openapi: `{"message", "code", "issues"?}` with the tRPC code's HTTP status.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scowspec.sandbox import checks
from scowspec.sandbox.checks import Rejected
from scowspec.sandbox.store import Clock, Store

BASE = "/ai/api"
FINISHED = ("COMPLETED", "FAILED", "CANCELED", "TIMEOUT")


@dataclass
class Faults:
    """Injected misbehaviour. Counters count down per matching request; `route` is e.g. 'POST /jobs'."""

    latency_ms: int = 0
    fail_next: int = 0
    fail_status: int = 503
    drop_next: int = 0
    lose_next_submit: int = 0
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
    """Routing and state; one per server."""

    def __init__(self, store: Store, seed: dict[str, Any] | None = None) -> None:
        self.store = store
        self.seed = seed or load_seed()
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    # -- auth ----------------------------------------------------------------------------
    def user(self, headers: Any) -> dict[str, Any]:
        token = headers.get("x-scow-api-auth-token") or _cookie(headers.get("cookie", ""), "SCOW_USER")
        if token and token == self.seed["api_secret"]:
            uid = headers.get("x-scow-user-id", "")
            found = [u for u in self.seed["users"] if u["id"] == uid]
            if found:
                return dict(found[0])
        for u in self.seed["users"]:
            if token and u["token"] == token:
                return dict(u)
        raise Rejected(401, "UNAUTHORIZED", "UNAUTHORIZED")

    # -- routes --------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any, headers: Any) -> tuple[int, Any]:
        if path.startswith("/_sandbox/"):
            return self.admin(method, path, body)
        if not path.startswith(BASE + "/"):
            raise Rejected(404, "NOT_FOUND", f"No route {path}")
        route = path[len(BASE) :]
        user = self.user(headers)
        if method == "GET" and route == "/auth/userInfo":
            return 200, {"user": {"identityId": user["id"], "name": user["id"], "token": "***"}}
        if method == "POST" and route == "/appSessions/list":
            return 200, self.list_sessions(user, body)
        if method == "POST" and route == "/jobs":
            return 200, self.submit(user, body)
        if (m := re.fullmatch(r"/jobs/(\d+)", route)) and method == "DELETE":
            self.cancel(user, int(m.group(1)), query.get("cluster", ""))
            return 200, None
        if (m := re.fullmatch(r"/jobs/(\d+)/submissionParameters", route)) and method == "GET":
            return 200, self.own_job(user, int(m.group(1)))["body"]
        if (m := re.fullmatch(r"/jobs/pods/(\d+)", route)) and method == "GET":
            return 200, self.pods(user, int(m.group(1)))
        if (m := re.fullmatch(r"/jobs/podLogs/(\d+)-(worker|master)-(\d+)", route)) and method == "GET":
            return 200, SSE(self.pod_log(user, int(m.group(1)), int(m.group(3))))
        if method == "GET" and route == "/appSession":
            return 200, self.detail(user, int(query.get("jobId", "0")))
        if method == "GET" and route == "/config/cluster/availablePartitions":
            return 200, self.partitions(user, query)
        if method == "GET" and route == "/apps/accountsAndClusters":
            return 200, {"accountClusters": {a: list(self.seed["clusters"]) for a in user["accounts"]}}
        if (m := re.fullmatch(r"/(models|datasets)", route)) and method == "GET":
            return 200, self.assets(user, m.group(1), query)
        if (m := re.fullmatch(r"/(models|datasets)/(\d+)/versions", route)) and method == "GET":
            return 200, self.versions(user, m.group(1), int(m.group(2)))
        raise Rejected(404, "NOT_FOUND", f"No route {method} {route}")

    def list_sessions(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "clusterId" not in body:
            raise checks.bad("clusterId: Required")
        jobs = self.store.jobs(user["id"], body["clusterId"])
        running = body.get("isRunning")
        if running == "true":
            jobs = [j for j in jobs if j["state"] not in FINISHED]
        elif running == "false":
            jobs = [j for j in jobs if j["state"] in FINISHED]
        page, size = int(body.get("page", 1)), int(body.get("pageSize", 0))
        count = len(jobs)
        if size > 0:
            jobs = jobs[(page - 1) * size : page * size]
        return {"sessions": [_session(j) for j in jobs], "count": count}

    def submit(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        checks.shape(body)
        if body["clusterId"] not in self.seed["clusters"]:
            raise Rejected(404, "NOT_FOUND", f"Cluster id {body['clusterId']} is not found. Please confirm and retry.")
        if body["account"] not in user["accounts"]:
            raise Rejected(
                403,
                "FORBIDDEN",
                f"Account {body['account']} is not available for user {user['id']}",
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
        checks.submit(body, user["home"], int(self.seed["max_running_time_hours"]))
        if body.get("gpuCount", 0) > part.get("maxAcceleratorsPerPod", 8):
            raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed, MAX_ACCELERATORS_PER_POD_LIMIT")
        for kind in ("models", "datasets"):
            for ref in body.get(kind, []):
                self._accessible(user, kind, ref)
        job_id = self.store.add(user["id"], body["clusterId"], body["trainJobName"], body)
        return {"jobId": job_id}

    def _accessible(self, user: dict[str, Any], kind: str, ref: Any) -> None:
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

    def cancel(self, user: dict[str, Any], job_id: int, cluster: str) -> None:
        job = self.own_job(user, job_id)
        if job["cluster"] != cluster:
            raise Rejected(404, "NOT_FOUND", f"Job {job_id} is not found on cluster {cluster}")
        if job["state"] not in FINISHED:
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
        """A made-up but plausible log: what the entry script would print first."""
        job = self.own_job(user, job_id)
        first = str(job["body"].get("command", "")).splitlines()[:1]
        return [
            f"[sandbox] pod {index} of job {job_id} ({job['jobName']}) is {job['state']}",
            f"[sandbox] entry.sh: {first[0] if first else '(empty command)'}",
            "scowspec: configs written to $WORK_DIR/" + job["jobName"] + "/config",
        ]

    def detail(self, user: dict[str, Any], job_id: int) -> dict[str, Any]:
        job = self.own_job(user, job_id)
        out = {**_session(job), "account": job["body"].get("account"), "qos": job["body"].get("qos")}
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

    def assets(self, user: dict[str, Any], kind: str, query: dict[str, str]) -> dict[str, Any]:
        public = query.get("isPublic") == "true"
        name = query.get("nameOrDesc", "")
        items = [
            {"id": a["id"], "name": a["name"], "owner": a["owner"], "isShared": a["shared"]}
            for a in self.seed[kind]
            if (a["shared"] if public else a["owner"] == user["id"]) and (not name or name in a["name"])
        ]
        return {"items": items, "count": len(items)}

    def versions(self, user: dict[str, Any], kind: str, asset_id: int) -> dict[str, Any]:
        for a in self.seed[kind]:
            if a["id"] == asset_id and (a["shared"] or a["owner"] == user["id"]):
                return {"items": [dict(v, sharedStatus="SHARED" if a["shared"] else "UNSHARED") for v in a["versions"]]}
        raise Rejected(404, "NOT_FOUND", f"{kind[:-1]} {asset_id} not found")

    def admin(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/_sandbox/faults" and method == "POST":
            with self.faults.lock:
                for k, v in (body or {}).items():
                    if k in ("latency_ms", "fail_next", "fail_status", "drop_next", "lose_next_submit", "route"):
                        setattr(self.faults, k, v)
            return 200, {"ok": True}
        if path == "/_sandbox/stats" and method == "GET":
            return 200, {"requests": dict(self.requests)}
        if (m := re.fullmatch(r"/_sandbox/jobs/(\d+)/state", path)) and method == "POST":
            self.store.force_state(int(m.group(1)), str((body or {}).get("state", "FAILED")))
            return 200, {"ok": True}
        raise Rejected(404, "NOT_FOUND", f"No admin route {method} {path}")


class SSE(list[str]):
    """Lines to send as a text/event-stream, the way the portal streams pod logs."""


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


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"

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
                self._send(portal.faults.fail_status, {"message": "injected failure", "code": "INTERNAL_SERVER_ERROR"})
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
            err: dict[str, Any] = {"message": rej.message, "code": rej.code}
            if rej.detailed:
                err["detailedError"] = rej.detailed
                if "issues" in rej.detailed:
                    err["issues"] = rej.detailed["issues"]
            self._send(rej.status, err)
            return
        if route == "POST /jobs" and portal.faults.take("lose_next_submit", route):
            # Accepted and stored, but the answer never arrives.
            self.close_connection = True
            return
        self._send(status, out)

    def _send(self, status: int, body: Any) -> None:
        kind = "application/json"
        if isinstance(body, SSE):
            data = "".join(f"data: {json.dumps({'log': line}, ensure_ascii=False)}\n\n" for line in body).encode(
                "utf-8"
            )
            kind = "text/event-stream"
        else:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, dropped connection) is normal here, not a server error.
        if self.verbose:
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/ai"


def make_server(
    host: str = "127.0.0.1", port: int = 0, state: str = ":memory:", clock: Clock | None = None, verbose: bool = False
) -> SandboxServer:
    """A sandbox bound to HOST:PORT (port 0 picks a free one), not yet serving."""
    return SandboxServer(host, port, Portal(Store(state, clock or Clock())), verbose=verbose)


def start(
    host: str = "127.0.0.1", port: int = 0, state: str = ":memory:", clock: Clock | None = None, verbose: bool = False
) -> SandboxServer:
    """A running sandbox on a background thread."""
    server = make_server(host, port, state, clock, verbose)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scowspec-sandbox", daemon=True
    ).start()
    return server
