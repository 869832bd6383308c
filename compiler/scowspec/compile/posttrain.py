"""What the job does after training, on node 0: the merge and the verification, described for runtime/posttrain.py.

Static and deterministic like the rest of the command: paths that exist only in the container (the model mount,
WORK_DIR) are read at run time from the configs prepare.py wrote.
"""

from __future__ import annotations

from typing import Any

from scowspec.compile.lfconfig import INFER_KEYS
from scowspec.model.spec import FineTuneSpec
from scowspec.model.verify import NEXTCHAT_SYSTEM, NextChat, VerifyPrompt


def _prompt(p: VerifyPrompt) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt": p.prompt, "source": p.source}
    if p.system is not None:
        out["system"] = p.system
    out["expect"] = [{"kind": e.kind.value, "value": e.value} for e in p.expect]
    return out


def verify_description(spec: FineTuneSpec) -> dict[str, Any] | None:
    v = spec.verify
    if v is None:
        return None
    # LLaMA-Factory's inference arguments (get_infer_args): greedy decoding, the HF engine the image has.
    chat: dict[str, Any] = {
        "infer_backend": "huggingface",
        "trust_remote_code": spec.train.get("trust_remote_code", True),
        "do_sample": False,
        "max_new_tokens": v.max_new_tokens,
    }
    chat.update({k: spec.train[k] for k in INFER_KEYS if k in spec.train})
    return {
        "fail_job": v.fail_job,
        "finetuning_type": spec.finetuning_type,
        "chat": chat,
        "nextchat_system": None if v.nextchat is NextChat.OFF else NEXTCHAT_SYSTEM.format(model=spec.name),
        "nextchat_required": v.nextchat is NextChat.REQUIRE,
        "prompts": [_prompt(p) for p in v.prompts],
    }


def posttrain_description(spec: FineTuneSpec) -> dict[str, Any] | None:
    """None when nothing runs after training (no `export`, no `verify`)."""
    if spec.export is None and spec.verify is None:
        return None
    return {"job": spec.job_name, "export": spec.export is not None, "verify": verify_description(spec)}
