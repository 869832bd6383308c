"""Rules for the `verify:` block that the schema cannot say: a check must check something, and be able to run.

Regular expressions are compiled with Python's `re`, the engine the job's verify step uses, so an expression that
passes here is one the job can apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath
from scowspec.model.verify import IDENTITY_KEYS, ExpectKind
from scowspec.validate.context import RuleContext


def _values(prompt: dict[str, Any], kind: ExpectKind, where: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """(path, text) of each value of `contains`/`not_contains`/`regex`, a string or a list."""
    value = prompt.get(kind.value)
    if isinstance(value, str):
        yield (*where, kind.value), value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, str):
                yield (*where, kind.value, i), v


def _regex(ctx: RuleContext, path: JsonPath, pattern: str) -> Iterator[Diagnostic]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        yield ctx.at("verify-regex", f"`{pattern}` is not a valid regular expression (Python re): {exc}", path)
        return
    if compiled.search("") is not None:
        yield ctx.at(
            "verify-regex",
            f"`{pattern}` matches an empty answer, so it checks nothing",
            path,
            warning=True,
        )


def _prompt(ctx: RuleContext, i: int, prompt: dict[str, Any]) -> Iterator[Diagnostic]:
    where: JsonPath = ("verify", "prompts", i)
    if not any(k.value in prompt for k in ExpectKind):
        yield ctx.at(
            "verify-expectation",
            "this prompt expects nothing: add `contains`, `not_contains` or `regex`",
            where,
            key=True,
        )
    wanted = {text: path for path, text in _values(prompt, ExpectKind.CONTAINS, where)}
    for path, text in _values(prompt, ExpectKind.NOT_CONTAINS, where):
        if any(text in w for w in wanted):
            yield ctx.at(
                "verify-expectation",
                f"`{text}` must not be in the answer, but `contains` asks for text that includes it: "
                "no answer can pass",
                path,
            )
    for path, pattern in _values(prompt, ExpectKind.REGEX, where):
        yield from _regex(ctx, path, pattern)


def verify_block(ctx: RuleContext) -> Iterator[Diagnostic]:
    verify = ctx.eff.get("verify")
    if not isinstance(verify, dict):
        return
    prompts = verify.get("prompts") or []
    if not verify.get("identity") and not prompts:
        yield ctx.at(
            "verify-empty",
            "`verify` checks nothing: set `identity: true` or give `prompts`",
            ("verify",),
            key=True,
        )
    if verify.get("identity"):
        ds = ctx.eff.get("dataset")
        placeholders = ds.get("placeholders") if isinstance(ds, dict) else None
        if not isinstance(placeholders, dict) or not any(placeholders.get(k) for k in IDENTITY_KEYS):
            yield ctx.at(
                "verify-identity",
                "`verify.identity` expects the strings that `dataset.placeholders` puts in place of "
                "`{{name}}`/`{{author}}` (LLaMA-Factory's identity.json), but it sets neither",
                ("verify", "identity"),
                key=True,
            )
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, dict):
            yield from _prompt(ctx, i, prompt)


RULES = (verify_block,)


def check(ctx: RuleContext) -> list[Diagnostic]:
    return [d for rule in RULES for d in rule(ctx)]
