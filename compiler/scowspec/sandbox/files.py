"""The portal's file routes (`apps/ai/src/server/trpc/route/file.ts`), over the sandbox's per-user file tree.

Paths travel in the query or body, never in the URL path (as in the portal). Writes are allowed under the user's
home only; reads anywhere the tree has (public model and dataset folders included).

Unclear in the portal's source, and chosen here: `mkdir` does not create missing parents (404), like mkdir(2);
scowspec creates each missing level itself, which works either way.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

from scowspec.sandbox.checks import Rejected, bad
from scowspec.sandbox.store import Store


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise bad("Input validation failed", {"issues": [{"path": ["path"], "message": "Expected an absolute path"}]})
    return posixpath.normpath(value)


def _writable(path: str, home: str) -> None:
    if path != home and not path.startswith(home + "/"):
        raise Rejected(403, "FORBIDDEN", f"Permission denied: {path}")


def route(store: Store, user: dict[str, Any], method: str, route: str, query: dict[str, str], body: Any) -> Any:
    """The answer to a `/file/...` route; raises Rejected like the portal."""
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
        found = _existing(store, uid, path)
        if found["kind"] != "DIR":
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
        found = _existing(store, uid, path)
        if found["kind"] != "FILE":
            raise bad(f"{path} is not a file")
        return Raw(bytes(found["content"]))
    if method == "POST" and route == "/file/mkdir":
        _writable(path, home)
        parent = store.file(uid, posixpath.dirname(path))
        if parent is None or parent["kind"] != "DIR":
            raise Rejected(404, "NOT_FOUND", f"{posixpath.dirname(path)} does not exist")
        if not store.put(uid, path, "DIR", parents=False):
            raise Rejected(409, "CONFLICT", f"{path} already exists")
        return None
    if method == "POST" and route == "/file/createFile":
        _writable(path, home)
        if store.file(uid, path) is not None:
            raise Rejected(409, "CONFLICT", f"{path} already exists")
        store.put(uid, path, "FILE", b"", parents=False)
        return None
    if method == "POST" and route == "/file/delete":
        _writable(path, home)
        _existing(store, uid, path)
        store.delete(uid, path)
        return None
    raise Rejected(404, "NOT_FOUND", f"No route {method} {route}")


def _existing(store: Store, uid: str, path: str) -> dict[str, Any]:
    found = store.file(uid, path)
    if found is None:
        raise Rejected(404, "NOT_FOUND", f"{path} does not exist")
    return found


class Raw(bytes):
    """A body sent as it is (text/plain), like the download route's stream."""
