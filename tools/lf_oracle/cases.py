"""The oracle's corpus: specs generated from the raises on LLaMA-Factory 0.9.4's train and export paths.

Each Case names the raise it targets (`file: message`, from hiyouga/LLaMA-Factory at v0.9.4 and
transformers 4.57.1's TrainingArguments.__post_init__) and changes a base spec that both scowspec and
LLaMA-Factory accept. Most raises get a triggering spec and a near miss that must pass, so the corpus
finds false positives as well as false negatives.

`kind` says how far the outcome can be known offline:
- `spec`: decided by the spec and the image alone (flash-attn present; no bitsandbytes, galore, apollo,
  badam, liger, unsloth, adam-mini, swanlab, ktransformers, mixture-of-depth, vllm, sglang);
- `model`: depends on the model (module names, tokenizer class, gpt-oss), which only loading it tells;
- `files`: depends on files on the cluster (the portal dataset's contents, a reward model's folder);
- `image`: depends on packages the image may add beyond LLaMA-Factory's requirements (report_to's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARSER = "hparams/parser.py"
MODEL = "hparams/model_args.py"
DATA = "hparams/data_args.py"
FT = "hparams/finetuning_args.py"
TARGS = "hparams/training_args.py"
HF = "transformers TrainingArguments.__post_init__"
ATTN = "model/model_utils/attention.py"
TUNER = "train/tuner.py"
LOADER = "data/loader.py"
TRAINER = "transformers Trainer"

BASE: dict[str, Any] = {
    "apiVersion": "scowspec/v1",
    "kind": "FineTune",
    "name": "base",
    "cluster": "ai-k8s",
    "account": "a_pku",
    "partition": "gpu",
    "image": "app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4",
    "work_dir": "/data/home/alice/finetune",
    "model": {"version_id": 3, "scope": "public"},
    "dataset": {"version_id": 12, "scope": "mine", "file": "identity.json", "placeholders": {"name": "PKU"}},
    "resources": {
        "nodes": 1,
        "gpus_per_node": 1,
        "max_time": "1h",
        "cpus_per_node": 8,
        "memory_mb": 65536,
        "gpu_type": "nvidia.com/gpu",
    },
    "train": {
        "stage": "sft",
        "finetuning_type": "lora",
        "lora_target": "all",
        "template": "qwen",
        "cutoff_len": 64,
        "max_samples": 8,
        "num_train_epochs": 1.0,
        "per_device_train_batch_size": 2,
        "learning_rate": 1.0e-4,
    },
}
EXPORT = {"export_size": 1, "export_device": "cpu", "export_legacy_format": False}
PREF = {
    "file": "pref.json",
    "ranking": True,
    "placeholders": None,
    "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
}
KTO = {
    "file": "kto.json",
    "placeholders": None,
    "columns": {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"},
}
PT = {"file": "pt.json", "placeholders": None, "columns": {"prompt": "text"}}
Z2 = "/app/examples/deepspeed/ds_z2_config.json"
Z3 = "/app/examples/deepspeed/ds_z3_config.json"
TWO_GPUS = {"resources": {"gpus_per_node": 2}}


@dataclass(frozen=True)
class Case:
    id: str
    target: str  # `file: message` of the raise this spec aims at ("" for a plain near miss)
    change: dict[str, Any] = field(default_factory=dict)  # deep-merged into BASE; None deletes a key
    kind: str = "spec"


def t(**train: Any) -> dict[str, Any]:
    return {"train": train}


def both(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parts:
        out = deep_merge(out, p)
    return out


def deep_merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in change.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def spec_for(case: Case) -> dict[str, Any]:
    return deep_merge(deep_merge(BASE, {"name": case.id}), case.change)


_NON_SFT = {"pt": {"dataset": PT}, "rm": {"dataset": PREF}, "dpo": {"dataset": PREF}, "kto": {"dataset": KTO}}


def _stages() -> list[Case]:
    out = []
    for stage, data in _NON_SFT.items():
        out.append(Case(f"stage-{stage}-ok", "", both(data, t(stage=stage))))
        for key in ("predict_with_generate", "train_on_prompt", "mask_history"):
            extra = {"val_size": 0.25} if key == "predict_with_generate" else {}
            msg = (
                "`predict_with_generate` cannot be set as True except SFT."
                if key == "predict_with_generate"
                else ("`train_on_prompt` or `mask_history` cannot be set as True except SFT.")
            )
            out.append(
                Case(
                    f"stage-{stage}-{key.replace('_', '-')}",
                    f"{PARSER}: {msg}",
                    both(data, t(stage=stage, **{key: True}, **extra)),
                )
            )
    return out


CASES: tuple[Case, ...] = (
    Case("base-ok", "", {}),
    Case("base-export-ok", "", {"export": EXPORT}),
    Case("full-ok", "", t(finetuning_type="full", lora_target=None)),
    Case("freeze-ok", "", t(finetuning_type="freeze", lora_target=None)),
    Case("oft-ok", "", t(finetuning_type="oft", lora_target=None)),
    # --- parser.py: _parse_args
    Case("unknown-key", f"{PARSER}: Some keys are not used by the HfArgumentParser", t(lora_rnak=8)),
    Case(
        "init-false-key",
        f"{PARSER}: Some keys are not used by the HfArgumentParser (init=False)",
        t(compute_dtype="bf16"),
    ),
    # --- parser.py: _verify_model_args
    Case(
        "export-full",
        f"{PARSER}: Adapter is only valid for the LoRA method.",
        both(t(finetuning_type="full", lora_target=None), {"export": EXPORT}),
    ),
    Case(
        "export-freeze",
        f"{PARSER}: Adapter is only valid for the LoRA method.",
        both(t(finetuning_type="freeze", lora_target=None), {"export": EXPORT}),
    ),
    Case(
        "export-oft",
        f"{PARSER}: Adapter is only valid for the LoRA method.",
        both(t(finetuning_type="oft", lora_target=None), {"export": EXPORT}),
    ),
    Case(
        "qbit-full",
        f"{PARSER}: Quantization is only compatible with the LoRA or OFT method.",
        t(finetuning_type="full", lora_target=None, quantization_bit=4),
    ),
    Case(
        "qbit-freeze",
        f"{PARSER}: Quantization is only compatible with the LoRA or OFT method.",
        t(finetuning_type="freeze", lora_target=None, quantization_bit=8),
    ),
    Case(
        "qbit-pissa",
        f"{PARSER}: Please use scripts/pissa_init.py to initialize PiSSA for a quantized model.",
        t(quantization_bit=4, pissa_init=True),
    ),
    Case(
        "qbit-resize-vocab",
        f"{PARSER}: Cannot resize embedding layers of a quantized model.",
        t(quantization_bit=4, resize_vocab=True),
    ),
    Case("qbit-fp8", f"{PARSER}: FP8 training is not compatible with quantization.", t(quantization_bit=4, fp8=True)),
    Case(
        "qlora-bnb",
        f"{PARSER}: quantization_bit needs bitsandbytes (model/model_utils/quantization.py)",
        t(quantization_bit=4),
    ),
    Case("qlora-bnb-8", f"{PARSER}: quantization_bit needs bitsandbytes", t(quantization_bit=8)),
    Case(
        "qlora-hqq",
        "model/model_utils/quantization.py: hqq is not installed",
        t(quantization_bit=4, quantization_method="hqq"),
    ),
    Case(
        "qlora-eetq",
        "model/model_utils/quantization.py: eetq is not installed",
        t(quantization_bit=8, quantization_method="eetq"),
    ),
    Case(
        "qlora-oft",
        f"{PARSER}: quantization_bit needs bitsandbytes",
        t(finetuning_type="oft", lora_target=None, quantization_bit=4),
    ),
    Case(
        "qlora-export",
        f"{TUNER}: Cannot merge adapters to a quantized model.",
        both(t(quantization_bit=4), {"export": EXPORT}),
    ),
    Case(
        "qlora-device-map",
        f"{PARSER}: Cannot use device map for quantized models in training.",
        t(quantization_bit=4, quantization_device_map="auto"),
    ),
    Case(
        "device-map-auto",
        f"{PARSER}: Cannot use device map for quantized models in training.",
        t(quantization_device_map="auto"),
    ),
    Case("yi-template-ok", f"{PARSER}: yi forces the slow tokenizer (warning)", t(template="yi"), kind="model"),
    # --- parser.py: _check_extra_dependencies
    Case("liger", f"{PARSER}: liger-kernel (check_version mandatory)", t(enable_liger_kernel=True)),
    Case("unsloth", f"{PARSER}: unsloth (check_version mandatory)", t(use_unsloth=True)),
    Case("kt", f"{PARSER}: ktransformers (check_version mandatory)", t(use_kt=True)),
    Case("mod-convert", f"{PARSER}: mixture-of-depth>=1.1.6 (check_version mandatory)", t(mixture_of_depths="convert")),
    Case("mod-load", f"{PARSER}: mixture-of-depth>=1.1.6 (check_version mandatory)", t(mixture_of_depths="load")),
    Case(
        "vllm-backend",
        f"{PARSER}: vllm (check_version mandatory); vLLM/SGLang backend is only available for API, CLI and Web.",
        t(infer_backend="vllm"),
    ),
    Case("sglang-backend", f"{PARSER}: sglang (check_version mandatory)", t(infer_backend="sglang")),
    Case("hf-backend-ok", "", t(infer_backend="huggingface")),
    Case(
        "galore-full",
        f"{PARSER}: galore_torch (check_version mandatory)",
        t(finetuning_type="full", lora_target=None, use_galore=True),
    ),
    Case(
        "apollo-full",
        f"{PARSER}: apollo_torch (check_version mandatory)",
        t(finetuning_type="full", lora_target=None, use_apollo=True),
    ),
    Case(
        "badam-full",
        f"{PARSER}: badam>=1.2.1 (check_version mandatory)",
        t(finetuning_type="full", lora_target=None, use_badam=True),
    ),
    Case("adam-mini", f"{PARSER}: adam-mini (check_version mandatory)", t(use_adam_mini=True)),
    Case("swanlab", f"{PARSER}: swanlab (check_version mandatory)", t(use_swanlab=True)),
    Case("plot-loss-ok", f"{PARSER}: matplotlib (in the image)", t(plot_loss=True)),
    Case("deepspeed-z2-2gpu-ok", f"{PARSER}: deepspeed (in the image)", both(TWO_GPUS, t(deepspeed=Z2))),
    Case(
        "predict-generate-ok",
        f"{PARSER}: jieba, nltk, rouge_chinese (metrics extra, in the image)",
        t(predict_with_generate=True, val_size=0.25),
    ),
    # --- parser.py: get_train_args
    Case(
        "sft-do-predict",
        f"{PARSER}: Please enable `predict_with_generate` to save model predictions.",
        t(do_predict=True, val_size=0.25),
    ),
    Case("sft-do-predict-generate-ok", "", t(do_predict=True, predict_with_generate=True, val_size=0.25)),
    Case(
        "rm-load-best",
        f"{PARSER}: RM and PPO stages do not support `load_best_model_at_end`.",
        both(
            {"dataset": PREF},
            t(
                stage="rm",
                load_best_model_at_end=True,
                eval_strategy="steps",
                save_strategy="steps",
                eval_steps=2,
                save_steps=2,
                val_size=0.25,
            ),
        ),
    ),
    Case(
        "sft-load-best-ok",
        "",
        t(
            load_best_model_at_end=True,
            eval_strategy="steps",
            save_strategy="steps",
            eval_steps=2,
            save_steps=2,
            val_size=0.25,
        ),
    ),
    Case("ppo-no-reward", f"{FT}: `reward_model` is necessary for PPO training.", t(stage="ppo")),
    Case(
        "ppo-shift-attn",
        f"{PARSER}: PPO training is incompatible with S^2-Attn.",
        t(stage="ppo", reward_model="/app/saves/rm", shift_attn=True),
    ),
    Case(
        "ppo-report-none",
        f"{PARSER}: PPO only accepts wandb or tensorboard logger.",
        t(stage="ppo", reward_model="/app/saves/rm", report_to="none"),
    ),
    Case(
        "ppo-reward-full",
        f"{FT}: `reward_model_type` cannot be lora for Freeze/Full PPO training.",
        t(stage="ppo", reward_model="/app/saves/rm", finetuning_type="full", lora_target=None, report_to="tensorboard"),
    ),
    Case(
        "ppo-reward-oft",
        f"{FT}: `reward_model_type` cannot be oft for Freeze/Full PPO training.",
        t(stage="ppo", reward_model="/app/saves/rm", reward_model_type="oft", report_to="tensorboard"),
    ),
    Case(
        "ppo-reward-ref-qbit",
        f"{FT}: We only accept 4-bit or 8-bit quantization.",
        t(stage="ppo", reward_model="/app/saves/rm", reward_model_quantization_bit=3, report_to="tensorboard"),
    ),
    Case(
        "ref-qbit-bad",
        f"{FT}: We only accept 4-bit or 8-bit quantization.",
        both({"dataset": PREF}, t(stage="dpo", ref_model_quantization_bit=2)),
    ),
    Case(
        "single-gpu-deepspeed",
        f"{PARSER}: Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training.",
        t(deepspeed=Z2),
    ),
    Case("two-node-deepspeed-ok", "", both({"resources": {"nodes": 2}}, t(deepspeed=Z2))),
    Case(
        "streaming-no-max-steps",
        f"{PARSER}: Please specify `max_steps` in streaming mode.",
        t(streaming=True, max_samples=None),
    ),
    Case(
        "streaming-ok",
        f"{LOADER}: streaming a file with dataloader_num_workers 0 is empty (StopIteration)",
        t(streaming=True, max_samples=None, max_steps=2),
    ),
    Case("streaming-workers-ok", "", t(streaming=True, max_samples=None, max_steps=2, dataloader_num_workers=1)),
    Case(
        "streaming-max-samples",
        f"{DATA}: `max_samples` is incompatible with `streaming`.",
        t(streaming=True, max_steps=2),
    ),
    Case(
        "streaming-frac-val",
        f"{DATA}: Streaming mode should have an integer val size.",
        t(streaming=True, max_samples=None, max_steps=2, val_size=0.25),
    ),
    Case(
        "streaming-int-val-ok",
        f"{LOADER}: streaming a file with dataloader_num_workers 0 is empty (StopIteration)",
        t(streaming=True, max_samples=None, max_steps=2, val_size=2),
    ),
    Case(
        "streaming-int-val-workers-ok",
        "",
        t(streaming=True, max_samples=None, max_steps=2, val_size=2, dataloader_num_workers=1),
    ),
    Case("do-eval-no-val", f"{PARSER}: Please make sure eval_dataset be provided or val_size >1e-6", t(do_eval=True)),
    Case("do-eval-val-ok", "", t(do_eval=True, val_size=0.25)),
    Case(
        "predict-generate-no-val",
        f"{PARSER}: Please make sure eval_dataset be provided or val_size >1e-6",
        t(predict_with_generate=True),
    ),
    Case(
        "eval-strategy-no-val",
        f"{PARSER}: Please make sure eval_dataset be provided or val_size >1e-6 (eval_strategy turns do_eval on)",
        t(eval_strategy="steps", eval_steps=2),
    ),
    Case("eval-strategy-val-ok", "", t(eval_strategy="steps", eval_steps=2, val_size=0.25)),
    Case(
        "predict-generate-z3",
        f"{PARSER}: `predict_with_generate` is incompatible with DeepSpeed ZeRO-3.",
        both(TWO_GPUS, t(deepspeed=Z3, predict_with_generate=True, val_size=0.25)),
    ),
    Case(
        "predict-generate-accuracy",
        f"{PARSER}: Cannot use `predict_with_generate` and `compute_accuracy` together.",
        t(predict_with_generate=True, compute_accuracy=True, val_size=0.25),
    ),
    Case("compute-accuracy-ok", "", t(compute_accuracy=True, val_size=0.25, do_eval=True)),
    Case(
        "pissa-z3",
        f"{PARSER}: Please use scripts/pissa_init.py to initialize PiSSA in DeepSpeed ZeRO-3.",
        both(TWO_GPUS, t(deepspeed=Z3, pissa_init=True)),
    ),
    Case(
        "pure-bf16-z3",
        f"{PARSER}: `pure_bf16` is incompatible with DeepSpeed ZeRO-3.",
        both(TWO_GPUS, t(deepspeed=Z3, pure_bf16=True)),
    ),
    Case("pure-bf16-ok", "", t(pure_bf16=True)),
    Case("z3-lora-ok", "", both(TWO_GPUS, t(deepspeed=Z3))),
    Case(
        "galore-layerwise-dist",
        f"{PARSER}: Distributed training does not support layer-wise GaLore.",
        both(TWO_GPUS, t(finetuning_type="full", lora_target=None, use_galore=True, galore_layerwise=True)),
    ),
    Case(
        "apollo-layerwise-dist",
        f"{PARSER}: Distributed training does not support layer-wise APOLLO.",
        both(TWO_GPUS, t(finetuning_type="full", lora_target=None, use_apollo=True, apollo_layerwise=True)),
    ),
    Case(
        "badam-ratio-dist",
        f"{PARSER}: Radio-based BAdam does not yet support distributed training",
        both(TWO_GPUS, t(finetuning_type="full", lora_target=None, use_badam=True, badam_mode="ratio")),
    ),
    Case(
        "badam-layer-no-z3",
        f"{PARSER}: Layer-wise BAdam only supports DeepSpeed ZeRO-3 training.",
        both(TWO_GPUS, t(finetuning_type="full", lora_target=None, use_badam=True)),
    ),
    Case(
        "galore-deepspeed",
        f"{PARSER}: GaLore and APOLLO are incompatible with DeepSpeed yet.",
        both(TWO_GPUS, t(finetuning_type="full", lora_target=None, use_galore=True, deepspeed=Z2)),
    ),
    Case(
        "unsloth-z3",
        f"{PARSER}: Unsloth is incompatible with DeepSpeed ZeRO-3.",
        both(TWO_GPUS, t(use_unsloth=True, deepspeed=Z3)),
    ),
    Case("neat-packing", f"{PARSER}: Neat packing is incompatible with transformers>=4.53.0.", t(neat_packing=True)),
    Case("packing-ok", "", t(packing=True)),
    # --- model_args.py
    Case(
        "split-special-fast",
        f"{MODEL}: `split_special_tokens` is only supported for slow tokenizers.",
        t(split_special_tokens=True),
    ),
    Case(
        "split-special-slow",
        f"{MODEL}: split_special_tokens with use_fast_tokenizer: false (the tokenizer decides)",
        t(split_special_tokens=True, use_fast_tokenizer=False),
        kind="model",
    ),
    Case(
        "image-pixels",
        f"{MODEL}: `image_max_pixels` cannot be smaller than `image_min_pixels`.",
        t(image_max_pixels=1024, image_min_pixels=4096),
    ),
    Case("image-pixels-ok", "", t(image_max_pixels=65536, image_min_pixels=1024)),
    Case(
        "image-default-min",
        f"{MODEL}: `image_max_pixels` below the default image_min_pixels (1024)",
        t(image_max_pixels=512),
    ),
    Case(
        "video-pixels",
        f"{MODEL}: `video_max_pixels` cannot be smaller than `video_min_pixels`.",
        t(video_max_pixels=128, video_min_pixels=256),
    ),
    Case(
        "video-default-min",
        f"{MODEL}: `video_max_pixels` below the default video_min_pixels (256)",
        t(video_max_pixels=100),
    ),
    Case(
        "export-qbit-no-data",
        f"{MODEL}: Quantization dataset is necessary for exporting.",
        {"export": {**EXPORT, "export_quantization_bit": 4}},
    ),
    Case(
        "export-qbit-adapter",
        f"{TUNER}: Please merge adapters before quantizing the model.",
        {"export": {**EXPORT, "export_quantization_bit": 4, "export_quantization_dataset": "/app/data/c4_demo.jsonl"}},
    ),
    Case("export-size-ok", "", {"export": {**EXPORT, "export_size": 2}}),
    Case("export-auto-ok", "", {"export": {**EXPORT, "export_device": "auto"}}),
    Case("export-infer-dtype-ok", "", {"export": {**EXPORT, "infer_dtype": "bfloat16"}}),
    Case("rope-linear-ok", "", t(rope_scaling="linear")),
    Case("fp8-ok-lora", f"{PARSER}: fp8 (hardware: H200 supports it)", t(fp8=True), kind="model"),
    # --- data_args.py
    Case(
        "interleave-concat",
        f"{DATA}: `interleave_probs` is only valid for interleaved mixing.",
        t(interleave_probs="1.0"),
    ),
    Case(
        "interleave-length",
        f"{DATA}: The length of dataset and interleave probs should be identical.",
        t(interleave_probs="0.5,0.5", mix_strategy="interleave_under"),
    ),
    Case("interleave-ok", "", t(interleave_probs="1.0", mix_strategy="interleave_under")),
    Case(
        "interleave-list-length",
        f"{DATA}: The length of dataset and interleave probs should be identical.",
        t(interleave_probs=[0.5, 0.5], mix_strategy="interleave_over"),
    ),
    Case(
        "mask-history-prompt",
        f"{DATA}: `mask_history` is incompatible with `train_on_prompt`.",
        t(mask_history=True, train_on_prompt=True),
    ),
    Case("mask-history-ok", "", t(mask_history=True)),
    Case("train-on-prompt-ok", "", t(train_on_prompt=True)),
    Case(
        "train-on-prompt-glm4",
        "data/template.py: Current template does not support `train_on_prompt`.",
        t(train_on_prompt=True, template="glm4"),
    ),
    # --- finetuning_args.py
    Case(
        "dpo-label-smoothing",
        f"{FT}: `dpo_label_smoothing` is only valid for sigmoid loss function.",
        both({"dataset": PREF}, t(stage="dpo", pref_loss="hinge", dpo_label_smoothing=0.1)),
    ),
    Case("dpo-label-smoothing-ok", "", both({"dataset": PREF}, t(stage="dpo", dpo_label_smoothing=0.1))),
    Case(
        "llama-pro-full",
        f"{FT}: `use_llama_pro` is only valid for Freeze or LoRA training.",
        t(finetuning_type="full", lora_target=None, use_llama_pro=True),
    ),
    Case("lora-galore", f"{FT}: Cannot use LoRA with GaLore, APOLLO or BAdam together.", t(use_galore=True)),
    Case("lora-apollo", f"{FT}: Cannot use LoRA with GaLore, APOLLO or BAdam together.", t(use_apollo=True)),
    Case("lora-badam", f"{FT}: Cannot use LoRA with GaLore, APOLLO or BAdam together.", t(use_badam=True)),
    Case(
        "galore-apollo",
        f"{FT}: Cannot use GaLore, APOLLO or BAdam together.",
        t(finetuning_type="full", lora_target=None, use_galore=True, use_apollo=True),
    ),
    Case(
        "pissa-kto",
        f"{FT}: Cannot use PiSSA for current training stage.",
        both({"dataset": KTO}, t(stage="kto", pissa_init=True)),
    ),
    Case(
        "pissa-dpo",
        f"{FT}: Cannot use PiSSA for current training stage.",
        both({"dataset": PREF}, t(stage="dpo", pissa_init=True)),
    ),
    Case("pissa-dpo-orpo-ok", "", both({"dataset": PREF}, t(stage="dpo", pref_loss="orpo", pissa_init=True))),
    Case("pissa-sft-ok", "", t(pissa_init=True)),
    Case(
        "loraplus-full",
        f"{FT}: `loraplus_lr_ratio` is only valid for LoRA training.",
        t(finetuning_type="full", lora_target=None, loraplus_lr_ratio=16.0),
    ),
    Case(
        "rslora-freeze",
        f"{FT}: `use_rslora` is only valid for LoRA training.",
        t(finetuning_type="freeze", lora_target=None, use_rslora=True),
    ),
    Case(
        "dora-oft",
        f"{FT}: `use_dora` is only valid for LoRA training.",
        t(finetuning_type="oft", lora_target=None, use_dora=True),
    ),
    Case(
        "pissa-full",
        f"{FT}: `pissa_init` is only valid for LoRA training.",
        t(finetuning_type="full", lora_target=None, pissa_init=True),
    ),
    Case("loraplus-ok", "", t(loraplus_lr_ratio=16.0)),
    Case("dora-ok", "", t(use_dora=True)),
    Case("rslora-ok", "", t(use_rslora=True)),
    Case(
        "llama-pro-freeze-ok",
        "",
        t(finetuning_type="freeze", lora_target=None, use_llama_pro=True, freeze_trainable_layers=1),
    ),
    # --- training_args.py (RayArguments)
    Case("ray-fs", f"{TARGS}: ray_storage_filesystem must be one of s3, gs, gcs", t(ray_storage_filesystem="hdfs")),
    # --- attention.py
    Case(
        "fa3", f"{ATTN}: Unknown attention type: fa3 (only gpt-oss models get FA3)", t(flash_attn="fa3"), kind="model"
    ),
    Case("fa2-ok", f"{ATTN}: fa2 (flash-attn is in the image)", t(flash_attn="fa2")),
    Case("attn-disabled-ok", "", t(flash_attn="disabled")),
    Case("attn-auto-ok", "", t(flash_attn="auto")),
    # --- tuner.py
    Case(
        "ppo-ok-shape",
        f"{TUNER}: run_ppo (reward model folder must exist: /app/saves/rm is not in the image)",
        t(stage="ppo", reward_model="/app/saves/rm", report_to="tensorboard"),
        kind="files",
    ),
    # --- loader.py
    Case("rm-not-ranking", f"{LOADER}: The dataset is not applicable in the current training stage.", t(stage="rm")),
    Case("dpo-not-ranking", f"{LOADER}: The dataset is not applicable in the current training stage.", t(stage="dpo")),
    Case("sft-ranking", f"{LOADER}: The dataset is not applicable in the current training stage.", {"dataset": PREF}),
    Case(
        "kto-ranking",
        f"{LOADER}: The dataset is not applicable in the current training stage.",
        both({"dataset": PREF}, t(stage="kto")),
    ),
    Case(
        "pt-ranking",
        f"{LOADER}: The dataset is not applicable in the current training stage.",
        both({"dataset": PREF}, t(stage="pt")),
    ),
    Case("dataset-missing-file", f"{LOADER}: File X not found.", {"dataset": {"file": "nope.json"}}, kind="files"),
    Case(
        "dataset-yaml",
        f"{LOADER}: Allowed file types: arrow,csv,json,jsonl,parquet,txt.",
        {"dataset": {"file": "notes.yaml", "placeholders": None}},
    ),
    Case(
        "dataset-folder-mixed",
        f"{LOADER}: File types should be identical.",
        {"dataset": {"file": None, "placeholders": None}},
        kind="files",
    ),
    Case("pt-ok-packing-default", "", both({"dataset": PT}, t(stage="pt"))),
    Case("kto-ok", "", both({"dataset": KTO}, t(stage="kto"))),
    Case(
        "lora-target-bad",
        "peft: Target modules {...} not found in the base model (module names per model family)",
        t(lora_target="query_key_value"),
        kind="model",
    ),
    Case("lora-target-qwen-ok", "", t(lora_target="q_proj,v_proj")),
    Case(
        "lora-target-chatglm",
        "peft: query_key_value on the chatglm3 template: not checked (the oracle's model is Qwen2)",
        t(lora_target="query_key_value", template="chatglm3"),
        kind="model",
    ),
    Case("lora-target-list-ok", "", t(lora_target=["q_proj", "v_proj"])),
    # --- transformers TrainingArguments.__post_init__
    Case("empty-cache-steps-ok", "", t(torch_empty_cache_steps=2)),
    Case(
        "eval-steps-zero-logging",
        f"{HF}: evaluation strategy steps requires either non-zero --eval_steps or --logging_steps",
        t(eval_strategy="steps", val_size=0.25, logging_steps=1),
    ),
    Case("logging-steps-float", f"{HF}: --logging_steps must be an integer if bigger than 1", t(logging_steps=2.5)),
    Case("logging-steps-ratio-ok", "", t(logging_steps=0.5)),
    Case("save-steps-float", f"{HF}: --save_steps must be an integer if bigger than 1", t(save_steps=10.5)),
    Case(
        "eval-steps-float",
        f"{HF}: --eval_steps must be an integer if bigger than 1",
        t(eval_strategy="steps", eval_steps=2.5, val_size=0.25),
    ),
    Case(
        "save-steps-float-no-strategy-ok",
        f"{HF}: save_steps is only checked with save_strategy steps",
        t(save_strategy="epoch", save_steps=10.5),
    ),
    Case(
        "load-best-strategy",
        f"{HF}: --load_best_model_at_end requires the save and eval strategy to match",
        t(load_best_model_at_end=True, val_size=0.25, eval_strategy="epoch", save_strategy="steps"),
    ),
    Case(
        "load-best-no-eval",
        f"{HF}: --load_best_model_at_end requires the save and eval strategy to match (eval defaults to no)",
        t(load_best_model_at_end=True),
    ),
    Case(
        "load-best-multiple",
        f"{HF}: --load_best_model_at_end requires the saving steps to be a round multiple of the evaluation steps",
        t(
            load_best_model_at_end=True,
            val_size=0.25,
            eval_strategy="steps",
            save_strategy="steps",
            eval_steps=3,
            save_steps=4,
        ),
    ),
    Case(
        "load-best-mixed-ratio",
        f"{HF}: ... cannot get guaranteed when mixing ratio and absolute steps",
        t(
            load_best_model_at_end=True,
            val_size=0.25,
            eval_strategy="steps",
            save_strategy="steps",
            eval_steps=0.5,
            save_steps=3,
        ),
    ),
    Case(
        "load-best-save-best-ok",
        "",
        t(load_best_model_at_end=True, val_size=0.25, eval_strategy="steps", save_strategy="best", eval_steps=2),
    ),
    Case(
        "load-best-epoch-ok",
        "",
        t(load_best_model_at_end=True, val_size=0.25, eval_strategy="epoch", save_strategy="epoch"),
    ),
    Case("fp16-bf16", f"{HF}: At most one of fp16 and bf16 can be True, but not both", t(fp16=True, bf16=True)),
    Case("fp16-ok", "", t(fp16=True)),
    Case(
        "full-eval-both",
        f"{HF}: At most one of fp16 and bf16 can be True for full eval, but not both",
        t(fp16_full_eval=True, bf16_full_eval=True),
    ),
    Case(
        "apex-bf16",
        f"{HF}: `--half_precision_backend apex`: GPU bf16 is not supported by apex.",
        t(half_precision_backend="apex"),
    ),
    Case(
        "apex-fp16",
        f"{HF}: Using FP16 with APEX but APEX is not installed",
        t(half_precision_backend="apex", fp16=True),
    ),
    Case(
        "plateau-no-eval",
        f"{HF}: lr_scheduler_type reduce_lr_on_plateau requires an eval strategy",
        t(lr_scheduler_type="reduce_lr_on_plateau"),
    ),
    Case(
        "plateau-eval-ok",
        "",
        t(lr_scheduler_type="reduce_lr_on_plateau", eval_strategy="steps", eval_steps=2, val_size=0.25),
    ),
    Case("optim-bad", f"{HF}: OptimizerNames(optim): 'adamw' is not a valid OptimizerNames", t(optim="adamw")),
    Case("optim-ok", "", t(optim="adamw_torch")),
    Case("optim-bnb", f"{TRAINER}: adamw_bnb_8bit needs bitsandbytes", t(optim="adamw_bnb_8bit")),
    Case(
        "optim-galore-name",
        f"{TRAINER}: galore_adamw needs galore_torch",
        t(optim="galore_adamw", optim_target_modules="all-linear"),
    ),
    Case("optim-adafactor-ok", "", t(optim="adafactor")),
    Case("accelerator-config-ok", "", t(accelerator_config={"split_batches": False})),
    Case("tf32-ok", f"{HF}: --tf32 requires Ampere (hardware: H200)", t(tf32=True)),
    Case("warmup-ratio-ok", "", t(warmup_ratio=0.1)),
    Case("warmup-steps-ok", "", t(warmup_steps=1)),
    Case("fsdp-offload", f"{HF}: `--fsdp offload` can't work on its own.", t(fsdp="offload")),
    Case(
        "fsdp-both",
        f"{HF}: `--fsdp full_shard` is not compatible with `--fsdp shard_grad_op`.",
        t(fsdp="full_shard shard_grad_op"),
    ),
    Case("fsdp-bad-option", f"{HF}: FSDPOption(s): 'fullshard' is not a valid FSDPOption", t(fsdp="fullshard")),
    Case(
        "fsdp-min-params-cls",
        f"{HF}: `min_num_params` and `transformer_layer_cls_to_wrap` are mutually exclusive.",
        both(
            TWO_GPUS,
            t(
                fsdp="full_shard",
                fsdp_config={"min_num_params": 100, "transformer_layer_cls_to_wrap": ["Qwen2DecoderLayer"]},
            ),
        ),
    ),
    Case(
        "fsdp-sync-states",
        f'{HF}: `sync_module_states` must be `"True"` if `cpu_ram_efficient_loading` is `"True"`',
        both(
            TWO_GPUS, t(fsdp="full_shard", fsdp_config={"sync_module_states": False, "cpu_ram_efficient_loading": True})
        ),
    ),
    Case(
        "fsdp-deepspeed",
        f"{HF}: fsdp and deepspeed cannot be used together (accelerate)",
        both(TWO_GPUS, t(fsdp="full_shard", deepspeed=Z2)),
    ),
    Case(
        "prefetch-no-workers",
        f"{HF}: --dataloader_prefetch_factor can only be set when data is loaded in a different process",
        t(dataloader_prefetch_factor=2),
    ),
    Case("prefetch-workers-ok", "", t(dataloader_prefetch_factor=2, dataloader_num_workers=1)),
    Case("debug-bad", f"{HF}: DebugOption(s): 'tpu' is not a valid DebugOption", t(debug="tpu")),
    Case("debug-ok", "", t(debug="underflow_overflow")),
    Case("torch-compile-backend-ok", "", t(torch_compile=False)),
    Case("eval-strategy-no-ok", "", t(eval_strategy="no")),
    Case(
        "hub-strategy-bad",
        f"{HF}: HubStrategy(hub_strategy): 'sometimes' is not a valid HubStrategy",
        t(hub_strategy="sometimes"),
    ),
    Case(
        "save-strategy-best-no-metric-ok",
        "",
        t(save_strategy="best", eval_strategy="steps", eval_steps=2, val_size=0.25, metric_for_best_model="loss"),
    ),
    Case(
        "save-best-no-eval",
        f"{TRAINER}: save_strategy best needs metric_for_best_model / an evaluation (Trainer)",
        t(save_strategy="best"),
    ),
    Case("use-cpu-ok", "", t(use_cpu=False)),
    Case("mps-device", f"{HF}: use_mps_device but mps device is not available", t(use_mps_device=True)),
    Case("ddp-backend-bad", f"{HF}: accelerate: unknown ddp_backend", both(TWO_GPUS, t(ddp_backend="mpi"))),
    Case(
        "report-to-tensorboard-ok",
        "",
        {"tensorboard": {"log_dir": "/data/home/alice/tb"}, "train": {"report_to": "tensorboard"}},
    ),
    Case(
        "report-to-wandb",
        f"{TRAINER}: WandbCallback requires wandb to be installed",
        t(report_to="wandb"),
        kind="image",
    ),
    Case(
        "report-to-mlflow",
        f"{TRAINER}: MLflowCallback requires mlflow to be installed",
        t(report_to="mlflow"),
        kind="image",
    ),
    Case("report-to-all-ok", f"{TRAINER}: report_to all: every installed integration", t(report_to="all")),
    Case("gc-kwargs-ok", "", t(gradient_checkpointing_kwargs={"use_reentrant": False})),
    Case("group-by-length-ok", "", t(group_by_length=True)),
    Case("label-smoothing-ok", "", t(label_smoothing_factor=0.1)),
    Case("neftune-ok", "", t(neftune_noise_alpha=5.0)),
    Case("max-steps-ok", "", t(max_steps=2)),
    Case("lr-kwargs-ok", "", t(lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr": 1.0e-6})),
    Case(
        "min-lr-missing",
        f"{TRAINER}: cosine_with_min_lr needs min_lr or min_lr_rate in lr_scheduler_kwargs",
        t(lr_scheduler_type="cosine_with_min_lr"),
    ),
    Case(
        "wsd-ok",
        f"{TRAINER}: warmup_stable_decay (num_decay_steps has a default)",
        t(lr_scheduler_type="warmup_stable_decay"),
    ),
    Case("polynomial-ok", "", t(lr_scheduler_type="polynomial")),
    Case("template-none-ok", "", t(template=None)),
    # --- two nodes: torchrun launch rules
    Case("two-node-ok", "", {"resources": {"nodes": 2, "gpus_per_node": 2}}),
    Case("two-node-export-ok", "", both({"resources": {"nodes": 2, "gpus_per_node": 2}}, {"export": EXPORT})),
    Case("two-gpu-ok", "", TWO_GPUS),
    Case("two-node-z3", "", both({"resources": {"nodes": 2}}, t(deepspeed=Z3))),
    Case(
        "cpu-only-job",
        f"{PARSER}: a CPU job with bf16 off (scowspec sets bf16 on GPU jobs only)",
        {"resources": {"gpus_per_node": 0, "gpu_type": None}},
    ),
    *_stages(),
)
