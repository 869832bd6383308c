"""Parse YAML text into a Document, keeping a span for every key and value.

We compose the node graph with libyaml (PyYAML's C parser, pure Python where it is missing) and
build plain data ourselves: one fast parse gives positions, *every* duplicate key (loaders stop
at the first or keep the last silently), and data that jsonschema validates quickly.

Plain scalars are resolved by the YAML 1.2 core schema (as ruamel.yaml and editors do), not by
PyYAML's YAML 1.1 rules: `yes` stays a string and `1e-4` is a float.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scowspec.diagnostics import Diagnostic, JsonPath, Position, Severity, Span
from scowspec.load.document import Document, Marks, NodeSpan, point, to_span

_PLAIN = "tag:scowspec:plain"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """No implicit resolvers: every untagged scalar gets _PLAIN, so we resolve it by YAML 1.2."""

    yaml_implicit_resolvers: dict[str, Any] = {}  # noqa: RUF012 - PyYAML's class-level registry
    DEFAULT_SCALAR_TAG = _PLAIN


def _core(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _scalar(node: ScalarNode) -> Any:
    text: str = node.value
    tag = node.tag
    if tag == _PLAIN:
        return _core(text) if not node.style else text  # plain style is None (Python) or "" (libyaml)
    if tag.endswith(":int"):
        return int(text.replace("_", ""), 0)
    if tag.endswith(":float"):
        return float(_core(text)) if isinstance(_core(text), int | float) else text
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on")
    if tag.endswith(":null"):
        return None
    return text  # !!str and unknown tags: the text itself


def _marks(node: Node) -> Marks:
    start, end = node.start_mark, node.end_mark
    return (start.line, start.column, end.line, end.column)


def _span(node: Node) -> Span:
    return to_span(_marks(node))


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.spans: dict[JsonPath, NodeSpan] = {}
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: Node, path: JsonPath, key_marks: Marks | None) -> Any:
        self.spans[path] = NodeSpan(_marks(node), key_marks)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
        return _scalar(node) if isinstance(node, ScalarNode) else None

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Marks] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style:
                merged = self.build(value_node, path, None)
                for src in merged if isinstance(merged, list) else [merged]:
                    if isinstance(src, dict):
                        for k, v in src.items():
                            out.setdefault(k, v)
                continue
            ks = _marks(key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic(
                        Severity.ERROR, "yaml-key", "a mapping key must be a plain scalar", self.file, to_span(ks), path
                    )
                )
                continue
            k = str(key_node.value)
            if k in seen:
                self.diagnostics.append(
                    Diagnostic(
                        Severity.ERROR,
                        "duplicate-key",
                        f"duplicate key `{k}` (first defined at line {seen[k][0] + 1}); the spec would be ambiguous",
                        self.file,
                        to_span(ks),
                        (*path, k),
                    )
                )
                continue
            seen[k] = ks
            out[k] = self.build(value_node, (*path, k), ks)
        return out


def _error(file: str, code: str, message: str, pos: Position) -> list[Diagnostic]:
    return [Diagnostic(Severity.ERROR, code, message, file, Span(pos, pos))]


def parse(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one YAML document. Syntax errors, duplicate keys and empty files become diagnostics."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = point(mark.line, mark.column) if mark is not None else Position(1, 1)
        problem = ", ".join(t for t in (exc.context, exc.problem) if t) or "invalid YAML"
        return None, _error(file, "yaml-syntax", f"YAML syntax error: {problem}", pos)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        return None, _error(file, "yaml-syntax", f"YAML error: {first}", Position(1, 1))
    if root is None:
        return None, _error(file, "empty-file", "the file is empty: expected a spec mapping", Position(1, 1))
    builder = _Builder(file)
    data = builder.build(root, (), None)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
        builder.diagnostics.append(
            Diagnostic(
                Severity.ERROR,
                "root-not-mapping",
                f"the top level must be a mapping of fields, found {kind}",
                file,
                _span(root),
            )
        )
        return None, builder.diagnostics
    return Document(file, data, builder.spans), builder.diagnostics
