"""RobustStrategy against hostile-but-finite replies (issue 12, findings 1, 2 and 8, and the reply parser)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict

from securecompute.federated.flower import (
    METRIC_DROPPED_MISMATCH,
    METRIC_DROPPED_NONFINITE,
    METRIC_INVALID_METRICS,
    METRIC_REPLIES_USED,
    median_metricrecords,
)
from tests.federated.test_flower import GLOBAL, _flat, _honest, _metadata, _record, _reply, _strategy


@pytest.mark.parametrize(("aggregator", "params"), [("krum", {"f": 2}), ("nnm+krum", {"f": 2}), ("flag", {"m": 2})])
@pytest.mark.parametrize("value", [1e300, 1e155, 1e308])
def test_huge_finite_replies_never_make_the_global_model_inf(
    aggregator: str, params: dict[str, Any], value: float
) -> None:
    """Findings 1 and 2: two replies with entries near 1e308 made Krum's new global model inf; one at 1e155
    made Flag raise LinAlgError.  Now the model stays near the honest ones, and replies whose delta norm
    overflows are dropped and counted."""
    honest = _honest(9, seed=1, scale=0.01)
    huge = np.full(GLOBAL.shape, value)
    replies = [_reply(i, _record(w, dtype=np.float64)) for i, w in enumerate(honest)]
    replies += [_reply(90 + i, _record(huge, dtype=np.float64)) for i in range(2)]
    arrays, metrics = _strategy(aggregator, params).aggregate_train(1, replies)
    result = _flat(arrays)
    assert np.isfinite(result).all()
    assert np.linalg.norm(result - honest.mean(axis=0)) < 1.0
    overflowing = value > np.finfo(np.float64).max / np.sqrt(GLOBAL.size)
    assert metrics[METRIC_DROPPED_NONFINITE] == (2 if overflowing else 0)
    assert metrics[METRIC_REPLIES_USED] == (9 if overflowing else 11)


def test_a_metric_of_another_type_no_longer_removes_the_metric() -> None:
    """Finding 8: one reply with ``loss`` as a list removed ``loss`` from the aggregated metrics."""
    records = [RecordDict({"m": MetricRecord({"loss": loss, "acc": 0.9})}) for loss in (0.1, 0.2, 0.3, 0.4)]
    records.append(RecordDict({"m": MetricRecord({"loss": [1.0, 2.0], "acc": 0.8})}))
    combined = median_metricrecords(records, "num-examples")
    assert combined["loss"] == pytest.approx(0.25)
    assert combined["acc"] == pytest.approx(0.9)
    assert combined[METRIC_INVALID_METRICS] == 1


def test_a_minority_cannot_pass_off_a_metric_and_nonfinite_values_are_invalid() -> None:
    records = [RecordDict({"m": MetricRecord({"loss": value})}) for value in (float("nan"), float("inf"), 0.5)]
    records += [RecordDict({"m": MetricRecord({"other": 1.0})}) for _ in range(2)]
    combined = median_metricrecords(records, "num-examples")
    assert "loss" not in combined  # one valid value of five replies is no majority
    assert "other" not in combined  # two of five
    assert combined[METRIC_INVALID_METRICS] == 2


def _npy(shape: tuple[int, ...], data_bytes: int) -> bytes:
    """A .npy header declaring ``shape`` (float64) followed by ``data_bytes`` bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(data_bytes)


@pytest.mark.parametrize(
    "data",
    [
        _npy((1 << 40,), 16),  # declares 8 TiB: Array.numpy() would allocate it before reading the data
        _npy((2, 3), 40),  # the right shape, 8 bytes short
        _npy((2, 3), 56),  # 8 bytes too many
        _npy((3, 2), 48),  # another shape
        b"\x93NUMPY\x03\x00" + bytes(40),  # a version this reader does not take
        b"not an npy file",
    ],
)
def test_reply_arrays_are_checked_before_anything_is_allocated(data: bytes) -> None:
    bad = ArrayRecord(
        {
            "w": Array(dtype="float64", shape=(2, 3), stype="numpy.ndarray", data=data),
            "b": Array(np.zeros(3)),
        }
    )
    weights = _honest(3, seed=5)
    replies = [Message(RecordDict({"arrays": bad, "metrics": MetricRecord({"n": 1})}), metadata=_metadata(50))]
    replies += [_reply(i, _record(w)) for i, w in enumerate(weights)]
    arrays, metrics = _strategy("mean").aggregate_train(1, replies)
    assert metrics[METRIC_DROPPED_MISMATCH] == 1
    np.testing.assert_allclose(_flat(arrays), weights.astype(np.float32).mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32, np.uint8])
def test_integer_arrays_saturate_at_their_range_without_wrapping(dtype: type) -> None:
    """Review: float(2**63 - 1) rounds up to 2**63, so clipping to it and casting wrapped +1e30 to -2**63
    (int64) and to 0 (uint64)."""
    from securecompute.federated.flower import _unflatten

    limits = np.iinfo(dtype)
    arrays = _unflatten(np.array([1e30, -1e30, 3.4]), [("w", (3,), np.dtype(dtype))], np.asarray)
    top, bottom, middle = (int(value) for value in arrays["w"])
    assert limits.max - 2048 <= top <= limits.max  # the largest float64 not above the range, no wrap
    assert bottom == limits.min
    assert middle == 3
