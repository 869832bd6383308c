"""Spec problems as values: collected, sorted and reported all at once."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

JsonPath = tuple[str | int, ...]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True)
class Span:
    start: Position
    end: Position


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, located by span and JSON path, with a stable rule code."""

    severity: Severity
    code: str
    message: str
    file: str = ""
    span: Span | None = None
    path: JsonPath = ()
    suggestion: str = ""

    @property
    def pointer(self) -> str:
        """RFC 6901 JSON Pointer of `path`."""
        parts = (str(p).replace("~", "~0").replace("/", "~1") for p in self.path)
        return "".join("/" + p for p in parts)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        line, col = (self.span.start.line, self.span.start.column) if self.span else (0, 0)
        return (self.file, line, col, self.code)


@dataclass(frozen=True)
class Report:
    """All diagnostics of a run, sorted by file and position."""

    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, diagnostics: Iterable[Diagnostic]) -> Report:
        return cls(tuple(sorted(diagnostics, key=lambda d: d.sort_key)))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors


def describe(path: JsonPath) -> str:
    """A JSON path as users write it: `train.report_to[0]`."""
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "the top level"
