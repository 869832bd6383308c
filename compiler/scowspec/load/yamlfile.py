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
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
# The most digits (leading zeros aside) a 64-bit whole number has, per base.
_MAX_DIGITS = {8: 22, 10: 19, 16: 16}

# Limits on one document (docs/spec.md, "Limits"): a spec is a few kB. Without them an 828-byte alias
# bomb expands to billions of nodes, and deep nesting exhausts the stack.
MAX_CHARS = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 5_000  # a spec has a few hundred; this bounds every command at ~1 s here, well under 2 s

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """No implicit resolvers: every untagged scalar gets _PLAIN, so we resolve it by YAML 1.2."""

    yaml_implicit_resolvers: dict[str, Any] = {}  # noqa: RUF012 - PyYAML's class-level registry
    DEFAULT_SCALAR_TAG = _PLAIN


class _Bad(ValueError):
    """A scalar no YAML 1.2 reading makes a value of (or one too large to carry); the message says why."""


def _int(digits: str, base: int, text: str) -> int:
    # Check the length before converting: int() of thousands of decimal digits is slow or refused.
    if len(digits.lstrip("0")) > _MAX_DIGITS[base]:
        raise _Bad(f"the number `{_clip(text)}` is too large: whole numbers must fit in 64 bits")
    value = int(digits, base)
    if not -(2**63) <= value < 2**63:
        raise _Bad(f"the number `{_clip(text)}` is too large: whole numbers must fit in 64 bits")
    return value


def _signed_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    return sign * _int(text.lstrip("+-"), 10, text)


def _core(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return _signed_int(text)
    if _OCT.match(text):
        return _int(text[2:], 8, text)
    if _HEX.match(text):
        return _int(text[2:], 16, text)
    if _FLOAT.match(text):
        value = float(text)
        if math.isinf(value):
            raise _Bad(f"the number `{_clip(text)}` is too large for a float (write .inf if infinity is meant)")
        return value
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _scalar(node: ScalarNode) -> Any:
    """The value of a scalar: plain ones by the YAML 1.2 core schema, tagged ones by their tag."""
    text: str = node.value
    tag = node.tag
    if tag == _PLAIN:
        return _core(text) if not node.style else text  # plain style is None (Python) or "" (libyaml)
    if tag.endswith(":int"):
        value = _core(text.replace("_", ""))  # YAML 1.1 allowed 1_000; 1.2 readers accept it under !!int too
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"`{_clip(text)}` is not a whole number, but it is tagged !!int")
        return value
    if tag.endswith(":float"):
        value = _core(text)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"`{_clip(text)}` is not a number, but it is tagged !!float")
        return float(value)
    if tag.endswith(":bool"):
        if text.lower() not in _BOOL_WORDS:
            raise _Bad(f"`{_clip(text)}` is not true or false, but it is tagged !!bool")
        return _BOOL_WORDS[text.lower()]
    if tag.endswith(":null"):
        return None
    return text  # !!str and unknown tags: the text itself


def _clip(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}…{text[-8:]} ({len(text)} characters)"


def _marks(node: Node) -> Marks:
    start, end = node.start_mark, node.end_mark
    return (start.line, start.column, end.line, end.column)


def _span(node: Node) -> Span:
    return to_span(_marks(node))


class _TooBig(Exception):
    """The document passed one of the limits: building stops at once (an alias bomb must not expand)."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.spans: dict[JsonPath, NodeSpan] = {}
        self.diagnostics: list[Diagnostic] = []
        self.nodes = 0  # every node built, an alias's nodes again at each use

    def build(self, node: Node, path: JsonPath, key_marks: Marks | None, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(
                f"the document has more than {MAX_NODES:,} values (aliases count each time they are used); "
                "a spec needs far fewer",
                node,
            )
        if depth > MAX_DEPTH:
            raise _TooBig(f"the document is nested more than {MAX_DEPTH} levels deep", node)
        self.spans[path] = NodeSpan(_marks(node), key_marks)
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), None, depth + 1) for i, item in enumerate(node.value)]
        if not isinstance(node, ScalarNode):
            return None
        try:
            return _scalar(node)
        except _Bad as exc:
            self.diagnostics.append(Diagnostic(Severity.ERROR, "yaml-value", str(exc), self.file, _span(node), path))
            return None

    def _mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, Marks] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style:
                merged = self.build(value_node, path, None, depth + 1)
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
                        f"duplicate key `{_clip(k)}` (first defined at line {seen[k][0] + 1}); the spec would be ambiguous",
                        self.file,
                        to_span(ks),
                        (*path, k),
                    )
                )
                continue
            seen[k] = ks
            out[k] = self.build(value_node, (*path, k), ks, depth + 1)
        return out


def _error(file: str, code: str, message: str, pos: Position) -> list[Diagnostic]:
    return [Diagnostic(Severity.ERROR, code, message, file, Span(pos, pos))]


def parse(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one YAML document. Syntax errors, duplicate keys, empty files and documents past the limits
    (MAX_CHARS, MAX_DEPTH, MAX_NODES) become diagnostics."""
    if len(text) > MAX_CHARS:
        return None, _error(
            file,
            "yaml-limit",
            f"the file has {len(text):,} characters, more than the {MAX_CHARS:,} a spec may have",
            Position(1, 1),
        )
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
    try:
        data = builder.build(root, (), None)
    except _TooBig as exc:
        return None, [Diagnostic(Severity.ERROR, "yaml-limit", exc.message, file, _span(exc.node))]
    except RecursionError:  # a deeply nested key (keys are not counted as depth)
        return None, _error(
            file, "yaml-limit", f"the document is nested more than {MAX_DEPTH} levels deep", Position(1, 1)
        )
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
