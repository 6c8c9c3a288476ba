"""Ring kernels against Python integers, and the algebraic laws the evaluator relies on (hypothesis, fixed seeds)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.ckks.ring import (
    galois_element,
    galois_permutation,
    mul_mod,
    mul_mod_constant,
    negated_positions,
    shoup_companion,
)
from securecompute.cross.ntt import NTT
from securecompute.cross.primes import find_ntt_primes

MODULI = st.sampled_from([97, 65537, (1 << 31) - 1, 1099511922689, 1152921504606584833, (1 << 60) - 93])


@settings(max_examples=40, derandomize=True, deadline=None)
@given(q=MODULI, seed=st.integers(0, 2**32 - 1))
def test_products_equal_python_integers(q: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, q, 256, dtype=np.uint64)
    b = rng.integers(0, q, 256, dtype=np.uint64)
    a[:3], b[:3] = [0, q - 1, q - 1], [q - 1, q - 1, 1]
    column = np.array([q], dtype=np.uint64)
    expected = [int(x) * int(y) % q for x, y in zip(a, b, strict=True)]
    assert mul_mod(a, b, column).tolist() == expected
    companion = shoup_companion(b, column)
    assert companion.tolist() == [(int(y) << 64) // q for y in b]
    assert mul_mod_constant(a, b, companion, column).tolist() == expected


def test_automorphisms_compose_and_match_the_coefficient_rule() -> None:
    """pi_g in the NTT domain is X -> X^g on coefficients (signs from X^N = -1), and pi_g pi_h = pi_(gh)."""
    n = 64
    q = find_ntt_primes(30, n, 1)[0]
    ntt = NTT(n, [q])
    rng = np.random.default_rng(3)
    coefficients = rng.integers(0, q, (1, n))
    evaluations = ntt.forward(coefficients)
    for step in (1, -1, 5):
        g = galois_element(step, n)
        expected = np.zeros(n, dtype=np.int64)
        for i, c in enumerate(coefficients[0]):
            target = i * g % (2 * n)
            if target < n:
                expected[target] = c
            else:
                expected[target - n] = (q - c) % q
        permuted = evaluations[:, galois_permutation(n, g)]
        assert np.array_equal(ntt.inverse(permuted)[0], expected)
        targets, sources = negated_positions(n, g)
        assert all((int(i) * g % (2 * n)) - n == int(t) for t, i in zip(targets, sources, strict=True))
    g, h = galois_element(1, n), galois_element(5, n)
    composed = evaluations[:, galois_permutation(n, g)][:, galois_permutation(n, h)]
    assert np.array_equal(composed, evaluations[:, galois_permutation(n, g * h % (2 * n))])
