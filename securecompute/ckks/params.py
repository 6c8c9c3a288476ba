"""RNS-CKKS parameters as a validated value: ring degree N and the prime chain, SEAL's conventions.

The chain is SEAL's: ``moduli = (q_0, ..., q_(K-2), P)``; the last prime P is the *special prime*,
used only by key switching.  The key level holds all K primes; data level ``c`` (SEAL's
``chain_index``) holds ``q_0 .. q_c``, so a fresh ciphertext is at level K-2 and each rescale or
mod-switch drops the last data prime.  Primes come from :meth:`CKKSParameters.from_bit_sizes`, which
picks exactly the primes of SEAL's ``CoeffModulus.Create`` (per bit size the largest primes
``p = 1 (mod 2N)`` below ``2^bits``, placed in ascending order), so the same bit sizes give the same
chain as the SEAL engine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from securecompute.cross.modmath import MAX_MODULUS_BITS
from securecompute.cross.primes import find_ntt_primes, is_prime
from securecompute.errors import InsecureParametersError, ParameterError

__all__ = ["SECURITY_MAX_COEFF_BITS", "CKKSParameters"]

#: HomomorphicEncryption.org 128-bit classical limits on the total coefficient-modulus bits, the
#: table of SEAL's ``CoeffModulus::MaxBitCount(N, sec_level_type::tc128)``.
SECURITY_MAX_COEFF_BITS: dict[int, int] = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}


@dataclass(frozen=True)
class CKKSParameters:
    """Ring degree and prime chain (last prime = special key-switching prime).

    Attributes:
        poly_modulus_degree: N, a power of two in 16 .. 32768 (below 1024 only with ``allow_insecure``:
            the 128-bit table :data:`SECURITY_MAX_COEFF_BITS` starts at 1024).
        moduli: K >= 2 distinct primes, each ``= 1 (mod 2N)`` and at most 60 bits; the last is P.
        allow_insecure: accept a chain above the 128-bit limit for N (tests of arithmetic only).

    Raises:
        ParameterError: N not supported, fewer than two primes, a modulus that is not an NTT prime.
        InsecureParametersError: total bits above the 128-bit table and ``allow_insecure`` not set.
    """

    poly_modulus_degree: int
    moduli: tuple[int, ...]
    allow_insecure: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        n = self.poly_modulus_degree
        if isinstance(n, bool) or not isinstance(n, int) or not 16 <= n <= 32768 or n & (n - 1):
            raise ParameterError(f"poly_modulus_degree={n!r} must be a power of two in 16..32768")
        moduli = tuple(int(q) for q in self.moduli)
        object.__setattr__(self, "moduli", moduli)
        if len(moduli) < 2:
            raise ParameterError(f"moduli {moduli}: need at least one data prime and the special prime")
        if len(set(moduli)) != len(moduli):
            raise ParameterError(f"moduli {moduli} repeat a prime; every prime of the chain must be distinct")
        for q in moduli:
            if q.bit_length() > MAX_MODULUS_BITS or (q - 1) % (2 * n) or not is_prime(q):
                raise ParameterError(
                    f"modulus {q} must be a prime of at most {MAX_MODULUS_BITS} bits with q = 1 mod 2N={2 * n}"
                )
        if not self.is_secure and not self.allow_insecure:
            raise InsecureParametersError(
                f"moduli sum to {self.total_bits} bits; N={n} allows at most {SECURITY_MAX_COEFF_BITS.get(n, 0)} "
                "at 128-bit security (pass allow_insecure=True for arithmetic tests only)"
            )

    @classmethod
    def from_bit_sizes(
        cls, poly_modulus_degree: int, bit_sizes: list[int] | tuple[int, ...], allow_insecure: bool = False
    ) -> CKKSParameters:
        """The chain SEAL's ``CoeffModulus.Create(N, bit_sizes)`` picks.

        Per distinct size b, the ``count`` largest primes below 2^b with p = 1 (mod 2N) fill that
        size's positions from left to right in ascending order.

        Raises:
            ParameterError: a size outside 2..60 or not enough primes of that size.
        """
        sizes = [int(b) for b in bit_sizes]
        if any(not 2 <= b <= MAX_MODULUS_BITS for b in sizes):
            raise ParameterError(f"bit_sizes {sizes}: every size must lie in 2..{MAX_MODULUS_BITS}")
        available = {b: find_ntt_primes(b, poly_modulus_degree, count) for b, count in Counter(sizes).items()}
        return cls(poly_modulus_degree, tuple(available[b].pop() for b in sizes), allow_insecure)

    @property
    def n(self) -> int:
        """Ring degree N."""
        return self.poly_modulus_degree

    @property
    def slots(self) -> int:
        """Complex slots per ciphertext, N/2."""
        return self.poly_modulus_degree // 2

    @property
    def special_prime(self) -> int:
        """P, the last prime: key switching only."""
        return self.moduli[-1]

    @property
    def max_level(self) -> int:
        """Level (chain index) of a fresh ciphertext: K - 2."""
        return len(self.moduli) - 2

    @property
    def key_level(self) -> int:
        """Chain index of the key level (all K primes): K - 1."""
        return len(self.moduli) - 1

    @property
    def total_bits(self) -> int:
        """Sum of the bit lengths of all primes, the quantity the security table limits."""
        return sum(q.bit_length() for q in self.moduli)

    @property
    def is_secure(self) -> bool:
        """True when the chain fits the 128-bit table for N."""
        limit = SECURITY_MAX_COEFF_BITS.get(self.poly_modulus_degree, 0)  # below 1024: no secure chain
        return self.total_bits <= limit

    def moduli_at(self, level: int) -> tuple[int, ...]:
        """Primes of chain index ``level``: ``q_0 .. q_level`` (level K-1 is the key level, ending in P).

        Raises:
            ParameterError: ``level`` outside ``0 .. K-1``.
        """
        self.check_level(level, allow_key_level=True)
        return self.moduli[: level + 1]

    def check_level(self, level: int, allow_key_level: bool = False) -> None:
        """Raise ParameterError unless ``level`` is a data level (or the key level when allowed)."""
        top = self.key_level if allow_key_level else self.max_level
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= top:
            raise ParameterError(f"level={level!r} is outside the chain: expected an int in 0..{top}")
