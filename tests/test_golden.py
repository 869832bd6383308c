"""Golden payloads: every spec in specs/ compiles (against the sandbox portal) to exactly its golden file,
one per portal generation (`NAME.json` for main, `NAME.0.5.4.json` for the release)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scowspec.compile.service import compile_loaded
from scowspec.pipeline import load_specs
from scowspec.portal.client import PortalClient
from scowspec.portal.profile import Generation
from scowspec.portal.settings import PortalSettings
from scowspec.render.report import report_markdown
from scowspec.report.trainlog import parse_trainer_log
from scowspec.report.verifyfile import parse_verify
from scowspec.sandbox.server import SandboxServer

from .conftest import ROOT, TOKEN

SPECS = sorted((ROOT / "specs").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_spec_compiles_to_golden_payload(
    spec: Path, sandbox: SandboxServer, generation: Generation, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    client = PortalClient(PortalSettings(sandbox.url, TOKEN))
    result = compile_loaded(load_specs([spec.relative_to(ROOT)]), client)
    assert result.report.ok, result.report
    text = json.dumps(result.jobs[0].payload, indent=2, ensure_ascii=False) + "\n"
    suffix = "" if generation is Generation.MAIN else f".{generation.value}"
    golden = GOLDEN / f"{spec.stem}{suffix}.json"
    if update_golden:
        golden.write_text(text, "utf-8")
    assert golden.is_file(), f"no golden file {golden.name}: run `make golden`"
    assert text == golden.read_text("utf-8")


def test_compile_is_deterministic(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    client = PortalClient(PortalSettings(sandbox.url, TOKEN))
    first = compile_loaded(load_specs([Path("specs")]), client)
    second = compile_loaded(load_specs([Path("specs")]), client)
    dump = [json.dumps(j.payload, sort_keys=True) for j in first.jobs]
    assert dump == [json.dumps(j.payload, sort_keys=True) for j in second.jobs]
    assert len(first.jobs) == len(SPECS)


def test_report_markdown_is_golden(update_golden: bool) -> None:
    """The pull-request report of GPU-proof data (tests/testdata/report: wall-scowspec's losses, verify-id's answers)."""
    data = ROOT / "tests" / "testdata" / "report"
    log = parse_trainer_log((data / "trainer_log.jsonl").read_text("utf-8"))
    verify = parse_verify((data / "verify.json").read_text("utf-8"))
    text = report_markdown("gpu-proof-example", log, verify)
    golden = GOLDEN / "report-gpu-proof-example.md"
    if update_golden:
        golden.write_text(text, "utf-8")
    assert text == golden.read_text("utf-8")
