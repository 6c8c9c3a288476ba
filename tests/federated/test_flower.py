"""RobustStrategy: our aggregators as a Flower (Message API) strategy, tested on hand-built replies."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.errors import DependencyMissingError, ParameterError, ProtocolError

flwr = pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from flwr.app import (  # noqa: E402
    Array,
    ArrayRecord,
    ConfigRecord,
    Error,
    Message,
    MessageType,
    Metadata,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp.strategy import FedAvg  # noqa: E402

from securecompute.federated import flower  # noqa: E402
from securecompute.federated.flower import (  # noqa: E402
    METRIC_DROPPED_MISMATCH,
    METRIC_DROPPED_NONFINITE,
    METRIC_FAILURES,
    METRIC_REPLIES_USED,
    RobustStrategy,
    median_metricrecords,
    robust_strategy,
)

SHAPES = {"w": (2, 3), "b": (3,)}


def _record(vector: np.ndarray, dtype: Any = np.float32, shapes: dict[str, tuple[int, ...]] = SHAPES) -> ArrayRecord:
    arrays: dict[str, Array] = {}
    start = 0
    for key, shape in shapes.items():
        size = int(np.prod(shape))
        arrays[key] = Array(np.asarray(vector[start : start + size], dtype=dtype).reshape(shape))
        start += size
    return ArrayRecord(arrays)


def _metadata(node: int) -> Metadata:
    # A reply as the SuperLink delivers it (Message(..., reply_to=...) needs a running Flower task identity).
    return Metadata(
        run_id=1,
        message_id=f"reply-{node}",
        src_node_id=node,
        dst_node_id=0,
        reply_to_message_id=f"instruction-{node}",
        group_id="1",
        created_at=time.time(),
        ttl=3600.0,
        message_type=MessageType.TRAIN,
    )


def _reply(node: int, arrays: ArrayRecord, examples: int = 10, loss: float = 0.5) -> Message:
    content = RecordDict({"arrays": arrays, "metrics": MetricRecord({"num-examples": examples, "loss": loss})})
    return Message(content, metadata=_metadata(node))


def _flat(arrays: ArrayRecord) -> np.ndarray:
    return np.concatenate([arrays[key].numpy().astype(np.float64).ravel() for key in SHAPES])


def _strategy(aggregator: Any = "mean", params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    strategy = RobustStrategy(aggregator, params, **kwargs)
    strategy.current_arrays = _record(GLOBAL)
    return strategy


D = 9
GLOBAL = np.linspace(-1.0, 1.0, D)


def _honest(n: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return GLOBAL + scale * np.random.default_rng(seed).standard_normal((n, D))


def test_mean_is_the_unweighted_mean_and_ignores_a_lying_example_count() -> None:
    weights = _honest(5)
    counts = [10, 20, 30, 40, 10**9]  # the last client claims a billion examples
    replies = [_reply(i, _record(w), examples=c) for i, (w, c) in enumerate(zip(weights, counts, strict=True))]

    arrays, metrics = _strategy("mean").aggregate_train(1, replies)
    expected = weights.astype(np.float32).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(_flat(arrays), expected, atol=1e-6)
    assert metrics[METRIC_REPLIES_USED] == 5

    # Flower's FedAvg weights by the claimed count: the liar's model is (almost) the whole aggregate.
    fedavg_arrays, _ = FedAvg().aggregate_train(1, replies)
    np.testing.assert_allclose(_flat(fedavg_arrays), weights[-1], atol=1e-5)
    assert np.max(np.abs(_flat(fedavg_arrays) - expected)) > 1e-2

    # Changing the claimed counts does not move our aggregate at all.
    honest_counts = [_reply(i, _record(w), examples=1) for i, w in enumerate(weights)]
    same, _ = _strategy("mean").aggregate_train(1, honest_counts)
    np.testing.assert_array_equal(_flat(same), _flat(arrays))


def test_median_equals_numpy_coordinate_median() -> None:
    weights = _honest(7, seed=3).astype(np.float32)
    replies = [_reply(i, _record(w)) for i, w in enumerate(weights)]
    arrays, _ = _strategy("median").aggregate_train(2, replies)
    np.testing.assert_allclose(_flat(arrays), np.median(weights.astype(np.float64), axis=0), atol=1e-6)


def test_output_keeps_keys_shapes_and_dtypes_of_the_global_arrays() -> None:
    replies = [_reply(i, _record(w)) for i, w in enumerate(_honest(4))]
    arrays, _ = _strategy("median").aggregate_train(1, replies)
    assert list(arrays.keys()) == list(SHAPES)
    for key, shape in SHAPES.items():
        values = arrays[key].numpy()
        assert values.shape == shape
        assert values.dtype == np.float32


def test_the_aggregator_sees_deltas_against_the_global_arrays() -> None:
    seen: list[np.ndarray] = []

    def smallest_delta(updates: np.ndarray) -> np.ndarray:
        seen.append(updates.copy())
        return np.asarray(updates[np.argmin(np.linalg.norm(updates, axis=1))])

    weights = _honest(4, seed=1).astype(np.float32).astype(np.float64)
    replies = [_reply(i, _record(w)) for i, w in enumerate(weights)]
    arrays, _ = _strategy(smallest_delta).aggregate_train(1, replies)

    reference = GLOBAL.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(seen[0], weights - reference, atol=1e-12)
    closest = weights[np.argmin(np.linalg.norm(weights - reference, axis=1))]
    np.testing.assert_allclose(_flat(arrays), closest, atol=1e-6)


@pytest.mark.parametrize(
    ("aggregator", "params"),
    [("median", None), ("flag", {"m": 2}), ("trimmed_mean", {"f": 1}), ("nnm+trimmed_mean", {"f": 1})],
)
def test_a_huge_byzantine_reply_is_neutralised(aggregator: str, params: dict[str, Any] | None) -> None:
    # Honest deltas share a direction (as in training) with client noise around it.
    honest = GLOBAL + 0.5 * np.ones(D) / 3 + _honest(9, seed=4, scale=0.05) - GLOBAL
    byzantine = GLOBAL + 1e6
    replies = [_reply(i, _record(w)) for i, w in enumerate(honest)] + [_reply(99, _record(byzantine), examples=10**9)]

    robust, _ = _strategy(aggregator, params).aggregate_train(1, replies)
    honest_mean = honest.mean(axis=0)
    spread = np.max(np.linalg.norm(honest - honest_mean, axis=1))
    assert np.linalg.norm(_flat(robust) - honest_mean) <= 2 * spread

    mean, _ = _strategy("mean").aggregate_train(1, replies)
    assert np.linalg.norm(_flat(mean) - honest_mean) > 1e4


def test_flag_keeps_the_scale_of_the_deltas_unless_told_otherwise() -> None:
    assert _strategy("flag").aggregator.rescale is True
    assert _strategy("nnm+flag", {"f": 1}).aggregator.rule.rescale is True
    assert _strategy("flag", {"rescale": False}).aggregator.rescale is False
    step = 0.5 * np.ones(D) / 3
    replies = [_reply(i, _record(w)) for i, w in enumerate(GLOBAL + step + _honest(9, seed=8, scale=0.02) - GLOBAL)]
    rescaled, _ = _strategy("flag", {"m": 2}).aggregate_train(1, replies)
    paper, _ = _strategy("flag", {"m": 2, "rescale": False}).aggregate_train(1, replies)
    assert np.linalg.norm(_flat(rescaled) - GLOBAL) == pytest.approx(np.linalg.norm(step), rel=0.1)
    assert np.linalg.norm(_flat(paper) - GLOBAL) > 3 * np.linalg.norm(step)  # (1/m) x sum of 9 unit vectors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_reply_is_dropped_and_counted(bad: float) -> None:
    weights = _honest(4, seed=2)
    poisoned = weights[0].copy()
    poisoned[3] = bad
    replies = [_reply(0, _record(poisoned))] + [_reply(i, _record(w)) for i, w in enumerate(weights[1:], start=1)]

    arrays, metrics = _strategy("mean").aggregate_train(1, replies)
    np.testing.assert_allclose(_flat(arrays), weights[1:].astype(np.float32).mean(axis=0), atol=1e-6)
    assert metrics[METRIC_DROPPED_NONFINITE] == 1
    assert metrics[METRIC_REPLIES_USED] == 3
    assert metrics[METRIC_DROPPED_MISMATCH] == 0


def _mismatched_contents() -> list[RecordDict]:
    good = _honest(1, seed=9)[0]
    wrong_shape = _record(np.zeros(D), shapes={"w": (3, 2), "b": (3,)})
    missing_key = ArrayRecord({"w": Array(np.zeros((2, 3), np.float32))})
    extra_key = ArrayRecord(
        {"w": Array(np.zeros((2, 3), np.float32)), "b": Array(np.zeros(3, np.float32)), "x": Array(np.zeros(1))}
    )
    strings = ArrayRecord({"w": Array(np.full((2, 3), "a")), "b": Array(np.zeros(3, np.float32))})
    garbage = ArrayRecord(
        {"w": Array(dtype="float32", shape=(2, 3), stype="numpy.ndarray", data=b"junk"), "b": Array(np.zeros(3))}
    )
    metrics = MetricRecord({"num-examples": 1})
    return [
        RecordDict({"arrays": wrong_shape, "metrics": metrics}),
        RecordDict({"arrays": missing_key, "metrics": metrics}),
        RecordDict({"arrays": extra_key, "metrics": metrics}),
        RecordDict({"arrays": strings, "metrics": metrics}),
        RecordDict({"arrays": garbage, "metrics": metrics}),
        RecordDict({"a": _record(good), "b": _record(good), "metrics": metrics}),  # two ArrayRecords
        RecordDict({"metrics": metrics}),  # none
    ]


def test_mismatched_replies_are_dropped_and_counted() -> None:
    weights = _honest(3, seed=5)
    contents = _mismatched_contents()
    replies = [Message(content, metadata=_metadata(100 + i)) for i, content in enumerate(contents)]
    replies += [_reply(i, _record(w)) for i, w in enumerate(weights)]

    arrays, metrics = _strategy("mean").aggregate_train(1, replies)
    np.testing.assert_allclose(_flat(arrays), weights.astype(np.float32).mean(axis=0), atol=1e-6)
    assert metrics[METRIC_DROPPED_MISMATCH] == len(contents)
    assert metrics[METRIC_REPLIES_USED] == 3
    # Flower's FedAvg refuses the whole round on the same replies.
    with pytest.raises(Exception, match="ArrayRecord"):
        FedAvg().aggregate_train(1, replies)


def test_error_replies_count_as_failures_and_no_survivor_keeps_the_model() -> None:
    error = Message(Error(code=1, reason="client crashed"), metadata=_metadata(7))
    nan = _reply(8, _record(np.full(D, np.nan)))
    arrays, metrics = _strategy("median").aggregate_train(1, [error, nan])
    assert arrays is None
    assert dict(metrics) == {
        METRIC_REPLIES_USED: 0,
        METRIC_DROPPED_NONFINITE: 1,
        METRIC_DROPPED_MISMATCH: 0,
        METRIC_FAILURES: 1,
    }


def test_training_metrics_are_an_unweighted_median_without_the_example_count() -> None:
    losses = [0.1, 0.2, 0.3, 100.0]
    replies = [_reply(i, _record(GLOBAL), examples=10**9 if i == 3 else 1, loss=loss) for i, loss in enumerate(losses)]
    _, metrics = _strategy("mean").aggregate_train(1, replies)
    assert metrics["loss"] == pytest.approx(0.25)
    assert "num-examples" not in metrics

    lists = [RecordDict({"m": MetricRecord({"acc": [0.1, 0.9], "n": 3, "odd": [1.0]})}) for _ in range(2)]
    lists.append(RecordDict({"m": MetricRecord({"acc": [0.3, 0.5], "n": 4, "odd": [1.0, 2.0]})}))
    combined = median_metricrecords(lists, "n")
    assert combined["acc"] == pytest.approx([0.1, 0.9])
    assert "n" not in combined
    assert combined["odd"] == [1.0]  # the length two of three replies use; the third is counted invalid
    assert combined["robust-metrics-invalid"] == 1


def test_configure_train_remembers_the_global_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    from flwr.supercore.task_identity import TaskIdentity

    for name, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 0)):
        monkeypatch.setattr(TaskIdentity, name, value)

    class StubGrid:
        def get_node_ids(self) -> list[int]:
            return [11, 12, 13]

    strategy = RobustStrategy("median")
    assert strategy.current_arrays is None
    with pytest.raises(ProtocolError, match="configure_train"):
        strategy.aggregate_train(1, [_reply(1, _record(GLOBAL))])

    global_arrays = _record(GLOBAL)
    messages = list(strategy.configure_train(1, global_arrays, ConfigRecord(), StubGrid()))
    assert sorted(message.metadata.dst_node_id for message in messages) == [11, 12, 13]
    assert strategy.current_arrays is global_arrays

    weights = _honest(3, seed=6)
    arrays, _ = strategy.aggregate_train(1, [_reply(i, _record(w)) for i, w in enumerate(weights)])
    assert strategy.current_arrays is arrays


def test_constructor_checks_and_factory() -> None:
    strategy = robust_strategy("krum", {"f": 1}, fraction_evaluate=0.5, min_available_nodes=5)
    assert isinstance(strategy, FedAvg)
    assert isinstance(strategy, RobustStrategy)
    assert strategy.fraction_evaluate == 0.5
    assert strategy.min_available_nodes == 5
    assert flower.RobustStrategy is RobustStrategy
    with pytest.raises(ParameterError):
        RobustStrategy("no_such_rule")
    with pytest.raises(ParameterError):
        RobustStrategy(lambda x: x.mean(axis=0), {"f": 1})
    with pytest.raises(ParameterError):
        RobustStrategy(42)  # type: ignore[arg-type]
    # A rule whose precondition fails on the survivors says so with the numbers.
    replies = [_reply(i, _record(w)) for i, w in enumerate(_honest(3))]
    with pytest.raises(ParameterError, match="3"):
        _strategy("krum", {"f": 1}).aggregate_train(1, replies)


def test_strategy_pickles() -> None:
    strategy = _strategy("centered_clipping", {"tau": 1.0})
    clone = pickle.loads(pickle.dumps(strategy))
    assert type(clone) is RobustStrategy
    np.testing.assert_array_equal(_flat(clone.current_arrays), _flat(strategy.current_arrays))


def test_missing_flower_raises_dependency_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flower, "_STRATEGY_CLASS", None)  # forget the built class (restored afterwards)
    monkeypatch.setitem(sys.modules, "flwr.app", None)  # makes `from flwr.app import ...` raise ImportError
    with pytest.raises(DependencyMissingError, match=r"securecompute\[flower\]"):
        flower.robust_strategy("median")
    with pytest.raises(DependencyMissingError):
        from securecompute.federated.flower import RobustStrategy as _
    assert isinstance(DependencyMissingError("x"), ImportError)
    with pytest.raises(AttributeError):
        _ = flower.NoSuchName


def test_importing_the_module_does_not_import_flower() -> None:
    code = (
        "import sys; import securecompute.federated, securecompute.federated.flower; "
        "assert not any(name == 'flwr' or name.startswith('flwr.') for name in sys.modules), 'flwr imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


SIMULATION = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.simulation import run_simulation
    from securecompute.federated.flower import RobustStrategy

    NODES, ROUNDS = 5, 2
    result = {}
    server = ServerApp()
    client = ClientApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = RobustStrategy("median", fraction_evaluate=0.0, min_available_nodes=NODES, min_train_nodes=NODES)
        initial = ArrayRecord({"w": Array(np.zeros(4, np.float32))})
        run = strategy.start(grid=grid, initial_arrays=initial, num_rounds=ROUNDS)
        result["w"] = run.arrays["w"].numpy().tolist()
        result["metrics"] = {str(k): dict(v) for k, v in run.train_metrics_clientapp.items()}

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        byzantine = int(context.node_config["partition-id"]) == 0
        w = msg.content["arrays"]["w"].numpy()
        new = w + (1e6 if byzantine else 1.0)  # honest clients step by +1; the Byzantine one by 1e6
        metrics = MetricRecord({"num-examples": 10**9 if byzantine else 10, "loss": 1.0})
        return Message(RecordDict({"arrays": ArrayRecord({"w": Array(new)}), "metrics": metrics}), reply_to=msg)

    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=NODES,
        backend_config={"client_resources": {"num_cpus": 1}, "init_args": {"num_cpus": 2}},
    )
    json.dump(result, open(sys.argv[1], "w"))
    """
)


@pytest.mark.slow
@pytest.mark.ray
def test_flower_simulation_end_to_end(tmp_path: Path) -> None:
    """Two rounds of Flower's own simulation (Ray backend), 4 honest clients and 1 Byzantine one.

    Runs in a subprocess: Flower's Ray backend calls ``ray.shutdown()`` when the simulation ends, which would
    stop the session's shared Ray cluster (``ray_cluster`` fixture).  About 30 s, most of it Ray start-up.
    """
    pytest.importorskip("ray", reason="needs the optional extra [ray]")
    script = tmp_path / "simulation.py"
    script.write_text(SIMULATION)
    output = tmp_path / "result.json"
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", FLWR_TELEMETRY_ENABLED="0")
    completed = subprocess.run(
        [sys.executable, str(script), str(output)], env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    import json

    result = json.loads(output.read_text())
    np.testing.assert_allclose(result["w"], [2.0] * 4)  # two honest steps of +1; the 1e6 client ignored
    for round_metrics in result["metrics"].values():
        assert round_metrics[METRIC_REPLIES_USED] == 5
        assert round_metrics["loss"] == 1.0
