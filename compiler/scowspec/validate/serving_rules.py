"""Rules for `register:` and `serve:` that the schema cannot say (offline; the portal's own checks are at plan time,
in plan/services_io.py): both act on the merged model, so both need `export:`; each way of serving takes its own
fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scowspec.diagnostics import Diagnostic
from scowspec.validate.context import RuleContext

_INFER_ONLY = ("port", "model_name")
_APP_ONLY = ("app", "attributes")


def _needs_export(ctx: RuleContext) -> Iterator[Diagnostic]:
    if ctx.eff.get("export") is not None:
        return
    for key, what in (("register", "registers"), ("serve", "serves")):
        if ctx.eff.get(key) is not None:
            yield ctx.at(
                "needs-export",
                f"`{key}` {what} the merged model, and without `export:` the job merges none: add `export:` "
                "(e.g. `export: {export_size: 5}`)",
                (key,),
                key=True,
            )


def _serve_fields(ctx: RuleContext, serve: dict[str, Any]) -> Iterator[Diagnostic]:
    via = serve.get("via")
    if via == "app" and "app" not in serve:
        yield ctx.at(
            "serve-app",
            "`serve.via: app` needs `serve.app`: the id of the chat app your site configured (e.g. `nextchat`)",
            ("serve", "via"),
        )
    unused = _APP_ONLY if via == "infer" else _INFER_ONLY if via == "app" else ()
    for key in unused:
        if key in serve:
            yield ctx.at(
                "serve-field",
                f"`serve.{key}` is for `via: {'app' if via == 'infer' else 'infer'}`; this service runs `via: {via}`",
                ("serve", key),
                key=True,
            )
    if "attributes" in serve and "app" not in serve:
        yield ctx.at(
            "serve-field",
            "`serve.attributes` are an app's form fields: name the app in `serve.app`",
            ("serve", "attributes"),
            key=True,
        )


def check(ctx: RuleContext) -> list[Diagnostic]:
    out = list(_needs_export(ctx))
    serve = ctx.eff.get("serve")
    if isinstance(serve, dict):
        out += _serve_fields(ctx, serve)
    return out
