"""`scowspec doctor` views: a line per finding (ok or the problem, and a hint), and the same as JSON."""

from __future__ import annotations

import json

from scowspec.doctor.checks import DoctorReport, Status
from scowspec.render import FORMAT_VERSION

_MARK = {Status.OK: "ok", Status.WARN: "warn", Status.FAIL: "FAIL", Status.CONFIG: "CONFIG"}


def text(report: DoctorReport) -> str:
    width = max((len(f.check) for f in report.findings), default=0)
    out: list[str] = []
    for f in report.findings:
        out.append(f"{_MARK[f.status]:<6} {f.check:<{width}}  {f.message}")
        if f.hint and f.status is not Status.OK:
            out.append(f"{'':<6} {'':<{width}}  hint: {f.hint}")
    counts = {s: sum(1 for f in report.findings if f.status is s) for s in Status}
    summary = f"doctor: {counts[Status.OK]} ok, {counts[Status.WARN]} warning(s), "
    summary += f"{counts[Status.FAIL] + counts[Status.CONFIG]} problem(s)."
    if report.not_run:
        summary += f" Not checked until that is fixed: {', '.join(report.not_run)}."
    out.append(summary)
    return "\n".join(out) + "\n"


def json_text(report: DoctorReport) -> str:
    doc = {
        "format_version": FORMAT_VERSION,
        "findings": [
            {"check": f.check, "status": f.status.value, "message": f.message, "hint": f.hint} for f in report.findings
        ],
        "not_run": list(report.not_run),
        "exit_code": int(report.exit_code),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
