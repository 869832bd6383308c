"""LLaMA-Factory's argument table, kept as data (`data/llamafactory-<version>.json`).

The table is regenerated from the real package by `e2e/gpu/keytable.py`, so the offline validator
and the real parser cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

LF_VERSION = "0.9.4"

# Keys scowspec writes itself, with the spec field that controls each one. Users who set them by
# hand get this message instead of "unknown key".
RESERVED: dict[str, str] = {
    "model_name_or_path": "set from `model` (the portal mounts it at $SCOW_AI_MODEL_PATH)",
    "adapter_name_or_path": "set by scowspec: the merge reads this job's own adapter (see `export`)",
    "dataset": "set from `dataset`",
    "dataset_dir": "set from `dataset` (scowspec writes its own dataset_info.json)",
    "eval_dataset": "not supported: use `val_size` to hold out part of `dataset`",
    "output_dir": "set by scowspec to `<work_dir>/<job name>/output`, shared by all nodes",
    "overwrite_output_dir": "always true, so a resubmitted job never auto-resumes into a hang",
    "export_dir": "set by scowspec to `<work_dir>/<job name>/merged` (see `export`)",
    "do_train": "always true: without it LLaMA-Factory trains nothing and saves no adapter",
    "logging_dir": "set from `tensorboard.log_dir`",
    "local_rank": "set by torchrun",
    "hf_hub_token": "a secret must not be committed in a spec",
    "ms_hub_token": "a secret must not be committed in a spec",
    "om_hub_token": "a secret must not be committed in a spec",
    "hub_token": "a secret must not be committed in a spec",
    "push_to_hub_token": "a secret must not be committed in a spec",
    "swanlab_api_key": "a secret must not be committed in a spec",
}

# Export keys scowspec accepts under `export:` (the rest of the merge config is written by scowspec).
EXPORT_EXTRA = ("infer_dtype",)


@dataclass(frozen=True)
class KeyTable:
    version: str
    groups: dict[str, tuple[str, ...]]
    init_false: frozenset[str]
    enums: dict[str, tuple[str, ...]]
    templates: frozenset[str]
    efficient_eos_templates: frozenset[str]

    @property
    def train_keys(self) -> frozenset[str]:
        """Keys `llamafactory-cli train` accepts (all five dataclasses)."""
        return frozenset(k for keys in self.groups.values() for k in keys)

    @property
    def infer_keys(self) -> frozenset[str]:
        """Keys `llamafactory-cli export` accepts (no TrainingArguments)."""
        return frozenset(k for g, keys in self.groups.items() if g != "training" for k in keys)

    @property
    def spec_train_keys(self) -> frozenset[str]:
        """Keys a spec may set under `train:`."""
        return self.train_keys - set(RESERVED) - self.init_false

    @property
    def spec_export_keys(self) -> frozenset[str]:
        """Keys a spec may set under `export:`."""
        exported = {k for k in self.groups["model"] if k.startswith("export_")}
        return frozenset((exported | set(EXPORT_EXTRA)) - set(RESERVED))


@cache
def key_table(version: str = LF_VERSION) -> KeyTable:
    raw = json.loads(resources.files("scowspec.data").joinpath(f"llamafactory-{version}.json").read_text("utf-8"))
    return KeyTable(
        version=raw["llamafactory_version"],
        groups={g: tuple(ks) for g, ks in raw["groups"].items()},
        init_false=frozenset(raw["init_false"]),
        enums={k: tuple(v) for k, v in raw["enums"].items()},
        templates=frozenset(raw["templates"]),
        efficient_eos_templates=frozenset(raw["efficient_eos_templates"]),
    )
