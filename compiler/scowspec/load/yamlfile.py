"""Parse YAML text into a Document, keeping a span for every key and value.

We compose the node graph with ruamel.yaml (YAML 1.2) and build plain data ourselves instead of
loading a round-trip tree: one parse gives positions, *every* duplicate key (ruamel's loader stops
at the first), and data that jsonschema validates quickly.
"""

from __future__ import annotations

import math
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scowspec.diagnostics import Diagnostic, JsonPath, Position, Severity, Span
from scowspec.load.document import Document, NodeSpan, point

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = True  # we report duplicates ourselves, all of them
    return y


_PARSER = _yaml()


def _span(node: Node) -> Span:
    start = point(node.start_mark.line, node.start_mark.column)
    end = point(node.end_mark.line, node.end_mark.column)
    return Span(start, end)


def _scalar(node: Node) -> Any:
    text: str = node.value
    tag: str = node.tag if isinstance(node.tag, str) else str(node.tag)
    if tag.endswith(":int"):
        t = text.replace("_", "").lower()
        sign = -1 if t.startswith("-") else 1
        t = t.lstrip("+-")
        if t.startswith("0x"):
            return sign * int(t[2:], 16)
        if t.startswith("0o"):
            return sign * int(t[2:], 8)
        return sign * int(t)
    if tag.endswith(":float"):
        t = text.replace("_", "").lower()
        if t in (".nan",):
            return math.nan
        if t.lstrip("+-") == ".inf":
            return -math.inf if t.startswith("-") else math.inf
        return float(t)
    if tag.endswith(":bool"):
        return text.lower() == "true"
    if tag.endswith(":null"):
        return None
    return text


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.spans: dict[JsonPath, NodeSpan] = {}
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: Node, path: JsonPath, key_span: Span | None) -> Any:
        self.spans[path] = NodeSpan(_span(node), key_span)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
        return _scalar(node)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        for key_node, value_node in node.value:
            if getattr(key_node, "tag", "") == _MERGE or (
                isinstance(key_node, ScalarNode) and key_node.value == "<<" and key_node.style is None
            ):
                merged = self.build(value_node, path, None)
                for src in merged if isinstance(merged, list) else [merged]:
                    if isinstance(src, dict):
                        for k, v in src.items():
                            out.setdefault(k, v)
                continue
            ks = _span(key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic(Severity.ERROR, "yaml-key", "a mapping key must be a plain scalar", self.file, ks, path)
                )
                continue
            k = key_node.value
            if k in seen:
                first = seen[k]
                self.diagnostics.append(
                    Diagnostic(
                        Severity.ERROR,
                        "duplicate-key",
                        f"duplicate key `{k}` (first defined at line {first.start.line}); the spec would be ambiguous",
                        self.file,
                        ks,
                        (*path, k),
                    )
                )
                continue
            seen[k] = ks
            out[k] = self.build(value_node, (*path, k), ks)
        return out


def parse(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one YAML document. Syntax errors, duplicate keys and empty files become diagnostics."""
    try:
        root = _PARSER.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = point(mark.line, mark.column) if mark is not None else Position(1, 1)
        problem = ", ".join(t for t in (exc.context, exc.problem) if t) or "invalid YAML"
        return None, [Diagnostic(Severity.ERROR, "yaml-syntax", f"YAML syntax error: {problem}", file, Span(pos, pos))]
    except YAMLError as exc:  # e.g. more than one document
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        pos = Position(1, 1)
        return None, [Diagnostic(Severity.ERROR, "yaml-syntax", f"YAML error: {first}", file, Span(pos, pos))]
    if root is None:
        pos = Position(1, 1)
        return None, [
            Diagnostic(Severity.ERROR, "empty-file", "the file is empty: expected a spec mapping", file, Span(pos, pos))
        ]
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
