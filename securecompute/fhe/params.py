"""CKKS parameters as validated values: ring degree, prime chain, scale, 128-bit security."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from securecompute.binary import FORMAT_VERSION, MAGICS, ByteReader, checked_int
from securecompute.ckks.params import SECURITY_MAX_COEFF_BITS  # the 128-bit table, owned by the scheme layer
from securecompute.errors import CorruptPayloadError, InsecureParametersError, ParameterError

__all__ = ["AUTO_DEGREES", "SECURITY_MAX_COEFF_BITS", "CKKSParameters"]

AUTO_DEGREES = (8192, 16384, 32768)


@dataclass(frozen=True)
class CKKSParameters:
    """Ring degree N, prime chain in bits (first = data prime q0, last = special key prime), scale 2**scale_bits."""

    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int
    allow_insecure: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        n, scale = (
            checked_int(self.poly_modulus_degree, "poly_modulus_degree"),
            checked_int(self.scale_bits, "scale_bits"),
        )
        if n not in SECURITY_MAX_COEFF_BITS:
            raise ParameterError(f"poly_modulus_degree {n} is not supported; accepted: {list(SECURITY_MAX_COEFF_BITS)}")
        if not isinstance(self.coeff_modulus_bits, (tuple, list)):
            raise ParameterError(f"coeff_modulus_bits must be a tuple of ints, got {self.coeff_modulus_bits!r}")
        bits = tuple(checked_int(b, "coeff_modulus_bits entry") for b in self.coeff_modulus_bits)
        object.__setattr__(self, "coeff_modulus_bits", bits)
        if len(bits) < 2 or any(not 20 <= b <= 60 for b in (*bits, scale)):
            raise ParameterError(
                f"coeff_modulus_bits {bits} / scale_bits {scale}: need >= 2 primes, all in 20..60 bits"
            )
        if any(b < scale for b in bits[1:-1]) or bits[0] <= scale:
            raise ParameterError(f"coeff_modulus_bits {bits}: middle primes need >= {scale} bits, the first > {scale}")
        if bits[-1] < max(bits[:-1]):
            raise ParameterError(f"special (last) prime of {bits[-1]} bits must be at least the largest other prime")
        if not self.is_secure and not self.allow_insecure:
            limit = SECURITY_MAX_COEFF_BITS[n]
            raise InsecureParametersError(f"coeff_modulus_bits sum to {sum(bits)}; N={n} allows at most {limit}")

    @property
    def slots(self) -> int:
        """Real values per ciphertext, N/2."""
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Rescalings available to a fresh ciphertext: number of primes minus 2."""
        return len(self.coeff_modulus_bits) - 2

    @property
    def galois_key_bytes(self) -> int:
        """Bytes of one rotation key in SEAL's layout: (K-1) x 2 x K x N words of 8 bytes, K primes."""
        primes = len(self.coeff_modulus_bits)
        return (primes - 1) * 2 * primes * self.poly_modulus_degree * 8

    @property
    def is_secure(self) -> bool:
        """True when the chain fits the 128-bit table for N."""
        return sum(self.coeff_modulus_bits) <= SECURITY_MAX_COEFF_BITS[self.poly_modulus_degree]

    @classmethod
    def for_depth(
        cls, depth: int, poly_modulus_degree: int | None = None, scale_bits: int = 40, allow_insecure: bool = False
    ) -> CKKSParameters:
        """Chain (60, scale_bits x depth, 60); N defaults to the smallest of 8192/16384/32768 that is secure."""
        depth, scale_bits = checked_int(depth, "depth"), checked_int(scale_bits, "scale_bits")
        if depth < 1:
            raise ParameterError(f"depth {depth} must be at least 1")
        bits = (60, *(scale_bits,) * depth, 60)
        if poly_modulus_degree is None:
            fits = [n for n in AUTO_DEGREES if sum(bits) <= SECURITY_MAX_COEFF_BITS[n]]
            if not fits and not allow_insecure:
                raise InsecureParametersError(
                    f"depth {depth} at {scale_bits}-bit scale needs {sum(bits)} coefficient bits; "
                    f"N=32768 allows at most {SECURITY_MAX_COEFF_BITS[32768]}"
                )
            poly_modulus_degree = fits[0] if fits else 32768
        return cls(poly_modulus_degree, bits, scale_bits, allow_insecure)

    def to_bytes(self) -> bytes:
        """``b"SCKP"``, version, N (u32), scale_bits, prime count, one byte per prime; allow_insecure not stored."""
        bits = self.coeff_modulus_bits
        return (
            MAGICS["ckks-parameters"]
            + struct.pack("<BIBB", FORMAT_VERSION, self.poly_modulus_degree, self.scale_bits, len(bits))
            + bytes(bits)
        )

    @classmethod
    def from_bytes(cls, data: bytes, allow_insecure: bool = False) -> CKKSParameters:
        """Strict inverse of :meth:`to_bytes`; an insecure chain again needs ``allow_insecure=True``."""
        reader = ByteReader(data, "CKKS parameters", MAGICS["ckks-parameters"])
        n, scale, count = reader.unpack("IBB")
        bits = tuple(reader.take(count))
        reader.end()
        try:
            return cls(n, bits, scale, allow_insecure)
        except InsecureParametersError:
            raise
        except ParameterError as exc:
            raise CorruptPayloadError(f"CKKS parameters bytes decode to invalid parameters: {exc}") from None
