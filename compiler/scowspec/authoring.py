"""Authoring help: a commented starting spec (`init`) and a comment-keeping layout normaliser (`fmt`)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from scowspec.diagnostics import Diagnostic
from scowspec.errors import RefusedError
from scowspec.load import files
from scowspec.load.yamlfile import parse
from scowspec.pipeline import load_project
from scowspec.validate.schema import schema_text

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


PROJECT_HEADER = """\
# yaml-language-server: $schema={schema}#/$defs/project
# Project defaults for every spec below this folder; a spec overrides any of them.
"""
PROJECT_ID_LINE = """\
# This project's id: every job's command carries it, and plan/apply/cancel touch only jobs that do. Keep it.
project: {project}
"""


def ensure_project_id(folder: Path, project: str) -> tuple[Path, str, bool]:
    """scowspec.yaml above `folder` (else a new one in the current folder) with a `project` id.

    Returns the file, its id, and whether anything was written. An id already there is kept: it must never
    change once jobs carry it.
    """
    found = files.find_project_file(folder / "x.yaml")
    path = found if found is not None else folder.parent / files.PROJECT_FILE  # beside specs/
    if found is not None:
        existing = load_project(found)[0].defaults.get("project")
        if isinstance(existing, str) and existing:
            return found, existing, False
        text = files.read_text(found)
        files.write_text(
            found, text + ("" if text.endswith("\n") or not text else "\n") + PROJECT_ID_LINE.format(project=project)
        )
        return found, project, True
    schema_ref = os.path.relpath((path.parent / "schema" / "finetune.schema.json").resolve(), path.parent.resolve())
    files.write_text(path, PROJECT_HEADER.format(schema=schema_ref) + PROJECT_ID_LINE.format(project=project))
    return path, project, True


@dataclass(frozen=True)
class Written:
    spec: Path
    schema: Path | None  # written too, when the repository had no schema file for editors
    project_file: Path | None = None  # scowspec.yaml, when init wrote or completed its project id
    project: str = ""


def write_starter(folder: Path, name: str, *, force: bool, new_project_id: str) -> Written:
    """Write `folder/NAME.yaml`; put the schema in the repository's schema/ folder if it is not there yet."""
    target = folder / f"{name}.yaml"
    if target.exists() and not force:
        raise RefusedError(f"{target} exists; nothing was written", hint="pass --force to overwrite it")
    id_file, project_id, wrote_id = ensure_project_id(folder, new_project_id)
    project_file = files.find_project_file(target)
    project = load_project(project_file)[0].defaults if project_file else {}
    schema_file = (project_file.parent if project_file else Path.cwd()) / "schema" / "finetune.schema.json"
    wrote_schema = None
    if not schema_file.exists():
        files.write_text(schema_file, schema_text())
        wrote_schema = schema_file
    ref = os.path.relpath(schema_file.resolve(), folder.resolve())
    files.write_text(target, starter_spec(name, ref, project))
    return Written(target, wrote_schema, id_file if wrote_id else None, project_id)


@dataclass(frozen=True)
class Formatted:
    changed: tuple[Path, ...]
    problems: tuple[Diagnostic, ...]
    files: int


def format_files(paths: list[Path], *, check: bool) -> Formatted:
    """Normalise every spec under `paths` (only report with `check`); broken YAML is reported, never rewritten."""
    changed: list[Path] = []
    problems: list[Diagnostic] = []
    spec_files = files.discover(paths)
    for path in spec_files:
        text = files.read_text(path)
        doc, diags = parse(text, files.display(path))
        if doc is None or diags:
            problems += diags
            continue
        new = format_text(text)
        if new != text:
            changed.append(path)
            if not check:
                files.write_text(path, new)
    return Formatted(tuple(changed), tuple(problems), len(spec_files))
