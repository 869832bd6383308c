"""Regenerate scowspec's LLaMA-Factory key table from the real package (run where llamafactory imports).

Prints the JSON table in scowspec's format (compiler/scowspec/data/llamafactory-<version>.json) and a diff
against the packaged one, so the offline validator and the real parser cannot drift apart:
    python e2e/gpu/keytable.py [--write]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path

PACKAGED = Path(__file__).resolve().parents[2] / "compiler" / "scowspec" / "data"


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _literal(cls: type, name: str) -> list[str] | None:
    hints = typing.get_type_hints(cls)
    hint = hints.get(name)
    args = typing.get_args(hint)
    inner = [a for a in args if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return [str(a) for a in args]
    if len(inner) == 1 and typing.get_origin(inner[0]) is typing.Literal:
        return [str(a) for a in typing.get_args(inner[0])]
    return None


def build() -> dict[str, typing.Any]:
    import llamafactory
    import transformers
    from llamafactory.data.template import TEMPLATES
    from llamafactory.hparams import (
        DataArguments,
        FinetuningArguments,
        GeneratingArguments,
        ModelArguments,
        TrainingArguments,
    )
    from transformers.trainer_utils import HubStrategy, SchedulerType
    from transformers.training_args import OptimizerNames

    model = _fields(ModelArguments)
    data = _fields(DataArguments)
    fine = _fields(FinetuningArguments)
    gen = _fields(GeneratingArguments)
    seen = set(model) | set(data) | set(fine) | set(gen)
    training = [f for f in _fields(TrainingArguments) if f not in seen]
    init_false = sorted(
        f.name
        for c in (ModelArguments, DataArguments, FinetuningArguments)
        for f in dataclasses.fields(c)
        if not f.init
    )
    enums: dict[str, list[str]] = {}
    for cls, name in (
        (FinetuningArguments, "stage"),
        (FinetuningArguments, "finetuning_type"),
        (ModelArguments, "export_device"),
        (ModelArguments, "infer_dtype"),
        (DataArguments, "mix_strategy"),
        (FinetuningArguments, "pref_loss"),
        (FinetuningArguments, "reward_model_type"),
        (ModelArguments, "quantization_type"),
    ):
        values = _literal(cls, name)
        if values:
            enums[name] = values
    enums["lr_scheduler_type"] = [s.value for s in SchedulerType]
    enums["optim"] = [o.value for o in OptimizerNames]
    enums["hub_strategy"] = [h.value for h in HubStrategy]
    efficient = sorted(n for n, t in TEMPLATES.items() if getattr(t, "efficient_eos", False))
    return {
        "llamafactory_version": llamafactory.__version__,
        "transformers_version": transformers.__version__,
        "groups": {"model": model, "data": data, "finetuning": fine, "generating": gen, "training": training},
        "init_false": init_false,
        "enums": enums,
        "templates": sorted(TEMPLATES),
        "efficient_eos_templates": efficient,
    }


def main() -> int:
    real = build()
    path = PACKAGED / f"llamafactory-{real['llamafactory_version']}.json"
    ours = json.loads(path.read_text("utf-8"))
    problems = 0
    for group, keys in real["groups"].items():
        missing = sorted(set(keys) - set(ours["groups"].get(group, [])))
        extra = sorted(set(ours["groups"].get(group, [])) - set(keys))
        problems += bool(missing or extra)
        print(
            f"keytable: {group}: real {len(keys)}, packaged {len(ours['groups'].get(group, []))}; "
            f"missing {missing or 'none'}; not in the real package {extra or 'none'}"
        )
    for name in ("templates", "efficient_eos_templates", "init_false"):
        a, b = set(real[name]), set(ours[name])
        problems += a != b
        print(
            f"keytable: {name}: real {len(a)}, packaged {len(b)}; missing {sorted(a - b) or 'none'}; extra {sorted(b - a) or 'none'}"
        )
    for name, values in real["enums"].items():
        if name in ours["enums"] and set(values) != set(ours["enums"][name]):
            problems += 1
            print(f"keytable: enum {name}: real {values} != packaged {ours['enums'][name]}")
    print(
        f"keytable: {'IN SYNC' if not problems else f'{problems} DIFFERENCES'} with {path.name} "
        f"(llamafactory {real['llamafactory_version']}, transformers {real['transformers_version']})"
    )
    if "--write" in sys.argv:
        merged = dict(
            ours,
            groups=real["groups"],
            init_false=real["init_false"],
            templates=real["templates"],
            efficient_eos_templates=real["efficient_eos_templates"],
            transformers_version=real["transformers_version"],
        )
        merged["enums"] = {**ours["enums"], **real["enums"]}
        print(json.dumps(merged, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
