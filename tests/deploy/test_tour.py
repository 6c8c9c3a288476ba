"""The demo tour's deployment step: bounded, and stopped cleanly when its bound runs out.

The step's normal run (FRAG on 3 SuperNodes against numpy's exact top-5) is checked by the tour
itself in ``tests/test_demo.py``; here its bound is too short to finish.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from securecompute.demo import TourReport
from securecompute.federated.deploy.commands import tour_step

pytestmark = pytest.mark.deploy


def test_a_step_past_its_bound_is_reported_timed_out_and_stops_everything(tmp_path: Path) -> None:
    report = TourReport(tmp_path)
    started = time.monotonic()
    tour_step(report, budget=3.0)
    assert time.monotonic() - started < 3.0 + 20.0  # the bound, then at most one stop (15 s per group)
    (row,) = report.rows
    assert row.capability == "deploy"
    assert row.outcome == "TIMED OUT after 3 s"
    # the step checked its deployment's process marker after stopping: nothing of it is left
    assert "every process stopped" in row.detail
    assert not row.failed  # shown, not counted as a failed check: the machine was too slow, not the protocol wrong


def test_the_step_is_bounded_in_a_thread_too(tmp_path: Path) -> None:
    """No SIGALRM outside the main thread: a timer aborts the deployment, and the row still says TIMED OUT."""
    report = TourReport(tmp_path)
    errors: list[BaseException] = []

    def step() -> None:
        try:
            tour_step(report, budget=3.0)
        except BaseException as error:
            errors.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=step)
    thread.start()
    thread.join(60.0)
    assert not thread.is_alive()
    assert errors == []
    assert time.monotonic() - started < 3.0 + 20.0
    (row,) = report.rows
    assert row.outcome == "TIMED OUT after 3 s", row
    assert "every process stopped" in row.detail
