"""RobustStrategy on a real local Flower deployment with one Byzantine client, against its in-process twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from securecompute import cli
from securecompute.federated.deploy import training
from securecompute.federated.deploy.commands import run_robust_deployment
from securecompute.federated.deploy.processes import leftover_processes

SETTING = {"steps": 5, "lr": 0.5, "seed": 0}
ROUNDS, CLIENTS, BYZANTINE = 2, 3, {2}


def test_twin_shows_the_attack_breaks_the_mean_not_the_median() -> None:
    _, median = training.twin(ROUNDS, CLIENTS, BYZANTINE, "median", **SETTING)
    _, mean = training.twin(ROUNDS, CLIENTS, BYZANTINE, "mean", **SETTING)
    _, clean = training.twin(ROUNDS, CLIENTS, set(), "mean", **SETTING)
    assert mean[-1] < 0.3 < 0.8 < median[-1]
    assert abs(median[-1] - clean[-1]) < 0.05


def test_robust_command_refuses_too_few_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deploy", "robust", "--nodes", "2"]) != 0
    assert "--nodes must be >= 3" in capsys.readouterr().err


@pytest.mark.deploy
def test_deployed_robust_training_equals_its_twin(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = run_robust_deployment(
        nodes=CLIENTS, rounds=ROUNDS, aggregator="median", workdir=str(tmp_path), say=lines.append
    )
    assert leftover_processes(outcome["marker"]) == []
    params, accuracies = training.twin(ROUNDS, CLIENTS, BYZANTINE, "median", **SETTING)
    # the same weights: every client's reply, the Byzantine one included, went through Flower and the median
    np.testing.assert_allclose(outcome["params"], params, rtol=0, atol=1e-12)
    assert outcome["accuracy"] == accuracies == outcome["twin"]
    assert lines[-1] == "stopped every process"
    assert len([line for line in lines if line.startswith("round ")]) == ROUNDS
