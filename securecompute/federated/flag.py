r"""Flag Aggregator (Almasi, Mishra, Vamanan, Ravi, ICLR 2024), computed through a p x p Gram matrix.

Notation: p workers send gradients g_1..g_p in R^d (the rows of the ``(p, d)`` input); g~_i = g_i / ||g_i||
(a zero gradient stays zero); Y is a d x m matrix with Y^T Y = I_m.  The reconstruction ratio of worker i
is v_i(Y) = ||Y^T g~_i||^2 in [0, 1].  Flag Aggregator minimises

    A(Y) = sum_i sqrt(1 - v_i(Y)) + lam / (p (p - 1)) * sum_{i != j} sqrt(|1 - ||Y^T (g~_i - g~_j)||^2|)

by iteratively reweighted least squares (IRLS).  At Y_k, with eps = 1e-7,

    w_i  = (|1 - v_i(Y_k)| + eps)^(-1/4),
    w_ij = lam / (p (p - 1)) * (|1 - ||Y_k^T (g~_i - g~_j)||^2| + eps)^(-1/4)      (lam > 0 only),

and Y_{k+1} holds the top-m left singular vectors of the weighted matrix
[w_1 g~_1, ..., w_p g~_p, w_12 (g~_1 - g~_2), ...] (all ordered pairs i != j).  The aggregate is

    (1 / m) * Y Y^T sum_i g~_i.

This is the objective, weights, update and output of the authors' released code
(hamidralmasi/FlagAggregator); the code starts from Y_0 = the Q factor of a d x m matrix of U(-0.5, 0.5)
entries drawn from a fixed seed on every call, and takes ONE IRLS step (``iterations=1`` here).

How we compute it (never a d x d or d x (p + p^2) object).  Every column of the weighted matrix lies in the
span of the g~_i, so with G~ = [g~_1 .. g~_p] (d x p) and its Gram matrix K = G~^T G~ = V diag(s) V^T
(rank r), the orthonormal basis U = G~ V_r diag(s_r)^(-1/2) of that span gives each g~_i the coordinates
a_i = column i of A = diag(s_r)^(1/2) V_r^T (r x p).  The weighted matrix is G~ B for a p x q matrix B, and
its top-m left singular vectors are U Z with Z the top-m eigenvectors of the r x r matrix A (B B^T) A^T,
where B B^T = diag(w_i^2) + 2 (D - W) (W_ij = w_ij^2, D its row sums: a weighted graph Laplacian).  All
projections Y^T g~_i are then Z^T a_i, so the objective and the next weights cost O(p^2 m), and the output is
(1/m) U Z Z^T A 1 = sum_i c_i g_i with c = V_r diag(s_r)^(-1/2) Z Z^T A 1 / (m ||g_i||).  The random Y_0 is
only needed through Y_0^T G~ = R^(-T) X^T G~ (X the d x m uniform matrix, X^T X = R^T R), which is
accumulated over row blocks of X (the column blocks of the input, 32,768 at a time).  Cost per call: O(p^2 d) for K, O(m p d) for the random start, O(p d) for
the output, and O(p^3) per IRLS step; memory O(p^2 + block m) beyond the input.  When m exceeds the rank r,
the extra directions of Y are orthogonal to every g~_i and change nothing, so Z keeps min(m, r) columns.

Iterating (``iterations > 1``) continues while the objective decreases by more than ``tol`` and stays above
``tol`` (the stopping rule of the authors' IRLS routine); a step that does not decrease the objective is
discarded and the previous Y kept.  The first step from the random Y_0 is always taken.

Deviations from the authors' code (documented on purpose):
- the random start uses numpy's Generator (``seed``) rather than ``torch.manual_seed(1)``, so Y_0 is a
  different draw of the same distribution; with an int ``seed`` the same Y_0 is used on every call, as there;
- a zero gradient is treated as g~ = 0 instead of producing NaN;
- ``rescale=True`` (off by default) multiplies the aggregate so that its norm is the median of the ||g_i||:
  the paper's output discards gradient magnitudes (unit vectors, divided by m), which ties the step size to
  the learning rate alone; rescaling makes Flag comparable with rules that return a gradient-sized vector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._base import Aggregator
from securecompute.federated._checks import (
    FloatArray,
    as_updates,
    check_int,
    check_positive,
    column_blocks,
    row_scales,
    unit_block,
    unit_exponent,
)
from securecompute.randomness import Seed, as_generator

__all__ = ["FlagAggregator", "flag_objective"]

IRLS_EPSILON = 1e-7
"""The eps of the IRLS weights (|1 - v| + eps)^(-1/4), as in the authors' code."""

MAX_LAM = 1e100
"""Largest pairwise-regulariser weight: pair weights reach lam (1e-7)^(-1/4), about 56 lam, and are squared."""

RANK_TOLERANCE = 1e-12
"""Eigenvalues of the Gram matrix below this fraction of the largest are treated as zero (rank cut)."""


class FlagAggregator(Aggregator):
    """Flag Aggregator: IRLS over the Grassmannian for the subspace that best reconstructs most workers.

    Args:
        m: subspace dimension (the code's ``r_col``; 8 for 15 workers in the paper's runs), 1 <= m <= d.
        lam: weight of the pairwise regulariser, 0 <= lam <= 1e100 (0 in the paper's main runs; the squared
            pair weights, up to (56 lam)^2, must stay finite).
        iterations: IRLS steps at most, >= 1; 1 reproduces the paper's code, more iterate to convergence.
        rescale: scale the output to the median worker norm (our deviation; off reproduces the paper).
        seed: the random start Y_0 (int: the same Y_0 on every call; a Generator advances; None: fresh).
        tol: stopping threshold on the objective and its decrease, >= 0.

    After each call, ``last_objectives`` holds A(Y) at Y_0 and after each accepted step (non-increasing
    after the first step) and ``last_reconstruction`` the v_i of the final Y.  Flag does not use f.
    """

    name = "flag"

    def __init__(
        self,
        m: int = 8,
        lam: float = 0.0,
        iterations: int = 1,
        rescale: bool = False,
        seed: Seed = 1,
        tol: float = 1e-10,
    ) -> None:
        self.m = check_int("m", m, 1)
        self.lam = check_positive("lam", lam, allow_zero=True)
        if self.lam > MAX_LAM:  # beyond ~1e154 the squared pair weights overflow and eigh fails (LinAlgError)
            raise ParameterError(
                f"flag needs lam <= {MAX_LAM:g} (its squared pair weights must stay finite), got {lam!r}"
            )
        self.iterations = check_int("iterations", iterations, 1)
        if not isinstance(rescale, bool):
            raise ParameterError(f"rescale must be True or False, got {rescale!r}")
        self.rescale = rescale
        as_generator(seed)  # refuses a bad seed now rather than at the first call
        self.seed = seed
        self.tol = check_positive("tol", tol, allow_zero=True)
        self.last_objectives: list[float] = []
        self.last_reconstruction: FloatArray = np.zeros(0)

    def __call__(self, updates: Any) -> FloatArray:
        array = as_updates(updates)
        if self.m > array.shape[1]:
            raise ParameterError(f"flag needs m <= d, got m={self.m} with d={array.shape[1]}")
        return self._aggregate(array)

    def _aggregate(self, updates: FloatArray) -> FloatArray:
        p = updates.shape[0]
        # Everything below runs on the unit vectors g~_i (computed without squaring a large entry), so no
        # Gram entry, projection or output overflows whatever the finite input; only rescale uses the norms.
        units = _UnitRows(updates)
        norms = units.norms
        coordinates, basis_map = _span_coordinates(units.gram())
        if coordinates.shape[0] == 0:  # every gradient is zero
            self.last_objectives = [float(p)]
            self.last_reconstruction = np.zeros(p)
            return np.zeros(updates.shape[1])

        projections = _random_start_projections(units, self.m, as_generator(self.seed))
        objective = flag_objective(projections, self.lam)
        self.last_objectives = [objective]
        frame = np.zeros((coordinates.shape[0], 0))
        for step in range(self.iterations):
            weights = _irls_weight_matrix(projections, self.lam)
            candidate = _top_eigenvectors(coordinates @ weights @ coordinates.T, self.m)
            candidate_projections = candidate.T @ coordinates
            candidate_objective = flag_objective(candidate_projections, self.lam)
            if step > 0 and candidate_objective >= objective:
                break  # no decrease: keep the previous Y
            decrease = objective - candidate_objective
            frame, projections, objective = candidate, candidate_projections, candidate_objective
            self.last_objectives.append(objective)
            if decrease <= self.tol or objective <= self.tol:
                break

        self.last_reconstruction = np.sum(projections**2, axis=0)
        # (1/m) Y Y^T sum_i g~_i with Y = U Z, written as sum_i c_i g_i
        span_sum = frame @ (frame.T @ coordinates.sum(axis=1))
        coefficients = basis_map @ span_sum / self.m
        aggregate = units.transpose_times(coefficients)
        if self.rescale:
            length = float(np.linalg.norm(aggregate))
            if length > 0:
                aggregate = aggregate / length * float(np.median(norms))  # unit first: no overflow
        return aggregate


def flag_objective(projections: FloatArray, lam: float) -> float:
    """The Flag objective A(Y) from the projections ``Y^T g~_i`` ``(m, p)`` (one column per worker).

    sum_i sqrt(1 - v_i) + lam / (p (p - 1)) sum_{i != j} sqrt(|1 - ||Y^T (g~_i - g~_j)||^2|).
    """
    reconstruction = np.sum(projections**2, axis=0)
    value = float(np.sum(np.sqrt(np.maximum(1.0 - reconstruction, 0.0))))
    p = projections.shape[1]
    if lam > 0 and p > 1:
        pair = _pair_reconstruction(projections, reconstruction)
        off_diagonal = ~np.eye(p, dtype=bool)
        value += lam / (p * (p - 1)) * float(np.sum(np.sqrt(np.abs(1.0 - pair[off_diagonal]))))
    return value


class _UnitRows:
    """The unit gradients g~_i = g_i / ||g_i|| ``(p, d)`` as products, read in column blocks (never a copy).

    When no Gram entry of the input can overflow (:func:`unit_exponent` is 0: every |entry| is below
    2**e with 4 p d 4**e < 2**1000), the products are taken on the input itself and the factors 1/||g_i||
    applied to the p-sized results, as the paper's code does.  Otherwise each column block is scaled per
    row by an exact power of two and divided by the row's scaled norm, so no entry is squared at its
    original magnitude (a 1e155 entry would overflow) and every product is one of unit vectors.
    """

    def __init__(self, updates: FloatArray) -> None:
        self._updates = updates
        self.shape = updates.shape
        self._raw_gram: FloatArray | None = None
        if unit_exponent(updates) == 0:
            self._raw_gram = updates @ updates.T
            self.norms = np.sqrt(np.maximum(np.diag(self._raw_gram), 0.0))
        else:
            self._exponents, self._scaled_norms = row_scales(updates)
            with np.errstate(over="ignore"):
                self.norms = np.ldexp(self._scaled_norms, self._exponents)  # finite: as_updates refused the others
        # 1/||g_i|| serves the direct products only; a subnormal norm (scaled path) would make it inf
        with np.errstate(over="ignore"):
            self._inverse = np.divide(1.0, self.norms, out=np.zeros_like(self.norms), where=self.norms > 0)

    def blocks(self) -> Iterator[tuple[slice, FloatArray]]:
        """Column blocks of the input (direct) or of the unit rows (scaled); :meth:`finish` completes a product."""
        for columns in column_blocks(self.shape[1]):
            if self._raw_gram is not None:
                yield columns, self._updates[:, columns]
            else:
                yield columns, unit_block(self._updates, columns, self._exponents, self._scaled_norms)

    def finish(self, product: FloatArray) -> FloatArray:
        """``product`` ``(k, p)`` accumulated over :meth:`blocks`, as a product with the unit rows."""
        return product * self._inverse[None, :] if self._raw_gram is not None else product

    def gram(self) -> FloatArray:
        """G~^T G~ ``(p, p)``, with an exact 1 (0 for a zero gradient) on the diagonal, symmetrised."""
        if self._raw_gram is not None:
            gram = self._inverse[:, None] * self._raw_gram * self._inverse[None, :]
        else:
            gram = np.zeros((self.shape[0], self.shape[0]))
            for _, block in self.blocks():
                gram += block @ block.T
        np.fill_diagonal(gram, (self.norms > 0).astype(np.float64))
        return np.asarray((gram + gram.T) / 2.0, dtype=np.float64)

    def transpose_times(self, coefficients: FloatArray) -> FloatArray:
        """sum_i c_i g~_i ``(d,)`` for ``coefficients`` ``(p,)``."""
        if self._raw_gram is not None:
            return np.asarray(self._updates.T @ (coefficients * self._inverse), dtype=np.float64)
        result = np.empty(self.shape[1])
        for columns, block in self.blocks():
            result[columns] = coefficients @ block
        return result


def _span_coordinates(gram: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Coordinates A ``(r, p)`` of the unit gradients in an orthonormal basis U of their span, and the map
    ``(p, r)`` that writes a vector given in that basis as a combination of the unit gradients (U = G~ map)."""
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    largest = float(eigenvalues[-1]) if eigenvalues.size else 0.0
    keep = eigenvalues > RANK_TOLERANCE * largest if largest > 0 else np.zeros(eigenvalues.shape, dtype=bool)
    values, vectors = eigenvalues[keep], eigenvectors[:, keep]
    coordinates = np.sqrt(values)[:, None] * vectors.T
    basis_map = vectors / np.sqrt(values)[None, :]
    return np.asarray(coordinates, dtype=np.float64), np.asarray(basis_map, dtype=np.float64)


def _random_start_projections(units: _UnitRows, m: int, generator: np.random.Generator) -> FloatArray:
    """Y_0^T g~_i ``(m, p)`` for the unit gradients ``(p, d)`` and Y_0 = Q factor of a d x m U(-0.5, 0.5) matrix X.

    X is drawn in row blocks (the same numbers as one ``uniform(-0.5, 0.5, (d, m))`` call); with X^T X = R^T R
    (Cholesky), Y_0 = X R^(-1) and Y_0^T G~ = R^(-T) X^T G~.  Column signs may differ from a QR factor, which
    changes no projection norm.
    """
    p = units.shape[0]
    cross = np.zeros((m, m))
    product = np.zeros((m, p))
    for columns, unit_columns in units.blocks():
        block = generator.uniform(-0.5, 0.5, size=(columns.stop - columns.start, m))
        cross += block.T @ block
        product += block.T @ unit_columns.T
    factor = np.linalg.cholesky(cross)  # cross = L L^T, R = L^T
    projections = np.linalg.solve(factor, units.finish(product))
    return np.asarray(projections, dtype=np.float64)


def _pair_reconstruction(projections: FloatArray, reconstruction: FloatArray) -> FloatArray:
    """||Y^T (g~_i - g~_j)||^2 for all pairs ``(p, p)``."""
    inner = projections.T @ projections
    return np.asarray(reconstruction[:, None] + reconstruction[None, :] - 2.0 * inner, dtype=np.float64)


def _irls_weight_matrix(projections: FloatArray, lam: float) -> FloatArray:
    """B B^T ``(p, p)`` for the weighted column matrix B of one IRLS step (worker and pair weights)."""
    reconstruction = np.sum(projections**2, axis=0)
    worker = (np.abs(1.0 - reconstruction) + IRLS_EPSILON) ** -0.25
    matrix = np.diag(worker**2)
    p = projections.shape[1]
    if lam > 0 and p > 1:
        pair = _pair_reconstruction(projections, reconstruction)
        pair_weight = lam / (p * (p - 1)) * (np.abs(1.0 - pair) + IRLS_EPSILON) ** -0.25
        adjacency = pair_weight**2
        np.fill_diagonal(adjacency, 0.0)
        # sum over ordered pairs of a_ij (e_i - e_j)(e_i - e_j)^T = 2 (degree - adjacency)
        matrix += 2.0 * (np.diag(adjacency.sum(axis=1)) - adjacency)
    return np.asarray(matrix, dtype=np.float64)


def _top_eigenvectors(matrix: FloatArray, count: int) -> FloatArray:
    """The eigenvectors ``(r, min(count, r))`` of the largest eigenvalues of a symmetric ``(r, r)`` matrix."""
    _, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    keep = min(count, matrix.shape[0])
    return np.asarray(vectors[:, ::-1][:, :keep], dtype=np.float64)
