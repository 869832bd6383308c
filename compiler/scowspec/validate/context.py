"""What a rule sees: the spec, the project defaults, and the merged (effective) data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath, Severity
from scowspec.load.document import Document
from scowspec.validate.lfkeys import KeyTable


@dataclass(frozen=True)
class RuleContext:
    doc: Document
    project: Document | None
    eff: Mapping[str, Any]
    table: KeyTable

    @property
    def train(self) -> Mapping[str, Any]:
        train = self.eff.get("train")
        return train if isinstance(train, dict) else {}

    def has(self, path: JsonPath) -> bool:
        node: Any = self.doc.data
        for p in path:
            try:
                node = node[p]
            except (KeyError, IndexError, TypeError):
                return False
        return True

    def at(
        self,
        code: str,
        message: str,
        path: JsonPath = (),
        *,
        key: bool = False,
        warning: bool = False,
        suggestion: str = "",
    ) -> Diagnostic:
        """Locate in the spec; a value that came from scowspec.yaml is located there."""
        severity = Severity.WARNING if warning else Severity.ERROR
        if not self.has(path) and self.project is not None and path and path[0] in self.project.data:
            return self.project.diagnostic(code, message, path, key=key, severity=severity, suggestion=suggestion)
        return self.doc.diagnostic(code, message, path, key=key, severity=severity, suggestion=suggestion)
