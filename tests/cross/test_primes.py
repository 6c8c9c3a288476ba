"""NTT-friendly primes and minimal primitive roots of unity."""

from __future__ import annotations

import pytest

from securecompute.cross.primes import find_ntt_primes, is_prime, minimal_primitive_root
from securecompute.errors import ParameterError


def _trial_division_prime(value: int) -> bool:
    return value >= 2 and all(value % d for d in range(2, int(value**0.5) + 1))


def test_is_prime_agrees_with_trial_division() -> None:
    assert [v for v in range(2000) if is_prime(v)] == [v for v in range(2000) if _trial_division_prime(v)]


def test_is_prime_on_known_64_bit_values() -> None:
    assert is_prime((1 << 61) - 1)  # Mersenne prime
    assert not is_prime(3215031751)  # strong pseudoprime to bases 2, 3, 5, 7
    assert not is_prime(((1 << 32) + 15) * ((1 << 31) - 1))


@pytest.mark.parametrize(("bits", "n"), [(20, 1024), (30, 4096), (30, 16384), (50, 8192), (60, 4096)])
def test_ntt_primes_are_prime_friendly_and_sized(bits: int, n: int) -> None:
    primes = find_ntt_primes(bits, n, 4)
    assert primes == sorted(primes, reverse=True)
    assert len(set(primes)) == 4
    for q in primes:
        assert is_prime(q)
        assert q % (2 * n) == 1
        assert q.bit_length() == bits


def test_ntt_primes_are_the_largest_ones() -> None:
    n, bits = 16, 12
    expected = [q for q in range((1 << bits) - 1, 1 << (bits - 1), -1) if q % (2 * n) == 1 and _trial_division_prime(q)]
    assert find_ntt_primes(bits, n, 3) == expected[:3]


def test_too_few_primes_is_refused() -> None:
    with pytest.raises(ParameterError, match="count"):
        find_ntt_primes(8, 64, 5)


def test_ntt_primes_refuse_non_power_of_two_n() -> None:
    with pytest.raises(ParameterError, match="power of two"):
        find_ntt_primes(30, 100, 1)


@pytest.mark.parametrize(("order", "q"), [(16, 17), (32, 97), (64, 193), (128, 257), (256, 7681), (2048, 12289)])
def test_minimal_root_has_exact_order_and_is_smallest(order: int, q: int) -> None:
    def has_order(r: int) -> bool:
        return pow(r, order, q) == 1 and all(pow(r, order // p, q) != 1 for p in (2,))

    roots = [r for r in range(1, q) if has_order(r)]
    assert minimal_primitive_root(order, q) == roots[0]


def test_minimal_root_for_seal_prime() -> None:
    q, n = 1073479681, 4096
    psi = minimal_primitive_root(2 * n, q)
    assert pow(psi, n, q) == q - 1
    assert pow(psi, 2 * n, q) == 1


def test_minimal_root_refuses_order_not_dividing_q_minus_1() -> None:
    with pytest.raises(ParameterError, match="divide"):
        minimal_primitive_root(64, 97)
