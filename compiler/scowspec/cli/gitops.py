"""plan, apply, status (filled in with the plan/apply stage)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
