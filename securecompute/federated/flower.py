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
unweighted per-key median (``median_metricrecords``), again without the example count; pass
``train_metrics_aggr_fn`` to replace it.

Replies treated as Byzantine and dropped (never an exception), counted in the returned ``MetricRecord``:

- ``robust-dropped-mismatch``: not exactly one ``ArrayRecord``, keys different from the global record's, a
  shape different from the global array's, an array that does not decode as a real numeric numpy array;
- ``robust-dropped-nonfinite``: a NaN or inf anywhere in the reply's arrays;
- ``robust-failures``: replies that carry an error instead of content (Flower's own failures);
- ``robust-replies-used``: the replies that went into the aggregate.

If no reply survives, ``aggregate_train`` returns ``(None, metrics)`` and Flower keeps the current global
arrays for the next round.  An aggregator precondition that fails on the survivors (e.g. Krum needs
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

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from securecompute.errors import DependencyMissingError, ParameterError, ProtocolError
from securecompute.federated.aggregators import get_aggregator

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy import FedAvg

# ``RobustStrategy`` is served by ``__getattr__`` and left out of ``__all__``, so that a star import does not
# import Flower.
__all__ = [
    "FLOWER_INSTALL_HINT",
    "METRIC_DROPPED_MISMATCH",
    "METRIC_DROPPED_NONFINITE",
    "METRIC_FAILURES",
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

    Every ``MetricRecord`` of every reply is read; a key present in all replies with finite scalar values
    gets the median of those values (a float); a key whose values are lists of one common length gets the
    element-wise median.  ``weighting_metric_name`` (the client-reported example count) is left out, like
    Flower does, and never used as a weight.  Other keys are skipped.
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
    common = set(per_reply[0]).intersection(*per_reply[1:])
    common.discard(weighting_metric_name)
    for key in sorted(common):
        values = [reply[key] for reply in per_reply]
        if all(isinstance(value, list) for value in values):
            lengths = {len(value) for value in values}
            if len(lengths) != 1 or 0 in lengths:
                continue
            matrix = np.asarray(values, dtype=np.float64)
            if not np.all(np.isfinite(matrix)):
                continue
            combined[key] = [float(entry) for entry in np.median(matrix, axis=0)]
        elif all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
            vector = np.asarray(values, dtype=np.float64)
            if not np.all(np.isfinite(vector)):
                continue
            combined[key] = float(np.median(vector))
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
                if not np.all(np.isfinite(vector)):
                    nonfinite += 1
                    _LOGGER.warning(
                        "round %d: dropped the reply of node %d (NaN/inf in its arrays)",
                        server_round,
                        message.metadata.src_node_id,
                    )
                    continue
                deltas.append(vector - reference)
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
            arrays = ArrayRecord(_unflatten(reference + aggregate, layout, Array))
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
        try:
            values = np.asarray(record[key].numpy())
        except (TypeError, ValueError, OSError, EOFError):
            return None
        if values.dtype.kind not in _NUMERIC_KINDS or tuple(values.shape) != shape:
            return None
        pieces.append(values.astype(np.float64).ravel())
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float64)


def _unflatten(vector: npt.NDArray[np.float64], layout: _Layout, array_type: Any) -> dict[str, Any]:
    """Split ``vector`` back into ``layout``'s arrays (Flower ``Array`` objects built by ``array_type``)."""
    result: dict[str, Any] = {}
    start = 0
    for key, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64))
        piece = vector[start : start + size].reshape(shape)
        start += size
        if dtype.kind in "biu":
            piece = np.rint(piece)
        result[key] = array_type(np.ascontiguousarray(piece.astype(dtype)))
    return result
