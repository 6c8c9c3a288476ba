"""Baseline: TenSEAL CKKSVector public API (sum, dot, mul, enc_matmul_plain, matmul routes)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import tenseal as ts
from _common import median, time_repeats
from _einsum_cases import MAX_DENSE_ENTRIES, POLY_MODULUS_DEGREE, SCALE_BITS, TENSEAL_THREADS, Case, Settings, max_error


# ----------------------------------------------------------------------------- TenSEAL helpers
def tenseal_context(depth: int) -> tuple[Any, float]:
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        POLY_MODULUS_DEGREE,
        coeff_mod_bit_sizes=[60, *([SCALE_BITS] * depth), 60],
        n_threads=TENSEAL_THREADS,
    )
    ctx.global_scale = 2.0**SCALE_BITS
    start = time.perf_counter()
    ctx.generate_galois_keys()
    return ctx, time.perf_counter() - start


def index_map(labels: str, shape: Sequence[int], target: str, sizes: dict[str, int]) -> np.ndarray:
    """For each flat position of the row-major ``target`` index space, the flat index into ``labels``."""
    index = np.arange(math.prod(shape)).reshape(shape)
    index = index.transpose([labels.index(label) for label in target if label in labels])
    index = index.reshape([sizes[label] if label in labels else 1 for label in target])
    return np.broadcast_to(index, [sizes[label] for label in target]).ravel()


def expansion_matrix(labels: str, shape: Sequence[int], joint: str, sizes: dict[str, int]) -> np.ndarray:
    """0/1 matrix (n_labels x n_joint): vector @ matrix copies each element to its joint positions."""
    positions = index_map(labels, shape, joint, sizes)
    matrix = np.zeros((math.prod(shape), positions.size))
    matrix[positions, np.arange(positions.size)] = 1.0
    return matrix


def reduction_matrix(joint: str, output: str, sizes: dict[str, int]) -> np.ndarray:
    """0/1 matrix (n_joint x n_output) summing the joint space onto the output."""
    out_shape = [sizes[label] for label in output]
    positions = index_map(output, out_shape, joint, sizes)
    matrix = np.zeros((positions.size, math.prod(out_shape)))
    matrix[np.arange(positions.size), positions] = 1.0
    return matrix


def linear_map(case: Case, arrays: list[np.ndarray]) -> np.ndarray:
    """Matrix W (n_in x n_out) with einsum(x, plain...) == x.ravel() @ W, operand 0 encrypted."""
    free = next(c for c in "ZYXWVUTSRQ" if c not in case.expression)
    n_in = arrays[0].size
    basis = np.eye(n_in).reshape(n_in, *arrays[0].shape)
    subscripts = ",".join([free + case.inputs[0], *case.inputs[1:]]) + "->" + free + case.output
    return np.einsum(subscripts, basis, *arrays[1:]).reshape(n_in, -1)


def encrypt_vector(ctx: Any, values: np.ndarray) -> Any:
    return ts.ckks_vector(ctx, np.asarray(values, dtype=np.float64).ravel().tolist())


def decrypt_vector(vector: Any, size: int) -> np.ndarray:
    return np.asarray(vector.decrypt(), dtype=np.float64)[:size]


@dataclass(frozen=True)
class MatmulCost:
    """One TenSEAL ``matmul`` of a length-``rows`` input by a rows x cols plain matrix."""

    rows: int
    cols: int
    nonzero_diagonals: int  # of the ``rows`` diagonals TenSEAL multiplies by, those not all zero
    used_levels: int  # levels the input has used (cheaper ciphertexts further down the chain)


def tenseal_nonzero_diagonals(rows: np.ndarray, cols: np.ndarray, n: int, m: int, slots: int) -> int:
    """How many of TenSEAL's ``n`` matmul diagonals of an n x m matrix hold a nonzero entry.

    TenSEAL's diagonal k (0 <= k < n) holds ``matrix[(k + t) % n][t % m]`` for t < min(slots, n*m);
    a nonzero entry at (r, c) therefore lands on the diagonals (r - t) mod n with t = c (mod m).
    """
    length = min(slots, n * m)
    shifts = np.arange(0, length, m)
    t = np.asarray(cols)[:, None] + shifts[None, :]
    k = (np.asarray(rows)[:, None] - t) % n
    return int(np.unique(k[t < length]).size)


@dataclass
class VectorMethod:
    """One way to compute an expression with TenSEAL CKKSVector."""

    name: str
    layout: str  # "same": operands encrypted row-major like securecompute; "client": client re-encodes
    matmuls: list[MatmulCost] = field(default_factory=list)
    prepare: Callable[[Any], Callable[[], Any]] | None = None

    @property
    def matrix_entries(self) -> int:
        return sum(cost.rows * cost.cols for cost in self.matmuls)


class TensealVectorBaseline:
    """TenSEAL CKKSVector routes for the expressions, with timed matmul calibrations.

    TenSEAL's ``matmul`` walks all ``rows`` diagonals: a diagonal with a nonzero entry costs an
    encoding, a plaintext multiplication and a rotation by its index; an all-zero one costs about
    an encoding only (measured: the identity matrix is ~20x faster than a dense one).  The
    calibration times a dense and an identity ``calibration_rows``-square matmul at each level used.
    """

    def __init__(self, ctx: Any, settings: Settings) -> None:
        self.ctx, self.settings = ctx, settings
        self.calibration: dict[int, dict[str, Any]] = {}

    def row_seconds(self, used_levels: int) -> tuple[float, float]:
        """Seconds per nonzero and per all-zero diagonal of ``matmul`` after ``used_levels`` levels."""
        if used_levels not in self.calibration:
            n = self.settings.calibration_rows
            rng = np.random.default_rng(1000 + used_levels)
            values = rng.uniform(-1, 1, n)
            vector = encrypt_vector(self.ctx, values)
            for _ in range(used_levels):
                vector = vector * vector
                values = values * values
            record: dict[str, Any] = {"rows": n, "used_levels": used_levels}
            for name, matrix in (("dense", rng.uniform(-1, 1, (n, n))), ("identity", np.eye(n))):
                plain = ts.plain_tensor(matrix)
                start = time.perf_counter()
                product = vector.matmul(plain)
                record[f"{name}_s"] = time.perf_counter() - start
                record[f"{name}_max_abs_error"] = max_error(decrypt_vector(product, n), values @ matrix)
            record["nonzero_diagonal_s"] = record["dense_s"] / n
            record["zero_diagonal_s"] = max(0.0, (record["identity_s"] - record["nonzero_diagonal_s"]) / (n - 1))
            self.calibration[used_levels] = record
        found = self.calibration[used_levels]
        return float(found["nonzero_diagonal_s"]), float(found["zero_diagonal_s"])

    def estimate(self, costs: Sequence[MatmulCost]) -> float:
        total = 0.0
        for cost in costs:
            nonzero, zero = self.row_seconds(cost.used_levels)
            total += cost.nonzero_diagonals * nonzero + (cost.rows - cost.nonzero_diagonals) * zero
        return total

    def methods(self, case: Case, arrays: list[np.ndarray]) -> list[VectorMethod]:
        ins, out, k = case.inputs, case.output, len(arrays)
        all_ct = all(case.encrypted)
        found: list[VectorMethod] = []
        if k == 1 and out == "":
            found.append(VectorMethod("sum()", "same", prepare=vector_route(_sum, arrays)))
        if k == 2 and ins[0] == ins[1] and out == "":
            if all_ct:
                found.append(VectorMethod("dot(ct)", "same", prepare=vector_route(_dot, arrays)))
            else:
                dot_plain = partial(_dot_plain, arrays[1].ravel().tolist())
                found.append(VectorMethod("dot(plain)", "same", prepare=vector_route(dot_plain, arrays[:1])))
        if k >= 2 and all(labels == out for labels in ins):
            if all_ct:
                name = " * ".join(["ct"] * k) + " (mul)"
                found.append(VectorMethod(name, "same", prepare=vector_route(_product, arrays)))
            else:
                mul_plain = partial(_mul_plain, arrays[1].ravel().tolist())
                found.append(VectorMethod("mul(plain)", "same", prepare=vector_route(mul_plain, arrays[:1])))
        found += self._enc_matmul_plain(case, arrays)
        if not any(m.layout == "same" for m in found):
            found.append(self._general(case, arrays))
        return found

    def _enc_matmul_plain(self, case: Case, arrays: list[np.ndarray]) -> list[VectorMethod]:
        """``enc_matmul_plain``: 2-D encrypted X summed over one axis against a plain vector (or ones)."""
        ins, out = case.inputs, case.output
        if len(ins[0]) != 2 or len(out) != 1 or out not in ins[0]:
            return []
        summed = ins[0].replace(out, "")
        if len(ins) == 1:
            weights = np.ones(case.sizes[summed])
        elif len(ins) == 2 and not case.encrypted[1] and ins[1] == summed:
            weights = arrays[1]
        else:
            return []
        # enc_matmul_plain(w, rows) reads the vector as consecutive chunks of ``rows`` values (one per
        # entry of w) and returns sum_c w[c] * chunk_c.  Row-major X gives chunks = rows of X, so it
        # sums the first axis; summing the second needs X encrypted column-major by the client.
        matrix = arrays[0] if summed == ins[0][0] else arrays[0].T
        layout = "same" if summed == ins[0][0] else "client"
        name = "enc_matmul_plain" + ("" if layout == "same" else " (X encrypted column-major)")
        operation = partial(_enc_matmul_plain, weights.tolist(), case.sizes[out])
        return [VectorMethod(name, layout, prepare=vector_route(operation, [matrix]))]

    def _general(self, case: Case, arrays: list[np.ndarray]) -> VectorMethod:
        sizes, out = case.sizes, case.output
        slots = POLY_MODULUS_DEGREE // 2
        out_size = math.prod(sizes[label] for label in out)
        if len(arrays) == 1 or not all(case.encrypted):
            n_in = arrays[0].size
            if len(arrays) == 1:  # a 0/1 matrix: input position -> output position
                rows = np.arange(n_in)
                cols = index_map(out, [sizes[label] for label in out], case.inputs[0], sizes)
            else:
                rows, cols = np.nonzero(linear_map(case, arrays))
            cost = MatmulCost(n_in, out_size, tenseal_nonzero_diagonals(rows, cols, n_in, out_size, slots), 0)

            def prepare_linear(c: Any) -> Callable[[], Any]:
                return vector_route(partial(_matmul, ts.plain_tensor(linear_map(case, arrays))), arrays[:1])(c)

            return VectorMethod("matmul(linear map)", "same", [cost], prepare_linear)
        joint = case.joint
        n_joint = math.prod(sizes.values())
        expand = [labels != joint for labels in case.inputs]
        used = (1 if any(expand) else 0) + len(arrays) - 1
        matmuls = []
        for labels, a, e in zip(case.inputs, arrays, expand, strict=True):
            if e:
                rows = index_map(labels, a.shape, joint, sizes)
                nonzero = tenseal_nonzero_diagonals(rows, np.arange(n_joint), a.size, n_joint, slots)
                matmuls.append(MatmulCost(a.size, n_joint, nonzero, 0))
        reduce = out not in ("", joint)
        if reduce:
            cols = index_map(out, [sizes[label] for label in out], joint, sizes)
            nonzero = tenseal_nonzero_diagonals(np.arange(n_joint), cols, n_joint, out_size, slots)
            matmuls.append(MatmulCost(n_joint, out_size, nonzero, used))
        name = "matmul expand -> mul -> " + ("sum()" if out == "" else "matmul reduce" if reduce else "done")

        def prepare_general(c: Any) -> Callable[[], Any]:
            vectors = [encrypt_vector(c, a) for a in arrays]
            expanders = [
                ts.plain_tensor(expansion_matrix(labels, a.shape, joint, sizes)) if e else None
                for labels, a, e in zip(case.inputs, arrays, expand, strict=True)
            ]
            reducer = ts.plain_tensor(reduction_matrix(joint, out, sizes)) if reduce else None

            def run() -> Any:
                parts = [v.matmul(t) if t is not None else v for v, t in zip(vectors, expanders, strict=True)]
                result = _product(*parts)
                if out == "":
                    return result.sum()
                return result.matmul(reducer) if reducer is not None else result

            return run

        return VectorMethod(name, "same", matmuls, prepare_general)

    def run(self, case: Case, arrays: list[np.ndarray]) -> list[dict[str, Any]]:
        expected = np.einsum(case.expression, *arrays)
        rows = []
        for method in self.methods(case, arrays):
            estimate = self.estimate(method.matmuls)
            record: dict[str, Any] = {
                "method": method.name,
                "layout": method.layout,
                "matmuls": [cost.__dict__ for cost in method.matmuls],
                "estimate_s": estimate if method.matmuls else None,
            }
            too_big = method.matrix_entries > MAX_DENSE_ENTRIES
            if method.matmuls and (estimate > self.settings.real_budget_s or too_big):
                record.update(
                    status="extrapolated",
                    seconds=estimate,
                    max_abs_error=None,
                    note="not run: nonzero diagonals x calibrated seconds each + zero diagonals x seconds each"
                    + (f"; the dense matrices would hold {method.matrix_entries} entries" if too_big else ""),
                )
            else:
                assert method.prepare is not None
                run = method.prepare(self.ctx)
                repeats = (
                    self.settings.repeats
                    if estimate * self.settings.repeats <= 1.5 * self.settings.real_budget_s
                    else 1
                )
                times, result = time_repeats(run, repeats)
                record.update(
                    status="measured",
                    seconds=median(times),
                    latencies_s=times,
                    max_abs_error=max_error(decrypt_vector(result, expected.size), expected),
                )
                del run, result
            rows.append(record)
        return rows


def vector_route(operation: Callable[..., Any], encrypted: Sequence[np.ndarray]) -> Callable[[Any], Callable[[], Any]]:
    """A ``prepare(context)`` that encrypts ``encrypted`` (untimed) and returns the timed call."""

    def prepare(ctx: Any) -> Callable[[], Any]:
        vectors = [encrypt_vector(ctx, a) for a in encrypted]
        return lambda: operation(*vectors)

    return prepare


def _sum(v: Any) -> Any:
    return v.sum()


def _dot(v: Any, u: Any) -> Any:
    return v.dot(u)


def _dot_plain(plain: list[float], v: Any) -> Any:
    return v.dot(plain)


def _mul_plain(plain: list[float], v: Any) -> Any:
    return v.mul(plain)


def _matmul(matrix: Any, v: Any) -> Any:
    return v.matmul(matrix)


def _enc_matmul_plain(weights: list[float], rows: int, v: Any) -> Any:
    return v.enc_matmul_plain(weights, rows)


def _product(*factors: Any) -> Any:
    result = factors[0]
    for factor in factors[1:]:
        result = result * factor
    return result
