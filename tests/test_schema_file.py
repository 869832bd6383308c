"""The canonical schema file: valid draft 2020-12, described everywhere, closed everywhere, in sync with the key table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from .conftest import ROOT

SCHEMA = json.loads((ROOT / "schema" / "finetune.schema.json").read_text("utf-8"))


def _objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for k, v in node.items():
            yield from _objects(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _objects(v, f"{path}/{i}")


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_property_has_a_description() -> None:
    missing = [
        f"{path}/{name}"
        for path, obj in _objects(SCHEMA)
        for name, prop in obj.get("properties", {}).items()
        if "description" not in prop
    ]
    assert missing == []


def test_every_object_with_properties_is_closed() -> None:
    open_ = [
        path for path, obj in _objects(SCHEMA) if "properties" in obj and obj.get("additionalProperties") is not False
    ]
    assert open_ == []


def test_schema_is_in_sync_with_the_llamafactory_key_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_schema.py"), "--check"], capture_output=True, timeout=60
    )
    assert proc.returncode == 0, "schema/finetune.schema.json is out of date: run `make schema`"
