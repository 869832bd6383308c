"""The sandbox's serving routes: model registration, inference jobs, app sessions and the portal's proxy.

From PKUHPC/SCOW's source (`../shared/reference/scow-ai-real-portal.md` §10): `POST /models` (409 for a name the
user has), `POST /models/{id}/versions` (the path must exist; 409 for a version name the model has), `POST /infer`
(`InferenceJobName` ≤ 43, `containerServicePort` required, 403 when the site turned inference off), `GET
/apps/{id}`, `POST /appSessions` (required attributes, SELECT values, NUMBER values), checkConnectivity, connect, and
`/proxy/{cluster}/{absolute|relative}/{host}/{port}/…`. On main both submits need `WORK_DIR`, as train jobs do.
Inference and app sessions are jobs of the shared store (so the clock, cancel and the one-second folders apply),
told apart by their job type; `/_sandbox/infer {"route": false}` makes a portal that has no `/api/infer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scowspec.sandbox.checks import K8S_NAME, MAX_JOB_NAME_LENGTH, Rejected, bad, host_path, mount_target

if TYPE_CHECKING:
    from scowspec.sandbox.server import Portal

_TABLES = (
    "CREATE TABLE IF NOT EXISTS reg_models (id INTEGER PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL, "
    "cluster TEXT NOT NULL, description TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reg_versions (id INTEGER PRIMARY KEY, model INTEGER NOT NULL, name TEXT NOT NULL, "
    "path TEXT NOT NULL, description TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS job_types (job INTEGER PRIMARY KEY, type TEXT NOT NULL, app TEXT NOT NULL)",
)
FIRST_MODEL_ID = 100  # above the seed's ids
FIRST_VERSION_ID = 1000
NODE_PORT_BASE = 31000


class Serving:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.store = portal.store
        for statement in _TABLES:
            self.store.sql(statement)
        infer = portal.seed.get("infer", {})
        self.infer_enabled = bool(infer.get("enabled", True))
        self.infer_route = True  # False: a portal without /api/infer

    # -- hooks the server calls ------------------------------------------------------------------
    def openapi_paths(self) -> dict[str, Any]:
        return {"/infer": {"post": {}}} if self.infer_route else {}

    def job_type(self, job_id: int) -> tuple[str, str]:
        rows = self.store.sql("SELECT type, app FROM job_types WHERE job = ?", (job_id,))
        return (str(rows[0][0]), str(rows[0][1])) if rows else ("train", "")

    def of_types(self, jobs: list[dict[str, Any]], types: Any) -> list[dict[str, Any]]:
        """`jobTypes` of appSessions/list: the jobs of those types (all when not given)."""
        if not isinstance(types, list):
            return jobs
        return [j for j in jobs if self.job_type(j["jobId"])[0] in types]

    def session(self, job: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        kind, app = self.job_type(job["jobId"])
        return {**base, "jobType": kind, **({"appId": app} if app else {})}

    def detail(self, job: dict[str, Any]) -> dict[str, Any]:
        """`GET /appSession` of an infer job or app: host and port once it runs (infer: the proxy host)."""
        kind, _ = self.job_type(job["jobId"])
        if kind == "train" or job["state"] != "RUNNING":
            return {}
        host = self.portal.seed.get("infer", {}).get("proxyHost", "node-1") if kind == "infer" else "node-1"
        return {"host": host, "port": NODE_PORT_BASE + job["jobId"] % 1000}

    def accessible(self, user: dict[str, Any], kind: str, ref: Any) -> bool:
        """A registered model version used by a job: the owner's own (isPrivate) only."""
        if kind != "models":
            return False
        rows = self.store.sql(
            "SELECT m.user FROM reg_versions v JOIN reg_models m ON m.id = v.model WHERE v.id = ?", (ref.get("id"),)
        )
        if not rows:
            return False
        if rows[0][0] != user["id"] or not ref.get("isPrivate"):
            raise Rejected(403, "FORBIDDEN", f"model version id {ref.get('id')} is not accessible")
        return True

    def assets(self, user: dict[str, Any], kind: str, public: bool, name: str) -> list[dict[str, Any]]:
        if kind != "models" or public:  # registered models are the user's own, never shared here
            return []
        rows = self.store.sql("SELECT id, name FROM reg_models WHERE user = ? ORDER BY id", (user["id"],))
        return [{"id": i, "name": n, "owner": user["id"], "isShared": False} for i, n in rows if not name or name in n]

    def versions(self, user: dict[str, Any], kind: str, model_id: int) -> dict[str, Any] | None:
        if kind != "models" or not self._own_model(user, model_id):
            return None
        rows = self.store.sql(
            "SELECT id, name, path, description, created FROM reg_versions WHERE model = ? ORDER BY id", (model_id,)
        )
        items = [
            {
                "id": i,
                "versionName": n,
                "versionDescription": d,
                "path": p,
                "privatePath": p,
                "sharedStatus": "UNSHARED",
                "createTime": _iso(c),
            }
            for i, n, p, d, c in rows
        ]
        return {"items": items, "count": len(items)}

    def admin(self, body: Any) -> dict[str, Any]:
        for key in ("enabled", "route"):
            if isinstance(body, dict) and key in body:
                setattr(self, f"infer_{key}", bool(body[key]))
        return {"enabled": self.infer_enabled, "route": self.infer_route}

    # -- routes -------------------------------------------------------------------------------
    def route(
        self, user: dict[str, Any], method: str, route: str, query: dict[str, str], body: Any
    ) -> tuple[bool, Any]:
        """(handled, answer)."""
        if method == "POST" and route == "/models":
            return True, self.create_model(user, body)
        if (m := re.fullmatch(r"/models/(\d+)/versions", route)) and method == "POST":
            return True, self.create_version(user, int(m.group(1)), body)
        if method == "POST" and route == "/infer" and self.infer_route:
            return True, self.submit_infer(user, body)
        if (m := re.fullmatch(r"/apps/([^/]+)", route)) and method == "GET" and m.group(1) != "accountsAndClusters":
            return True, self.app_form(m.group(1), query.get("clusterId", ""))
        if method == "POST" and route == "/appSessions":
            return True, self.submit_app(user, body)
        if (m := re.fullmatch(r"/appSessions/(\d+)/checkConnectivity", route)) and method == "GET":
            job = self.portal.own_job(user, int(m.group(1)))
            return True, {"ok": job["state"] == "RUNNING"}
        if (m := re.fullmatch(r"/appSessions/([^/]+)/connect", route)) and method == "POST":
            return True, self.connect(user, m.group(1))
        if (m := re.fullmatch(r"/proxy/([^/]+)/(absolute|relative)/([^/]+)/(\d+)(/.*)?", route)) and method == "GET":
            return True, self.proxy(user, m.group(1), m.group(3), int(m.group(4)), m.group(5) or "/")
        return False, None

    def _own_model(self, user: dict[str, Any], model_id: int) -> bool:
        return bool(self.store.sql("SELECT 1 FROM reg_models WHERE id = ? AND user = ?", (model_id, user["id"])))

    def create_model(self, user: dict[str, Any], body: Any) -> int:
        _need(body, {"name": str, "clusterId": str})
        if body["clusterId"] not in self.portal.seed["clusters"]:
            raise Rejected(404, "NOT_FOUND", f"Cluster id {body['clusterId']} is not found.")
        if self.store.sql("SELECT 1 FROM reg_models WHERE user = ? AND name = ?", (user["id"], body["name"])):
            raise Rejected(409, "CONFLICT", f"Model {body['name']} already exists")
        rows = self.store.sql(
            "INSERT INTO reg_models (id, user, name, cluster, description, created) VALUES "
            "(COALESCE((SELECT MAX(id) FROM reg_models), ?) + 1, ?, ?, ?, ?, ?) RETURNING id",
            (
                FIRST_MODEL_ID - 1,
                user["id"],
                body["name"],
                body["clusterId"],
                str(body.get("description", "")),
                time.time(),
            ),
        )
        return int(rows[0][0])  # the portal answers the bare id

    def create_version(self, user: dict[str, Any], model_id: int, body: Any) -> dict[str, Any]:
        _need(body, {"versionName": str, "path": str})
        if not self._own_model(user, model_id):
            raise Rejected(404, "NOT_FOUND", f"Model {model_id} is not found")
        if self.store.file(user["id"], body["path"]) is None:  # checked over SFTP by the portal
            raise Rejected(404, "NOT_FOUND", f"{body['path']} does not exist")
        if self.store.sql("SELECT 1 FROM reg_versions WHERE model = ? AND name = ?", (model_id, body["versionName"])):
            raise Rejected(409, "CONFLICT", f"Version {body['versionName']} of model {model_id} already exists")
        rows = self.store.sql(
            "INSERT INTO reg_versions (id, model, name, path, description, created) VALUES "
            "(COALESCE((SELECT MAX(id) FROM reg_versions), ?) + 1, ?, ?, ?, ?, ?) RETURNING id",
            (
                FIRST_VERSION_ID - 1,
                model_id,
                body["versionName"],
                body["path"],
                str(body.get("versionDescription", "")),
                time.time(),
            ),
        )
        return {"id": int(rows[0][0])}

    def _common(self, user: dict[str, Any], body: dict[str, Any], name_key: str) -> None:
        """What infer.ts and apps.ts check alike: name, account, partition, WORK_DIR (main), mounts."""
        profile = self.portal.profile
        name = body[name_key]
        if len(name) > MAX_JOB_NAME_LENGTH:
            raise bad(f"The length of {name_key} should not exceed {MAX_JOB_NAME_LENGTH}")
        if not K8S_NAME.match(name):
            raise Rejected(500, "INTERNAL_SERVER_ERROR", f"Submit job failed, JOB_NAME_INVALID: {name}")
        if body["clusterId"] not in self.portal.seed["clusters"]:
            raise Rejected(404, "NOT_FOUND", f"Cluster id {body['clusterId']} is not found. Please confirm and retry.")
        if body["account"] not in user["accounts"]:
            raise Rejected(403, "FORBIDDEN", f"User {user['id']} is not available in account {body['account']}")
        parts = {p["name"] for p in self.portal.seed["clusters"][body["clusterId"]]["partitions"]}
        if body.get("partition") not in parts:
            raise Rejected(403, "FORBIDDEN", f"Partition {body.get('partition')} is not available")
        envs = {e.get("key"): e.get("value") for e in body.get("envVariables", []) if isinstance(e, dict)}
        if profile.work_dir_required:
            if not envs.get("WORK_DIR"):
                raise bad("WORK_DIR is required")
            host_path(envs["WORK_DIR"], user["home"], "WORK_DIR")
        for mp in body.get("mountPoints", []):
            if profile.strict_home_paths:
                host_path(mp.get("path"), user["home"], "Mount path")
                mount_target(mp.get("target"))
            elif not str(mp.get("path", "")).startswith(user["home"]):
                raise bad("mountPoint should be in homeDir")
            if self.store.file(user["id"], mp["path"]) is None:
                raise Rejected(404, "NOT_FOUND", f"5 NOT_FOUND: {mp['path']} does not exist")
        for ref in body.get("models", []):
            self.portal._accessible(user, "models", ref)

    def submit_infer(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        _need(
            body,
            {
                "clusterId": str,
                "InferenceJobName": str,
                "account": str,
                "coreCount": (int, float),
                "nodeCount": (int, float),
                "maxTime": (int, float),
                "command": str,
                "containerServicePort": (int, float),
            },
        )
        if not self.infer_enabled:
            raise Rejected(403, "FORBIDDEN", "Inference is not enabled on this portal")
        self._common(user, body, "InferenceJobName")
        if not 1 <= body["containerServicePort"] <= 65535:
            raise bad("containerServicePort must be a port number")
        limit = int(self.portal.seed.get("infer", {}).get("maxRunningTimeHours", 0))
        if body["maxTime"] < 0 or (limit and (body["maxTime"] == 0 or body["maxTime"] > limit * 60)):
            raise bad(f"The inference running time cannot exceed {limit} hour(s)")
        return {"jobId": self._create(user, body, "infer", "InferenceJobName", "")}

    def app_form(self, app_id: str, cluster: str) -> dict[str, Any]:
        app = self.portal.seed.get("apps", {}).get(app_id)
        if app is None or (cluster and cluster not in app.get("clusters", [])):
            raise Rejected(404, "NOT_FOUND", f"app id {app_id} is not found")
        return {
            "appName": app["name"],
            "appImage": app.get("image"),
            "attributes": app.get("attributes", []),
            "appStartCommand": app.get("startCommand", ""),
        }

    def submit_app(self, user: dict[str, Any], body: Any) -> dict[str, Any]:
        _need(
            body,
            {
                "clusterId": str,
                "appId": str,
                "appJobName": str,
                "account": str,
                "coreCount": (int, float),
                "nodeCount": (int, float),
                "maxTime": (int, float),
                "customAttributes": dict,
            },
        )
        form = self.app_form(body["appId"], body["clusterId"])
        self._common(user, body, "appJobName")
        given = body["customAttributes"]
        for attr in form["attributes"]:
            value = given.get(attr["name"])
            if value is None:
                if attr.get("required"):
                    raise bad(f"custom form attribute {attr['name']} is required but not provided")
                continue
            if attr["type"] == "NUMBER" and not isinstance(value, int | float):
                raise bad(f"custom form attribute {attr['name']} should be of type number")
            if attr["type"] == "SELECT" and value not in [o["value"] for o in attr.get("select", [])]:
                raise bad(f"the option value of {attr['name']} selected by the user is not valid")
        return {"jobId": self._create(user, body, body["appId"], "appJobName", body["appId"])}

    def _create(self, user: dict[str, Any], body: dict[str, Any], kind: str, name_key: str, app: str) -> int:
        job_id = self.portal._create(user, body, kind=kind, name_key=name_key)
        self.store.sql(
            "INSERT INTO job_types (job, type, app) VALUES (?, ?, ?)", (job_id, "infer" if not app else "app", app)
        )
        return job_id

    def connect(self, user: dict[str, Any], session_id: str) -> dict[str, Any]:
        for job in self._jobs(user):
            if job["sessionId"] == session_id and self.job_type(job["jobId"])[0] == "app":
                if job["state"] != "RUNNING":
                    raise Rejected(409, "CONFLICT", f"session {session_id} is not running")
                return {
                    "host": "node-1",
                    "port": NODE_PORT_BASE + job["jobId"] % 1000,
                    "password": "sandbox",
                    "type": "web",
                    "connect": {"method": "GET", "path": "/", "query": {"token": "{{PASSWORD}}"}},
                    "proxyType": "relative",
                }
        raise Rejected(404, "NOT_FOUND", f"session {session_id} is not found")

    def proxy(self, user: dict[str, Any], cluster: str, host: str, port: int, path: str) -> Any:
        """The service behind the portal's proxy: an infer job's OpenAI-compatible API, an app's page."""
        for job in self._jobs(user):
            kind, _ = self.job_type(job["jobId"])
            if job["cluster"] != cluster or kind == "train" or self.detail(job).get("port") != port:
                continue
            if kind == "infer" and path.rstrip("/") == "/v1/models":
                name = _env(job["body"]).get("API_MODEL_NAME", "gpt-3.5-turbo")
                return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "owner"}]}
            return {"ok": True, "service": kind}
        raise Rejected(502, "BAD_GATEWAY", f"nothing answers at {host}:{port}")

    def _jobs(self, user: dict[str, Any]) -> Iterable[dict[str, Any]]:
        for cluster in self.portal.seed["clusters"]:
            yield from self.store.jobs(user["id"], cluster)


def _need(body: Any, fields: dict[str, Any]) -> None:
    if not isinstance(body, dict):
        raise bad("Expected object")
    issues = [
        {"path": [k], "message": "Required" if k not in body else "Invalid type"}
        for k, typ in fields.items()
        if k not in body or not isinstance(body[k], typ) or isinstance(body[k], bool)
    ]
    if issues:
        raise Rejected(400, "BAD_REQUEST", "Input validation failed", {"issues": issues})


def _env(body: dict[str, Any]) -> dict[str, str]:
    return {str(e.get("key")): str(e.get("value")) for e in body.get("envVariables", []) if isinstance(e, dict)}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
