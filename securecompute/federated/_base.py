"""The interface every aggregation rule implements (private; re-exported by ``aggregators``)."""

from __future__ import annotations

import inspect

import numpy.typing as npt

from securecompute.federated._checks import FloatArray, as_updates, at_unit_scale


class Aggregator:
    """A robust aggregation rule: call it on an ``(n, d)`` array of worker updates to get a ``(d,)`` array.

    Subclasses set ``name``, take their parameters in the constructor (checked there), check the
    preconditions that depend on n in :meth:`check_workers`, and compute in :meth:`_aggregate`.
    """

    name = "aggregator"

    def __call__(self, updates: npt.ArrayLike) -> FloatArray:
        """Aggregate ``updates`` ``(n, d)`` into one ``(d,)`` float64 vector.

        Every finite input whose rows have finite norms gives a finite output: no intermediate square,
        sum or difference overflows (each rule scales by a power of two first).

        Raises:
            ShapeError: ``updates`` is not a non-empty two-dimensional array.
            ParameterError: a NaN/inf entry, a row whose norm overflows float64, or n too small for this
                rule's parameters.
        """
        array = as_updates(updates)
        self.check_workers(array.shape[0])
        return self._aggregate(array)

    def check_workers(self, n: int) -> None:
        """Raise ParameterError if this rule cannot run on ``n`` workers (the default accepts any n >= 1)."""

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        raise NotImplementedError

    def __repr__(self) -> str:
        parameters = inspect.signature(type(self).__init__).parameters.values()
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names = [parameter.name for parameter in parameters if parameter.name != "self" and parameter.kind in plain]
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names if hasattr(self, name))
        return f"{type(self).__name__}({fields})"


class HomogeneousAggregator(Aggregator):
    """A rule with rule(c X) = c rule(X) for c > 0 whose output lies in the input's column ranges.

    Subclasses compute in :meth:`_aggregate_unit` on the input scaled by a power of two so that every entry
    is below 1 in magnitude (:func:`~securecompute.federated._checks.at_unit_scale`).
    """

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        return at_unit_scale(self._aggregate_unit, updates)

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        raise NotImplementedError
