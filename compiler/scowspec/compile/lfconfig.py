"""The LLaMA-Factory configs a job writes: what the spec says, plus what scowspec must set.

Paths that exist only inside the container (model mount, WORK_DIR) are filled in at run time by
the runtime helper; everything here is static and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from scowspec.compile import memory
from scowspec.model.spec import FineTuneSpec
from scowspec.model.steps import max_steps_bound


class Section(Enum):
    """Where a default goes: a LLaMA-Factory training argument, or a variable the command exports."""

    TRAIN = "train"
    ENV = "env"


@dataclass(frozen=True)
class Default:
    """A setting scowspec chose because the spec left it out; shown in compile and plan."""

    key: str
    value: Any
    why: str
    section: Section = Section.TRAIN

    @property
    def label(self) -> str:
        """How plans name it: training arguments by key (as they always were), variables as env.NAME."""
        return self.key if self.section is Section.TRAIN else f"{self.section.value}.{self.key}"


def _logging_steps(spec: FineTuneSpec) -> int:
    # LLaMA-Factory's default (500) exceeds the tutorial job's 60 steps, which is why its TensorBoard
    # shows one point per chart. Aim for ~20 points, logging at least every 5 steps.
    bound = max_steps_bound(spec.train, spec.resources.nodes, spec.resources.gpus_per_node)
    if bound is None:
        return 5
    return max(1, min(5, bound // 20))


def chosen_defaults(spec: FineTuneSpec) -> tuple[Default, ...]:
    """Defaults scowspec applies where the spec is silent (each one overridable under `train:`)."""
    t = spec.train
    out: list[Default] = [
        Default("logging_steps", _logging_steps(spec), "LLaMA-Factory's 500 leaves short jobs without a loss curve"),
        Default(
            "report_to",
            "tensorboard" if spec.tensorboard_dir else "none",
            "the default `all` writes TensorBoard events to a folder that dies with the container",
        ),
    ]
    gpu = spec.resources.gpus_per_node > 0
    if gpu and not t.get("fp16") and "pure_bf16" not in t:
        out.append(Default("bf16", True, "mixed precision; LLaMA-Factory warns without it"))
    if gpu:
        out.append(
            Default("flash_attn", "sdpa", "PyTorch's fused attention, always in the image (flash-attn is optional)")
        )
        out.append(_checkpointing(spec))
    return tuple(d for d in out if d.key not in t)


def _checkpointing(spec: FineTuneSpec) -> Default:
    """Training without gradient checkpointing is faster (1.24x samples/s, gpu-probe B2) but keeps every
    layer's activations: only where the estimate says the job fits; else LLaMA-Factory's own default."""
    key, t = "disable_gradient_checkpointing", spec.train
    name = spec.model.name or spec.model.path
    params = memory.model_params_b(name)
    gpu = memory.gpu_gib(spec.resources.gpu_type)
    keep = "kept LLaMA-Factory's gradient checkpointing"
    if t.get("finetuning_type", "lora") != "lora":
        return Default(key, False, f"{keep}: full, freeze and OFT training keep much more in memory than LoRA")
    if params is None:
        return Default(key, False, f"{keep}: the model's size is unknown (no size such as `1.5B` in its name)")
    if gpu is None:
        return Default(
            key,
            False,
            f"{keep}: the GPU's memory is unknown (`resources.gpu_type` names no GPU scowspec knows); set "
            "`disable_gradient_checkpointing: true` yourself when the GPU holds the whole batch",
        )
    est = memory.without_checkpointing(params, t)
    where = f"{params:g}B model, {est.tokens} tokens per GPU step (cutoff_len x batch): about {est.gib:.0f} GiB"
    if est.gib > 0.9 * gpu[1]:
        return Default(key, False, f"{keep}: without it a {where}, more than the {gpu[0]}'s {gpu[1]} GiB allow")
    return Default(
        key, True, f"LoRA on a {where} fits the {gpu[0]}'s {gpu[1]} GiB: measured 1.24x samples/s (gpu-probe B2)"
    )


# PyTorch 2.9+ on Hopper/Blackwell (recent cuDNN) tries cuDNN's attention first. It builds an execution
# plan for every new (batch, length) shape, ~2 s each on an H200, mostly compiling kernels at run time; they
# are cached in ~/.nv, which starts empty in every SCOW-AI container. SFT batches padded to their longest
# row bring new shapes for many steps. Deprioritised, SDPA runs its flash or memory-efficient kernels,
# which are built in and need no plans. 2.9 reads the first name, 2.10 and 2.11 the second (checked in the wheels); other
# versions read neither. Measured in docs/gpu-proof.md.
CUDNN_SDPA_ENV = (("TORCH_CUDNN_SDPA_PREFERRED", "0"), ("TORCH_CUDNN_SDPA_DEPRIORITIZED", "1"))


def env_defaults(spec: FineTuneSpec) -> tuple[Default, ...]:
    """Variables the command exports where the spec's `env:` is silent (set one there to override)."""
    attention = spec.train.get("flash_attn", "sdpa")
    if spec.resources.gpus_per_node <= 0 or attention not in ("sdpa", "auto"):
        return ()
    why = (
        "PyTorch's cuDNN attention compiles kernels for every new batch shape (~2 s each, again in every new "
        "container); SDPA's other kernels are built in"
    )
    return tuple(Default(k, v, why, Section.ENV) for k, v in CUDNN_SDPA_ENV if k not in spec.env)


def train_config(spec: FineTuneSpec) -> dict[str, Any]:
    """Static part of the training config, in a stable key order."""
    cfg: dict[str, Any] = {"do_train": True, "overwrite_output_dir": True}
    cfg.update(spec.train)
    for d in chosen_defaults(spec):
        cfg[d.key] = d.value
    if spec.tensorboard_dir:
        # One run folder per job, so the portal's TensorBoard shows each job as its own run.
        cfg["logging_dir"] = f"{spec.tensorboard_dir.rstrip('/')}/{spec.job_name}"
    return cfg


# Training arguments that inference (merge, chat) must use as training did: how prompts become tokens.
INFER_KEYS = ("template", "default_system", "use_fast_tokenizer", "split_special_tokens")


def merge_config(spec: FineTuneSpec) -> dict[str, Any] | None:
    """Static part of the merge (export) config: no training keys, or `export` would refuse them."""
    if spec.export is None:
        return None
    cfg: dict[str, Any] = {"finetuning_type": "lora", "trust_remote_code": spec.train.get("trust_remote_code", True)}
    for key in INFER_KEYS:
        if key in spec.train:
            cfg[key] = spec.train[key]
    cfg.update(spec.export)
    return cfg


def dataset_entry(spec: FineTuneSpec) -> dict[str, Any]:
    """dataset_info.json entry, without `file_name` (known at run time)."""
    ds = spec.dataset
    entry: dict[str, Any] = {"formatting": ds.formatting}
    if ds.ranking:
        entry["ranking"] = True
    if ds.columns:
        entry["columns"] = dict(ds.columns)
    if ds.tags:
        entry["tags"] = dict(ds.tags)
    return entry
