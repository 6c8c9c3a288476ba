"""NTT-friendly primes and minimal primitive roots of unity.

A negacyclic NTT of length n modulo q needs a primitive 2n-th root of unity psi, which exists
exactly when q = 1 (mod 2n).  SEAL and OpenFHE both take psi to be the *smallest* primitive 2n-th
root, so a transform that wants to agree with them bit for bit must make the same choice; that is
why the search here is deterministic and exhaustive rather than random.  Hand-written because it is
twenty lines and must be exactly reproducible.
"""

from __future__ import annotations

from securecompute.errors import ParameterError

__all__ = ["find_ntt_primes", "is_prime", "minimal_primitive_root"]

# Deterministic Miller-Rabin witnesses for every n < 3.3e24 (covers all 64-bit integers).
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def is_prime(value: int) -> bool:
    """Deterministic primality test, exact for every ``value`` below 3.3e24 (all 64-bit integers)."""
    if value < 2:
        return False
    for small in _WITNESSES:
        if value % small == 0:
            return value == small
    odd, twos = value - 1, 0
    while odd % 2 == 0:
        odd //= 2
        twos += 1
    for witness in _WITNESSES:
        x = pow(witness, odd, value)
        if x in (1, value - 1):
            continue
        for _ in range(twos - 1):
            x = x * x % value
            if x == value - 1:
                break
        else:
            return False
    return True


def find_ntt_primes(bits: int, n: int, count: int) -> list[int]:
    """Return the ``count`` largest primes of exactly ``bits`` bits with q = 1 (mod 2n), descending.

    Args:
        bits: bit length of every prime, 2..64.
        n: transform length, a power of two >= 1 (the primes support negacyclic NTTs of length n).
        count: how many primes, >= 1.

    Raises:
        ParameterError: an argument is out of range, or fewer than ``count`` such primes exist.
    """
    if not 2 <= bits <= 64:
        raise ParameterError(f"bits={bits} is out of range: expected 2..64")
    if n < 1 or n & (n - 1):
        raise ParameterError(f"n={n} is not a power of two >= 1")
    if count < 1:
        raise ParameterError(f"count={count} must be >= 1")
    step = 2 * n
    low = 1 << (bits - 1)
    # Largest candidate below 2^bits that is 1 mod 2n.
    candidate = ((1 << bits) - 2) // step * step + 1
    primes: list[int] = []
    while candidate > low and len(primes) < count:
        if is_prime(candidate):
            primes.append(candidate)
        candidate -= step
    if len(primes) < count:
        raise ParameterError(f"only {len(primes)} primes of {bits} bits are 1 mod 2n={step}; asked for count={count}")
    return primes


def minimal_primitive_root(order: int, q: int) -> int:
    """Return the smallest primitive ``order``-th root of unity modulo the prime ``q``.

    ``order`` must be a power of two dividing q - 1 (for a negacyclic NTT of length n, order = 2n).
    An element r has order exactly 2^k iff r^(2^(k-1)) = -1 (mod q).

    Raises:
        ParameterError: ``order`` is not a power of two >= 2, ``q`` is not an odd prime, or
            ``order`` does not divide q - 1.
    """
    if order < 2 or order & (order - 1):
        raise ParameterError(f"order={order} is not a power of two >= 2")
    if q < 3 or not is_prime(q):
        raise ParameterError(f"q={q} is not an odd prime")
    if (q - 1) % order:
        raise ParameterError(f"order={order} does not divide q-1={q - 1}: no primitive root of that order")
    cofactor = (q - 1) // order
    half = order // 2
    # The primitive order-th roots are g^(cofactor*j) for odd j; find any one, then walk all of
    # them (order/2 of them) and keep the smallest.
    for base in range(2, q):
        root = pow(base, cofactor, q)
        if pow(root, half, q) == q - 1:
            break
    else:  # pragma: no cover - a prime q with order | q-1 always has one
        raise ParameterError(f"no primitive {order}-th root of unity modulo q={q}")
    square = root * root % q
    smallest = root
    current = root
    for _ in range(half - 1):
        current = current * square % q
        smallest = min(smallest, current)
    return smallest
