"""Every rule copes with every train key holding a value of an unexpected type (the schema lets untyped keys
through, and in one pass the rules run beside it): diagnostics, never an exception."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scowspec.pipeline import Project, check_text
from scowspec.validate.lfkeys import key_table

# A spec that wakes as many rules as possible (distributed, ZeRO-3, DPO, streaming, best model, fsdp, ...).
BASE: dict[str, Any] = {
    "apiVersion": "scowspec/v1",
    "kind": "FineTune",
    "name": "robust",
    "cluster": "c",
    "account": "a",
    "partition": "p",
    "image": "app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4",
    "work_dir": "/data/home/alice/w",
    "model": {"path": "/data/home/alice/Qwen2.5-1.5B"},
    "dataset": {"path": "/data/home/alice/d", "file": "x.json"},
    "resources": {"nodes": 2, "gpus_per_node": 2, "max_time": "1h", "gpu_type": "nvidia.com/h200"},
    "export": {"export_size": 1},
    "train": {
        "template": "qwen",
        "stage": "dpo",
        "finetuning_type": "full",
        "deepspeed": "/app/examples/deepspeed/ds_z3_config.json",
        "fsdp": "full_shard",
        "eval_strategy": "steps",
        "save_strategy": "steps",
        "load_best_model_at_end": True,
        "lr_scheduler_type": "cosine_with_min_lr",
        "streaming": True,
        "pref_loss": "hinge",
        "use_badam": True,
    },
}
ODD: tuple[Any, ...] = ("x", [1, "a"], {"min_num_params": "x", "min_lr": None})


@pytest.mark.parametrize("value", ODD, ids=lambda v: type(v).__name__)
def test_rules_never_raise_on_odd_values(value: Any) -> None:
    for key in sorted(key_table().spec_train_keys):
        data = yaml.safe_load(yaml.safe_dump(BASE))
        data["train"][key] = value
        spec, diags = check_text(yaml.safe_dump(data), "specs/robust.yaml", Project("scowspec.yaml", None))
        assert spec is None and diags, key  # the base spec itself is invalid many times over
