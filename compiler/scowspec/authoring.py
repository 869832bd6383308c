"""Authoring help: a commented starting spec (`init`) and a comment-keeping layout normaliser (`fmt`)."""

from __future__ import annotations

import io
from collections.abc import Mapping

from ruamel.yaml import YAML

STARTER = """\
# yaml-language-server: $schema={schema}
# A LLaMA-Factory fine-tuning job for SCOW-AI. Check it with `scowspec validate`, see what it will do with
# `scowspec plan`. Field reference: docs/spec.md, or the schema above (editors complete from it).
apiVersion: scowspec/v1
kind: FineTune
name: {name}                       # the job is named {name}-<8 hex digits of this spec's digest>
{defaults}model: {{name: Qwen2.5-1.5B-Instruct, scope: public}}     # or {{version_id: N, scope: ...}} or {{path: /abs/dir}}
dataset:
  name: identity                   # a dataset of yours on the portal
  scope: mine
  file: identity.json
  formatting: alpaca
resources:
  nodes: 1                         # more than 1: a distributed pytorch job
  gpus_per_node: 1
  max_time: 2h                     # 45m, 10h, 2d or whole minutes
train:                             # LLaMA-Factory 0.9.4 arguments, under their own names
  stage: sft
  finetuning_type: lora
  lora_target: all
  template: qwen
  cutoff_len: 1024
  num_train_epochs: 3.0
  learning_rate: 1.0e-4
  lr_scheduler_type: cosine
# export: {{export_size: 5, export_device: auto}}              # merge the LoRA adapter on node 0 afterwards
# tensorboard: {{log_dir: /data/home/USER/logs/tensorboard}}  # TensorBoard on the portal
"""

_PROJECT_FIELDS = {
    "cluster": "ai-k8s",
    "account": "your_account",
    "partition": "gpu",
    "image": "app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4",
    "work_dir": "/data/home/USER/finetune",
}


def starter_spec(name: str, schema_ref: str, project: Mapping[str, object]) -> str:
    """A spec that validates once its placeholders are real; fields scowspec.yaml already sets are left out."""
    lines = "".join(f"{k}: {v}\n" for k, v in _PROJECT_FIELDS.items() if k not in project)
    if lines:
        lines = "# Not set in scowspec.yaml, so set here:\n" + lines
    return STARTER.format(name=name, schema=schema_ref, defaults=lines)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never re-wrap long values
    return y


def format_text(text: str) -> str:
    """The spec with normalised indentation and spacing; comments, key order, quotes and flow style kept."""
    y = _yaml()
    data = y.load(text)
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()
