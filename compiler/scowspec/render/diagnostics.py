"""Diagnostics as `FILE:LINE:COL: error[CODE]: message`, as JSON with ranges, or as GitHub annotations."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

from scowspec.diagnostics import Diagnostic, Report
from scowspec.render import FORMAT_VERSION


def printable(text: str) -> str:
    """Text for a terminal or a CI log: control and format characters from a spec (ESC, BEL, NEL, DEL, CSI,
    bidi overrides) are shown as escapes, so a spec cannot retitle a terminal, fake a line or reorder one."""
    return "".join(
        ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf") else ch.encode("unicode_escape").decode()
        for ch in text
    )


def line(d: Diagnostic) -> str:
    where = printable(d.file or "scowspec")
    if d.span is not None:
        where += f":{d.span.start.line}:{d.span.start.column}"
    return f"{where}: {d.severity.value}[{d.code}]: {printable(d.message)}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def summary(report: Report, files: int) -> str:
    """`7 errors in 3 files; 7 specs checked.`: the files counted are the ones with problems (scowspec.yaml too)."""
    e, w = len(report.errors), len(report.warnings)
    if not e and not w:
        return f"{_n(files, 'spec')} valid."
    parts = [_n(e, "error")] if e else []
    parts += [_n(w, "warning")] if w else []
    flagged = len({d.file for d in report.diagnostics})
    return f"{', '.join(parts)} in {_n(flagged, 'file')}; {_n(files, 'spec')} checked."


def text(report: Report, files: int) -> str:
    return "".join(line(d) + "\n" for d in report.diagnostics) + summary(report, files) + "\n"


def to_json(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": d.severity.value, "code": d.code, "message": d.message, "file": d.file}
    if d.span is not None:
        out["range"] = {
            "start": {"line": d.span.start.line, "column": d.span.start.column},
            "end": {"line": d.span.end.line, "column": d.span.end.column},
        }
    out["pointer"] = d.pointer
    if d.suggestion:
        out["suggestion"] = d.suggestion
    return out


def json_text(report: Report, files: int, exit_code: int) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "valid": report.ok,
        "error_count": len(report.errors),
        "warning_count": len(report.warnings),
        "files": files,
        "diagnostics": [to_json(d) for d in report.diagnostics],
        "exit_code": exit_code,
    }
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


def json_safe(text: str) -> str:
    """JSON text whose control and format characters are \\u escapes: the same values once parsed, but nothing
    a terminal showing the raw text would act on (JSON itself escapes only C0)."""
    return "".join(_u_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\n" else ch for ch in text)


def _u_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _escape(value: str, *, prop: bool = False) -> str:
    value = printable(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def github(report: Report) -> str:
    """GitHub Actions workflow commands: each problem shows on its line in the pull request."""
    out = []
    for d in report.diagnostics:
        props = [f"file={_escape(d.file, prop=True)}"]
        if d.span is not None:
            props += [
                f"line={d.span.start.line}",
                f"col={d.span.start.column}",
                f"endLine={d.span.end.line}",
                f"endColumn={d.span.end.column}",
            ]
        props.append(f"title={_escape('scowspec ' + d.code, prop=True)}")
        out.append(f"::{d.severity.value} {','.join(props)}::{_escape(d.message)}\n")
    return "".join(out)


def codequality(report: Report) -> str:
    """GitLab's code-quality report: each problem shows on its line in the merge request."""
    items = []
    for d in report.diagnostics:
        line_no = d.span.start.line if d.span is not None else 1
        digest = hashlib.sha256(f"{d.file}:{line_no}:{d.code}:{d.message}".encode()).hexdigest()[:32]
        items.append(
            {
                "description": d.message,
                "check_name": f"scowspec {d.code}",
                "fingerprint": digest,
                "severity": "major" if d.severity.value == "error" else "minor",
                "location": {"path": d.file, "lines": {"begin": line_no}},
            }
        )
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
