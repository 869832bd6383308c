"""How many optimizer steps a job can make at most, from what the spec says (no data needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# HF TrainingArguments defaults in transformers 4.57.1.
DEFAULT_BATCH = 8
DEFAULT_EPOCHS = 3.0


def global_batch(train: Mapping[str, Any], nodes: int, gpus_per_node: int) -> int:
    per_device = int(train.get("per_device_train_batch_size", DEFAULT_BATCH))
    accumulation = int(train.get("gradient_accumulation_steps", 1))
    return per_device * accumulation * max(1, nodes * gpus_per_node)


def max_steps_bound(train: Mapping[str, Any], nodes: int, gpus_per_node: int) -> int | None:
    """An upper bound on the job's optimizer steps, or None when it depends on the data's size."""
    max_steps = int(train.get("max_steps", -1))
    if max_steps > 0:
        return max_steps
    samples = train.get("max_samples")
    if samples is None:
        return None
    per_epoch = math.ceil(int(samples) / global_batch(train, nodes, gpus_per_node))
    return per_epoch * math.ceil(float(train.get("num_train_epochs", DEFAULT_EPOCHS)))
