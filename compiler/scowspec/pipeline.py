"""load → validate → model for many files: the offline front half every command shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scowspec.diagnostics import Diagnostic, Position, Report, Severity, Span
from scowspec.errors import UsageError
from scowspec.load import files
from scowspec.load.document import Document
from scowspec.load.yamlfile import parse
from scowspec.model.build import build
from scowspec.model.effective import merge
from scowspec.model.spec import FineTuneSpec
from scowspec.validate import rules, schema, serving_rules, verify_rules
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


@dataclass(frozen=True)
class Loaded:
    """The outcome of loading many specs: the valid ones, and every diagnostic."""

    specs: tuple[FineTuneSpec, ...]
    report: Report
    projects: tuple[Project, ...]
    files: tuple[str, ...]


def check_text(text: str, file: str, project: Project | None) -> tuple[FineTuneSpec | None, list[Diagnostic]]:
    """Pure: one spec's text (and its project defaults) → a FineTuneSpec or diagnostics."""
    doc, diags = parse(text, file)
    if doc is None:
        return None, diags
    diags += schema.check(doc)
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    project_doc = project.doc if project else None
    eff = merge(project.defaults if project else {}, doc.data)
    ctx = RuleContext(doc, project_doc, eff, key_table())
    diags += rules.check(ctx) + verify_rules.check(ctx) + serving_rules.check(ctx)
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    return build(file, eff, doc), diags


def load_project(path: Path) -> tuple[Project, list[Diagnostic]]:
    name = files.display(path)
    doc, diags = parse(files.read_text(path), name)
    if doc is None:
        return Project(name, None), diags
    problems = schema.check(doc, definition="project")
    return Project(name, None if problems else doc), diags + problems


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
        try:
            text = files.read_text(path)
        except UsageError as exc:  # one unreadable file must not hide the others' problems
            start = Position(1, 1)
            diagnostics.append(
                Diagnostic(Severity.ERROR, "read-error", exc.message, files.display(path), Span(start, start))
            )
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
