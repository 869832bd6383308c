"""LLaMA-Factory's `trainer_log.jsonl` (one JSON object per logging step, appended live by rank 0) as typed values.

A running job's file can end in a line still being written: that line is left out, never an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class LogPoint:
    step: int
    total_steps: int | None
    loss: float | None
    epoch: float | None = None
    remaining: str = ""


@dataclass(frozen=True)
class TrainLog:
    points: tuple[LogPoint, ...]
    skipped: int = 0  # lines that were not a log row (a cut last line, or damage)

    @property
    def losses(self) -> tuple[tuple[int, float], ...]:
        return tuple((p.step, p.loss) for p in self.points if p.loss is not None)

    @property
    def last(self) -> LogPoint | None:
        return self.points[-1] if self.points else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_trainer_log(text: str) -> TrainLog:
    points: list[LogPoint] = []
    skipped = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        step = _number(row.get("current_steps")) if isinstance(row, dict) else None
        if not isinstance(row, dict) or step is None:
            skipped += 1
            continue
        total = _number(row.get("total_steps"))
        remaining = row.get("remaining_time")
        points.append(
            LogPoint(
                step=int(step),
                total_steps=int(total) if total is not None else None,
                loss=_number(row.get("loss")),
                epoch=_number(row.get("epoch")),
                remaining=remaining if isinstance(remaining, str) else "",
            )
        )
    return TrainLog(tuple(points), skipped)
