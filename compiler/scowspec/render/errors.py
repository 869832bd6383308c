"""A failure as JSON, for `-o json`: a script reading stdout gets JSON whatever happened."""

from __future__ import annotations

import json

from scowspec.render import FORMAT_VERSION


def error_json(exit_code: int, kind: str, message: str, hint: str = "") -> str:
    error = {"kind": kind, "message": message, **({"hint": hint} if hint else {})}
    doc = {"format_version": FORMAT_VERSION, "ok": False, "exit_code": exit_code, "error": error}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
