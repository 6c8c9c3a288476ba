"""Our robust aggregators as a Flower strategy (Message API, ``flwr.serverapp.strategy``; extra ``[flower]``).

``RobustStrategy`` subclasses Flower's ``FedAvg`` and overrides ``configure_train`` (to remember the global
arrays it sends) and ``aggregate_train``; sampling, evaluation and ``start(...)`` are FedAvg's own::

    from securecompute.federated.flower import RobustStrategy

    strategy = RobustStrategy(aggregator="flag", aggregator_params={"m": 4}, min_available_nodes=10)
    result = strategy.start(grid=grid, initial_arrays=arrays, num_rounds=5)

What is aggregated
------------------
A Flower client replies with its NEW weights, not with an update.  Robust rules are stated for updates
(gradients, model deltas), and several of them are not translation-equivariant (Flag normalises every
vector, centered clipping clips distances to its centre), so aggregating raw weights would change what they
compute.  The strategy therefore aggregates deltas: in ``configure_train`` it remembers the global
``ArrayRecord`` it sends (``current_arrays``); in ``aggregate_train`` it flattens every reply's arrays
(in the global record's key order) into one float64 vector, subtracts the flattened global vector, applies the
aggregator to the ``(n, d)`` matrix of deltas, adds the aggregate back, and unflattens to an ``ArrayRecord``
with the global record's keys, shapes and dtypes (integer arrays are rounded).  For translation-equivariant
rules (mean, median, trimmed mean, Krum, geometric median...) this equals aggregating the weights.

Flag's scale: the paper's Flag returns (1/m) Y Y^T sum_i g_i/||g_i||, built from unit vectors, so its norm
does not follow the clients' step sizes (fine for SGD, where a learning rate absorbs it, wrong here, where the
aggregate delta is added to the weights as it is, with no server learning rate).  So for ``"flag"`` (and
``"nnm+flag"``) the strategy turns on the aggregator's ``rescale`` option (the output scaled to the median
client delta norm) unless ``aggregator_params`` sets ``rescale`` itself; ``{"rescale": False}`` gives the
paper's scale.

The client-reported example count (``num-examples`` or whatever ``weighted_by_key`` names) is never used:
a Byzantine client controls it, so it would let one client dominate the average.  (Flower's own ``FedAvg``,
``MultiKrum`` and ``Krum`` weight by it.)  The clients' training metrics are, by default, combined by an
unweighted per-key median (``median_metricrecords``), again without the example count, over the replies
whose value is well-typed and finite when they are a majority of all replies (the others are counted in
``robust-metrics-invalid``, so one client cannot remove a metric by sending it with another type); pass
``train_metrics_aggr_fn`` to replace it.

Replies treated as Byzantine and dropped (never an exception), counted in the returned ``MetricRecord``:

- ``robust-dropped-mismatch``: not exactly one ``ArrayRecord``, keys different from the global record's, a
  shape different from the global array's, an array that does not decode as a real numeric numpy array (its
  ``.npy`` header is checked against the global shape before anything is allocated);
- ``robust-dropped-nonfinite``: a NaN or inf anywhere in the reply's arrays, or a delta whose Euclidean norm
  exceeds the largest float64 (no rule can take it; the rules return a finite vector for every other row);
- ``robust-failures``: replies that carry an error instead of content (Flower's own failures);
- ``robust-replies-used``: the replies that went into the aggregate.

If no reply survives, ``aggregate_train`` returns ``(None, metrics)`` and Flower keeps the current global
arrays for the next round; so it does (with ``robust-aggregate-nonfinite`` = 1) if the finite aggregate added
to the global arrays would overflow.  Integer arrays are rounded and clipped to their dtype's range.  An aggregator precondition that fails on the survivors (e.g. Krum needs
n >= 2f + 3) raises :class:`~securecompute.errors.ParameterError` with the numbers.

Lazy import
-----------
Importing this module does not import ``flwr`` (nor does importing :mod:`securecompute.federated`).  The
class is built, once, on first use: ``RobustStrategy`` is served by the module's ``__getattr__`` (PEP 562),
so ``from securecompute.federated.flower import RobustStrategy`` works and raises
:class:`~securecompute.errors.DependencyMissingError` naming ``pip install 'securecompute[flower]'`` when
Flower is missing; ``robust_strategy(...)`` builds an instance the same way.  The class's ``__qualname__``
is ``RobustStrategy`` in this module, so instances pickle.

Tested against flwr 1.42.0 (the Message API exists from flwr 1.21).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from securecompute.errors import DependencyMissingError, ParameterError, ProtocolError
from securecompute.federated._checks import usable_rows
from securecompute.federated.aggregators import get_aggregator

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy import FedAvg

# ``RobustStrategy`` is served by ``__getattr__`` and left out of ``__all__``, so that a star import does not
# import Flower.
__all__ = [
    "FLOWER_INSTALL_HINT",
    "METRIC_AGGREGATE_NONFINITE",
    "METRIC_DROPPED_MISMATCH",
    "METRIC_DROPPED_NONFINITE",
    "METRIC_FAILURES",
    "METRIC_INVALID_METRICS",
    "METRIC_REPLIES_USED",
    "median_metricrecords",
    "robust_strategy",
    "summary_lines",
]

FLOWER_INSTALL_HINT = "pip install 'securecompute[flower]'"
METRIC_REPLIES_USED = "robust-replies-used"
METRIC_DROPPED_NONFINITE = "robust-dropped-nonfinite"
METRIC_DROPPED_MISMATCH = "robust-dropped-mismatch"
METRIC_FAILURES = "robust-failures"
METRIC_INVALID_METRICS = "robust-metrics-invalid"
METRIC_AGGREGATE_NONFINITE = "robust-aggregate-nonfinite"

_LOGGER = logging.getLogger(__name__)
_NUMERIC_KINDS = frozenset("biuf")

UpdateAggregator = Callable[[npt.NDArray[np.float64]], npt.ArrayLike]


def __getattr__(name: str) -> Any:
    """Serve ``RobustStrategy`` lazily, so that importing this module never imports Flower."""
    if name == "RobustStrategy":
        return _robust_strategy_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def robust_strategy(
    aggregator: str | UpdateAggregator = "flag",
    aggregator_params: Mapping[str, Any] | None = None,
    **fedavg_kwargs: Any,
) -> FedAvg:
    """Build a ``RobustStrategy`` (a Flower ``FedAvg`` subclass); the same arguments as its constructor.

    Raises:
        DependencyMissingError: Flower is not installed.
        ParameterError: an unknown aggregator or a bad aggregator parameter.
    """
    factory: Callable[..., FedAvg] = _robust_strategy_class()
    return factory(aggregator, aggregator_params, **fedavg_kwargs)


def median_metricrecords(records: list[RecordDict], weighting_metric_name: str) -> MetricRecord:
    """Combine the replies' training metrics by an unweighted per-key median (``train_metrics_aggr_fn``).

    Every ``MetricRecord`` of every reply is read.  For each key, a reply's value is *valid* if it is a
    finite real scalar (not a bool) or a non-empty list of finite reals; valid values have a form (a
    scalar, or a list of one length), and the form most replies use is the key's form.  When more than
    half of ALL replies hold a valid value of that form, the key gets their median (a float, or the
    element-wise median of the lists); otherwise the key is left out.  Values present but not of that
    form (another type, NaN/inf, another length) are counted in ``robust-metrics-invalid``, so that one
    client cannot remove a metric by sending it with another type, and a minority cannot pass one off.
    ``weighting_metric_name`` (the client-reported example count) is left out, like Flower does, and
    never used as a weight.
    """
    from flwr.app import MetricRecord  # only called once Flower is importable

    per_reply: list[dict[str, Any]] = []
    for record in records:
        merged: dict[str, Any] = {}
        for metric_record in record.metric_records.values():
            merged.update(metric_record)
        per_reply.append(merged)
    combined = MetricRecord()
    if not per_reply:
        return combined
    keys = set().union(*per_reply) - {weighting_metric_name}
    invalid = 0
    for key in sorted(keys):
        present = [reply[key] for reply in per_reply if key in reply]
        forms = [_metric_form(value) for value in present]
        counts: dict[int, int] = {}
        for form in forms:
            if form is not None:
                counts[form] = counts.get(form, 0) + 1
        chosen = max(counts, key=lambda form: (counts[form], -form)) if counts else None
        invalid += sum(form != chosen for form in forms)
        if chosen is None or 2 * counts[chosen] <= len(per_reply):
            continue
        matrix = np.asarray([value for value, form in zip(present, forms, strict=True) if form == chosen])
        median = np.median(matrix.astype(np.float64), axis=0)
        combined[key] = float(median) if chosen == 0 else [float(entry) for entry in median]
    combined[METRIC_INVALID_METRICS] = invalid
    return combined


def summary_lines(strategy: Any) -> list[str]:
    """What ``RobustStrategy.summary`` logs: the robust rule, sampling, and how each kind of metric is combined."""
    train_metrics = getattr(strategy.train_metrics_aggr_fn, "__name__", repr(strategy.train_metrics_aggr_fn))
    evaluation = getattr(strategy.evaluate_metrics_aggr_fn, "__name__", repr(strategy.evaluate_metrics_aggr_fn))
    if evaluation == "aggregate_metricrecords":  # FedAvg's default, left as it is: evaluation is not attacked here
        evaluation = f"Flower's average weighted by '{strategy.weighted_by_key}' (aggregate_metricrecords)"
    return [
        f"\tRobustStrategy: the new model = global model + {strategy.aggregator_name} over the replies' "
        "model deltas (each reply minus the round's global model)",
        f"\t├──> Example counts ('{strategy.weighted_by_key}') are IGNORED by the model aggregation: every "
        "reply counts once (a robust rule must not let a client weight itself)",
        "\t├──> Non-finite or mis-shaped replies are dropped and counted in the metrics "
        f"'{METRIC_DROPPED_NONFINITE}' and '{METRIC_DROPPED_MISMATCH}'",
        f"\t├──> Sampling: fraction train {strategy.fraction_train:.2f} | evaluate {strategy.fraction_evaluate:.2f}; "
        f"minimum nodes train {strategy.min_train_nodes} | evaluate {strategy.min_evaluate_nodes} | "
        f"available {strategy.min_available_nodes}",
        f"\t├──> Train metrics: {train_metrics}",
        f"\t└──> Evaluate metrics: {evaluation}; ArrayRecord key '{strategy.arrayrecord_key}', "
        f"ConfigRecord key '{strategy.configrecord_key}'",
    ]


def _metric_form(value: Any) -> int | None:
    """0 for a finite real scalar, the length for a non-empty list of finite reals, None for anything else."""
    if _finite_real(value):
        return 0
    if isinstance(value, list) and value and all(_finite_real(entry) for entry in value):
        return len(value)
    return None


def _finite_real(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(1 << 63) <= value < 1 << 64  # what a MetricRecord can carry; float() of a longer int overflows
    return isinstance(value, float) and math.isfinite(value)


def _build_aggregator(aggregator: Any, aggregator_params: Mapping[str, Any] | None) -> UpdateAggregator:
    if isinstance(aggregator, str):
        params = dict(aggregator_params or {})
        rule = aggregator.strip().lower()
        if (rule == "flag" or rule.endswith("+flag")) and "rescale" not in params:
            params["rescale"] = True  # the aggregate is added to the weights as it is: keep the deltas' scale
        built: UpdateAggregator = get_aggregator(aggregator, **params)
        return built
    if callable(aggregator):
        if aggregator_params:
            raise ParameterError("aggregator_params only applies to an aggregator given by name, got a callable")
        callable_aggregator: UpdateAggregator = aggregator
        return callable_aggregator
    raise ParameterError(f"aggregator must be a name of get_aggregator or a callable, got {aggregator!r}")


_STRATEGY_CLASS: type[FedAvg] | None = None
"""``RobustStrategy`` once built (one class object per process, so ``isinstance`` and pickling agree)."""


def _robust_strategy_class() -> type[FedAvg]:
    """Import Flower and define ``RobustStrategy`` (once)."""
    global _STRATEGY_CLASS
    if _STRATEGY_CLASS is not None:
        return _STRATEGY_CLASS
    try:
        from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
        from flwr.serverapp import Grid
        from flwr.serverapp.strategy import FedAvg
    except ImportError as error:
        raise DependencyMissingError(
            f"RobustStrategy needs Flower (flwr), which is not installed: {FLOWER_INSTALL_HINT}"
        ) from error

    class RobustStrategy(FedAvg):  # type: ignore[misc, unused-ignore]
        """Flower ``FedAvg`` whose training aggregation is one of our robust rules over model deltas.

        Args:
            aggregator: a name for :func:`~securecompute.federated.aggregators.get_aggregator` (``"flag"``,
                ``"median"``, ``"nnm+trimmed_mean"``...) or a callable on an ``(n, d)`` float64 array
                returning a ``(d,)`` array.  One object serves the whole run, so stateful rules
                (``centered_clipping``) carry their state across rounds.
            aggregator_params: keyword parameters of the named rule (``{"f": 2}``, ``{"m": 4}``...).
            **fedavg_kwargs: FedAvg's keyword arguments (``fraction_train``, ``min_available_nodes``,
                ``arrayrecord_key``...).  ``weighted_by_key`` only names the key left out of the metrics;
                ``train_metrics_aggr_fn`` defaults to :func:`median_metricrecords`.

        Attributes:
            current_arrays: the global ``ArrayRecord`` of the round being trained (set by
                ``configure_train``, replaced by each aggregate); deltas are taken against it.
            aggregator: the aggregation callable.
        """

        def __init__(
            self,
            aggregator: str | UpdateAggregator = "flag",
            aggregator_params: Mapping[str, Any] | None = None,
            **fedavg_kwargs: Any,
        ) -> None:
            if fedavg_kwargs.get("train_metrics_aggr_fn") is None:
                fedavg_kwargs["train_metrics_aggr_fn"] = median_metricrecords
            super().__init__(**fedavg_kwargs)
            self.aggregator_name = aggregator if isinstance(aggregator, str) else repr(aggregator)
            self.aggregator = _build_aggregator(aggregator, aggregator_params)
            self.current_arrays: ArrayRecord | None = None

        def summary(self) -> None:
            """Log what this strategy does, through Flower's logger (where ``flwr run`` shows FedAvg's summary)."""
            from flwr.common.logger import log

            for line in summary_lines(self):
                log(logging.INFO, line)

        def configure_train(
            self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
        ) -> Iterable[Message]:
            """Remember the global arrays (deltas are taken against them), then configure as FedAvg."""
            self.current_arrays = arrays
            messages: Iterable[Message] = super().configure_train(server_round, arrays, config, grid)
            return messages

        def aggregate_train(
            self,
            server_round: int,
            replies: Iterable[Message],
        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
            """Aggregate the replies' model deltas with the robust rule; see the module docstring.

            Raises:
                ProtocolError: no global arrays to take deltas against (``configure_train`` not called and
                    ``current_arrays`` not set).
                ParameterError: the aggregator's precondition fails on the surviving replies.
            """
            if self.current_arrays is None:
                raise ProtocolError(
                    "RobustStrategy.aggregate_train needs the global arrays: call configure_train first "
                    "(Strategy.start does) or set strategy.current_arrays"
                )
            layout, reference = _flatten_global(self.current_arrays)
            replies = list(replies)
            failures = mismatched = nonfinite = 0
            deltas: list[npt.NDArray[np.float64]] = []
            kept: list[RecordDict] = []
            for message in replies:
                if message.has_error():
                    failures += 1
                    continue
                vector = _flatten_reply(message.content, layout)
                if vector is None:
                    mismatched += 1
                    _LOGGER.warning(
                        "round %d: dropped the reply of node %d (arrays do not match the global model)",
                        server_round,
                        message.metadata.src_node_id,
                    )
                    continue
                with np.errstate(over="ignore", invalid="ignore"):
                    delta = vector - reference
                if not usable_rows(delta[None, :])[0]:
                    nonfinite += 1
                    _LOGGER.warning(
                        "round %d: dropped the reply of node %d (NaN/inf, or a delta whose norm overflows)",
                        server_round,
                        message.metadata.src_node_id,
                    )
                    continue
                deltas.append(delta)
                kept.append(message.content)

            counts: dict[str, Any] = {
                METRIC_REPLIES_USED: len(deltas),
                METRIC_DROPPED_NONFINITE: nonfinite,
                METRIC_DROPPED_MISMATCH: mismatched,
                METRIC_FAILURES: failures,
            }
            if not deltas:
                _LOGGER.warning("round %d: no usable reply, the global arrays stay as they are", server_round)
                return None, MetricRecord(counts)

            aggregate = np.asarray(self.aggregator(np.stack(deltas)), dtype=np.float64)
            if aggregate.shape != reference.shape:
                raise ParameterError(
                    f"aggregator {self.aggregator_name} returned shape {aggregate.shape}, expected {reference.shape}"
                )
            with np.errstate(over="ignore", invalid="ignore"):
                updated = reference + aggregate
            if not np.all(np.isfinite(updated)):  # a finite aggregate added to huge weights can still overflow
                _LOGGER.warning("round %d: the new global arrays would overflow; they stay as they are", server_round)
                return None, MetricRecord({**counts, METRIC_AGGREGATE_NONFINITE: 1})
            arrays = ArrayRecord(_unflatten(updated, layout, Array))
            self.current_arrays = arrays

            metrics = self.train_metrics_aggr_fn(kept, self.weighted_by_key)
            if metrics is None:
                metrics = MetricRecord()
            for key, value in counts.items():
                metrics[key] = value
            return arrays, metrics

    RobustStrategy.__qualname__ = "RobustStrategy"
    RobustStrategy.__module__ = __name__
    _STRATEGY_CLASS = RobustStrategy
    return RobustStrategy


_Layout = list[tuple[str, tuple[int, ...], np.dtype[Any]]]


def _flatten_global(arrays: ArrayRecord) -> tuple[_Layout, npt.NDArray[np.float64]]:
    """The (key, shape, dtype) layout of the global record and its flat float64 vector."""
    layout: _Layout = []
    pieces: list[npt.NDArray[np.float64]] = []
    for key, array in arrays.items():
        values = np.asarray(array.numpy())
        if values.dtype.kind not in _NUMERIC_KINDS:
            raise ParameterError(f"global array {key!r} has dtype {values.dtype}; RobustStrategy needs real numbers")
        layout.append((key, tuple(values.shape), values.dtype))
        pieces.append(values.astype(np.float64).ravel())
    vector = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float64)
    return layout, vector


def _flatten_reply(content: RecordDict, layout: _Layout) -> npt.NDArray[np.float64] | None:
    """The reply's arrays as one float64 vector in ``layout`` order, or None if they do not match it."""
    records = list(content.array_records.values())
    if len(records) != 1:
        return None
    record = records[0]
    if set(record.keys()) != {key for key, _, _ in layout}:
        return None
    pieces: list[npt.NDArray[np.float64]] = []
    for key, shape, _ in layout:
        values = _read_npy(record[key], shape)
        if values is None:
            return None
        pieces.append(values.astype(np.float64).ravel())
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float64)


def _read_npy(array: Any, shape: tuple[int, ...]) -> npt.NDArray[Any] | None:
    """A reply's Flower ``Array`` as a real numeric numpy array of exactly ``shape``, or None.

    The ``.npy`` header is read and checked (version 1 or 2, real numeric dtype, ``shape``, data length)
    BEFORE any array is allocated: ``Array.numpy()`` would allocate whatever shape the client declares.
    """
    data = getattr(array, "data", None)
    if not isinstance(data, bytes):
        return None
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            declared, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            declared, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
    except Exception:  # numpy's parser of client bytes: any refusal means "not an array"
        return None
    if tuple(declared) != shape or dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        return None
    count = math.prod(shape)
    if len(data) != stream.tell() + count * dtype.itemsize:
        return None
    values = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    return values.reshape(shape, order="F" if fortran else "C")


def _float_range(dtype: np.dtype[Any]) -> tuple[float, float]:
    """The widest float64 interval inside an integer dtype's range.

    float(2**63 - 1) rounds up to 2**63, which int64 cannot hold (the cast wraps to -2**63), so the top
    is the float just below it when rounding went up; the bottom (0 or -2**k) is exact.
    """
    limits = np.iinfo(dtype)
    top = float(limits.max)
    if int(top) > limits.max:
        top = float(np.nextafter(top, -np.inf))
    return float(limits.min), top


def _unflatten(vector: npt.NDArray[np.float64], layout: _Layout, array_type: Any) -> dict[str, Any]:
    """Split ``vector`` back into ``layout``'s arrays (Flower ``Array`` objects built by ``array_type``)."""
    result: dict[str, Any] = {}
    start = 0
    for key, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64))
        piece = vector[start : start + size].reshape(shape)
        start += size
        if dtype.kind in "biu":
            piece = np.rint(piece) if dtype.kind == "b" else np.clip(np.rint(piece), *_float_range(dtype))
        result[key] = array_type(np.ascontiguousarray(piece.astype(dtype)))
    return result
