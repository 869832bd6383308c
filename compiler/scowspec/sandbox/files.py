"""The portal's file routes (`apps/ai/src/server/trpc/route/file.ts`), over the sandbox's per-user file tree.

Paths travel in the query or body, never in the URL path (as in the portal). Writes are allowed under the user's
home only; reads anywhere the tree has (public model and dataset folders included).

A cluster's files are reached through one of two drivers (`apps/ai/src/server/trpc/Driver/fileDriver/`), and
they differ where scowspec must not care (FileDriver):
- `mkdir` looks first (409 when the path exists), then makes the folder in a second call: two mkdirs of one path
  in that gap both succeed on scowd, whose makeDirectory is inferred to be `mkdir -p` (it makes missing parents
  too); SFTP's mkdir is one level (a missing parent: 500) and fails on an existing folder (500).
- A folder that is not there: scowd answers a listing with 404 or 400 (by scowd version: NotFound, or
  InvalidArgument "no such file or directory"; the driver's own comment at d83b20f4 and later says so), SSH with
  412 "is not accessible" (sshFileDriver.ts @ 00aa2eb2). Deleting one: scowd as for listing; SSH's `rm -rf` says
  nothing. Downloading a file that is not there: SSH 403; scowd 200 with an empty body (its `finally` ends the
  response before the error is sent), so a reader must ask checkExist first.
"""

from __future__ import annotations

import enum
import posixpath
import time
from typing import Any

from scowspec.sandbox.checks import Rejected, bad
from scowspec.sandbox.store import Store


class FileDriver(enum.Enum):
    """How the portal reaches a cluster's files: scowd, or SSH/SFTP where scowd is off."""

    SCOWD = "scowd"
    SSH = "ssh"


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise bad("Input validation failed", {"issues": [{"path": ["path"], "message": "Expected an absolute path"}]})
    return posixpath.normpath(value)


def _writable(path: str, home: str) -> None:
    if path != home and not path.startswith(home + "/"):
        raise Rejected(403, "FORBIDDEN", f"Permission denied: {path}")


def route(
    store: Store,
    user: dict[str, Any],
    method: str,
    route: str,
    query: dict[str, str],
    body: Any,
    driver: FileDriver = FileDriver.SCOWD,
    mkdir_gap_s: float = 0.0,
) -> Any:
    """The answer to a `/file/...` route; raises Rejected like the portal, through `driver`."""
    uid, home = user["id"], user["home"]
    args = body if method == "POST" and isinstance(body, dict) else query
    if method == "GET" and route == "/file/homeDir":
        return {"path": home}
    path = _path(args.get("path"))
    if method == "GET" and route == "/file/checkExist":
        return {"exists": store.file(uid, path) is not None}
    if method == "GET" and route == "/file/fileType":
        found = _existing(store, uid, path)
        return {"size": len(found["content"]), "type": found["kind"], "isSymlink": False}
    if method == "GET" and route == "/file/listDirectory":
        folder = store.file(uid, path)
        if folder is None:
            raise _missing(driver, path)
        if folder["kind"] != "DIR":
            if driver is FileDriver.SSH:
                raise Rejected(422, "UNPROCESSABLE_CONTENT", f"{path} is not directory or not exists")
            raise bad(f"{path} is not a directory")
        return [
            {
                "type": c["kind"],
                "name": c["name"],
                "mtime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(c["mtime"])),
                "size": c["size"],
                "mode": 0o755 if c["kind"] == "DIR" else 0o644,
            }
            for c in store.children(uid, path)
        ]
    if method == "GET" and route == "/file/download":
        if args.get("download") not in ("true", "false"):
            raise bad("Input validation failed", {"issues": [{"path": ["download"], "message": "Required"}]})
        stored = store.file(uid, path)
        if stored is None:
            if driver is FileDriver.SSH:
                raise Rejected(403, "FORBIDDEN", f"{path} is not accessible")
            # scowd: the metadata call fails inside a `finally` that ends the response first: 200, empty body.
            return Raw(b"")
        if stored["kind"] != "FILE":
            raise bad(f"{path} is not a file")
        return Raw(bytes(stored["content"]))
    if method == "POST" and route == "/file/mkdir":
        _writable(path, home)
        if store.file(uid, path) is not None:
            raise Rejected(409, "CONFLICT", f"{path} already exists")
        time.sleep(mkdir_gap_s)  # the driver's second call: another mkdir may pass the look meanwhile
        if driver is FileDriver.SCOWD:
            store.put(uid, path, "DIR", parents=True)
            return None
        parent = store.file(uid, posixpath.dirname(path))
        if parent is None or parent["kind"] != "DIR":
            raise Rejected(500, "INTERNAL_SERVER_ERROR", "No such file")  # SFTP's status text, not a TRPCError
        if not store.put(uid, path, "DIR", parents=False):
            raise Rejected(500, "INTERNAL_SERVER_ERROR", "Failure")
        return None
    if method == "POST" and route == "/file/createFile":
        _writable(path, home)
        if store.file(uid, path) is not None:
            raise Rejected(409, "CONFLICT", f"{path} already exists")
        store.put(uid, path, "FILE", b"", parents=False)
        return None
    if method == "POST" and route == "/file/delete":
        _writable(path, home)
        if store.file(uid, path) is None:
            if driver is FileDriver.SCOWD:
                raise _missing(driver, path)
            if args.get("target") == "DIR":
                return None  # rm -rf
            raise Rejected(500, "INTERNAL_SERVER_ERROR", "No such file")  # SFTP unlink
        store.delete(uid, path)
        return None
    raise Rejected(404, "NOT_FOUND", f"No route {method} {route}")


def _missing(driver: FileDriver, path: str) -> Rejected:
    if driver is FileDriver.SSH:
        return Rejected(412, "PRECONDITION_FAILED", f"{path} is not accessible")
    return bad(f"[invalid_argument] stat {path}: no such file or directory")


def _existing(store: Store, uid: str, path: str) -> dict[str, Any]:
    found = store.file(uid, path)
    if found is None:
        raise Rejected(404, "NOT_FOUND", f"{path} does not exist")
    return found


class Raw(bytes):
    """A body sent as it is (text/plain), like the download route's stream."""
