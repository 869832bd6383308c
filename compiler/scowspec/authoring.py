"""Authoring help: a commented starting spec and CI files (`init`), a comment-keeping layout normaliser (`fmt`)."""

from __future__ import annotations

import enum
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from scowspec import __version__
from scowspec.diagnostics import Diagnostic, Severity
from scowspec.errors import RefusedError
from scowspec.load import files
from scowspec.load.document import Document
from scowspec.load.yamlfile import parse
from scowspec.pipeline import load_project, read_spec
from scowspec.render import diagnostics as diagnostics_view
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
        loaded, problems = load_project(found)
        errors = [d for d in problems if d.severity is Severity.ERROR and d.code != "required"]
        if errors:  # appending to a file that does not read, or whose `project` is not an id, only makes it worse
            raise RefusedError(
                f"{diagnostics_view.line(errors[0])}; no project id was written",
                hint=f"fix {files.display(found)} first (`scowspec validate` shows every problem)",
            )
        existing = loaded.defaults.get("project")
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


def starter_target(folder: Path, name: str, *, force: bool) -> Path:
    """Where `init NAME` writes the spec; refused (before anything is written) when a file is there."""
    target = folder / f"{name}.yaml"
    if target.exists() and not force:
        raise RefusedError(f"{target} exists; nothing was written", hint="pass --force to overwrite it")
    return target


def write_starter(folder: Path, name: str, *, force: bool, new_project_id: str) -> Written:
    """Write `folder/NAME.yaml`; put the schema in the repository's schema/ folder if it is not there yet."""
    target = starter_target(folder, name, force=force)
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


def _reformat(text: str, doc: Document, name: str) -> tuple[str, Diagnostic | None]:
    """The formatted text, or why the file is left as it is: fmt only ever changes layout, never data.

    ruamel reads a few things our reader accepts differently (tags, merge keys, tabs): when its output does
    not read back to the same data, or it cannot read the file at all, the file is not touched.
    """
    try:
        new = format_text(text)
    except (YAMLError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return text, doc.diagnostic(
            "fmt-skipped", f"fmt cannot reformat this file ({first}); it was left as it is", severity=Severity.WARNING
        )
    again, _ = parse(new, name)
    if again is None or not _same_data(again.data, doc.data):
        return text, doc.diagnostic(
            "fmt-skipped",
            "reformatting would change this file's data (a tag, merge key or alias); it was left as it is",
            severity=Severity.WARNING,
        )
    return new, None


def _same_data(a: object, b: object) -> bool:
    """Equal as data (NaN equals NaN here: it is the same value written twice)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


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
        text = read_spec(path)
        if isinstance(text, Diagnostic):
            problems.append(text)
            continue
        name = files.display(path)
        doc, diags = parse(text, name)
        if doc is None or diags:
            problems += diags
            continue
        new, refusal = _reformat(text, doc, name)
        if refusal is not None:
            problems.append(refusal)
            continue
        if new != text:
            changed.append(path)
            if not check:
                files.write_text(path, new)
    return Formatted(tuple(changed), tuple(problems), len(spec_files))


class CiSystem(enum.Enum):
    GITHUB = "github"
    GITLAB = "gitlab"


# Where each shipped file (compiler/scowspec/data/ci/) goes in a lab's repository. This repository's own ci/ scripts
# are links to them; its two CI files stay copies (CI systems read their own file), kept identical by a test.
CI_FILES: Mapping[CiSystem, tuple[tuple[str, str], ...]] = {
    CiSystem.GITHUB: (
        (".github/workflows/scowspec.yml", "github-scowspec.yml"),
        ("ci/scowspec-ci.sh", "scowspec-ci.sh"),
        ("ci/scowspec_report.py", "scowspec_report.py"),
    ),
    CiSystem.GITLAB: (
        (".gitlab-ci.yml", "gitlab-ci.yml"),
        ("ci/scowspec-ci.sh", "scowspec-ci.sh"),
        ("ci/gitlab_note.py", "gitlab_note.py"),
        ("ci/scowspec_report.py", "scowspec_report.py"),
    ),
}
REQUIREMENTS = "ci/requirements.txt"
IGNORED = ".scowspec/"  # the apply journal and lock: local state, never committed


def shipped_ci_file(name: str) -> str:
    return resources.files("scowspec.data").joinpath("ci", name).read_text("utf-8")


def requirement_of(direct_url: str | None, version: str) -> tuple[str, bool]:
    """The pip requirement CI installs scowspec with, and whether it names a source CI can reach.

    `direct_url`: the installed distribution's PEP 610 record (direct_url.json), None when installed from an index.
    """
    if direct_url is None:
        return f"scowspec=={version}", True
    try:
        record = json.loads(direct_url)
    except ValueError:
        record = {}
    url = str(record.get("url", "")) if isinstance(record, dict) else ""
    vcs = record.get("vcs_info") if isinstance(record, dict) else None
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and url and not url.startswith("file:"):
        return f"scowspec @ git+{url}@{vcs.get('commit_id') or vcs.get('requested_revision') or 'main'}", True
    if url and not url.startswith("file:"):
        return f"scowspec @ {url}", True
    return f"scowspec=={version}", False  # a local folder or file: CI cannot install from it


def installed_requirement() -> tuple[str, bool]:
    try:
        direct_url = metadata.distribution("scowspec").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct_url = "{}"
    return requirement_of(direct_url, __version__)


@dataclass(frozen=True)
class WrittenCi:
    files: tuple[Path, ...]
    requirement: str
    source_known: bool  # False: ci/requirements.txt needs editing (scowspec was installed from a local folder)


def write_ci(root: Path, system: CiSystem, *, force: bool) -> WrittenCi:
    """The CI file, the shared script and ci/requirements.txt in a lab's repository; `.scowspec/` ignored by git."""
    targets = [(root / dest, shipped_ci_file(name)) for dest, name in CI_FILES[system]]
    clash = [p for p, _ in targets if p.exists() and not force]
    if clash:
        shown = ", ".join(files.display(p) for p in clash)
        raise RefusedError(f"{shown} exist(s); nothing was written", hint="pass --force to overwrite")
    requirement, known = installed_requirement()
    written: list[Path] = []
    for path, text in targets:
        files.write_text(path, text)
        if path.suffix == ".sh":
            path.chmod(0o755)
        written.append(path)
    req_path = root / REQUIREMENTS
    if force or not req_path.exists():
        note = "" if known else "# scowspec was installed from a local folder: put where CI installs it from here\n"
        files.write_text(req_path, f"# What CI installs (ci/scowspec-ci.sh install).\n{note}{requirement}\n")
        written.append(req_path)
    ignore = root / ".gitignore"
    lines = files.read_text(ignore).splitlines() if ignore.exists() else []
    if IGNORED not in lines and IGNORED.rstrip("/") not in lines:
        files.write_text(ignore, "\n".join([*lines, IGNORED]) + "\n")
        written.append(ignore)
    return WrittenCi(tuple(written), requirement, known)
