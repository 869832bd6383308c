"""PortalClient: one requests.Session, one place that turns HTTP answers into typed errors.

Retries: reads retry on dropped connections and on 429/502/503/504, with backoff. A submit is
never retried blindly (its outcome may be unknown): only a 429, which says "not processed".
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from scowspec import __version__
from scowspec.compile.resolve import AssetKind, Partition
from scowspec.errors import AuthError, NotFoundError, PortalError, TransportError
from scowspec.model.spec import Scope
from scowspec.portal.settings import PortalSettings
from scowspec.portal.transport import PortalSession
from scowspec.portal.types import RemoteJob

RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_SIZE = 200


class PortalClient:
    """The SCOW-AI REST API under `{url}/api`."""

    def __init__(self, settings: PortalSettings, *, retries: int = 4, backoff_s: float = 0.2) -> None:
        self.settings = settings
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests_made = 0
        self._session = PortalSession(settings.url)  # the token goes to this origin only
        self._session.headers["x-scow-api-auth-token"] = settings.token
        if settings.user:
            self._session.headers["x-scow-user-id"] = settings.user
        self._session.headers["user-agent"] = f"scowspec/{__version__}"
        # Catalog answers do not change during one run; many specs share a partition and a model.
        self._partitions: dict[tuple[str, str, str], Partition] = {}
        self._versions: dict[tuple[AssetKind, str, str, str, Scope], int] = {}

    def close(self) -> None:
        self._session.close()

    # -- transport -------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        retry_transport: bool = True,
    ) -> Any:
        url = f"{self.settings.url}/api{path}"
        attempt = 0
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                resp = self._session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    timeout=(min(5.0, self.settings.timeout_s), self.settings.timeout_s),
                )
            except requests.RequestException as exc:
                if retry_transport and attempt < self.retries:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
                    continue
                kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
                raise TransportError(f"{method} {path} {kind}: {type(exc).__name__}") from None
            if resp.status_code in retry_statuses and attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            return self._answer(method, path, resp)

    @staticmethod
    def _answer(method: str, path: str, resp: requests.Response) -> Any:
        if 200 <= resp.status_code < 300:
            if not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                raise PortalError(
                    f"{method} {path}: the portal answered {resp.status_code} with no JSON", status=resp.status_code
                ) from None
        try:
            err = resp.json()
        except ValueError:
            err = {}
        message = str(err.get("message") or resp.reason or "error") if isinstance(err, dict) else str(err)
        code = str(err.get("code", "")) if isinstance(err, dict) else ""
        text = f"{method} {path}: {resp.status_code} {code}: {message}".replace(":  :", ":")
        if resp.status_code in (401, 403):
            raise AuthError(
                text,
                status=resp.status_code,
                code=code,
                hint="check SCOWSPEC_TOKEN (and SCOWSPEC_USER with an API secret)",
            )
        if resp.status_code == 404:
            raise NotFoundError(text, status=resp.status_code, code=code)
        raise PortalError(text, status=resp.status_code, code=code)

    # -- calls -----------------------------------------------------------------------------
    def list_jobs(self, cluster: str) -> list[RemoteJob]:
        """Every train job of the user on `cluster`, running and finished, every page."""
        jobs: list[RemoteJob] = []
        for running in ("true", "false"):
            page = 1
            while True:
                got = self._request(
                    "POST",
                    "/appSessions/list",
                    body={
                        "clusterId": cluster,
                        "isRunning": running,
                        "jobTypes": ["train"],
                        "page": page,
                        "pageSize": PAGE_SIZE,
                    },
                )
                sessions = got.get("sessions", []) if isinstance(got, dict) else []
                jobs += [
                    RemoteJob(
                        cluster,
                        int(s["jobId"]),
                        str(s.get("jobName", "")),
                        str(s.get("state", "")),
                        str(s.get("submitTime", "")),
                        str(s.get("sessionId", "")),
                    )
                    for s in sessions
                ]
                if len(sessions) < PAGE_SIZE or page * PAGE_SIZE >= int(got.get("count", 0)):
                    break
                page += 1
        return jobs

    def submit(self, payload: Mapping[str, Any]) -> int:
        # Only 429 is retried: any other failure may hide an accepted submit.
        got = self._request("POST", "/jobs", body=dict(payload), retry_statuses=frozenset({429}), retry_transport=False)
        return int(got["jobId"])

    def cancel(self, cluster: str, job_id: int) -> None:
        self._request("DELETE", f"/jobs/{job_id}", params={"cluster": cluster})

    def submitted_payload(self, job: RemoteJob) -> dict[str, Any]:
        """What a job was submitted with; its command proves (or not) that scowspec made it."""
        got = self._request(
            "GET",
            f"/jobs/{job.job_id}/submissionParameters",
            params={"clusterId": job.cluster, "sessionId": job.session_id},
        )
        return got if isinstance(got, dict) else {}

    def job_detail(self, job: RemoteJob) -> dict[str, Any]:
        got: dict[str, Any] = self._request(
            "GET",
            "/appSession",
            params={"clusterId": job.cluster, "jobId": job.job_id, "sessionId": job.session_id, "jobType": "train"},
        )
        return got

    def pods(self, job: RemoteJob) -> list[dict[str, Any]]:
        got = self._request("GET", f"/jobs/pods/{job.job_id}", params={"cluster": job.cluster})
        pods = got.get("pods", []) if isinstance(got, dict) else []
        return [p for p in pods if isinstance(p, dict)]

    def pod_log(self, job: RemoteJob, pod_id: str, rows: int = 1000) -> list[str]:
        """A pod's log lines, read from the portal's event stream (`data: {"log": ...}` lines)."""
        url = f"{self.settings.url}/api/jobs/podLogs/{pod_id}"
        self.requests_made += 1
        try:
            params: dict[str, str | int] = {"cluster": job.cluster, "rowLimit": rows}
            resp = self._session.get(
                url, params=params, stream=True, timeout=(min(5.0, self.settings.timeout_s), self.settings.timeout_s)
            )
        except requests.RequestException as exc:
            raise TransportError(f"GET /jobs/podLogs/{pod_id} failed: {type(exc).__name__}") from None
        if resp.status_code != 200:
            self._answer("GET", f"/jobs/podLogs/{pod_id}", resp)
        lines: list[str] = []
        with resp:
            for raw in resp.iter_lines(decode_unicode=True):
                if raw and raw.startswith("data:"):
                    try:
                        event = json.loads(raw[5:].strip())
                    except ValueError:
                        continue
                    if isinstance(event, dict) and "log" in event:
                        lines += str(event["log"]).splitlines() or [""]
        return lines

    def tensorboard_url(self, job: RemoteJob) -> str:
        info = self.job_detail(job).get("tensorBoardInfo")
        if not isinstance(info, dict) or "node" not in info:
            return ""
        return f"{self.settings.url}/api/proxy/{job.cluster}/absolute/{info['node']}/{info['port']}/"

    # -- Catalog (compile.resolve) --------------------------------------------------------------
    def partition(self, cluster: str, account: str, name: str) -> Partition:
        key = (cluster, account, name)
        if key not in self._partitions:
            self._partitions[key] = self._partition(cluster, account, name)
        return self._partitions[key]

    def version_id(self, kind: AssetKind, cluster: str, name: str, version: str, scope: Scope) -> int:
        key = (kind, cluster, name, version, scope)
        if key not in self._versions:
            self._versions[key] = self._version_id(kind, cluster, name, version, scope)
        return self._versions[key]

    def _partition(self, cluster: str, account: str, name: str) -> Partition:
        parts = self._request(
            "GET", "/config/cluster/availablePartitions", params={"accountName": account, "clusterId": cluster}
        )
        for p in parts or []:
            if p.get("name") == name:
                return Partition(
                    name=name,
                    mem_mb=int(p.get("memMb", 0)),
                    cores=int(p.get("cores", 0)),
                    gpus=int(p.get("gpus", 0)),
                    qos=tuple(p.get("qos") or ()),
                    gpu_type=p.get("gpuType"),
                    max_accelerators_per_pod=p.get("maxAcceleratorsPerPod"),
                )
        names = ", ".join(str(p.get("name")) for p in parts or []) or "none"
        raise NotFoundError(
            f"partition `{name}` is not available to account `{account}` on cluster `{cluster}` (available: {names})"
        )

    def _version_id(self, kind: AssetKind, cluster: str, name: str, version: str, scope: Scope) -> int:
        route = "/models" if kind is AssetKind.MODEL else "/datasets"
        public = "true" if scope is Scope.PUBLIC else "false"
        assets = self._request("GET", route, params={"clusterId": cluster, "isPublic": public, "nameOrDesc": name})
        items = [a for a in (assets or {}).get("items", []) if a.get("name") == name]
        if not items:
            where = "shared" if scope is Scope.PUBLIC else "your own"
            raise NotFoundError(f"no {where} {kind.value} named `{name}` on cluster `{cluster}`")
        versions = self._request("GET", f"{route}/{items[0]['id']}/versions", params={"isPublic": public})
        found = [v for v in (versions or {}).get("items", []) if not version or v.get("versionName") == version]
        if not found:
            known = ", ".join(str(v.get("versionName")) for v in (versions or {}).get("items", [])) or "none"
            raise NotFoundError(f"{kind.value} `{name}` has no version `{version}` (versions: {known})")
        newest = max(found, key=lambda v: (str(v.get("createTime", "")), int(v["id"])))
        return int(newest["id"])
