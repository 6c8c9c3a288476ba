"""The demo tour: it runs, lists unlanded capabilities honestly and writes its report files."""

from __future__ import annotations

import importlib.util
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
    assert [row for row in report.rows if row.failed] == []


def test_tour_runs_frag_on_a_flower_deployment(report: TourReport) -> None:
    (row,) = [row for row in report.rows if row.capability == "deploy"]
    if importlib.util.find_spec("flwr") is None:
        assert row.outcome == "not available"
        return
    # the deployed hits' scores equal numpy's exact top-5, or the step ran out of its bound and said so
    assert row.outcome == "top-5 = exact" or row.timed_out, row
    assert "every process stopped" in row.detail


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


def test_report_says_when_where_and_with_how_many_threads(report: TourReport) -> None:
    about = json.loads((report.directory / "summary.json").read_text())["about"]
    assert set(about) == {"securecompute", "date", "machine", "python", "BLAS threads", "tour"}
    assert "1 inside" in about["BLAS threads"]
    page = (report.directory / "index.html").read_text()
    assert "BLAS threads" in page
    assert "CPUs" in page


def test_report_has_frag_and_zk_figures_and_links(report: TourReport) -> None:
    names = [name for name, _ in report.figures]
    assert {"frag_recall.png", "zk_scaling.png", "cross_ntt.png"} <= set(names)
    page = (report.directory / "index.html").read_text()
    for path in ("protocols/frag.md", "protocols/zkrelu.md", "examples/frag_search.ipynb"):
        assert path in page
    assert page.count("<figure>") == len(names)


def test_an_unwritable_report_folder_fails_before_the_tour(tmp_path: Path) -> None:
    from securecompute.errors import ParameterError

    occupied = tmp_path / "file"
    occupied.write_text("")
    with pytest.raises(ParameterError, match="is an existing file"):
        run_tour(occupied)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no folder can be made")
def test_a_report_folder_that_cannot_be_made_is_refused_before_the_tour() -> None:
    from securecompute.errors import ParameterError

    # as root the permission check passes and mkdir itself is refused: still one named error, no step run
    with pytest.raises(ParameterError, match="'/proc/securecompute-report'"):
        run_tour("/proc/securecompute-report")
