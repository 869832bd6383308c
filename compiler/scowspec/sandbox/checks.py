"""The portal's own submit checks (jobs.ts, scowdJobDriver.ts, @scow/utils paths), per generation.

Each raises Rejected with the portal's status, tRPC code and message; what differs between 0.5.4 and main is read
from the portal Profile, never from a version number here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scowspec.portal.profile import Profile

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
    """validateContainerMountTargetPath: safe characters, absolute, no `.`/`..` segment, not `/` or a system folder."""
    if not isinstance(target, str) or not target.startswith("/") or target.rstrip("/") == "":
        raise bad(f"Mount target path '{target}' is invalid", {"type": "path_validation_failed"})
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in BAD_PATH_CHARS for c in target):
        raise bad(f"Mount target path '{target}' 包含非法字符", {"type": "path_validation_failed"})
    if any(seg in (".", "..") for seg in target.split("/")):
        raise bad(f"Mount target path '{target}' 不能包含 . 或 ..", {"type": "path_validation_failed"})
    t = "/" + "/".join(seg for seg in target.split("/") if seg)  # `//etc` is /etc to the container
    if any(t == d or t.startswith(d + "/") for d in SYSTEM_DIRS):
        raise bad(f"Mount target path '{target}' is a system directory", {"type": "path_validation_failed"})


Number = (int, float)  # zod's z.number(): any finite number, floats too
_REQUIRED: dict[str, Any] = {
    "clusterId": str,
    "trainJobName": str,
    "account": str,
    "coreCount": Number,
    "nodeCount": Number,
    "maxTime": Number,
    "command": str,
}
_OPTIONAL: dict[str, Any] = {
    "remoteImageUrl": str,
    "image": Number,
    "framework": str,
    "partition": str,
    "qos": str,
    "gpuCount": Number,
    "memory": Number,
    "gpuType": str,
    "tensorBoardDataPath": str,
    "models": list,
    "datasets": list,
    "mountPoints": list,
    "envVariables": list,
}


def _type_name(typ: Any) -> str:
    return "number" if typ is Number else "array" if typ is list else "string"


def shape(body: Any) -> None:
    """zod's part: required fields and types (null is not `optional`)."""
    if not isinstance(body, dict):
        raise bad("Expected object")
    issues: list[dict[str, Any]] = []
    for key, typ in _REQUIRED.items():
        if key not in body:
            issues.append({"path": [key], "message": "Required"})
        elif not isinstance(body[key], typ) or isinstance(body[key], bool):
            issues.append({"path": [key], "message": f"Expected {_type_name(typ)}, received {_js(body[key])}"})
    for key, typ in _OPTIONAL.items():
        if key in body and (not isinstance(body[key], typ) or isinstance(body[key], bool)):
            issues.append({"path": [key], "message": f"Expected {_type_name(typ)}, received {_js(body[key])}"})
    if body.get("framework") not in (None, "tensorflow", "pytorch", "mindspore", "mpi"):
        issues.append({"path": ["framework"], "message": "Invalid enum value"})
    for kind in ("models", "datasets"):
        for i, ref in enumerate(body.get(kind) or []):
            if (
                not isinstance(ref, dict)
                or not isinstance(ref.get("id"), Number)
                or not isinstance(ref.get("isPrivate"), bool)
            ):
                issues.append({"path": [kind, i], "message": "Expected {id: number, isPrivate: boolean}"})
    if issues:
        raise Rejected(400, "BAD_REQUEST", "Input validation failed", {"issues": issues})


def _js(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null"
    )


def submit(body: Mapping[str, Any], home: str, max_hours: int, profile: Profile, harbor: str) -> str | None:
    """Checks in the portal's order; returns WORK_DIR (None where 0.5.4 got none)."""
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
    if image is None and body.get("image") is None:
        # The portal itself fails later, at K8s (500); the sandbox says it plainly.
        raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed: no container image")
    if image is not None:
        m = IMAGE.match(image)
        if not m or not ("." in m.group("host") or ":" in m.group("host") or m.group("host") == "localhost"):
            raise bad(f"Invalid remote image address {image}", {"type": "image_address_validation_failed"})
        if profile.refuses_harbor_remote_image and m.group("host") == harbor:
            raise bad(
                f"Remote image address {image} is on the platform's Harbor: choose it from the image list",
                {"type": "image_address_validation_failed", "isHarborAddress": True},
            )
    envs = {e.get("key"): e.get("value") for e in body.get("envVariables", []) if isinstance(e, dict)}
    work_dir = envs.get("WORK_DIR")
    if profile.work_dir_required:
        if not work_dir:
            raise bad("WORK_DIR is required")
        host_path(work_dir, home, "WORK_DIR")
    hosts: set[str] = set()  # WORK_DIR is not among the unique host paths of a train job (scowdJobDriver.ts)
    targets: set[str] = set()
    for mp in body.get("mountPoints", []):
        if not isinstance(mp, dict) or "path" not in mp or "target" not in mp:
            raise bad("Input validation failed", {"issues": [{"path": ["mountPoints"], "message": "Required"}]})
        if profile.strict_home_paths:
            host_path(mp["path"], home, "Mount path")
            mount_target(mp["target"])
            if mp["target"].rstrip("/") in targets:
                raise bad(f"Mount target path '{mp['target']}' is duplicated")
        elif not str(mp["path"]).rstrip("/").startswith(home):
            raise bad("mountPoint should be in homeDir")
        targets.add(mp["target"].rstrip("/"))
        if mp["path"].rstrip("/") in hosts:
            raise bad(f"路径 '{mp['path']}' 重复，请确保所有路径都是唯一的。")
        hosts.add(mp["path"].rstrip("/"))
    if "tensorBoardDataPath" in body and profile.strict_home_paths:
        host_path(body["tensorBoardDataPath"], home, "tensorBoardDataPath")
    if body.get("gpuCount", 0) > 0 and not body.get("gpuType"):
        raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed, gpuType is required when gpuCount > 0")
    if body["nodeCount"] < 1:
        raise Rejected(500, "INTERNAL_SERVER_ERROR", "Submit train job failed, NODE_COUNT_INVALID")
    if body["coreCount"] < 1:
        raise bad("coreCount must be at least 1")
    if profile.work_dir_is_mounted and work_dir and work_dir.rstrip("/") in targets:
        # Two volume mounts on one mountPath: K8s refuses the pod spec.
        raise Rejected(
            500, "INTERNAL_SERVER_ERROR", "Submit train job failed, SUBMIT_VCJOB_FAILED: duplicate mountPath"
        )
    return str(work_dir) if work_dir else None
