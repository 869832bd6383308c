"""The memory estimate behind `disable_gradient_checkpointing`: the default raises memory only where it fits."""

from __future__ import annotations

from typing import Any

import pytest

from scowspec.compile.lfconfig import chosen_defaults
from scowspec.compile.memory import gpu_gib, model_params_b, without_checkpointing
from scowspec.pipeline import Project, check_text


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("Qwen2.5-1.5B-Instruct", 1.5),
        ("Qwen3-30B-A3B", 30.0),
        ("/data/home/alice/models/llama-3-70b", 70.0),
        ("Qwen2.5-0.5B", 0.5),
        ("glm4-chat", None),
        ("Qwen2.5", None),
        ("/data/home/alice/models/Toy-0B", None),
        ("Toy-0.0B", None),
    ],
    ids=lambda v: str(v),
)
def test_model_size_from_name(name: str, params: float | None) -> None:
    assert model_params_b(name) == params


def test_gpu_memory_only_for_named_gpus() -> None:
    assert gpu_gib("nvidia.com/h200") == ("H200", 141)
    assert gpu_gib("NVIDIA-A100-40GB") == ("A100-40", 40)
    assert gpu_gib("nvidia.com/gpu") is None and gpu_gib(None) is None


def test_estimate_grows_with_model_batch_and_length() -> None:
    small = without_checkpointing(1.5, {"cutoff_len": 512, "per_device_train_batch_size": 2}).gib
    assert without_checkpointing(7, {"cutoff_len": 512, "per_device_train_batch_size": 2}).gib > small
    assert without_checkpointing(1.5, {"cutoff_len": 2048, "per_device_train_batch_size": 2}).gib > small
    assert without_checkpointing(1.5, {"cutoff_len": 512, "per_device_train_batch_size": 8}).gib > small
    assert (
        without_checkpointing(1.5, {"cutoff_len": 512, "per_device_train_batch_size": 2, "quantization_bit": 4}).gib
        < small
    )


SPEC = """\
apiVersion: scowspec/v1
kind: FineTune
name: mem
cluster: c
account: a
partition: p
image: app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4
work_dir: /data/home/alice/w
model: {MODEL}
dataset: {version_id: 1, scope: mine}
resources: {nodes: 1, gpus_per_node: 1, max_time: 1h, gpu_type: GPU}
train: {TRAIN}
"""


@pytest.mark.parametrize(
    ("model", "gpu", "train", "disabled"),
    [
        ("{path: /m/Qwen2.5-1.5B-Instruct}", "nvidia.com/h200", "{template: qwen, cutoff_len: 1024}", True),
        ("{path: /m/Qwen2.5-1.5B-Instruct}", "nvidia.com/4090", "{template: qwen, cutoff_len: 1024}", False),
        ("{path: /m/Qwen2.5-72B-Instruct}", "nvidia.com/h200", "{template: qwen, cutoff_len: 4096}", False),
        ("{path: /m/Qwen2.5-1.5B-Instruct}", "nvidia.com/gpu", "{template: qwen, cutoff_len: 1024}", False),
        ("{version_id: 3, scope: public}", "nvidia.com/h200", "{template: qwen, cutoff_len: 1024}", False),
        ("{path: /m/Qwen2.5-1.5B-Instruct}", "nvidia.com/h200", "{template: qwen, finetuning_type: full}", False),
    ],
    ids=["lora-small-h200", "lora-small-4090", "lora-72b", "gpu-unknown", "size-unknown", "full"],
)
def test_checkpointing_default_only_where_safe(model: str, gpu: str, train: str, disabled: bool) -> None:
    text = SPEC.replace("{MODEL}", model).replace("GPU", gpu).replace("{TRAIN}", train)
    spec, diags = check_text(text, "specs/mem.yaml", Project("scowspec.yaml", None))
    assert spec is not None, diags
    chosen: dict[str, Any] = {d.key: d for d in chosen_defaults(spec)}
    default = chosen["disable_gradient_checkpointing"]
    assert default.value is disabled
    assert default.why  # the reason is shown by compile and plan
    if not disabled:
        assert default.why.startswith("kept LLaMA-Factory's gradient checkpointing")
