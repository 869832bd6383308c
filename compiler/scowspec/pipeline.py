"""load → validate → model for many files: the offline front half every command shares."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scowspec.diagnostics import Diagnostic, JsonPath, Position, Report, Severity, Span
from scowspec.errors import UsageError
from scowspec.load import files
from scowspec.load.document import Document
from scowspec.load.yamlfile import parse
from scowspec.model.build import build
from scowspec.model.effective import merge
from scowspec.model.spec import FineTuneSpec
from scowspec.validate import rules, schema, serving_rules, verbatim, verify_rules
from scowspec.validate.context import RuleContext
from scowspec.validate.lfkeys import key_table


@dataclass(frozen=True)
class Project:
    """The project defaults file (scowspec.yaml), if any."""

    file: str
    doc: Document | None

    @property
    def defaults(self) -> dict[str, object]:
        return dict(self.doc.data) if self.doc is not None else {}

    @property
    def project_id(self) -> str:
        value = self.defaults.get("project")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Loaded:
    """The outcome of loading many specs: the valid ones, and every diagnostic."""

    specs: tuple[FineTuneSpec, ...]
    report: Report
    projects: tuple[Project, ...]
    files: tuple[str, ...]

    @property
    def project_id(self) -> str:
        """The one project id the paths belong to; '' when none or several (plan and apply refuse those)."""
        ids = {p.project_id for p in self.projects}
        return ids.pop() if len(ids) == 1 else ""


def check_text(text: str, file: str, project: Project | None) -> tuple[FineTuneSpec | None, list[Diagnostic]]:
    """Pure: one spec's text (and its project defaults) → a FineTuneSpec or diagnostics.

    One pass: the rules run even where the schema found problems, on the spec without the values the
    schema rejected, so a user sees every problem of the file at once.
    """
    doc, diags = parse(text, file)
    if doc is None:
        return None, diags
    unreadable = {d.path for d in diags if d.code == "yaml-value"}  # already reported; read as null
    problems = [d for d in schema.check(doc) if d.path not in unreadable]
    diags += problems
    if not isinstance(doc.data, dict):
        return None, diags
    # Values the schema refused by their type or shape are left out for the rules; one that only failed a pattern
    # (`format`) keeps its place, so the rules do not also report it missing.
    rejected = {d.path for d in problems if d.code not in ("required", "format")}
    project_doc = project.doc if project else None
    kept = without(doc.data, rejected | unreadable)
    if not isinstance(kept, dict):  # the whole document was refused (a limit reached at its root)
        return None, diags
    eff = merge(project.defaults if project else {}, kept)
    ctx = RuleContext(doc, project_doc, eff, key_table())
    diags += [
        d
        for d in rules.check(ctx)
        if not any(d.path[: len(p)] == p for p in rejected)  # said once, by the schema
    ]
    if not problems:  # these read values the schema has vouched for
        diags += verify_rules.check(ctx) + serving_rules.check(ctx) + verbatim.check(doc, eff)
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    return build(file, eff, doc, project.project_id if project else ""), diags


def without(data: Any, paths: set[JsonPath]) -> Any:
    """`data` less the values at `paths` (a list keeps its length: the item becomes None)."""
    if not paths:
        return data
    if () in paths:
        return None
    if isinstance(data, dict):
        return {k: without(v, {p[1:] for p in paths if p[0] == k}) for k, v in data.items() if (k,) not in paths}
    if isinstance(data, list):
        return [None if (i,) in paths else without(v, {p[1:] for p in paths if p[0] == i}) for i, v in enumerate(data)]
    return data


def load_project(path: Path) -> tuple[Project, list[Diagnostic]]:
    name = files.display(path)
    text = read_spec(path)
    if isinstance(text, Diagnostic):  # located, like an unreadable spec: the specs' own problems still show
        return Project(name, None), [text]
    doc, diags = parse(text, name)
    if doc is None:
        return Project(name, None), diags
    problems = schema.check(doc, definition="project")
    if not isinstance(doc.data, dict):
        return Project(name, None), diags + problems
    # A typo is reported on its line; the project's other keys still apply to the specs.
    kept = without(doc.data, {d.path for d in problems if d.code != "required"})
    if not isinstance(kept, dict):  # refused as a whole: no defaults apply
        return Project(name, None), diags + problems
    return Project(name, replace(doc, data=kept)), diags + problems


def read_spec(path: Path) -> str | Diagnostic:
    """A spec's text, or why it can't be read as one located error: one unreadable file (not UTF-8, a link out
    of the repository) must not hide the other files' problems, in validate as in fmt."""
    try:
        return files.read_user_file(path)
    except UsageError as exc:
        start = Position(1, 1)
        return Diagnostic(Severity.ERROR, "read-error", exc.message, files.display(path), Span(start, start))


def load_specs(paths: list[Path]) -> Loaded:
    """Read and check every spec under `paths`; report all problems at once."""
    projects: dict[Path, Project] = {}
    diagnostics: list[Diagnostic] = []
    specs: list[FineTuneSpec] = []
    spec_files = files.discover(paths)
    # A folder without specs still has a project (its portal and cluster matter to prune).
    for folder in paths:
        project_path = files.find_project_file(folder) if folder.is_dir() else None
        if project_path is not None and project_path not in projects:
            projects[project_path], problems = load_project(project_path)
            diagnostics += problems
    found_in: dict[Path, Path | None] = {}  # one walk up per folder, not per spec
    for path in spec_files:
        if path.parent not in found_in:
            found_in[path.parent] = files.find_project_file(path)
        project_path = path if path.name == files.PROJECT_FILE else found_in[path.parent]
        project = None
        if project_path is not None:
            if project_path not in projects:
                projects[project_path], problems = load_project(project_path)
                diagnostics += problems
            project = projects[project_path]
        if path == project_path:
            continue
        text = read_spec(path)
        if isinstance(text, Diagnostic):
            diagnostics.append(text)
            continue
        spec, diags = check_text(text, files.display(path), project)
        diagnostics += diags
        if spec is not None:
            specs.append(spec)
    diagnostics += _duplicate_names(specs)
    return Loaded(
        tuple(specs),
        Report.of(diagnostics),
        tuple(projects.values()),
        tuple(files.display(p) for p in spec_files if p.name != files.PROJECT_FILE),
    )


def _duplicate_names(specs: list[FineTuneSpec]) -> list[Diagnostic]:
    """Two files with one `name` would fight over the same jobs."""
    first: dict[str, FineTuneSpec] = {}
    out: list[Diagnostic] = []
    for spec in specs:
        if spec.name in first:
            other = first[spec.name]
            span = spec.origin.span(("name",)) if spec.origin else None
            out.append(
                Diagnostic(
                    Severity.ERROR,
                    "duplicate-name",
                    f"spec name `{spec.name}` is also used by {other.file}; names identify jobs",
                    spec.file,
                    span,
                    ("name",),
                )
            )
        first.setdefault(spec.name, spec)
    return out
