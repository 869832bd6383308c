"""The portal's own submit checks (SCOW generation B: jobs.ts, scowdJobDriver.ts, @scow/utils paths).

Each returns an error message or None; the server maps them to 400/403/404 like the portal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_JOB_NAME_LENGTH = 43
K8S_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
BAD_PATH_CHARS = set(",;|&><`$\"'\\*?[]{}()")
# Written out again on purpose (also in validate/rules.py): the sandbox stands for the portal, so that
# tests of scowspec's validator against it would catch a wrong list instead of sharing it.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)
IMAGE = re.compile(
    r"^(?P<host>[A-Za-z0-9.-]+(?::\d+)?)/[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str, detailed: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detailed = status, code, message, detailed


def bad(message: str, detailed: dict[str, Any] | None = None) -> Rejected:
    return Rejected(400, "BAD_REQUEST", message, detailed)


def host_path(path: Any, home: str, what: str) -> None:
    if not isinstance(path, str) or not path.startswith("/"):
        raise bad(f"{what} '{path}' 必须是绝对路径", {"type": "path_validation_failed"})
    if any(c.isspace() or ord(c) < 32 or c in BAD_PATH_CHARS for c in path):
        raise bad(f"{what} '{path}' 包含非法字符", {"type": "path_validation_failed"})
    if any(seg in (".", "..") for seg in path.split("/")):
        raise bad(f"{what} '{path}' 不能包含 . 或 ..", {"type": "path_validation_failed"})
    norm = path.rstrip("/")
    if norm != home and not norm.startswith(home + "/"):
        raise bad(f"{what} '{path}' 路径必须位于用户家目录下", {"type": "path_validation_failed"})


def mount_target(target: Any) -> None:
    if not isinstance(target, str) or not target.startswith("/") or target.rstrip("/") == "":
        raise bad(f"Mount target path '{target}' is invalid", {"type": "path_validation_failed"})
    t = target.rstrip("/")
    if any(t == d or t.startswith(d + "/") for d in SYSTEM_DIRS):
        raise bad(f"Mount target path '{target}' is a system directory", {"type": "path_validation_failed"})


_REQUIRED = {
    "clusterId": str,
    "trainJobName": str,
    "account": str,
    "coreCount": int,
    "nodeCount": int,
    "maxTime": int,
    "command": str,
}
_OPTIONAL = {
    "remoteImageUrl": str,
    "framework": str,
    "partition": str,
    "qos": str,
    "gpuCount": int,
    "memory": int,
    "gpuType": str,
    "tensorBoardDataPath": str,
    "models": list,
    "datasets": list,
    "mountPoints": list,
    "envVariables": list,
}


def shape(body: Any) -> None:
    """zod's part: required fields and types (null is not `optional`)."""
    if not isinstance(body, dict):
        raise bad("Expected object")
    issues = []
    for key, typ in _REQUIRED.items():
        if key not in body:
            issues.append({"path": [key], "message": "Required"})
        elif not isinstance(body[key], typ) or isinstance(body[key], bool):
            issues.append({"path": [key], "message": f"Expected {typ.__name__}"})
    for key, typ in _OPTIONAL.items():
        if key in body and (not isinstance(body[key], typ) or isinstance(body[key], bool)):
            issues.append({"path": [key], "message": f"Expected {typ.__name__}, received {type(body[key]).__name__}"})
    if body.get("framework") not in (None, "tensorflow", "pytorch", "mindspore", "mpi"):
        issues.append({"path": ["framework"], "message": "Invalid input"})
    if issues:
        raise Rejected(400, "BAD_REQUEST", str(issues), {"issues": issues})


def submit(body: Mapping[str, Any], home: str, max_hours: int) -> str:
    """Checks in the portal's order; returns WORK_DIR."""
    name = body["trainJobName"]
    if len(name) > MAX_JOB_NAME_LENGTH:
        raise bad(f"The length of trainJobName should not exceed {MAX_JOB_NAME_LENGTH}")
    if not K8S_NAME.match(name):
        raise Rejected(500, "INTERNAL_SERVER_ERROR", f"Submit train job failed, JOB_NAME_INVALID: {name}")
    if body["maxTime"] <= 0:
        raise bad("The train running time must be greater than 0")
    if body["maxTime"] > max_hours * 60:
        raise bad(f"The train running time cannot exceed {max_hours} hour(s)")
    image = body.get("remoteImageUrl")
    if image is None:
        raise bad("An image is required (remoteImageUrl)")
    m = IMAGE.match(image)
    if not m or not ("." in m.group("host") or ":" in m.group("host") or m.group("host") == "localhost"):
        raise bad(f"Invalid remote image address {image}", {"type": "image_address_validation_failed"})
    envs = {e.get("key"): e.get("value") for e in body.get("envVariables", []) if isinstance(e, dict)}
    work_dir = envs.get("WORK_DIR")
    if not work_dir:
        raise bad("WORK_DIR is required")
    host_path(work_dir, home, "WORK_DIR")
    hosts = {work_dir.rstrip("/")}
    targets: set[str] = set()
    for mp in body.get("mountPoints", []):
        if not isinstance(mp, dict) or "path" not in mp or "target" not in mp:
            raise bad("mountPoints items need path and target")
        host_path(mp["path"], home, "Mount path")
        mount_target(mp["target"])
        if mp["target"].rstrip("/") in targets:
            raise bad(f"Mount target path '{mp['target']}' is duplicated")
        targets.add(mp["target"].rstrip("/"))
        if mp["path"].rstrip("/") in hosts:
            raise bad(f"路径 '{mp['path']}' 重复，请确保所有路径都是唯一的。")
        hosts.add(mp["path"].rstrip("/"))
    if "tensorBoardDataPath" in body:
        host_path(body["tensorBoardDataPath"], home, "tensorBoardDataPath")
    if body.get("gpuCount", 0) > 0 and not body.get("gpuType"):
        raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed, gpuType is required when gpuCount > 0")
    if body["nodeCount"] > 1 and not body.get("framework"):
        raise Rejected(
            500, "INTERNAL_SERVER_ERROR", "Submit train job failed, framework is required when nodeCount > 1"
        )
    if body["nodeCount"] < 1 or body["coreCount"] < 1:
        raise bad("nodeCount and coreCount must be at least 1")
    return str(work_dir)
