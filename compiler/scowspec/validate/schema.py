"""JSON Schema check: jsonschema errors turned into located diagnostics.

The schema file (`schema/finetune.schema.json`) is the one canonical copy: the wheel carries it as
`scowspec/finetune.schema.json`; an editable checkout reads it from the repository.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from scowspec.diagnostics import Diagnostic, JsonPath, describe
from scowspec.load.document import Document
from scowspec.validate.lfkeys import RESERVED, key_table

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_text() -> str:
    """The schema as shipped: inside the wheel, else the repository's `schema/` folder."""
    packaged = resources.files("scowspec").joinpath("finetune.schema.json")
    if packaged.is_file():
        return packaged.read_text("utf-8")
    return (Path(__file__).resolve().parents[3] / "schema" / "finetune.schema.json").read_text("utf-8")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


@cache
def _validator(defn: str) -> Draft202012Validator:
    root = schema()
    if defn:
        # Validate against one $defs entry, resolving its refs inside the same document.
        sub = {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": f"#/$defs/{defn}"}
        return Draft202012Validator(sub)
    return Draft202012Validator(root)


# A file with thousands of unknown keys would take seconds to report (each gets a suggestion) and
# bury the first problems; past this many, one line says how many more there are.
MAX_DIAGNOSTICS = 100


def check(doc: Document, *, definition: str = "") -> list[Diagnostic]:
    """The schema problems of `doc` (against the root schema or one `$defs` entry), each once, at most
    MAX_DIAGNOSTICS."""
    out: dict[Diagnostic, None] = {}  # ordered and each problem once: a field missing from several
    for err in _validator(definition).iter_errors(doc.data):  # branches (allOf, if/then) is said once
        out.update(dict.fromkeys(_convert(doc, err)))
        if len(out) >= MAX_DIAGNOSTICS:
            kept = list(out)[:MAX_DIAGNOSTICS]
            return [*kept, doc.diagnostic("too-many", f"more than {MAX_DIAGNOSTICS} problems; fix these first")]
    return list(out)


def suggest(word: str, options: Iterator[str] | list[str] | frozenset[str] | set[str]) -> str:
    """The closest option to `word`, or ''."""
    match = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return match[0] if match else ""


def _convert(doc: Document, err: ValidationError) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(err.absolute_path)
    sch: Mapping[str, Any] = err.schema if isinstance(err.schema, Mapping) else {}
    where = describe(path)
    kw = err.validator
    value: Any = err.validator_value
    if kw == "additionalProperties" and isinstance(err.instance, dict):
        props = set(sch.get("properties", {}))
        for key in err.instance:
            if key in props:
                continue
            kpath = (*path, key)
            if key in RESERVED and path and path[-1] in ("train", "export"):
                yield doc.diagnostic(
                    "reserved-key", f"`{describe(kpath)}` cannot be set here: {RESERVED[key]}", kpath, key=True
                )
                continue
            if key in key_table().init_false and path and path[-1] == "train":
                yield doc.diagnostic(
                    "reserved-key",
                    f"`{describe(kpath)}` is computed by LLaMA-Factory and cannot be set",
                    kpath,
                    key=True,
                )
                continue
            hint = suggest(str(key), props)
            msg = f"unknown key `{key}` in {where}"
            if path and path[-1] in ("train", "export"):
                msg = f"unknown key `{key}` in {where}: LLaMA-Factory 0.9.4 has no such argument"
            if hint:
                msg += f"; did you mean `{hint}`?"
            yield doc.diagnostic("unknown-key", msg, kpath, key=True, suggestion=hint)
        return
    if kw == "required":
        missing = [r for r in value if isinstance(err.instance, dict) and r not in err.instance]
        for name in missing:
            yield doc.diagnostic("required", f"missing required field `{name}` in {where}", path, key=True)
        return
    if kw == "type":
        wanted = [str(w) for w in value] if isinstance(value, list) else [str(value)]
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in wanted)
        msg = f"`{where}` must be {names}, got {_show(err.instance)}"
        if isinstance(err.instance, str) and _numeric(err.instance) and ("number" in wanted or "integer" in wanted):
            msg += "; remove the quotes"
        yield doc.diagnostic("type", msg, path)
        return
    if kw in ("enum", "const"):
        options = list(value) if kw == "enum" else [value]
        hint = suggest(str(err.instance), [str(o) for o in options])
        shown = ", ".join(str(o) for o in options[:12]) + (" …" if len(options) > 12 else "")
        msg = f"`{where}` is {_show(err.instance)}; expected one of: {shown}"
        if kw == "const":
            msg = f"`{where}` must be `{value}`, got {_show(err.instance)}"
        if hint and hint != str(err.instance):
            msg += f"; did you mean `{hint}`?"
        yield doc.diagnostic("value", msg, path, suggestion=hint)
        return
    if kw == "anyOf":
        deeper = [e for e in err.context if len(e.absolute_path) > len(path)]
        if deeper:
            yield from _convert(doc, max(deeper, key=lambda e: len(e.absolute_path)))
            return
        yield doc.diagnostic("value", f"`{where}` is {_show(err.instance)}; {_anyof_hint(err)}", path)
        return
    if kw in ("pattern", "oneOf") and "x-message" in sch:
        yield doc.diagnostic("format", f"`{where}` {sch['x-message']}, got {_show(err.instance)}", path)
        return
    if kw == "propertyNames":
        yield doc.diagnostic("format", f"`{err.instance}` in {where}: invalid name", path)
        return
    yield doc.diagnostic("value", f"`{where}`: {err.message}", path)


def _anyof_hint(err: ValidationError) -> str:
    options: Any = err.validator_value
    enums: list[list[Any]] = [list(s["enum"]) for s in options if isinstance(s, dict) and "enum" in s]
    if enums:
        return "expected one of: " + ", ".join(str(o) for o in enums[0])
    kinds = [_kind_name(s) for s in options if isinstance(s, dict)]
    return "expected " + " or ".join(kinds)


def _kind_name(option: Mapping[str, Any]) -> str:
    name = _TYPE_NAMES.get(str(option.get("type")), str(option.get("type")))
    if option.get("minLength", 0) >= 1 or option.get("minItems", 0) >= 1:
        name = "a non-empty " + name.removeprefix("a ")
    return name


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
