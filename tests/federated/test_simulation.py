"""run_byzantine: determinism, learning, robustness ordering under IPM, NaN workers, preconditions, plots."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.models import LogisticRegression
from securecompute.federated.simulation import LocalExecutor, WorkerState, WorkerTask, run_byzantine, worker_step

T = TypeVar("T")
R = TypeVar("R")


def test_same_seed_same_history_other_seed_differs() -> None:
    first = run_byzantine("flag", "alie", steps=15, seed=4, eval_every=5)
    second = run_byzantine("flag", "alie", steps=15, seed=4, eval_every=5)
    assert first.steps == second.steps == [0, 5, 10, 15]
    assert first.accuracy == second.accuracy
    assert first.loss == second.loss
    assert run_byzantine("flag", "alie", steps=15, seed=5, eval_every=5).loss != first.loss


def test_mean_without_attack_learns_digits() -> None:
    history = run_byzantine("mean", "none", steps=80)
    assert history.final_accuracy > 0.8
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.accuracy[0] < 0.3
    assert history.byzantine_detected == 0
    assert len(history.dropped) == 80
    assert history.aggregation_seconds > 0
    assert history.aggregation_seconds_per_step == pytest.approx(history.aggregation_seconds / 80)


def test_mlp_learns_iid_digits() -> None:
    history = run_byzantine("mean", "none", steps=80, alpha=None, model="mlp")
    assert history.final_accuracy > 0.8


def test_ipm_ten_breaks_the_mean_but_not_the_robust_rules() -> None:
    attack = {"epsilon": 10.0}
    accuracy = {
        rule: run_byzantine(rule, "ipm", steps=100, attack_params=attack).final_accuracy
        for rule in ("mean", "median", "trimmed_mean", "flag")
    }
    assert accuracy["mean"] < 0.3
    for rule in ("median", "trimmed_mean", "flag"):
        assert accuracy[rule] > accuracy["mean"] + 0.25, accuracy


def test_nan_workers_are_dropped_and_counted() -> None:
    history = run_byzantine("trimmed_mean", "nan_inf", steps=20, byzantine=3)
    assert history.dropped == [3] * 20
    assert history.byzantine_detected == 60
    assert np.isfinite(history.loss).all()
    assert history.final_accuracy > 0.5
    inf = run_byzantine("mean", "nan_inf", steps=5, attack_params={"value": "-inf"})
    assert inf.byzantine_detected == 15
    assert np.isfinite(inf.loss).all()


def test_label_flip_trains_the_byzantine_workers_on_flipped_labels() -> None:
    history = run_byzantine("mean", "label_flip", steps=60)
    clean = run_byzantine("mean", "none", steps=60)
    assert history.byzantine_detected == 0
    assert history.loss != clean.loss
    assert history.final_accuracy > 0.6


def test_no_attack_with_zero_byzantine_and_krum_needs_enough_workers() -> None:
    assert run_byzantine("krum", "none", workers=5, byzantine=0, steps=5).final_accuracy >= 0
    with pytest.raises(ParameterError, match="2f \\+ 3"):
        run_byzantine("krum", "alie", workers=8, byzantine=3, steps=5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"workers": 6, "byzantine": 3}, "f < n/2"),
        ({"aggregator": "nope"}, "unknown aggregator"),
        ({"attack": "nope"}, "unknown attack"),
        ({"model": "cnn"}, "unknown model"),
        ({"steps": 0}, "steps"),
        ({"alpha": -1.0}, "alpha"),
        ({"momentum": 1.0}, "momentum"),
        ({"lr": 0.0}, "lr"),
        ({"seed": -1}, "seed"),
        ({"byzantine": 0}, "byzantine >= 1"),
        ({"attack": "none", "attack_params": {"epsilon": 1.0}}, "without an attack"),
        ({"aggregator": "flag", "aggregator_params": {"f": 3}}, "does not take f"),
        ({"aggregator": "bulyan", "workers": 14}, "4f \\+ 3"),
    ],
)
def test_preconditions_are_checked_before_any_work(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        run_byzantine(**({"steps": 3} | arguments))


def test_krum_after_dropping_nan_workers_is_checked_up_front() -> None:
    # krum needs n >= 2f + 3: 9 workers with f = 3 pass, but 6 finite vectors after dropping 3 do not.
    with pytest.raises(ParameterError, match="2f \\+ 3"):
        run_byzantine("krum", "nan_inf", workers=9, byzantine=3, steps=3)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    history = run_byzantine("median", "sign_flip", steps=10, eval_every=2)
    figure = history.plot(path=tmp_path / "curves.png")
    assert len(figure.axes) == 2
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "median vs sign_flip" in history.summary()


class RecordingExecutor:
    """An executor that counts its calls, standing in for a remote one."""

    def __init__(self) -> None:
        self.calls = 0

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        self.calls += 1
        return LocalExecutor().map(fn, items)


def test_custom_executor_is_used_and_gives_the_same_history() -> None:
    executor = RecordingExecutor()
    remote = run_byzantine("mean", "ipm", steps=6, executor=executor)
    local = run_byzantine("mean", "ipm", steps=6)
    assert executor.calls == 6
    assert remote.loss == local.loss
    assert remote.settings["executor"] == "RecordingExecutor"


def test_worker_step_is_a_function_of_its_task() -> None:
    model = LogisticRegression(4, 3)
    rng = np.random.default_rng(0)
    state = WorkerState(0, rng.normal(size=(10, 4)), rng.integers(0, 3, 10), np.zeros(model.size), rng)
    params = np.zeros(model.size)
    new_state, vector = worker_step(WorkerTask(state, params, model, batch_size=32, beta=0.9))
    full_gradient = model.gradient(params, state.x, state.y)  # 10 rows <= batch: the whole data
    assert np.allclose(vector, 0.1 * full_gradient)
    assert np.array_equal(new_state.momentum, vector)
    assert not np.any(state.momentum)
