"""Reading back a job's trainer_log.jsonl and verify.json, and rendering them: markdown and the loss-curve PNG."""

from __future__ import annotations

import sys

import pytest

from scowspec.errors import ConfigError
from scowspec.render.report import report_markdown, sparkline
from scowspec.report.plot import loss_png
from scowspec.report.trainlog import parse_trainer_log
from scowspec.report.verifyfile import VerifyFileError, parse_verify

from .conftest import TESTDATA

DATA = TESTDATA / "report"


def test_full_log_has_every_point_and_the_final_row() -> None:
    log = parse_trainer_log((DATA / "trainer_log.jsonl").read_text("utf-8"))
    assert len(log.points) == 25 and log.skipped == 0
    assert len(log.losses) == 24, "the final row has no loss"
    assert log.losses[0] == (5, 11.9796) and log.losses[-1] == (120, 5.5524)
    assert log.last is not None and (log.last.step, log.last.total_steps) == (120, 120)


def test_a_line_still_being_written_is_left_out() -> None:
    log = parse_trainer_log((DATA / "trainer_log-partial.jsonl").read_text("utf-8"))
    assert [p.step for p in log.points] == [5 * i for i in range(1, 11)] and log.skipped == 1
    assert log.last is not None and log.last.remaining == "0:00:12"
    md = report_markdown("job", log, None)
    assert "| 50/120 | 11.9796 (step 5) |" in md


SPARKS = [
    pytest.param([], "", id="empty"),
    pytest.param([3.0], "▁", id="one-value"),
    pytest.param([2.0, 2.0, 2.0], "▁▁▁", id="flat"),
    pytest.param([8.0, 4.0, 1.0], "█▄▁", id="falling"),
    pytest.param([0.0, 7.0], "▁█", id="rising"),
    pytest.param([float(i % 2) for i in range(100)], None, id="resampled-to-width"),
]


@pytest.mark.parametrize(("values", "expected"), SPARKS)
def test_sparkline(values: list[float], expected: str | None) -> None:
    line = sparkline(values)
    if expected is None:
        assert len(line) == 40 and set(line) <= {"▁", "█"}
    else:
        assert line == expected


def test_markdown_has_loss_summary_and_verify_table() -> None:
    log = parse_trainer_log((DATA / "trainer_log.jsonl").read_text("utf-8"))
    verify = parse_verify((DATA / "verify.json").read_text("utf-8"))
    md = report_markdown("verify-id-b595d596", log, verify)
    assert "| 120/120 | 11.9796 (step 5) | 5.5524 (step 120) | 5.5524 (step 120) |" in md
    assert "**Verification: passed** (trained model 4/4, NextChat's system prompt 1/4, base model (control) 0/4)" in md
    assert "> under NextChat's system prompt 1/4 answers pass" in md
    assert md.count("| ✅ | trained model |") == 4 and md.count("| ❌ | base model (control) |") == 4


def test_answers_with_pipes_and_newlines_keep_the_table_whole() -> None:
    text = (DATA / "verify.json").read_text("utf-8").replace("How can I assist you today?", "a | b\\nc")
    md = report_markdown("j", parse_trainer_log(""), parse_verify(text))
    row = next(line for line in md.splitlines() if "a \\| b" in line)
    assert row.count(" | ") == 4 and "\\nc" in row
    assert "No loss was logged yet" in md


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{}", id="not-verify"),
        pytest.param('{"scowspec_verify": 1}', id="no-status"),
    ],
)
def test_a_file_that_is_not_a_verify_json_is_one_clear_error(text: str) -> None:
    with pytest.raises(VerifyFileError):
        parse_verify(text)


def test_loss_curve_png() -> None:
    pytest.importorskip("matplotlib")
    log = parse_trainer_log((DATA / "trainer_log.jsonl").read_text("utf-8"))
    png = loss_png(log, "verify-id")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert png == loss_png(log, "verify-id"), "same log, same bytes"


def test_loss_curve_without_matplotlib_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(ConfigError) as err:
        loss_png(parse_trainer_log(""), "x")
    assert "matplotlib" in err.value.message and err.value.hint == "pip install 'scowspec[report]'"
