"""What differs between the payload a running job was submitted with and the one that would replace it.

The command embeds the job description as JSON (see compile.command), so a replacement can say
`~ train.learning_rate: 0.0001 -> 0.0002` instead of "the command changed".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scowspec.compile.command import JOB_EOF, heredoc_json
from scowspec.plan.model import FieldChange

_IGNORED = ("trainJobName", "command")


def embedded_job(command: str) -> dict[str, Any] | None:
    """The job description inside a scowspec command, or None for other commands."""
    return heredoc_json(command, JOB_EOF)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Field-level differences, payload fields first, then the LLaMA-Factory configs."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for src, dst in ((before, old), (after, new)):
        _flat("", {k: v for k, v in src.items() if k not in _IGNORED}, dst)
        job = embedded_job(str(src.get("command", "")))
        if job is not None:
            for section in ("train", "merge", "dataset", "model"):
                _flat(section, job.get(section), dst)
    keys = sorted(set(old) | set(new), key=lambda k: (k.split(".")[0] in ("train", "merge", "dataset", "model"), k))
    return tuple(FieldChange(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k))
