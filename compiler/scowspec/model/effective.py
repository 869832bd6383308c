"""Merge project defaults (scowspec.yaml) under a spec: the spec wins, field by field."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

# Top-level spec fields that scowspec.yaml may default.
DEFAULTED = ("cluster", "account", "partition", "qos", "image", "work_dir")
# Fields that must be known after merging, and where the user can set them.
REQUIRED_AFTER_MERGE = ("cluster", "account", "partition", "image", "work_dir")

_DURATION = re.compile(r"^([1-9][0-9]*)([mhd])$")
_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


def merge(defaults: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The effective spec: `spec` plus the defaults it does not set itself."""
    out = copy.deepcopy(dict(spec))
    for key in DEFAULTED:
        if key not in out and key in defaults:
            out[key] = copy.deepcopy(defaults[key])
    if "gpu_type" in defaults and isinstance(out.get("resources"), dict):
        out["resources"].setdefault("gpu_type", defaults["gpu_type"])
    return out


def minutes(max_time: int | str) -> int:
    """`45m`, `10h`, `2d` or whole minutes → minutes (the schema already checked the form)."""
    if isinstance(max_time, int):
        return max_time
    m = _DURATION.match(max_time)
    if not m:
        raise ValueError(f"bad duration {max_time!r}")
    return int(m.group(1)) * _MINUTES[m.group(2)]
