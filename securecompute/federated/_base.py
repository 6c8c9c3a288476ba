"""The interface every aggregation rule implements (private; re-exported by ``aggregators``)."""

from __future__ import annotations

import inspect

import numpy.typing as npt

from securecompute.federated._checks import FloatArray, as_updates


class Aggregator:
    """A robust aggregation rule: call it on an ``(n, d)`` array of worker updates to get a ``(d,)`` array.

    Subclasses set ``name``, take their parameters in the constructor (checked there), check the
    preconditions that depend on n in :meth:`check_workers`, and compute in :meth:`_aggregate`.
    """

    name = "aggregator"

    def __call__(self, updates: npt.ArrayLike) -> FloatArray:
        """Aggregate ``updates`` ``(n, d)`` into one ``(d,)`` float64 vector.

        Raises:
            ShapeError: ``updates`` is not a non-empty two-dimensional array.
            ParameterError: a NaN/inf entry, or n too small for this rule's parameters.
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
