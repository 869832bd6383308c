"""PortalClient: one requests.Session, one place that turns HTTP answers into typed errors.

Retries: reads retry on dropped connections and on 429/502/503/504, with backoff. A submit is
never retried blindly (its outcome may be unknown): only a 429, which says "not processed".
The portal's generation is probed once per client (`profile()`); what differs is in `portal/profile.py`.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import urllib3

from scowspec import __version__
from scowspec.compile.resolve import AssetKind, Partition
from scowspec.errors import AuthError, ConflictError, ForbiddenError, NotFoundError, PortalError, TransportError
from scowspec.model.spec import Scope
from scowspec.portal.profile import (
    Generation,
    Profile,
    generation_from_cluster_config,
    generation_from_openapi,
    profile_of,
)
from scowspec.portal.settings import PortalSettings
from scowspec.portal.transport import PortalSession
from scowspec.portal.types import RemoteJob

RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_SIZE = 200
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # status and report read logs, never checkpoints
TOKEN_HINT = (
    "a SCOW login token (the SCOW_USER cookie) expires after 1 h without use by default: log in again, or use the "
    "portal's API secret with SCOWSPEC_USER (see README, 'On a real portal')"
)


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
        self._profile: Profile | None = None
        self._homes: dict[str, str] = {}
        self._facts: dict[tuple[object, ...], Any] = {}  # plan-time portal facts, asked once per run
        self._probe_lock = threading.Lock()

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
                raise TransportError(
                    f"{method} {url} {kind}: {type(exc).__name__}",
                    hint="check that the portal is reachable from here and that portal_url is right",
                ) from None
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
                    f"{method} {path}: the portal answered {resp.status_code} with no JSON ({_kind_of(resp)})",
                    status=resp.status_code,
                    hint="is portal_url the AI portal's base URL, e.g. https://host/ai?",
                ) from None
        raise error_of(method, path, resp)

    # -- calls -----------------------------------------------------------------------------
    def list_jobs(
        self, cluster: str, *, running_only: bool = False, job_types: tuple[str, ...] = ("train",)
    ) -> list[RemoteJob]:
        """Every job of the user on `cluster` of those types (train jobs unless told), running and finished (or
        running only), every page."""
        jobs: list[RemoteJob] = []
        for running in ("true",) if running_only else ("true", "false"):
            page = 1
            while True:
                got = self._request(
                    "POST",
                    "/appSessions/list",
                    body={
                        "clusterId": cluster,
                        "isRunning": running,
                        "jobTypes": list(job_types),
                        "page": page,
                        "pageSize": PAGE_SIZE,
                    },
                )
                # An answer that is not a job list must never read as "no jobs": plan would submit everything again.
                sessions = got.get("sessions") if isinstance(got, dict) else None
                if not isinstance(sessions, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("jobId"), int | str) and str(s["jobId"]).isdigit()
                    for s in sessions
                ):
                    raise PortalError(
                        "POST /appSessions/list: the portal's answer is not a job list; nothing was changed",
                        hint="is portal_url the AI portal's base URL, e.g. https://host/ai?",
                    )
                jobs += [
                    RemoteJob(
                        cluster,
                        int(s["jobId"]),
                        str(s.get("jobName", "")),
                        str(s.get("state", "")),
                        str(s.get("submitTime", "")),
                        str(s.get("sessionId", "")),
                        str(s.get("jobType", "train")),
                    )
                    for s in sessions
                ]
                count = got.get("count", 0) if isinstance(got, dict) else 0
                if len(sessions) < PAGE_SIZE or page * PAGE_SIZE >= (count if isinstance(count, int) else 0):
                    break
                page += 1
        return jobs

    def submit(self, payload: Mapping[str, Any]) -> int:
        # Only 429 is retried: any other failure may hide an accepted submit.
        got = self._request("POST", "/jobs", body=dict(payload), retry_statuses=frozenset({429}), retry_transport=False)
        job_id = got.get("jobId") if isinstance(got, dict) else None
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            # Accepted or not, we cannot tell: the executor looks the job up by name, as for a lost answer.
            raise TransportError("POST /jobs: the portal answered without a job id; the outcome is unknown")
        return job_id

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

    def pod_log(self, job: RemoteJob, pod_id: str, rows: int = 0) -> list[str]:
        """A pod's log now (its last `rows` lines when rows > 0), in bounded time.

        The portal's stream never ends while the pod exists, but its first event holds the whole log (or the
        rowLimit tail): read that one event and hang up.
        """
        for chunk in self.follow_log(job, pod_id, rows):
            return chunk
        return []

    def follow_log(
        self, job: RemoteJob, pod_id: str, rows: int = 0, *, idle_s: float | None = None
    ) -> Iterator[list[str]]:
        """The pod's log as it grows: the first event, then each new one, until the stream ends (the pod is gone).

        With `idle_s`, a stream quiet for `idle_s` seconds yields one empty list and ends: urllib3 drops a
        connection whose read timed out, so a caller that wants more opens the stream again (`logs.follow` does).
        Without it, a stream quiet for the read timeout ends the iteration (before the first event: a
        TransportError, so a log that never came is never shown as an empty one).
        """
        route = f"/jobs/podLogs/{pod_id}"
        url = f"{self.settings.url}/api{route}"
        params: dict[str, str | int] = {"cluster": job.cluster}
        if rows > 0:
            params["rowLimit"] = rows
        read_timeout = idle_s if idle_s is not None else self.settings.timeout_s
        self.requests_made += 1
        try:
            resp = self._session.get(
                url, params=params, stream=True, timeout=(min(5.0, self.settings.timeout_s), read_timeout)
            )
        except requests.RequestException as exc:
            raise TransportError(f"GET {url} failed: {type(exc).__name__}") from None
        with resp:
            if resp.status_code != 200:
                raise error_of("GET", route, resp)
            lines = _stream_lines(resp)
            event = ""
            first = True  # a timeout before the first event is an error; after it, the end of a quiet stream
            while True:
                try:
                    raw = next(lines)
                except StopIteration:
                    return
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:  # timeout, drop
                    if idle_s is not None and _is_timeout(exc):
                        yield []
                        return
                    if _is_timeout(exc) and not first:
                        return
                    if _is_timeout(exc):
                        raise TransportError(
                            f"GET {url}: no log from the portal within {read_timeout:g} s",
                            hint="the pod may not have started yet; try again, or raise SCOWSPEC_TIMEOUT",
                        ) from None
                    raise TransportError(f"GET {url}: the log stream broke off ({type(exc).__name__})") from None
                if raw.startswith("event:"):
                    event = raw[6:].strip()
                elif raw.startswith("data:"):
                    text = raw[5:].strip()
                    if event == "error":
                        raise PortalError(f"GET {route}: the portal's log stream reported an error: {text}")
                    try:
                        got = json.loads(text)
                    except ValueError:
                        continue
                    if isinstance(got, dict) and "log" in got:
                        first = False
                        yield str(got["log"]).splitlines()
                elif raw == "":
                    event = ""

    def tensorboard_url(self, job: RemoteJob) -> str:
        """The portal's proxy address of a job's TensorBoard; "" until it has a node and a port.

        `tensorBoardInfo` is always in the answer, `{node: "", port: 0}` without (or before) a TensorBoard.
        """
        info = self.job_detail(job).get("tensorBoardInfo")
        if not isinstance(info, dict):
            return ""
        node, port = info.get("node"), info.get("port")
        if not node or not isinstance(port, int) or port <= 0:
            return ""
        return f"{self.settings.url}/api/proxy/{job.cluster}/absolute/{node}/{port}/"

    # -- Serving (portal §10): model registration, inference jobs, app sessions -------------------------
    def has_infer(self) -> bool:
        """Whether the portal has `POST /api/infer` (its OpenAPI document lists `/infer`); asked once."""
        key = ("has-infer",)
        if key not in self._facts:
            doc = self._openapi()
            paths = doc.get("paths") if isinstance(doc, dict) else None
            # No readable document: assume the route, and let a 404 at submit say otherwise.
            self._facts[key] = "/infer" in paths if isinstance(paths, dict) else True
        found: bool = self._facts[key]
        return found

    def app_form(self, cluster: str, app_id: str) -> dict[str, Any]:
        """`GET /apps/{id}?clusterId=`: the app's name, image and attributes; NotFoundError when the site has none."""
        key = ("app", cluster, app_id)
        if key not in self._facts:
            got = self._request("GET", f"/apps/{app_id}", params={"clusterId": cluster})
            self._facts[key] = got if isinstance(got, dict) else {}
        form: dict[str, Any] = self._facts[key]
        return form

    def own_model(self, cluster: str, name: str) -> tuple[int | None, list[dict[str, Any]]]:
        """The user's own model named `name` (its id, or None) and its versions."""
        got = self._request("GET", "/models", params={"clusterId": cluster, "isPublic": "false", "nameOrDesc": name})
        items = [a for a in (got or {}).get("items", []) if isinstance(a, dict) and a.get("name") == name]
        if not items:
            return None, []
        model_id = int(items[0]["id"])
        versions = self._request("GET", f"/models/{model_id}/versions", params={"isPublic": "false"})
        return model_id, [v for v in (versions or {}).get("items", []) if isinstance(v, dict)]

    def create_model(self, cluster: str, name: str, description: str) -> int:
        """A new model; ConflictError (409) when the user has one of that name. Only a 429 is retried."""
        got = self._request(
            "POST",
            "/models",
            body={"name": name, "clusterId": cluster, "description": description},
            retry_statuses=frozenset({429}),
            retry_transport=False,
        )
        return _id_of(got, "id", "POST /models", bare=True)

    def create_model_version(self, model_id: int, version: str, path: str, description: str) -> int:
        """A new version at `path`; ConflictError (409) when the model has one of that name."""
        got = self._request(
            "POST",
            f"/models/{model_id}/versions",
            body={"versionName": version, "path": path, "versionDescription": description},
            retry_statuses=frozenset({429}),
            retry_transport=False,
        )
        return _id_of(got, "id", f"POST /models/{model_id}/versions")

    def submit_service(self, route: str, payload: Mapping[str, Any]) -> int:
        """`POST /infer` or `POST /appSessions`; like `submit`, never retried blindly."""
        got = self._request("POST", route, body=dict(payload), retry_statuses=frozenset({429}), retry_transport=False)
        return _id_of(got, "jobId", f"POST {route}")

    def service_detail(self, job: RemoteJob) -> dict[str, Any]:
        got = self._request(
            "GET",
            "/appSession",
            params={
                "clusterId": job.cluster,
                "jobId": job.job_id,
                "sessionId": job.session_id,
                "jobType": job.job_type,
            },
        )
        return got if isinstance(got, dict) else {}

    def app_connectivity(self, job: RemoteJob) -> bool:
        got = self._request(
            "GET",
            f"/appSessions/{job.job_id}/checkConnectivity",
            params={"clusterId": job.cluster, "sessionId": job.session_id},
        )
        return bool(got.get("ok")) if isinstance(got, dict) else False

    def app_connect(self, job: RemoteJob) -> dict[str, Any]:
        got = self._request("POST", f"/appSessions/{job.session_id}/connect", body={"cluster": job.cluster})
        return got if isinstance(got, dict) else {}

    def proxy_answers(self, address: str) -> bool:
        """Whether a service answers through the portal's proxy (`address` under `{portal}/api/proxy/`)."""
        prefix = f"{self.settings.url}/api"
        if not address.startswith(prefix + "/proxy/"):
            return False
        try:
            self._request("GET", address[len(prefix) :], retry_statuses=frozenset())
        except (PortalError, TransportError):
            return False
        return True

    # -- Generation, identity, catalog of the portal ----------------------------------------------
    def profile(self) -> Profile:
        """The portal's generation: `portal_version` from scowspec.yaml, else probed once per client.

        First `GET /api/openapi.json` (whether `IdPrivate` has `target`); where a portal serves no OpenAPI
        document (the route that serves it was not found in SCOW's source at 0.5.4), `GET /api/config/scowCluster`
        (main publishes `ai.train` per cluster). A token problem is said as such, not as "not a portal".
        """
        with self._probe_lock:
            if self._profile is None:
                generation = self.settings.generation or self._probe()
                self._profile = profile_of(generation)
            return self._profile

    def _probe(self) -> Generation:
        generation = generation_from_openapi(self._openapi())
        if generation is None:
            generation = generation_from_cluster_config(self._optional("/config/scowCluster"))
        if generation is None:
            raise PortalError(
                f"{self.settings.url} does not look like a SCOW-AI portal: neither GET {self.settings.url}/api/"
                "openapi.json nor GET …/api/config/scowCluster answered as SCOW-AI does",
                hint="portal_url must be the AI portal's base URL, e.g. https://scow.example.edu.cn/ai; "
                "or set portal_version: 0.5.4|main in scowspec.yaml to skip this check",
            )
        return generation

    def _openapi(self) -> Any:
        """The portal's OpenAPI document (None where it serves none), asked once. The document is optional: a
        portal that guards it (401, 403) or fails on it (5xx, a web page) is asked the other way, where a token
        problem is then said as such; only a portal that cannot be reached at all stops here."""
        if ("openapi",) not in self._facts:
            try:
                doc = self._optional("/openapi.json")
            except TransportError:
                raise
            except PortalError:
                doc = None
            self._facts["openapi",] = doc
        return self._facts["openapi",]

    def _optional(self, route: str) -> Any:
        """A probe's answer; None for 404 and other refusals that are not about the token or the server."""
        try:
            return self._request("GET", route)
        except AuthError:
            raise
        except PortalError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            return None

    def user_id(self) -> str:
        got = self._request("GET", "/auth/userInfo")
        user = got.get("user", {}) if isinstance(got, dict) else {}
        return str(user.get("identityId", "")) if isinstance(user, dict) else ""

    def accounts_and_clusters(self) -> dict[str, list[str]]:
        key = ("accounts",)
        if key not in self._facts:
            self._facts[key] = self._accounts_and_clusters()
        found: dict[str, list[str]] = self._facts[key]
        return found

    def _accounts_and_clusters(self) -> dict[str, list[str]]:
        got = self._request("GET", "/apps/accountsAndClusters")
        found = got.get("accountClusters", {}) if isinstance(got, dict) else {}
        return {str(k): [str(c) for c in v] for k, v in found.items() if isinstance(v, list)}

    def max_running_hours(self, cluster: str) -> int | None:
        """The cluster's train time limit in hours, as the portal's generation publishes it (None: no limit)."""
        key = ("max-hours", cluster)
        if key not in self._facts:
            self._facts[key] = self._max_running_hours(cluster)
        hours: int | None = self._facts[key]
        return hours

    def _max_running_hours(self, cluster: str) -> int | None:
        if self.profile().max_time_per_cluster:
            got = self._request("GET", "/config/scowCluster")
            conf = got.get(cluster, {}) if isinstance(got, dict) else {}
            ai = conf.get("ai", {}) if isinstance(conf, dict) else {}
            train = ai.get("train", {}) if isinstance(ai, dict) else {}
            hours = train.get("maxRunningTimeHours") if isinstance(train, dict) else None
        else:
            got = self._request("GET", "/config")
            hours = got.get("MAX_JOB_RUNNING_TIME_HOURS") if isinstance(got, dict) else None
        return int(hours) if isinstance(hours, int | float) and not isinstance(hours, bool) and hours > 0 else None

    def image_id(self, cluster: str, name: str, tag: str) -> int:
        """An image of the portal's list by name and tag: the user's own, then shared, then the platform's."""
        key = ("image", cluster, name, tag)
        if key not in self._facts:
            self._facts[key] = self._image_id(cluster, name, tag)
        found: int = self._facts[key]
        return found

    def _image_id(self, cluster: str, name: str, tag: str) -> int:
        seen: list[str] = []
        for scope, params in (
            ("your own", {}),
            ("shared", {"isPublic": "true"}),
            ("the platform's", {"isPlatformOwned": "true"}),
        ):
            got = self._request("GET", "/images", params={"clusterId": cluster, "withExternal": "true", **params})
            items = [i for i in (got.get("items", []) if isinstance(got, dict) else []) if isinstance(i, dict)]
            seen += [f"{i.get('name')}:{i.get('tag')}" for i in items]
            hits = [i for i in items if i.get("name") == name and i.get("tag") == tag]
            if len(hits) > 1:
                owners = ", ".join(sorted(str(i.get("ownerName") or i.get("owner") or "?") for i in hits))
                raise NotFoundError(f"image `{name}:{tag}` is ambiguous among {scope} images (owners: {owners})")
            if hits:
                return int(hits[0]["id"])
        known = ", ".join(sorted(set(seen))[:10]) or "none"
        raise NotFoundError(f"no image `{name}:{tag}` in the portal's image list (images: {known})")

    # -- Files (apps/ai route/file.ts): paths travel in the query or body, never in the URL path --------
    def home_dir(self, cluster: str) -> str:
        if cluster not in self._homes:
            got = self._request("GET", "/file/homeDir", params={"clusterId": cluster})
            path = got.get("path") if isinstance(got, dict) else None
            if not isinstance(path, str) or not path.startswith("/"):
                raise PortalError(f"GET /file/homeDir: the portal gave no home folder for cluster `{cluster}`")
            self._homes[cluster] = path.rstrip("/") or "/"
        return self._homes[cluster]

    def exists(self, cluster: str, path: str, *, fresh: bool = False) -> bool:
        key = ("exists", cluster, path)
        if fresh or key not in self._facts:
            got = self._request("GET", "/file/checkExist", params={"clusterId": cluster, "path": path})
            self._facts[key] = bool(got.get("exists")) if isinstance(got, dict) else False
        found: bool = self._facts[key]
        return found

    def mkdir(self, cluster: str, path: str) -> None:
        """One folder; ConflictError when it exists, NotFoundError when its parent does not (mkdir -p on scowd
        makes parents). Not retried blindly: a lost answer may hide a success.

        The portal looks before it makes a folder (409), but two mkdirs of one path can both pass the look; over
        SSH the second then fails in SFTP with a bare 500, as does a missing parent. checkExist tells which."""
        for attempt in (1, 2):
            try:
                self._request(
                    "POST",
                    "/file/mkdir",
                    body={"clusterId": cluster, "path": path},
                    retry_statuses=frozenset({429}),
                    retry_transport=False,
                )
                return
            except PortalError as exc:
                there = None if isinstance(exc, ConflictError) else self._there_now(exc, cluster, path)
                if there is True:
                    message = f"{path} already exists (made meanwhile): {exc.message}"
                    raise ConflictError(message, status=exc.status) from None
                if there is None:
                    raise
                parent = posixpath.dirname(path)
                if self._there_now(exc, cluster, parent) is False:
                    raise NotFoundError(f"{parent} does not exist: {exc.message}", status=exc.status) from None
                if attempt == 2 or exc.status != 500:
                    raise
                # Neither there nor without a parent now: over SSH, the parent was made right after the call
                # failed (another apply making it): make it again.

    def ensure_dir(self, cluster: str, path: str, *, fresh: bool = False) -> bool:
        """Make `path` and its missing parents (below the home folder); True when anything was made. Once made, a
        folder is taken to stay, unless `fresh` (it was seen gone)."""
        home = self.home_dir(cluster)
        if ("made", cluster, path) in self._facts and not fresh:
            return False
        missing: list[str] = []
        here = posixpath.normpath(path)
        while here not in ("/", home) and not self.exists(cluster, here, fresh=True):
            missing.append(here)
            here = posixpath.dirname(here)
        for folder in reversed(missing):
            with contextlib.suppress(ConflictError):  # made meanwhile (another apply): what we wanted
                self.mkdir(cluster, folder)
        self._facts["made", cluster, path] = True
        return bool(missing)

    def list_directory(self, cluster: str, path: str) -> list[dict[str, Any]]:
        """A folder's entries; NotFoundError when it is not there."""
        for attempt in (1, 2):
            try:
                got = self._request("GET", "/file/listDirectory", params={"clusterId": cluster, "path": path})
                break
            except PortalError as exc:
                there = self._there_now(exc, cluster, path)
                if there is False:
                    raise NotFoundError(exc.message, status=exc.status, code=exc.code) from None
                if there is None or attempt == 2:
                    raise
                # There now: made right after the listing failed (another apply making it): list it again.
        return [e for e in got if isinstance(e, dict)] if isinstance(got, list) else []

    def delete(self, cluster: str, path: str, *, folder: bool) -> None:
        """NotFoundError when there was nothing to delete (SSH's `rm -rf` of a folder says nothing at all)."""
        try:
            self._request(
                "POST", "/file/delete", body={"clusterId": cluster, "target": "DIR" if folder else "FILE", "path": path}
            )
        except PortalError as exc:
            if self._there_now(exc, cluster, path) is False:
                raise NotFoundError(exc.message, status=exc.status, code=exc.code) from None
            raise

    def _there_now(self, exc: PortalError, cluster: str, path: str) -> bool | None:
        """After a file route failed with `exc`: is `path` there now (checkExist)? None when that can't tell what
        went wrong: no answer, the token, a 404 that says it already, or a 403 (never taken for "missing").

        The file drivers say "no such folder" each their own way (scowd: 404 or 400 by its version; SSH: 412 "is
        not accessible"), so scowspec asks rather than reads status codes. Over SSH checkExist is "stat
        succeeded", so a folder we may not read can read as missing too."""
        if isinstance(exc, NotFoundError | AuthError | ForbiddenError | TransportError) or exc.status is None:
            return None
        try:
            return self.exists(cluster, path, fresh=True)
        except PortalError:
            return None

    def download(self, cluster: str, path: str, *, limit: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """A file's bytes (a growing file: what it held when the read began)."""
        route = "/file/download"
        url = f"{self.settings.url}/api{route}"
        self.requests_made += 1
        try:
            resp = self._session.get(
                url,
                params={"clusterId": cluster, "path": path, "download": "false"},
                stream=True,
                timeout=(min(5.0, self.settings.timeout_s), self.settings.timeout_s),
            )
            with resp:
                if resp.status_code != 200:
                    raise error_of("GET", route, resp)
                data = b""
                for chunk in resp.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise PortalError(f"GET {route}: {path} is larger than {limit // (1024 * 1024)} MiB")
                return data
        except requests.RequestException as exc:
            raise TransportError(f"GET {url} ({path}) failed: {type(exc).__name__}") from None

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

    def available_partitions(self, cluster: str, account: str) -> list[Partition]:
        """The partitions `account` may use on `cluster`."""
        parts = self._request(
            "GET", "/config/cluster/availablePartitions", params={"accountName": account, "clusterId": cluster}
        )
        return [
            Partition(
                name=str(p["name"]),
                mem_mb=int(p.get("memMb", 0)),
                cores=int(p.get("cores", 0)),
                gpus=int(p.get("gpus", 0)),
                qos=tuple(p.get("qos") or ()),
                gpu_type=p.get("gpuType"),
                max_accelerators_per_pod=p.get("maxAcceleratorsPerPod"),
            )
            for p in (parts if isinstance(parts, list) else [])
            if isinstance(p, dict) and p.get("name")
        ]

    def _partition(self, cluster: str, account: str, name: str) -> Partition:
        parts = self.available_partitions(cluster, account)
        for p in parts:
            if p.name == name:
                return p
        names = ", ".join(p.name for p in parts) or "none"
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
        # Where the portal mounts it (a private version: its privatePath): plan checks dataset.file there.
        path = newest.get("privatePath") if scope is Scope.MINE and newest.get("privatePath") else newest.get("path")
        if isinstance(path, str) and path.startswith("/"):
            self._facts["asset-path", kind.value, int(newest["id"])] = path
        return int(newest["id"])

    def asset_path(self, kind: AssetKind, version_id: int) -> str | None:
        """The host folder of a version this run resolved by name (None: not known without another lookup)."""
        path: str | None = self._facts.get(("asset-path", kind.value, version_id))
        return path


def _id_of(got: Any, key: str, route: str, *, bare: bool = False) -> int:
    """The id a create answered with; an answer without one leaves the outcome unknown (looked up, not resent)."""
    value = got.get(key) if isinstance(got, dict) else got if bare else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TransportError(
        f"{route}: the portal answered without {'an' if key == 'id' else 'a'} {key}; the outcome is unknown"
    )


def _stream_lines(resp: requests.Response) -> Iterator[str]:
    """The lines of a streamed answer as soon as each arrives.

    `iter_lines` reads 512-byte blocks and waits for a block to fill, so a short first event (a short log)
    would wait for later ones, which may never come; `read1` returns whatever has arrived.
    """
    read1 = getattr(resp.raw, "read1", None)
    pending = b""
    while True:
        data = read1(64 * 1024, decode_content=True) if read1 is not None else resp.raw.read(1, decode_content=True)
        if not data:
            break
        pending += data
        *done, pending = pending.split(b"\n")
        for line in done:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


def _is_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.Timeout) or "timed out" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _kind_of(resp: requests.Response) -> str:
    kind = resp.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    if "html" in kind:
        return "an HTML page: a proxy, a login page or a wrong URL"
    return f"{kind}, {len(resp.content)} bytes" if resp.content else "an empty body"


def error_of(method: str, path: str, resp: requests.Response) -> PortalError:
    """A portal error answer as one typed error whose message says what the portal said.

    trpc-to-openapi's body: `{message, code, data: {detailedError?}, issues?}`; zod failures carry `issues`.
    401 is the token; 403 is this account, partition, asset or path, never the token.
    """
    try:
        err = resp.json()
    except ValueError:
        err = None
    status = resp.status_code
    if not isinstance(err, dict):
        return PortalError(
            f"{method} {path}: {status} {resp.reason or ''}, with {_kind_of(resp)}".replace("  ", " "),
            status=status,
            hint="is portal_url the AI portal's base URL, e.g. https://host/ai?",
        )
    message = str(err.get("message") or resp.reason or "error")
    code = str(err.get("code", ""))
    issues = err.get("issues")
    if isinstance(issues, list) and issues:
        message += ": " + "; ".join(_issue_text(i) for i in issues[:10])
    data = err.get("data")
    detail = data.get("detailedError") if isinstance(data, dict) else None
    detail = detail if isinstance(detail, dict) else err.get("detailedError")
    kind = str(detail.get("type", "")) if isinstance(detail, dict) else ""
    text = f"{method} {path}: {status} {code}: {message}".replace(":  :", ":").replace(" :", ":")
    if kind:
        text += f" ({kind})"
    if status == 401:
        return AuthError(
            f"{method} {path}: the portal refused SCOWSPEC_TOKEN (401): it is wrong or has expired",
            status=status,
            code=code,
            hint=TOKEN_HINT,
        )
    if status == 403:
        return ForbiddenError(
            text, status=status, code=code, hint="the token works: check the account, partition, asset or path"
        )
    if status == 404:
        return NotFoundError(text, status=status, code=code)
    if status == 409:
        return ConflictError(text, status=status, code=code)
    return PortalError(text, status=status, code=code)


def _issue_text(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    where = (
        ".".join(str(p) for p in issue.get("path", []) if p is not None) if isinstance(issue.get("path"), list) else ""
    )
    return f"{where}: {issue.get('message', 'invalid')}" if where else str(issue.get("message", "invalid"))
