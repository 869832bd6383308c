"""How every command's help reads: plain metavars (no `<bool>` on flags), and examples under each command.

Applied once to the app in `cli/app.py`, so commands defined elsewhere in `cli/` follow them without edits.
"""

from __future__ import annotations

import re
from typing import Any

import typer
import typer.core

# Shown under each command's help (`scowspec CMD --help`). A command without an entry gets none.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": ("scowspec validate", "scowspec validate specs/qwen.yaml -o json", "scowspec validate -o github"),
    "compile": ("scowspec compile specs/qwen.yaml", "scowspec compile specs/qwen.yaml --offline"),
    "schema": ("scowspec schema > finetune.schema.json",),
    "plan": (
        "scowspec plan",
        "scowspec plan --out plan.json --detailed-exitcode",
        "scowspec plan -o markdown --target qwen25-pku-identity",
    ),
    "apply": (
        "scowspec apply",
        "scowspec apply --plan plan.json --yes",
        "scowspec apply --prune --parallelism 4",
        "scowspec apply --yes --wait",
    ),
    "status": ("scowspec status", "scowspec status --check -o json"),
    "logs": (
        "scowspec logs qwen25-pku-identity",
        "scowspec logs qwen25-pku-identity -f --pod 0",
        "scowspec logs qwen25-pku-identity --job 1234 --tail 100",
    ),
    "watch": ("scowspec watch qwen25-pku-identity", "scowspec watch qwen25-pku-identity --job 1234 --interval 30"),
    "report": (
        "scowspec report qwen25-pku-identity > report.md",
        "scowspec report qwen25-pku-identity --png loss.png",
    ),
    "cancel": ("scowspec cancel qwen25-pku-identity", "scowspec cancel qwen25-pku-identity --yes"),
    "doctor": ("scowspec doctor", "scowspec doctor -o json"),
    "init": ("scowspec init my-job", "scowspec init --project", "scowspec init --ci github"),
    "fmt": ("scowspec fmt", "scowspec fmt --check specs/"),
    "sandbox": (
        "scowspec sandbox --port 8765 --state /tmp/portal.db",
        "scowspec sandbox --portal 0.5.4 --token-idle-seconds 60",
    ),
}
_PLAIN = {"path": "PATH", "int": "N", "float": "NUMBER", "str": "TEXT", "text": "TEXT", "file": "FILE"}


def readable(label: str | None, *, repeat: str = "...") -> str | None:
    """typer's `<list[path]>`, `<int>`, `<text|json>` → `PATH...`, `N`, `text|json`."""
    if label is None:
        return None
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    many = re.fullmatch(r"list\[(.*)\]", inner)
    if many:
        inner = many.group(1)
    shown = _PLAIN.get(inner.lower(), inner)
    return f"{shown}{repeat}" if many and not shown.endswith("...") else shown


def _option_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    if self.is_flag:
        return None  # a flag takes no value: `--prune`, not `--prune <bool>`
    if self.metavar is not None:
        return self.metavar
    return readable(self.display_type(ctx), repeat="")  # a repeatable option takes one value each time


def _argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    return None if self.metavar is not None else readable(self.display_type(ctx))


def apply(app: typer.Typer) -> None:
    """Plain metavars for every option and argument, and examples for every command that has some."""
    typer.core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        examples = EXAMPLES.get(name)
        if examples and not info.epilog:
            info.epilog = "Examples:\n\n" + "\n\n".join(f"  $ {e}" for e in examples)


def wants_json(args: list[str]) -> bool:
    """`-o json` (or `--output json`, `-ojson`, `--output=json`) anywhere on the command line."""
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args) and args[i + 1].lower() == "json":
            return True
        if arg.lower() in ("-ojson", "--output=json"):
            return True
    return False
