"""Sparse linear transforms by BSGS diagonals agree with a dense matrix product (the oracle)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.fhe.engines.simulate import SimulatedEngine
from securecompute.fhe.execute import _linear
from securecompute.fhe.lineartransform import build_linear_transform, count_diagonals
from securecompute.fhe.steps import LinearStep

SLOTS = 32


class _TinyParams:
    """32 slots, one level: below what CKKSParameters accepts, enough for the simulated engine's slot math."""

    slots, depth, poly_modulus_degree, coeff_modulus_bits = SLOTS, 1, 2 * SLOTS, (60, 40, 60)
    galois_key_bytes = 0  # no keys are sent in these tests

    def to_bytes(self) -> bytes:
        return b"tiny"


def _apply(dst: np.ndarray, src: np.ndarray, values: np.ndarray, p_in: int, p_out: int, x: np.ndarray) -> np.ndarray:
    transform = build_linear_transform(dst, src, values, p_in, p_out, SLOTS)
    backend = SimulatedEngine(_TinyParams(), bytes(32))  # type: ignore[arg-type]
    chunks_in = max(1, p_in // SLOTS)
    flat = np.tile(x, max(1, SLOTS // p_in)) if p_in < SLOTS else x
    source = [backend.encrypt(chunk) for chunk in flat.reshape(chunks_in, SLOTS)]
    out = _linear(LinearStep(1, 0, transform), source, backend)
    return np.concatenate([c.values for c in out])


@settings(max_examples=120, derandomize=True, deadline=None)
@given(
    st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
    st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
)
def test_transform_matches_dense_product(p_in: int, p_out: int, entries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dst, src = rng.integers(0, p_out, entries), rng.integers(0, p_in, entries)
    values = rng.normal(size=entries)
    matrix = np.zeros((p_out, p_in))
    np.add.at(matrix, (dst, src), values)
    x = rng.normal(size=p_in)
    out = _apply(dst, src, values, p_in, p_out, x)
    period = SLOTS if max(p_in, p_out) > SLOTS else max(p_in, p_out)
    expected = matrix @ x
    if p_out >= SLOTS:
        np.testing.assert_allclose(out, expected, atol=1e-12)
    else:
        np.testing.assert_allclose(out[:p_out], expected, atol=1e-12)
        np.testing.assert_allclose(out[p_out:period], 0.0, atol=1e-12)


def test_transpose_needs_2n_minus_1_diagonals() -> None:
    n = 8
    i, j = np.divmod(np.arange(n * n), n)
    assert count_diagonals(j * n + i, i * n + j, n * n, n * n, 256) == 2 * n - 1


def test_matrix_vector_uses_n_diagonals_and_about_2_sqrt_n_rotations() -> None:
    n = 16
    rows, columns = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    transform = build_linear_transform(rows, columns, np.ones(n * n), n, n, 256)
    assert transform.diagonals == n
    assert transform.rotations == 6  # baby step 4: 3 baby + 3 giant rotations
