"""Regenerate the `train` and `export` blocks of schema/finetune.schema.json from the key table.

Everything else in the schema is written by hand. `tests/test_schema_file.py` fails when the file
and the key table disagree; run `make schema` to fix it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from scowspec.validate.lfkeys import key_table

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "finetune.schema.json"

_B = {"type": "boolean"}
_I0 = {"type": "integer", "minimum": 0}
_I1 = {"type": "integer", "minimum": 1}
_N0 = {"type": "number", "minimum": 0}
_S = {"type": "string"}
_STR_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def _curated() -> dict[str, dict[str, Any]]:
    t = key_table()
    enums = {k: {"enum": list(v)} for k, v in t.enums.items() if k != "report_to"}
    report = list(t.enums["report_to"])
    typed: dict[str, dict[str, Any]] = {
        **enums,
        "template": {"enum": sorted(t.templates)},
        "report_to": {"anyOf": [{"enum": report}, {"type": "array", "items": {"enum": report}}]},
        "lora_target": _STR_OR_LIST,
        "additional_target": _STR_OR_LIST,
        "cutoff_len": _I1,
        "max_samples": _I1,
        "per_device_train_batch_size": _I1,
        "per_device_eval_batch_size": _I1,
        "gradient_accumulation_steps": _I1,
        "lora_rank": _I1,
        "lora_alpha": _I1,
        "max_steps": {"type": "integer", "minimum": -1},
        "warmup_steps": _I0,
        "save_total_limit": _I1,
        "seed": _I0,
        "data_seed": _I0,
        "preprocessing_num_workers": _I1,
        "dataloader_num_workers": _I0,
        "export_size": _I1,
        "quantization_bit": {"enum": [2, 3, 4, 5, 6, 8]},
        "export_quantization_bit": {"enum": [2, 3, 4, 8]},
        "oft_rank": _I0,
        "oft_block_size": _I1,
        "learning_rate": {"type": "number", "exclusiveMinimum": 0},
        "num_train_epochs": {"type": "number", "exclusiveMinimum": 0},
        "weight_decay": _N0,
        "max_grad_norm": _N0,
        "lora_dropout": {"type": "number", "minimum": 0, "maximum": 1},
        "warmup_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "val_size": _N0,
        "logging_steps": {"type": "number", "exclusiveMinimum": 0},
        "save_steps": {"type": "number", "exclusiveMinimum": 0},
        "eval_steps": {"type": "number", "exclusiveMinimum": 0},
        "loraplus_lr_ratio": _N0,
        "adam_beta1": _N0,
        "adam_beta2": _N0,
        "adam_epsilon": _N0,
        "pref_beta": _N0,
        "deepspeed": _S,
        "default_system": _S,
        "save_strategy": {"enum": ["no", "steps", "epoch", "best"]},
        "eval_strategy": {"enum": ["no", "steps", "epoch"]},
        "logging_strategy": {"enum": ["no", "steps", "epoch"]},
    }
    for k in (
        "bf16",
        "fp16",
        "pure_bf16",
        "tf32",
        "disable_gradient_checkpointing",
        "trust_remote_code",
        "use_dora",
        "use_rslora",
        "pissa_init",
        "train_on_prompt",
        "mask_history",
        "streaming",
        "packing",
        "neat_packing",
        "do_eval",
        "do_predict",
        "predict_with_generate",
        "plot_loss",
        "use_galore",
        "use_apollo",
        "use_badam",
        "use_llama_pro",
        "resize_vocab",
        "upcast_layernorm",
        "use_unsloth",
        "enable_liger_kernel",
        "gradient_checkpointing",
        "overwrite_cache",
        "load_best_model_at_end",
        "compute_accuracy",
        "export_legacy_format",
        "create_new_adapter",
        "shift_attn",
        "use_fast_tokenizer",
        "split_special_tokens",
        "use_adam_mini",
        "use_swanlab",
        "save_only_model",
        "ddp_find_unused_parameters",
        "gradient_checkpointing",
        "include_num_input_tokens_seen",
        "torch_compile",
    ):
        typed[k] = _B
    return typed


def _group_of(key: str) -> str:
    t = key_table()
    return next(g for g, ks in t.groups.items() if key in ks)


def _block(keys: frozenset[str]) -> dict[str, dict[str, Any]]:
    typed = _curated()
    out: dict[str, dict[str, Any]] = {}
    for k in sorted(keys):
        entry = dict(typed.get(k, {}))
        entry["description"] = (
            f"LLaMA-Factory {key_table().version} `{k}` ({_group_of(k)} arguments), written verbatim."
        )
        out[k] = entry
    return out


def render() -> str:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    t = key_table()
    schema["$defs"]["train"]["properties"] = _block(t.spec_train_keys)
    schema["$defs"]["export"]["properties"] = _block(t.spec_export_keys)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if text == SCHEMA.read_text("utf-8") else 1)
    SCHEMA.write_text(text, "utf-8")
