"""scowspec's `verify.json` (written by the job's runtime/posttrain.py) as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    kind: str
    value: str
    passed: bool


@dataclass(frozen=True)
class Answer:
    run: str  # "trained", "nextchat" or "base"
    prompt: str
    answer: str
    passed: bool
    seconds: float
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class VerifyReport:
    status: str  # passed, failed, error, running
    summary: dict[str, tuple[int, int]]  # run -> (passed, total)
    answers: tuple[Answer, ...]
    error: str = ""
    warnings: tuple[str, ...] = ()


class VerifyFileError(ValueError):
    """The text is not a verify.json."""


def _answer(r: dict[str, Any]) -> Answer:
    checks = tuple(Check(str(c["kind"]), str(c["value"]), bool(c["passed"])) for c in r.get("checks", []))
    return Answer(
        str(r["run"]), str(r["prompt"]), str(r.get("answer", "")), bool(r["passed"]), float(r.get("seconds", 0)), checks
    )


def parse_verify(text: str) -> VerifyReport:
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or "scowspec_verify" not in doc:
            raise VerifyFileError("not a scowspec verify.json (no `scowspec_verify` field)")
        summary = {str(k): (int(v["passed"]), int(v["total"])) for k, v in (doc.get("summary") or {}).items()}
        return VerifyReport(
            status=str(doc["status"]),
            summary=summary,
            answers=tuple(_answer(r) for r in doc.get("results", [])),
            error=str(doc.get("error", "")),
            warnings=tuple(str(doc[k]) for k in ("nextchat_warning", "warning", "control_error") if k in doc),
        )
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, VerifyFileError):
            raise
        raise VerifyFileError(f"not a readable verify.json: {exc}") from exc
