"""A loaded YAML document: plain data plus where every key and value came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath, Position, Severity, Span

# (start line, start column, end line, end column), 0-based as the parser reports them. Spans are
# built only for the few nodes a diagnostic points at: a spec has hundreds of nodes and usually
# no diagnostic at all.
Marks = tuple[int, int, int, int]


@dataclass(frozen=True)
class NodeSpan:
    """Where one node sits: its value, and its key when it is a mapping entry."""

    value: Marks
    key: Marks | None = None


def to_span(marks: Marks) -> Span:
    return Span(point(marks[0], marks[1]), point(marks[2], marks[3]))


@dataclass(frozen=True)
class Document:
    """A parsed file. `data` is plain JSON-like Python; `spans` maps JSON paths to source spans."""

    file: str
    data: Any
    spans: Mapping[JsonPath, NodeSpan] = field(default_factory=dict)

    def span(self, path: JsonPath, *, key: bool = False) -> Span | None:
        """The span of `path`, or of its nearest located ancestor (scalars in flow style, etc.)."""
        for cut in range(len(path), -1, -1):
            node = self.spans.get(path[:cut])
            if node is None:
                continue
            if key and cut == len(path) and node.key is not None:
                return to_span(node.key)
            return to_span(node.value)
        return None

    def diagnostic(
        self,
        code: str,
        message: str,
        path: JsonPath = (),
        *,
        key: bool = False,
        severity: Severity = Severity.ERROR,
        suggestion: str = "",
    ) -> Diagnostic:
        """A diagnostic located at `path` (at its key when `key`)."""
        return Diagnostic(severity, code, message, self.file, self.span(path, key=key), path, suggestion)


def point(line0: int, col0: int) -> Position:
    """ruamel marks are 0-based; diagnostics are 1-based."""
    return Position(line0 + 1, col0 + 1)
