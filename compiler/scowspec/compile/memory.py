"""A job's GPU memory, estimated before it runs: is it safe to train without gradient checkpointing?

Deliberately pessimistic (rounded up at every step), because its only use is to decide whether a default
may raise memory. Sizes come from what the spec says: the model's size in its name (`Qwen2.5-1.5B-Instruct`
→ 1.5 B parameters; the portal's model records carry no size) and the GPU named in `resources.gpu_type`
(the portal reports no GPU memory); either one unknown means "not known to be safe".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GIB = 1024**3
# (pattern in resources.gpu_type, GiB). The portal's resource names are often just `nvidia.com/gpu`.
_GPUS = (
    ("h200", 141),
    ("h20", 96),
    ("h800", 80),
    ("h100", 80),
    ("a800", 80),
    ("a100.?40", 40),
    ("a100", 80),
    ("l40", 48),
    ("a6000", 48),
    ("a40", 48),
    ("v100.?16", 16),
    ("v100", 32),
    ("4090", 24),
    ("3090", 24),
    ("a10", 24),
    ("t4", 16),
)
_SIZE = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*[bB](?![a-zA-Z0-9])")
_VOCAB = 152_064  # the largest common vocabulary (Qwen2/2.5); logits are kept in fp32 with their gradient
# transformers' and LLaMA-Factory's defaults for what the spec leaves out.
DEFAULT_BATCH = 8
DEFAULT_CUTOFF = 2048


@dataclass(frozen=True)
class Estimate:
    params_b: float
    tokens: int
    gib: float


def model_params_b(name: str) -> float | None:
    """Billions of parameters from a model's name or folder (`Qwen3-30B-A3B` → 30), or None."""
    m = _SIZE.search(name.rsplit("/", 1)[-1])
    size = float(m.group(1)) if m else 0.0
    return size if size > 0 else None  # `Toy-0B` names no size (and the estimate divides by it)


def gpu_gib(gpu_type: str | None) -> tuple[str, int] | None:
    """(GPU, GiB) when `resources.gpu_type` names a GPU scowspec knows, else None."""
    text = (gpu_type or "").lower()
    for pattern, gib in _GPUS:
        if re.search(pattern, text):
            return pattern.replace(".?", "-").upper(), gib
    return None


def without_checkpointing(params_b: float, train: Mapping[str, Any]) -> Estimate:
    """Peak memory of one GPU for LoRA/QLoRA without gradient checkpointing, at the longest batch:
    frozen weights, every layer's activations for cutoff_len × batch tokens (about 34·hidden bytes per
    token and layer, hidden ≈ 1100·B^0.48, Korthikanti et al. 2022, doubled for safety), fp32 logits and
    their gradient, plus 20 % and 2 GiB for the CUDA context, the adapter and its optimizer."""
    params = params_b * 1e9
    bits = train.get("quantization_bit")
    weights = params * (bits / 8 if isinstance(bits, int) else 2)
    hidden = 1100 * params_b**0.48
    per_token = 2 * 34 * params / (12 * hidden)  # 34·h bytes × layers, with layers·h ≈ params / (12·h)
    tokens = int(train.get("cutoff_len", DEFAULT_CUTOFF)) * int(train.get("per_device_train_batch_size", DEFAULT_BATCH))
    logits = tokens * _VOCAB * 8
    total = 1.2 * (weights + tokens * per_token + logits) + 2 * GIB
    return Estimate(params_b, tokens, total / GIB)
