"""The `verify:` block as typed values: prompts put to the trained model after the job, and what their answers must say.

`identity: true` derives its prompts from the data set's placeholders: LLaMA-Factory's `identity.json` trains a
model to answer "who are you" questions with `{{name}}`/`{{author}}`, which `dataset.placeholders` fills in, so
those filled strings are what the answers must contain.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_NEW_TOKENS = 64

# Questions of LLaMA-Factory 0.9.4's data/identity.json (instruction → the placeholders its trained answer names),
# in both of its languages. Every one of them is answered with the name and the author in the data set.
IDENTITY_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Who are you?", ("name", "author")),
    ("你是谁？", ("name", "author")),
    ("What is your name?", ("name", "author")),
    ("你的名字和开发者是谁？", ("name", "author")),
)
IDENTITY_KEYS = ("name", "author")
# What no answer of a model trained on filled data may contain: a placeholder left unfilled.
UNFILLED = "{{"

# NextChat (ChatGPTNextWeb) sends this system prompt by default (app/constant.ts, DEFAULT_SYSTEM_TEMPLATE),
# filled with its provider, cut-off and time; the tutorial's check by hand sees answers under it.
NEXTCHAT_SYSTEM = (
    "\nYou are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2021-09\n"
    "Current model: {model}\n"
    "Current time: Mon Jan 06 2025 10:00:00 GMT+0800 (China Standard Time)\n"
    "Latex inline: \\(x^2\\) \n"
    "Latex block: $$e=mc^2$$\n"
)


class NextChat(enum.Enum):
    """The pass under NextChat's system prompt: asked and reported (a miss is a warning), required, or not asked."""

    ASK = "ask"
    REQUIRE = "require"
    OFF = "off"


class ExpectKind(enum.Enum):
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    REGEX = "regex"


@dataclass(frozen=True)
class Expectation:
    kind: ExpectKind
    value: str


@dataclass(frozen=True)
class VerifyPrompt:
    """One question; `system` None means the template's own system prompt."""

    prompt: str
    expect: tuple[Expectation, ...]
    system: str | None = None
    source: str = "spec"  # or "identity": derived from the data set's placeholders


@dataclass(frozen=True)
class VerifySpec:
    prompts: tuple[VerifyPrompt, ...]
    fail_job: bool = False
    nextchat: NextChat = NextChat.ASK
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS


def as_list(value: Any) -> list[str]:
    """`contains: x` and `contains: [x, y]` alike."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def identity_prompts(placeholders: Mapping[str, str]) -> tuple[VerifyPrompt, ...]:
    """The identity questions, each expecting the filled strings its trained answer names."""
    out = []
    for question, keys in IDENTITY_QUESTIONS:
        expect = [Expectation(ExpectKind.CONTAINS, placeholders[k]) for k in keys if placeholders.get(k)]
        if not expect:
            continue
        expect.append(Expectation(ExpectKind.NOT_CONTAINS, UNFILLED))
        out.append(VerifyPrompt(question, tuple(expect), source="identity"))
    return tuple(out)


def spec_prompt(data: Mapping[str, Any]) -> VerifyPrompt:
    expect = tuple(Expectation(kind, v) for kind in ExpectKind for v in as_list(data.get(kind.value)))
    return VerifyPrompt(data["prompt"], expect, system=data.get("system"))


def build_verify(data: Mapping[str, Any], placeholders: Mapping[str, str]) -> VerifySpec:
    """A VerifySpec from a `verify:` block that passed validation."""
    prompts = identity_prompts(placeholders) if data.get("identity") else ()
    prompts += tuple(spec_prompt(p) for p in data.get("prompts", []))
    return VerifySpec(
        prompts=prompts,
        fail_job=bool(data.get("fail_job", False)),
        nextchat=NextChat(data.get("nextchat", NextChat.ASK.value)),
        max_new_tokens=int(data.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
    )
