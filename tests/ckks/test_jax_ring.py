"""The JAX engine's exact uint64 products against Python integers and numpy's ``ring.mul_mod`` (hypothesis).

Barrett's bound needs no primality, so the moduli here are any integers of 2..61 bits (every modulus
``barrett_columns`` accepts, [3, 2^61); primes included: the NTT primes of the chains), with the edge
residues 0, 1, q-1 and q-2 in every batch.  The Shoup products (key constants; the constant 1 as the
engine's reduction of any uint64 word) and the engine's run-wise modular sums are checked the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.ckks.ring import mul_mod
from securecompute.cross.primes import find_ntt_primes
from securecompute.errors import ParameterError

jax = pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")

from securecompute.cross.jax_wide import barrett_columns, shoup_multiply  # noqa: E402
from securecompute.cross.jax_wide import mul_mod as jax_mul_mod  # noqa: E402

WIDTH = 128
EDGES = 4


def _program() -> Any:
    """One jitted program for every modulus (q, mu, bits passed as arrays: no recompiles per example)."""
    with jax.enable_x64(True):
        return jax.jit(lambda a, b, q, mu, bits: jax_mul_mod(jax.numpy, a, b, q, mu, bits))


PROGRAM = _program()


def _device_product(a: np.ndarray, b: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(PROGRAM(a, b, *barrett_columns(moduli)))


def _batch(q: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)  # test data only
    a = rng.integers(0, q, WIDTH, dtype=np.uint64)
    b = rng.integers(0, q, WIDTH, dtype=np.uint64)
    a[:EDGES], b[:EDGES] = [0, q - 1, q - 1, q - 2], [q - 1, q - 1, 1, q - 2]
    return a, b


@settings(max_examples=60, derandomize=True, deadline=None)
@given(bits=st.integers(2, 61), offset=st.integers(0, 2**64), seed=st.integers(0, 2**32 - 1))
def test_barrett_product_equals_python_integers(bits: int, offset: int, seed: int) -> None:
    q = (1 << (bits - 1)) + offset % (1 << (bits - 1))  # any integer of exactly ``bits`` bits
    q = max(q, 3)
    a, b = _batch(q, seed)
    ours = _device_product(a[None], b[None], (q,))[0]
    expected = [int(x) * int(y) % q for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    assert ours.tolist() == expected


@pytest.mark.parametrize("q", [3, 4, 5, 7, 8, 65537, (1 << 60) - 93, (1 << 60), (1 << 61) - 1, (1 << 61) - 2])
def test_barrett_product_at_the_edges_of_the_accepted_range(q: int) -> None:
    """Every pair of edge residues for the smallest moduli, powers of two (mu = 2^(s+1) exactly) and the widest."""
    edges = sorted({value % q for value in (0, 1, 2, q // 2, q // 2 + 1, q - 2, q - 1)})
    a = np.array([x for x in edges for _ in edges], dtype=np.uint64)
    b = np.array([y for _ in edges for y in edges], dtype=np.uint64)
    ours = _device_product(a[None], b[None], (q,))[0]
    assert ours.tolist() == [int(x) * int(y) % q for x, y in zip(a.tolist(), b.tolist(), strict=True)]


def test_barrett_product_on_the_chains_primes_equals_numpy() -> None:
    """A (L, N) batch over NTT primes of 17..60 bits (and the widest allowed, 61): the words of ``ring.mul_mod``."""
    moduli = (
        *find_ntt_primes(17, 1024, 1),
        *find_ntt_primes(30, 1024, 2),
        *find_ntt_primes(40, 1024, 1),
        *find_ntt_primes(60, 1024, 2),
        (1 << 61) - 1,
    )
    q = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    rng = np.random.default_rng(5)  # test data only
    a = rng.integers(0, 1 << 62, (len(moduli), WIDTH), dtype=np.uint64) % q
    b = rng.integers(0, 1 << 62, (len(moduli), WIDTH), dtype=np.uint64) % q
    a[:, 0], b[:, 0] = (q - 1)[:, 0], (q - 1)[:, 0]
    assert np.array_equal(_device_product(a, b, moduli), mul_mod(a, b, q))
    for row, modulus in enumerate(moduli):
        assert _device_product(a, b, moduli)[row].tolist() == [
            int(x) * int(y) % modulus for x, y in zip(a[row].tolist(), b[row].tolist(), strict=True)
        ]


def test_shoup_with_one_reduces_any_word() -> None:
    """The engine's reduction (a Shoup product with the constant 1) on words up to 2^64 - 1."""
    moduli = (65537, (1 << 40) - 87, (1 << 60) - 93)
    q = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    companion = np.array([(1 << 64) // m for m in moduli], dtype=np.uint64).reshape(-1, 1)
    words = np.random.default_rng(6).integers(0, 1 << 63, (3, WIDTH), dtype=np.uint64) * np.uint64(2)  # test data
    words[:, :3] = np.array([0, (1 << 64) - 1, 1], dtype=np.uint64)
    with jax.enable_x64(True):
        ours = np.asarray(shoup_multiply(jax.numpy, jax.numpy.asarray(words), jax.numpy.uint64(1), companion, q))
    assert np.array_equal(ours, words % q)


def test_barrett_columns_refuse_moduli_out_of_range() -> None:
    with pytest.raises(ParameterError, match=r"outside \[3, 2\^61\)"):
        barrett_columns((97, 1 << 61))


def _shoup_program() -> Any:
    with jax.enable_x64(True):
        return jax.jit(lambda a, b, companion, q: shoup_multiply(jax.numpy, a, b, companion, q))


SHOUP = _shoup_program()


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    q=st.integers(3, (1 << 61) - 1),
    constant=st.integers(0, 2**64),
    words=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=16),
)
def test_shoup_product_equals_python_integers_for_any_word(q: int, constant: int, words: list[int]) -> None:
    """``a * b mod q`` for a constant b < q and any uint64 a (ModDown's and the keys' products, and with
    b = 1 the engine's reduction), edges 0 and 2^64 - 1 included."""
    a = np.array([0, (1 << 64) - 1, q - 1, q, *words], dtype=np.uint64)
    for b in (1, constant % q, q - 1):
        column = np.array([[b]], dtype=np.uint64)
        companion = np.array([[(b << 64) // q]], dtype=np.uint64)
        with jax.enable_x64(True):
            ours = np.asarray(SHOUP(a[None], column, companion, np.array([[q]], dtype=np.uint64)))[0]
        assert ours.tolist() == [int(x) * b % q for x in a.tolist()], b


@pytest.mark.parametrize("widths", [(60, 60), (61, 17), (17, 61, 40), (3,)])
def test_run_wise_sums_on_the_device_equal_python_integers(widths: tuple[int, ...]) -> None:
    """``arrays.sum_mod`` traced with the JAX primitives: 40 terms of residues near q (runs of 3 to 15
    terms for 61..60-bit moduli) sum without wrapping past 2^64, as on numpy."""
    from securecompute.ckks.arrays import NumpyRingOps, sum_mod
    from securecompute.ckks.device import JaxRingOps

    moduli = tuple(max(3, (1 << bits) - 1 - 2 * index) for index, bits in enumerate(widths))
    q = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    rng = np.random.default_rng(7)  # test data only
    terms = q - np.uint64(1) - rng.integers(0, 3, (40, len(moduli), WIDTH), dtype=np.uint64) % q
    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(lambda t: sum_mod(JaxRingOps(jax.numpy, WIDTH, {}, {}), t, moduli))(terms))
    expected = [[sum(int(t) for t in terms[:, row, col]) % m for col in range(WIDTH)] for row, m in enumerate(moduli)]
    assert ours.tolist() == expected
    assert sum_mod(NumpyRingOps(WIDTH), terms, moduli).tolist() == expected
