"""The spec corpus: every `# ERROR:`/`# WARNING:` marker must be matched by a diagnostic on its line, and
no line without a marker may carry one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scowspec.diagnostics import Diagnostic, Severity
from scowspec.pipeline import load_specs

from .conftest import TESTDATA

# A line may carry several markers: `x: 1  # ERROR: one  # WARNING: other`.
MARKER = re.compile(r"#\s*(ERROR|WARNING):\s*(.+?)\s*(?=#\s*(?:ERROR|WARNING):|$)")
INVALID = sorted(p for p in (TESTDATA / "invalid").rglob("*.yaml") if p.name != "scowspec.yaml")
VALID = sorted((TESTDATA / "valid").glob("*.yaml"))


def _markers(path: Path) -> dict[tuple[int, str], list[str]]:
    found: dict[tuple[int, str], list[str]] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        for m in MARKER.finditer(line):
            found.setdefault((number, m.group(1).lower()), []).append(m.group(2))
    return found


@pytest.mark.parametrize("path", INVALID, ids=lambda p: str(p.relative_to(TESTDATA / "invalid")))
def test_invalid_spec_diagnostics_match_markers(path: Path) -> None:
    loaded = load_specs([path])
    assert not loaded.report.ok
    for d in loaded.report.diagnostics:
        assert d.span is not None, f"diagnostic without a location: {d}"
    for file in {path, path.parent / "scowspec.yaml"}:
        if file.exists():
            _check_markers(file, loaded.report.diagnostics)


def _check_markers(path: Path, diagnostics: tuple[Diagnostic, ...]) -> None:
    name = str(path)
    got: dict[tuple[int, str], list[str]] = {}
    for d in diagnostics:
        if d.span is not None and Path(d.file).resolve() == path.resolve():
            got.setdefault((d.span.start.line, d.severity.value), []).append(d.message)
    expected = _markers(path)
    assert set(got) == set(expected), f"{name}: lines with diagnostics {sorted(got)} != marked lines {sorted(expected)}"
    for where, summaries in expected.items():
        for summary in summaries:
            assert any(summary.lower() in msg.lower() for msg in got[where]), (
                f"{name}:{where[0]}: no message contains {summary!r}: {got[where]}"
            )


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_specs_have_no_errors(path: Path) -> None:
    loaded = load_specs([path])
    assert [d for d in loaded.report.diagnostics if d.severity is Severity.ERROR] == []
    assert len(loaded.specs) == 1
    _check_markers(path, loaded.report.diagnostics)  # warnings, where a valid spec has them, are marked too


def test_every_problem_in_every_file_is_reported_at_once() -> None:
    loaded = load_specs([TESTDATA / "invalid"])
    files = {Path(d.file).resolve() for d in loaded.report.errors}
    # A spec beside a broken scowspec.yaml may be fine itself (project-typo/: its other keys still apply).
    files |= {p.resolve() for p in INVALID if (p.parent / "scowspec.yaml").resolve() in files}
    assert {p.resolve() for p in INVALID} <= files, "each invalid file contributes errors in one run"
    assert len(loaded.report.errors) >= 50


def test_each_problem_is_reported_once() -> None:
    loaded = load_specs([TESTDATA / "invalid"])
    said = [(d.file, d.span, d.code, d.message) for d in loaded.report.diagnostics]
    repeated = {s for s in said if said.count(s) > 1}
    assert not repeated, f"reported more than once: {sorted(map(str, repeated))[:3]}"
