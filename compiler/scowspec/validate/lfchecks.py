"""LLaMA-Factory 0.9.4's and transformers 4.57.1's own raises on the train and export paths, decided offline.

Each rule names the raise it mirrors (file and message) so a user can search for it. They were found by
`make lf-oracle` (tools/lf_oracle/), which runs specs through the real package; what stays undecidable
offline is listed in docs/lf-oracle.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from scowspec.diagnostics import Diagnostic
from scowspec.validate.context import RuleContext

# transformers' defaults where the spec is silent (TrainingArguments 4.57.1).
_STRATEGY_DEFAULT = {"eval_strategy": "no", "save_strategy": "steps", "logging_strategy": "steps"}
# ModelArguments (ProcessorArguments) defaults: 32*32, 768*768, 16*16, 256*256.
_PIXELS = {"image": (32 * 32, 768 * 768), "video": (16 * 16, 256 * 256)}
_FSDP_OPTIONS = (
    "full_shard",
    "shard_grad_op",
    "no_shard",
    "hybrid_shard",
    "hybrid_shard_zero2",
    "offload",
    "auto_wrap",
)
_DEBUG_OPTIONS = ("underflow_overflow", "tpu_metrics_debug")
# LLaMA-Factory's own ZeRO-3 examples (examples/deepspeed/ds_z3_config.json, ds_z3_offload_config.json).
_ZERO3 = re.compile(r"(^|[/_-])(ds_)?z(ero)?_?3([_.-]|$)", re.IGNORECASE)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _t(ctx: RuleContext) -> Mapping[str, Any]:
    return ctx.train


def zero3(train: Mapping[str, Any]) -> bool:
    """`deepspeed` names a ZeRO-3 config (by LLaMA-Factory's file names; other names are taken as not)."""
    ds = train.get("deepspeed")
    return isinstance(ds, str) and bool(_ZERO3.search(ds.rsplit("/", 1)[-1]))


def torchrun(ctx: RuleContext) -> bool:
    """Whether the job's training runs under torchrun: several nodes (scowspec sets FORCE_TORCHRUN), or
    several GPUs on one node (`llamafactory-cli` starts torchrun itself when it sees more than one)."""
    res = ctx.eff.get("resources")
    if not isinstance(res, dict):
        return False
    nodes, gpus = res.get("nodes", 1), res.get("gpus_per_node", 0)
    return (isinstance(nodes, int) and nodes > 1) or (isinstance(gpus, int) and gpus > 1)


def _gpus(ctx: RuleContext) -> int:
    res = ctx.eff.get("resources")
    gpus = res.get("gpus_per_node", 0) if isinstance(res, dict) else 0
    return gpus if isinstance(gpus, int) else 0


def launch(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    if t.get("deepspeed") and not torchrun(ctx):
        yield ctx.at(
            "launch",
            "`train.deepspeed` needs torchrun, which a job of one node with one GPU does not use "
            '(LLaMA-Factory: "Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training."); '
            "use 2 or more GPUs or drop `deepspeed`",
            ("train", "deepspeed"),
            key=True,
        )
    if not torchrun(ctx) and not t.get("deepspeed"):
        return
    ftype = t.get("finetuning_type", "lora")
    if t.get("use_galore") and t.get("galore_layerwise"):
        yield ctx.at(
            "launch", "distributed training does not support layer-wise GaLore", ("train", "galore_layerwise"), key=True
        )
    if t.get("use_apollo") and t.get("apollo_layerwise"):
        yield ctx.at(
            "launch", "distributed training does not support layer-wise APOLLO", ("train", "apollo_layerwise"), key=True
        )
    if t.get("use_badam") and ftype != "lora":
        if t.get("badam_mode", "layer") == "ratio":
            yield ctx.at(
                "launch", "ratio-based BAdam does not support distributed training", ("train", "badam_mode"), key=True
            )
        elif not zero3(t):
            yield ctx.at(
                "launch",
                "layer-wise BAdam in distributed training needs a DeepSpeed ZeRO-3 config",
                ("train", "use_badam"),
                key=True,
            )
    if t.get("deepspeed") and (t.get("use_galore") or t.get("use_apollo")):
        yield ctx.at("launch", "GaLore and APOLLO are incompatible with DeepSpeed", ("train", "deepspeed"), key=True)
    if t.get("deepspeed") and t.get("fsdp"):
        yield ctx.at(
            "launch", "`train.fsdp` and `train.deepspeed` cannot be used together", ("train", "fsdp"), key=True
        )


def zero3_rules(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    if not zero3(t):
        return
    for key, what in (
        ("predict_with_generate", "`predict_with_generate`"),
        ("pissa_init", "PiSSA initialisation (use scripts/pissa_init.py)"),
        ("pure_bf16", "`pure_bf16`"),
        ("use_unsloth", "Unsloth"),
        ("use_kt", "KTransformers"),
    ):
        if t.get(key):
            yield ctx.at("zero3", f"{what} is incompatible with DeepSpeed ZeRO-3", ("train", key), key=True)


def evaluation(ctx: RuleContext) -> Iterator[Diagnostic]:
    """do_eval/do_predict/predict_with_generate, and an eval_strategy (which turns do_eval on), need data
    held out by `val_size` (scowspec sends no `eval_dataset`)."""
    t = _t(ctx)
    asking = [k for k in ("do_eval", "do_predict", "predict_with_generate") if t.get(k)]
    if t.get("eval_strategy", "no") != "no":
        asking.append("eval_strategy")
    val = t.get("val_size", 0)
    if asking and not (isinstance(val, int | float) and val > 1e-6):
        yield ctx.at(
            "eval-data",
            f"`train.{asking[0]}` needs `train.val_size` to hold out evaluation data (LLaMA-Factory: "
            '"Please make sure eval_dataset be provided or val_size >1e-6")',
            ("train", asking[0]),
            key=True,
        )
    if t.get("do_predict") and t.get("stage", "sft") == "sft" and not t.get("predict_with_generate"):
        yield ctx.at(
            "eval-data", "`train.do_predict` with sft needs `predict_with_generate`", ("train", "do_predict"), key=True
        )
    if t.get("predict_with_generate") and t.get("compute_accuracy"):
        yield ctx.at(
            "eval-data",
            "`predict_with_generate` and `compute_accuracy` cannot be used together",
            ("train", "compute_accuracy"),
            key=True,
        )


def model_args(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    if t.get("split_special_tokens") and t.get("use_fast_tokenizer", True):
        yield ctx.at(
            "tokenizer",
            "`train.split_special_tokens` needs `use_fast_tokenizer: false` (it works with slow tokenizers only)",
            ("train", "split_special_tokens"),
            key=True,
        )
    for kind, (low, high) in _PIXELS.items():
        lo, hi = t.get(f"{kind}_min_pixels", low), t.get(f"{kind}_max_pixels", high)
        if isinstance(lo, int | float) and isinstance(hi, int | float) and hi < lo:
            where = f"{kind}_max_pixels" if f"{kind}_max_pixels" in t else f"{kind}_min_pixels"
            yield ctx.at(
                "pixels",
                f"`{kind}_max_pixels` ({hi:g}) cannot be smaller than `{kind}_min_pixels` ({lo:g}"
                f"{'' if f'{kind}_min_pixels' in t else ', the default'})",
                ("train", where),
                key=True,
            )
    if t.get("fp8") and "quantization_bit" in t:
        yield ctx.at(
            "quantization", "FP8 training is not compatible with `quantization_bit`", ("train", "fp8"), key=True
        )
    if t.get("quantization_device_map") == "auto":
        yield ctx.at(
            "quantization",
            '`train.quantization_device_map: auto` cannot be used for training (LLaMA-Factory: "Cannot use '
            'device map for quantized models in training.")',
            ("train", "quantization_device_map"),
            key=True,
        )
    if t.get("infer_backend", "huggingface") != "huggingface":
        yield ctx.at(
            "infer-backend",
            "training runs on the huggingface backend only (vLLM/SGLang are for API, CLI and Web)",
            ("train", "infer_backend"),
            key=True,
        )
    if t.get("flash_attn") == "fa3" and not _looks_gpt_oss(ctx):
        yield ctx.at(
            "attention",
            '`flash_attn: fa3` fails in LLaMA-Factory 0.9.4 ("Unknown attention type: fa3") except for gpt-oss '
            "models; use fa2 (flash-attn is in the image) or sdpa",
            ("train", "flash_attn"),
            warning=_model_unknown(ctx),
        )
    fs = t.get("ray_storage_filesystem")
    if fs is not None and fs not in ("s3", "gs", "gcs"):
        yield ctx.at(
            "value", "`train.ray_storage_filesystem` must be s3, gs or gcs", ("train", "ray_storage_filesystem")
        )


def _model_text(ctx: RuleContext) -> str:
    model = ctx.eff.get("model")
    if not isinstance(model, dict):
        return ""
    return str(model.get("name") or model.get("path") or "")


def _model_unknown(ctx: RuleContext) -> bool:
    return not _model_text(ctx)


def _looks_gpt_oss(ctx: RuleContext) -> bool:
    return bool(re.search(r"gpt[-_]?oss", _model_text(ctx), re.IGNORECASE))


# Linear module names of the LLaMA-like families, by LLaMA-Factory template (others are not checked).
_LLAMA_LIKE = frozenset(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
_MODULES_BY_TEMPLATE = {
    name: _LLAMA_LIKE
    for name in (
        "qwen",
        "qwen3",
        "qwen3_nothink",
        "llama2",
        "llama2_zh",
        "llama3",
        "mistral",
        "yi",
        "deepseek",
        "deepseekcoder",
        "gemma",
        "gemma2",
        "gemma3",
    )
}


def lora_target(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Module names depend on the model: a warning for names the template's family does not have
    (PEFT fails at model load: "Target modules {...} not found in the base model")."""
    t = _t(ctx)
    target, template = t.get("lora_target"), t.get("template")
    if t.get("finetuning_type", "lora") != "lora" or template not in _MODULES_BY_TEMPLATE or target is None:
        return
    names = target if isinstance(target, list) else [n.strip() for n in str(target).split(",")]
    unknown = [n for n in names if n != "all" and n not in _MODULES_BY_TEMPLATE[template]]
    if unknown:
        yield ctx.at(
            "lora-target",
            f"`train.lora_target`: {', '.join(f'`{n}`' for n in unknown)} is not a module of the models template "
            f"`{template}` is for (they have {', '.join(sorted(_MODULES_BY_TEMPLATE[template]))}); PEFT would stop "
            "at model load. `all` targets every linear layer",
            ("train", "lora_target"),
            warning=True,
        )


def ppo_and_preference(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    stage, ftype = t.get("stage", "sft"), t.get("finetuning_type", "lora")
    for key in ("ref_model_quantization_bit", "reward_model_quantization_bit"):
        if key in t and t[key] not in (4, 8):
            yield ctx.at("quantization", f"`train.{key}` must be 4 or 8", ("train", key))
    if stage == "ppo":
        if t.get("shift_attn"):
            yield ctx.at(
                "stage", "PPO training is incompatible with S^2-Attn (`shift_attn`)", ("train", "shift_attn"), key=True
            )
        rtype = t.get("reward_model_type", "lora")
        if rtype in ("lora", "oft") and ftype != rtype:
            yield ctx.at(
                "stage",
                f"`reward_model_type: {rtype}` needs `finetuning_type: {rtype}` (a {rtype} reward model is an adapter "
                f"on the policy model); use `reward_model_type: full`",
                ("train", "reward_model_type") if "reward_model_type" in t else ("train", "finetuning_type"),
                key=True,
            )
    smoothing = t.get("dpo_label_smoothing", 0)
    if stage == "dpo" and t.get("pref_loss", "sigmoid") != "sigmoid" and _number(smoothing) and smoothing > 1e-6:
        yield ctx.at(
            "stage",
            "`train.dpo_label_smoothing` is only valid for the sigmoid loss (`pref_loss: sigmoid`)",
            ("train", "dpo_label_smoothing"),
            key=True,
        )
    uses_ref = stage == "dpo" and t.get("pref_loss", "sigmoid") not in ("orpo", "simpo")
    if t.get("pissa_init") and (stage in ("ppo", "kto") or uses_ref):
        yield ctx.at(
            "stage",
            f"PiSSA (`pissa_init`) cannot be used with `stage: {stage}`"
            + (" and a reference model (pref_loss orpo or simpo have none)" if uses_ref else ""),
            ("train", "pissa_init"),
            key=True,
        )


def dataset_for_stage(ctx: RuleContext) -> Iterator[Diagnostic]:
    """rm and dpo read pairs (`ranking: true`); the other stages read single answers (data/loader.py)."""
    ds = ctx.eff.get("dataset")
    if not isinstance(ds, dict) or "train" not in ctx.eff:
        return
    stage = _t(ctx).get("stage", "sft")
    ranking = bool(ds.get("ranking", False))
    if stage in ("rm", "dpo") and not ranking:
        yield ctx.at(
            "dataset-stage",
            f"`stage: {stage}` trains on preference pairs: the dataset needs `ranking: true` and chosen/rejected "
            'columns (LLaMA-Factory: "The dataset is not applicable in the current training stage.")',
            ("dataset",),
            key=True,
        )
    elif stage not in ("rm", "dpo") and ranking:
        yield ctx.at(
            "dataset-stage",
            f'`dataset.ranking: true` is for stages rm and dpo, not `{stage}` (LLaMA-Factory: "The dataset is not '
            'applicable in the current training stage.")',
            ("dataset", "ranking"),
            key=True,
        )


def data_mixing(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    probs = t.get("interleave_probs")
    if probs is not None:
        if t.get("mix_strategy", "concat") == "concat":
            yield ctx.at(
                "data",
                "`train.interleave_probs` needs `mix_strategy` interleave_under or interleave_over",
                ("train", "interleave_probs"),
                key=True,
            )
        count = len(probs) if isinstance(probs, list) else len(str(probs).split(","))
        if count != 1:
            yield ctx.at(
                "data",
                f"`train.interleave_probs` has {count} values but a spec trains on one dataset",
                ("train", "interleave_probs"),
            )
    if t.get("streaming") and not t.get("dataloader_num_workers"):
        # data/loader.py: a local file is streamed through to_iterable_dataset(num_shards=dataloader_num_workers),
        # and 0 shards (the default) is an empty data set: StopIteration before the first step.
        yield ctx.at(
            "data",
            "`train.streaming` reads the dataset file in `dataloader_num_workers` shards: set it to 1 or more "
            "(with the default 0 the data set is empty and LLaMA-Factory stops with StopIteration)",
            ("train", "streaming"),
            key=True,
        )
    val = t.get("val_size", 0)
    if t.get("streaming") and isinstance(val, int | float) and 1e-6 < val < 1:
        yield ctx.at(
            "data", "`train.streaming` needs a whole-number `val_size` (rows, not a fraction)", ("train", "val_size")
        )


def _strategy(t: Mapping[str, Any], kind: str) -> str:
    return str(t.get(f"{kind}_strategy", _STRATEGY_DEFAULT[f"{kind}_strategy"]))


def trainer_steps(ctx: RuleContext) -> Iterator[Diagnostic]:
    """TrainingArguments.__post_init__: strategies and their steps, best-model loading, the plateau scheduler."""
    t = _t(ctx)
    for kind in ("logging", "save", "eval"):
        value = t.get(f"{kind}_steps")
        if _strategy(t, kind) == "steps" and isinstance(value, float) and value > 1 and not value.is_integer():
            yield ctx.at(
                "steps",
                f"`train.{kind}_steps` must be a whole number when greater than 1 (a fraction ≤ 1 means a ratio)",
                ("train", f"{kind}_steps"),
            )
    if t.get("load_best_model_at_end") and _strategy(t, "save") != "best":
        ev, sv = _strategy(t, "eval"), _strategy(t, "save")
        if ev != sv:
            yield ctx.at(
                "best-model",
                f"`train.load_best_model_at_end` needs the save and eval strategies to match (eval: {ev}, save: {sv})",
                ("train", "load_best_model_at_end"),
                key=True,
            )
        elif ev == "steps":
            save = t.get("save_steps", 500)
            evs = t.get("eval_steps") or t.get("logging_steps")  # unset: scowspec's logging default decides
            if evs and _not_multiple(save, evs):
                yield ctx.at(
                    "best-model",
                    f"`train.load_best_model_at_end` needs `save_steps` ({save:g}) to be a multiple of `eval_steps` "
                    f"({evs:g}), both steps or both ratios",
                    ("train", "save_steps") if "save_steps" in t else ("train", "load_best_model_at_end"),
                    key=True,
                )
    if t.get("lr_scheduler_type") == "reduce_lr_on_plateau" and _strategy(t, "eval") == "no":
        yield ctx.at(
            "scheduler",
            "`lr_scheduler_type: reduce_lr_on_plateau` needs an `eval_strategy` (and `val_size`)",
            ("train", "lr_scheduler_type"),
        )
    if t.get("lr_scheduler_type") in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        kwargs = t.get("lr_scheduler_kwargs")
        if not (isinstance(kwargs, dict) and ("min_lr" in kwargs or "min_lr_rate" in kwargs)):
            yield ctx.at(
                "scheduler",
                f"`lr_scheduler_type: {t['lr_scheduler_type']}` needs `lr_scheduler_kwargs` with `min_lr` or `min_lr_rate`",
                ("train", "lr_scheduler_type"),
            )
    if (
        t.get("save_strategy") == "best"
        and not t.get("metric_for_best_model")
        and not t.get("load_best_model_at_end")
        and t.get("lr_scheduler_type") != "reduce_lr_on_plateau"
    ):
        yield ctx.at(
            "best-model",
            "`save_strategy: best` needs `metric_for_best_model` (e.g. `loss`) to know which checkpoint is best",
            ("train", "save_strategy"),
        )
    if t.get("fp16_full_eval") and t.get("bf16_full_eval"):
        yield ctx.at(
            "precision",
            "`fp16_full_eval` and `bf16_full_eval` cannot both be true",
            ("train", "bf16_full_eval"),
            key=True,
        )
    if t.get("dataloader_prefetch_factor") is not None and not t.get("dataloader_num_workers"):
        yield ctx.at(
            "dataloader",
            "`train.dataloader_prefetch_factor` needs `dataloader_num_workers` ≥ 1",
            ("train", "dataloader_prefetch_factor"),
            key=True,
        )


def _not_multiple(save: float, evs: float) -> bool:
    """TrainingArguments' test that best-model saving lines up with evaluation (steps or ratios)."""
    if save % evs == 0:
        return False
    if save < 1 or evs < 1:
        return not (save < 1 and evs < 1) or round(save * 1_000_000) % round(evs * 1_000_000) != 0
    return True


def trainer_options(ctx: RuleContext) -> Iterator[Diagnostic]:
    t = _t(ctx)
    fsdp = t.get("fsdp")
    if isinstance(fsdp, str) and fsdp:
        options = fsdp.split()
        bad = [o for o in options if o not in _FSDP_OPTIONS]
        if bad:
            yield ctx.at(
                "fsdp",
                f"`train.fsdp`: unknown option `{bad[0]}`; options: {', '.join(_FSDP_OPTIONS)}",
                ("train", "fsdp"),
            )
        elif options == ["offload"]:
            yield ctx.at(
                "fsdp", "`train.fsdp: offload` needs `full_shard` or `shard_grad_op` with it", ("train", "fsdp")
            )
        elif "full_shard" in options and "shard_grad_op" in options:
            yield ctx.at("fsdp", "`train.fsdp`: `full_shard` and `shard_grad_op` exclude each other", ("train", "fsdp"))
    config = t.get("fsdp_config")
    if fsdp and isinstance(config, dict):
        min_params = config.get("min_num_params", 0)
        if _number(min_params) and min_params > 0 and config.get("transformer_layer_cls_to_wrap") is not None:
            yield ctx.at(
                "fsdp",
                "`fsdp_config`: `min_num_params` and `transformer_layer_cls_to_wrap` exclude each other",
                ("train", "fsdp_config"),
                key=True,
            )
        sync = str(config.get("sync_module_states", "true")).lower()
        if sync == "false" and str(config.get("cpu_ram_efficient_loading", "false")).lower() == "true":
            yield ctx.at(
                "fsdp",
                "`fsdp_config`: `cpu_ram_efficient_loading` needs `sync_module_states: true`",
                ("train", "fsdp_config"),
                key=True,
            )
    debug = t.get("debug")
    if isinstance(debug, str) and debug:
        bad = [o for o in debug.split() if o not in _DEBUG_OPTIONS]
        if bad:
            yield ctx.at(
                "value",
                f"`train.debug`: unknown option `{bad[0]}`; options: {', '.join(_DEBUG_OPTIONS)}",
                ("train", "debug"),
            )
    if t.get("half_precision_backend") == "apex":
        yield ctx.at(
            "precision",
            "`half_precision_backend: apex` fails: apex is not in LLaMA-Factory's image, and apex has no bf16 "
            "(which scowspec turns on for GPU jobs); leave it at `auto`",
            ("train", "half_precision_backend"),
        )
    if t.get("use_mps_device"):
        yield ctx.at("value", "`train.use_mps_device` needs an Apple GPU", ("train", "use_mps_device"), key=True)
    backend = t.get("ddp_backend")
    if backend is not None and backend not in ("nccl", "gloo"):
        yield ctx.at(
            "value",
            f"`train.ddp_backend: {backend}` is not available with the CUDA build of PyTorch in the image: use nccl or gloo",
            ("train", "ddp_backend"),
        )
    if t.get("pure_bf16") and _gpus(ctx) == 0:
        yield ctx.at("precision", "`train.pure_bf16` needs a GPU with bf16", ("train", "pure_bf16"), key=True)
