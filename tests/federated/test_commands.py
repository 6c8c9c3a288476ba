"""The ``simulate byzantine`` command through the CLI's own parser class, and the demo tour step."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from securecompute.cli import UsageError, _Parser
from securecompute.demo import TourReport
from securecompute.errors import ParameterError
from securecompute.federated.commands import parse_params, register_commands, tour_step


def parse(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="securecompute")
    commands = parser.add_subparsers(dest="command")
    register_commands(commands)
    return parser.parse_args(argv)


def test_simulate_byzantine_prints_a_summary_and_writes_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "run.png"
    options = parse(
        ["simulate", "byzantine", "--aggregator", "flag", "--attack", "alie", "--workers", "15", "--byzantine", "3",
         "--steps", "20", "--plot", str(target)]
    )  # fmt: skip
    assert options.handler(options) == 0
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0
    assert "flag vs alie" in line
    assert "final accuracy" in line
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_parameters_reach_the_rule_and_the_attack(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse(
        ["simulate", "byzantine", "--aggregator", "flag", "--aggregator-param", "rescale=true",
         "--aggregator-param", "m=4", "--attack", "ipm", "--attack-param", "epsilon=10", "--steps", "5",
         "--alpha", "0"]
    )  # fmt: skip
    assert options.handler(options) == 0
    assert ", IID," in capsys.readouterr().out  # not "alpha=None"


def test_bad_input_is_a_parameter_error() -> None:
    options = parse(["simulate", "byzantine", "--workers", "4", "--byzantine", "2"])
    with pytest.raises(ParameterError, match="f < n/2"):
        options.handler(options)
    with pytest.raises(ParameterError, match="KEY=VALUE"):
        parse_params(["m8"], "--aggregator-param")
    with pytest.raises(UsageError):
        parse(["simulate"])


def test_parse_params_reads_numbers_and_booleans() -> None:
    assert parse_params(["m=8", "lam=0.5", "rescale=True", "value=-inf", "seed=none"], "--x") == {
        "m": 8,
        "lam": 0.5,
        "rescale": True,
        "value": "-inf",
        "seed": None,
    }


def test_tour_step_adds_rows_and_a_figure(tmp_path: Path) -> None:
    report = TourReport(tmp_path)
    tour_step(report)
    assert len(report.rows) == 6
    assert all(row.capability == "federated" for row in report.rows)
    accuracy = {row.check: float(row.outcome.split()[-1]) for row in report.rows[:4]}
    assert (
        accuracy["flag aggregation, IPM epsilon=10, f=3 of 15"]
        > accuracy["mean aggregation, IPM epsilon=10, f=3 of 15"]
    )
    reached = {row.check.split(":")[1].split(",")[0].strip(): row.outcome for row in report.rows[4:]}
    assert set(reached) == {"fedavg", "fedfix(dt=0.2)"}
    fedavg_at, fedfix_at = (float(reached[key].split()[-1]) for key in ("fedavg", "fedfix(dt=0.2)"))
    assert fedfix_at < fedavg_at  # FedFix reaches 85% sooner in virtual time
    assert len(report.figures) == 2
    for name, _ in report.figures:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
