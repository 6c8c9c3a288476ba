r"""Robust aggregation rules over an ``(n, d)`` array of worker updates, and their registry.

``get_aggregator(name, **params)`` returns a callable object; calling it on ``x`` of shape ``(n, d)``
(one row per worker, float, finite) returns the aggregate of shape ``(d,)``.  ``f`` is the number of
Byzantine workers a rule is asked to tolerate.  Rows are x_1..x_n; "coordinate-wise" rules treat each of
the d columns on its own.

- ``mean``: (1/n) sum_i x_i.  Not robust: one worker moves it anywhere.
- ``median``: coordinate-wise median.
- ``trimmed_mean`` (f): per coordinate, drop the f largest and f smallest values and average the n - 2f
  left; needs 2f < n.
- ``meamed`` (f): per coordinate, average the n - f values closest to the median (Xie, Koyejo, Gupta,
  "Generalized Byzantine-tolerant SGD", 2018); needs 2f < n.
- ``phocas`` (f): per coordinate, average the n - f values closest to the f-trimmed mean (same paper);
  needs 2f < n.
- ``krum`` (f): score_i = sum of ||x_i - x_j||^2 over the n - f - 2 nearest other rows; return the row of
  lowest score (Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine
  Tolerant Gradient Descent", NeurIPS 2017); needs n >= 2f + 3.
- ``multi_krum`` (f, m): the mean of the m rows of lowest Krum score (same paper); m defaults to n - f.
- ``geometric_median`` (nu, max_iter, tol): argmin_z sum_i ||z - x_i|| by smoothed Weiszfeld,
  z <- sum_i b_i x_i / sum_i b_i with b_i = 1 / max(nu, ||z - x_i||), started at the coordinate-wise
  median (Pillutla, Kakade, Harchaoui, "Robust Aggregation for Federated Learning", 2022).
- ``centered_clipping`` (tau, iterations): v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||),
  repeated ``iterations`` times, starting from the previous call's output (Karimireddy, He, Jaggi,
  "Learning from History for Byzantine Robust Optimization", ICML 2021).  STATEFUL: the object keeps its
  centre between calls (zeros before the first call); use one object per training run, ``reset()`` it to
  start again.
- ``bulyan`` (f): select theta = n - 2f rows by repeated Krum (each pick removed from the pool), then per
  coordinate average the beta = theta - 2f selected values closest to their median (El Mhamdi, Guerraoui,
  Rouault, "The Hidden Vulnerability of Distributed Learning in Byzantium", ICML 2018); needs n >= 4f + 3.
- ``nnm+<rule>`` (f, plus the rule's parameters): nearest-neighbour mixing replaces each x_i by the mean of
  its n - f nearest rows (itself included), then applies the rule (Allouah et al., "Fixing by Mixing: A
  Recipe for Optimal Byzantine ML under Heterogeneity", AISTATS 2023); needs 2f < n.
- ``flag`` (m, lam, iterations, rescale, seed): the Flag Aggregator (Almasi, Mishra, Vamanan, Ravi, "Flag
  Aggregator: Scalable Distributed Training under Failures and Augmented Losses using Convex
  Optimization", ICLR 2024); see :mod:`securecompute.federated.flag`.

Every rule checks its parameters when built and its preconditions on n before any work, raising
:class:`~securecompute.errors.ParameterError` with the numbers; NaN/inf input, and a row whose Euclidean norm
exceeds the largest float64, are refused with ``ParameterError`` and a wrong shape with
:class:`~securecompute.errors.ShapeError` (the simulation and the Flower strategy treat a worker that sends
such a row as Byzantine, drop it and count it, before they call the rule).  On every other finite input every
rule returns a finite vector: each computes on its input scaled by a power of two (exact) so that no square,
sum or difference overflows (``_checks.at_unit_scale``), and Krum-type scores that are NaN count as +inf.

Costs for n rows of length d: coordinate-wise rules O(n d log n); Krum, Multi-Krum, Bulyan and NNM
O(n^2 d) (one Gram matrix); geometric median O(max_iter n d); Flag O(n^2 d + n^3 iterations).
"""

from __future__ import annotations

import inspect
import math
from functools import partial
from typing import Any

import numpy as np

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated._base import Aggregator, HomogeneousAggregator
from securecompute.federated._checks import (
    FloatArray,
    as_updates,
    at_unit_scale,
    check_int,
    check_minority,
    check_positive,
    row_norms,
    scale_exponent,
    unit_exponent,
)
from securecompute.federated.flag import FlagAggregator

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "Bulyan",
    "CenteredClipping",
    "CoordinateMedian",
    "FlagAggregator",
    "GeometricMedian",
    "Krum",
    "MeaMed",
    "Mean",
    "MultiKrum",
    "NearestNeighbourMixing",
    "Phocas",
    "PreAggregated",
    "TrimmedMean",
    "get_aggregator",
]


def get_aggregator(name: str, **params: Any) -> Aggregator:
    """Build the aggregation rule called ``name`` with constructor ``params``.

    ``name`` is a key of :data:`AGGREGATORS` or ``"nnm+<key>"``; for the latter ``f`` is required and goes
    to the NNM step and, if the rule takes it, to the rule as well; every other parameter goes to the rule.

    Raises:
        ParameterError: unknown name, a parameter the rule does not take, or a bad parameter value.
    """
    if not isinstance(name, str):
        raise ParameterError(f"aggregator name must be a str, got {name!r}")
    key = name.strip().lower()
    if key.startswith("nnm+"):
        inner_name = key[len("nnm+") :]
        if "f" not in params:
            raise ParameterError(f"aggregator {name!r} needs f (the Byzantine count NNM mixes against)")
        inner_class = _lookup(inner_name)
        inner_params = dict(params)
        if "f" not in _parameter_names(inner_class):
            del inner_params["f"]
        return PreAggregated(NearestNeighbourMixing(f=params["f"]), _build(inner_class, inner_params))
    return _build(_lookup(key), params)


class Mean(HomogeneousAggregator):
    """The plain average (1/n) sum_i x_i; the non-robust baseline (FedAvg with equal weights)."""

    name = "mean"

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        return np.asarray(updates.mean(axis=0), dtype=np.float64)


class CoordinateMedian(HomogeneousAggregator):
    """Coordinate-wise median (the average of the two middle values when n is even)."""

    name = "median"

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        return np.asarray(np.median(updates, axis=0), dtype=np.float64)


class TrimmedMean(HomogeneousAggregator):
    """Per coordinate, drop the ``f`` largest and ``f`` smallest values and average the rest; needs 2f < n."""

    name = "trimmed_mean"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        check_minority(self.name, n, self.f)

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        return _trimmed_mean(updates, self.f)


class MeaMed(HomogeneousAggregator):
    """Per coordinate, the mean of the n - f values closest to the median; needs 2f < n."""

    name = "meamed"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        check_minority(self.name, n, self.f)

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        centre = np.median(updates, axis=0)
        return _mean_of_closest(updates, centre, updates.shape[0] - self.f)


class Phocas(HomogeneousAggregator):
    """Per coordinate, the mean of the n - f values closest to the f-trimmed mean; needs 2f < n."""

    name = "phocas"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        check_minority(self.name, n, self.f)

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        centre = _trimmed_mean(updates, self.f)
        return _mean_of_closest(updates, centre, updates.shape[0] - self.f)


class Krum(HomogeneousAggregator):
    """The row whose summed squared distance to its n - f - 2 nearest others is smallest; needs n >= 2f + 3.

    Ties go to the lowest row index.
    """

    name = "krum"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        _check_krum(self.name, n, self.f)

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        scores = _krum_scores(_squared_distances(updates), self.f)
        return np.array(updates[int(np.argmin(scores))], dtype=np.float64)


class MultiKrum(HomogeneousAggregator):
    """The mean of the ``m`` rows of lowest Krum score (``m`` defaults to n - f); needs n >= 2f + 3, m <= n."""

    name = "multi_krum"

    def __init__(self, f: int, m: int | None = None) -> None:
        self.f = check_int("f", f, 0)
        self.m = None if m is None else check_int("m", m, 1)

    def check_workers(self, n: int) -> None:
        _check_krum(self.name, n, self.f)
        if self.m is not None and self.m > n:
            raise ParameterError(f"multi_krum needs m <= n, got m={self.m} with n={n} workers")

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        n = updates.shape[0]
        selected = self.m if self.m is not None else n - self.f
        scores = _krum_scores(_squared_distances(updates), self.f)
        best = np.argsort(scores, kind="stable")[:selected]
        return np.asarray(updates[best].mean(axis=0), dtype=np.float64)


class GeometricMedian(Aggregator):
    """Smoothed Weiszfeld iterations towards argmin_z sum_i ||z - x_i||, from the coordinate-wise median.

    Args:
        nu: smoothing floor on the distances (in the units of the updates), > 0.
        max_iter: at most this many Weiszfeld steps, >= 1.
        tol: stop once a step moves z by at most ``tol * (1 + ||z||)``, >= 0.
    """

    name = "geometric_median"

    def __init__(self, nu: float = 1e-6, max_iter: int = 100, tol: float = 1e-7) -> None:
        self.nu = check_positive("nu", nu)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_positive("tol", tol, allow_zero=True)

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        exponent = unit_exponent(updates)  # the scale at_unit_scale applies
        return at_unit_scale(lambda unit: self._weiszfeld(unit, exponent), updates)

    def _weiszfeld(self, unit: FloatArray, exponent: int) -> FloatArray:
        # The input was scaled by 2**-exponent; nu and the "1" of the stopping rule scale with it.  The
        # weights are 1/max(nu, distance), as before scaling existed (the same numbers bit for bit) when no
        # weighted sum of them can overflow; otherwise (nu tiny at this scale) they are divided by their
        # largest value first (the ratio is all the step uses).
        with np.errstate(over="ignore", under="ignore"):
            scaled_nu = float(np.ldexp(self.nu, -exponent))  # 0 or inf when the scale is extreme: clamped
            unit_one = float(np.ldexp(1.0, -exponent))
        info = np.finfo(np.float64)
        floor = min(max(scaled_nu, float(info.smallest_subnormal)), float(info.max))
        # Scaled, the honest rows may sit near the subnormal range, where squaring underflows: there the
        # distances are taken row by row at their own scale (row_norms), else numpy's norm is exact enough.
        distance = row_norms if exponent != 0 else partial(np.linalg.norm, axis=1)
        # n weights of at most 1/floor times entries below 2**peak: a sum below 2**1000 cannot overflow
        peak = max(scale_exponent(unit), 0)
        direct = exponent == 0 and math.log2(unit.shape[0]) + peak - math.log2(floor) < 1000
        estimate = np.asarray(np.median(unit, axis=0), dtype=np.float64)
        for _ in range(self.max_iter):
            capped = np.maximum(distance(unit - estimate), floor)
            weights = 1.0 / capped if direct else capped.min() / capped
            following = (weights @ unit) / weights.sum()
            step = float(np.linalg.norm(following - estimate))
            estimate = following
            if step <= self.tol * (unit_one + float(np.linalg.norm(estimate))):
                break
        return estimate


class CenteredClipping(Aggregator):
    """Centered clipping around the previous aggregate; STATEFUL (the centre is carried between calls).

    Each call runs ``iterations`` steps v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||) from the
    centre left by the previous call (zeros before the first), stores the result as the next centre and
    returns it.  Each step moves v by at most ``tau``, and f Byzantine rows move it by at most f tau / n.

    Args:
        tau: clipping radius (in the units of the updates), > 0.
        iterations: clipping steps per call, >= 1.
    """

    name = "centered_clipping"

    def __init__(self, tau: float = 10.0, iterations: int = 3) -> None:
        self.tau = check_positive("tau", tau)
        self.iterations = check_int("iterations", iterations, 1)
        self._centre: FloatArray | None = None

    @property
    def centre(self) -> FloatArray | None:
        """The centre the next call starts from ``(d,)``, or None before the first call."""
        return None if self._centre is None else self._centre.copy()

    def reset(self) -> None:
        """Forget the carried centre: the next call starts from zeros."""
        self._centre = None

    def __call__(self, updates: Any) -> FloatArray:
        array = as_updates(updates)
        if self._centre is not None and self._centre.shape[0] != array.shape[1]:
            raise ShapeError(
                f"centered_clipping carries a centre of length {self._centre.shape[0]}, got updates of length "
                f"{array.shape[1]}; call reset() to change dimension"
            )
        return self._aggregate(array)

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        start = np.zeros(updates.shape[1]) if self._centre is None else self._centre
        # Computed at the scale 2**-e that brings the rows and the centre below 1 (exact), so no offset or
        # norm overflows; tau scales with them (it may underflow to 0: then no row moves the centre).
        exponent = scale_exponent(updates, start)
        unit, centre = np.ldexp(updates, -exponent), np.ldexp(start, -exponent)
        with np.errstate(over="ignore", under="ignore"):
            radius = float(np.ldexp(self.tau, -exponent))
        for _ in range(self.iterations):
            offsets = unit - centre
            norms = np.linalg.norm(offsets, axis=1)
            scale = np.divide(radius, norms, out=np.ones_like(norms), where=norms > radius)
            centre = centre + (scale @ offsets) / updates.shape[0]
        # every step is a convex combination of the centre and the rows: clip away rounding beyond that range
        low = np.minimum(unit.min(axis=0), np.ldexp(start, -exponent))
        high = np.maximum(unit.max(axis=0), np.ldexp(start, -exponent))
        self._centre = np.asarray(np.ldexp(np.clip(centre, low, high), exponent), dtype=np.float64)
        return self._centre.copy()


class Bulyan(HomogeneousAggregator):
    """Repeated-Krum selection of n - 2f rows, then per coordinate the mean of the n - 4f closest to their median.

    Needs n >= 4f + 3.
    """

    name = "bulyan"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        if n < 4 * self.f + 3:
            raise ParameterError(f"bulyan needs n >= 4f + 3 = {4 * self.f + 3} workers for f={self.f}, got n={n}")

    def _aggregate_unit(self, updates: FloatArray) -> FloatArray:
        n = updates.shape[0]
        distances = _squared_distances(updates)
        pool = list(range(n))
        chosen: list[int] = []
        for _ in range(n - 2 * self.f):
            scores = _krum_scores(distances[np.ix_(pool, pool)], self.f)
            chosen.append(pool.pop(int(np.argmin(scores))))
        selected = updates[chosen]
        centre = np.median(selected, axis=0)
        return _mean_of_closest(selected, centre, len(chosen) - 2 * self.f)


class NearestNeighbourMixing:
    """NNM pre-aggregation: each row becomes the mean of its n - f nearest rows, itself included; needs 2f < n."""

    name = "nnm"

    def __init__(self, f: int) -> None:
        self.f = check_int("f", f, 0)

    def check_workers(self, n: int) -> None:
        check_minority(self.name, n, self.f)

    def mix(self, updates: FloatArray) -> FloatArray:
        """Return the mixed ``(n, d)`` array for a checked ``(n, d)`` float64 array (finite for finite input)."""
        return at_unit_scale(self._mix_unit, updates)

    def _mix_unit(self, updates: FloatArray) -> FloatArray:
        n = updates.shape[0]
        distances = _squared_distances(updates)
        np.fill_diagonal(distances, -1.0)  # a row is always its own nearest neighbour
        nearest = np.argsort(distances, axis=1, kind="stable")[:, : n - self.f]
        return np.asarray(updates[nearest].mean(axis=1), dtype=np.float64)

    def __repr__(self) -> str:
        return f"NearestNeighbourMixing(f={self.f})"


class PreAggregated(Aggregator):
    """A pre-aggregation step (NNM) followed by an aggregation rule; built by ``get_aggregator("nnm+rule")``."""

    def __init__(self, pre: NearestNeighbourMixing, rule: Aggregator) -> None:
        self.pre = pre
        self.rule = rule
        self.name = f"{pre.name}+{rule.name}"

    def check_workers(self, n: int) -> None:
        self.pre.check_workers(n)
        self.rule.check_workers(n)

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        return self.rule(self.pre.mix(updates))


AGGREGATORS: dict[str, type[Aggregator]] = {
    cls.name: cls
    for cls in (
        Mean,
        CoordinateMedian,
        TrimmedMean,
        MeaMed,
        Phocas,
        Krum,
        MultiKrum,
        GeometricMedian,
        CenteredClipping,
        Bulyan,
        FlagAggregator,
    )
}
"""Registry: aggregator name -> class (``nnm+<name>`` composes NNM with any of them)."""


def _lookup(key: str) -> type[Aggregator]:
    if key not in AGGREGATORS:
        known = ", ".join([*sorted(AGGREGATORS), "nnm+<any of these>"])
        raise ParameterError(f"unknown aggregator {key!r}; known: {known}")
    return AGGREGATORS[key]


def _parameter_names(cls: type[Aggregator]) -> list[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [parameter.name for parameter in parameters if parameter.name != "self" and parameter.kind in plain]


def _build(cls: type[Aggregator], params: dict[str, Any]) -> Aggregator:
    accepted = _parameter_names(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "no parameters"
        raise ParameterError(f"aggregator {cls.name!r} does not take {', '.join(unknown)}; it takes {takes}")
    try:
        return cls(**params)
    except TypeError as error:  # a required parameter is missing
        raise ParameterError(f"aggregator {cls.name!r} needs {', '.join(accepted)}: {error}") from error


def _check_krum(rule: str, n: int, f: int) -> None:
    if n < 2 * f + 3:
        raise ParameterError(f"{rule} needs n >= 2f + 3 = {2 * f + 3} workers for f={f}, got n={n}")


def _squared_distances(updates: FloatArray) -> FloatArray:
    """Pairwise squared Euclidean distances ``(n, n)`` through one Gram matrix (O(n^2 d)).

    Callers pass the input at unit scale (every entry below 1 in magnitude, see ``at_unit_scale``), where
    no entry of the Gram matrix overflows, so no inf - inf = NaN distance can arise.
    """
    gram = updates @ updates.T
    norms = np.diag(gram)
    distances = norms[:, None] + norms[None, :] - 2.0 * gram
    np.fill_diagonal(distances, 0.0)
    return np.asarray(np.maximum(distances, 0.0), dtype=np.float64)


def _krum_scores(distances: FloatArray, f: int) -> FloatArray:
    """Krum score per row of a ``(k, k)`` squared-distance matrix: the sum over its k - f - 2 nearest others."""
    k = distances.shape[0]
    neighbours = min(max(k - f - 2, 0), k - 1)
    others = np.sort(distances + np.diag(np.full(k, np.inf)), axis=1)[:, :neighbours]
    scores = others.sum(axis=1)
    # a NaN score must never win an argmin (numpy's argmin returns the first NaN): it counts as +inf
    return np.asarray(np.where(np.isnan(scores), np.inf, scores), dtype=np.float64)


def _trimmed_mean(updates: FloatArray, f: int) -> FloatArray:
    ordered = np.sort(updates, axis=0)
    return np.asarray(ordered[f : updates.shape[0] - f].mean(axis=0), dtype=np.float64)


def _mean_of_closest(updates: FloatArray, centre: FloatArray, count: int) -> FloatArray:
    """Per coordinate, the mean of the ``count`` values closest to ``centre`` (ties to the lower row)."""
    closest = np.argsort(np.abs(updates - centre), axis=0, kind="stable")[:count]
    return np.asarray(np.take_along_axis(updates, closest, axis=0).mean(axis=0), dtype=np.float64)
