"""The demo tour: it runs, lists unlanded capabilities honestly and writes its report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securecompute.capabilities import CAPABILITIES
from securecompute.cli import main
from securecompute.demo import TourReport, run_tour


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> TourReport:
    return run_tour(tmp_path_factory.mktemp("tour") / "report")


def test_tour_writes_summary_files(report: TourReport) -> None:
    for name in ("summary.json", "summary.md", "index.html"):
        assert (report.directory / name).is_file()
    rows = json.loads((report.directory / "summary.json").read_text())["rows"]
    assert len(rows) == len(report.rows)
    for name, _ in report.figures:
        assert (report.directory / name).stat().st_size > 1000


def test_no_tour_check_fails(report: TourReport) -> None:
    failures = [row for row in report.rows if row.outcome.startswith(("FAILED", "MISMATCH", "NOT DETECTED"))]
    assert failures == []


def test_tour_foundation_checks_pass(report: TourReport) -> None:
    foundation = {row.check: row.outcome for row in report.rows if row.capability == "foundation"}
    assert foundation["envelope round trip"] == "ok"
    assert foundation["envelope with one flipped bit"].startswith("rejected")
    assert foundation["authenticated channel"] == "ok"
    assert foundation["channel frame with one flipped bit"].startswith("rejected")


def test_tour_lists_every_capability(report: TourReport) -> None:
    listed = {row.capability for row in report.rows}
    assert {capability.key for capability in CAPABILITIES} <= listed
    for capability in CAPABILITIES:
        if not capability.available:
            assert any(row.capability == capability.key and row.outcome == "not yet available" for row in report.rows)


@pytest.mark.slow
def test_demo_command_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "capability" in out
    assert "index.html" in out
