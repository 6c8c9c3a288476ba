"""Keys of RNS-CKKS in SEAL's layout, and key generation from a cryptographic source.

* :class:`SecretKey`: s (ternary) in NTT form over all K primes, uint64 ``(K, N)``.  Held by the
  decrypting party only; it is a separate object from the public evaluation keys.
* :class:`PublicKey`: ``(-(a s + e), a)`` at the key level, uint64 ``(2, K, N)``.
* :class:`KeySwitchingKey`: SEAL's per-prime decomposition: component J (one per data prime,
  J < K-1) is ``(-(a_J s + e_J) + [P mod q_J] s'_J on limb J only, a_J)`` at the key level, uint64
  ``(K-1, 2, K, N)``; s' = s^2 (relinearisation) or pi_g(s) (Galois key for element g).
* :class:`GaloisKeys`: Galois element -> :class:`KeySwitchingKey`.

Generation follows SEAL's formulas with this package's samplers (:mod:`.sampling`); the random
draws are not SEAL's, so keys are SEAL-compatible in form and function but not equal to SEAL's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.ckks.params import CKKSParameters
from securecompute.ckks.ring import (
    add_mod,
    forward,
    galois_element,
    galois_permutation,
    modulus_column,
    mul_mod,
    shoup_companion,
    sub_mod,
)
from securecompute.ckks.sampling import RandomSource, sample_noise, sample_ternary, sample_uniform, signed_to_residues
from securecompute.errors import MissingKeyError, ShapeError

__all__ = ["GaloisKeys", "KeyGenerator", "KeySwitchingKey", "PublicKey", "SecretKey"]


def _check_shape(name: str, data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(data)
    if array.shape != shape or array.dtype != np.uint64:
        raise ShapeError(f"{name} must be uint64 {shape}; got {array.dtype} {array.shape}")
    return array


@dataclass(frozen=True)
class SecretKey:
    """s in NTT form over the full chain, uint64 ``(K, N)``.  Its repr omits the data (logs, tracebacks)."""

    params: CKKSParameters
    data: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        _check_shape("secret key", self.data, (len(self.params.moduli), self.params.n))


@dataclass(frozen=True)
class PublicKey:
    """An encryption of zero at the key level, uint64 ``(2, K, N)``."""

    params: CKKSParameters
    data: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("public key", self.data, (2, len(self.params.moduli), self.params.n))


@dataclass(frozen=True)
class KeySwitchingKey:
    """SEAL's key-switching key: one key-level encryption per data prime, uint64 ``(K-1, 2, K, N)``."""

    params: CKKSParameters
    data: np.ndarray
    _cache: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        count = len(self.params.moduli)
        _check_shape("key-switching key", self.data, (count - 1, 2, count, self.params.n))

    def at_level(self, limbs: int) -> np.ndarray:
        """Components J < L restricted to limbs ``q_0 .. q_(L-1), P``: uint64 ``(L, 2, L+1, N)`` (cached)."""
        return self._restricted(limbs)[0]

    def shoup_at_level(self, limbs: int) -> np.ndarray:
        """Shoup companions of :meth:`at_level` (cached): the key is a constant of every key switch."""
        return self._restricted(limbs)[1]

    def _restricted(self, limbs: int) -> tuple[np.ndarray, np.ndarray]:
        cache_key = ("level", limbs)
        if cache_key not in self._cache:
            rows = [*range(limbs), len(self.params.moduli) - 1]
            restricted = np.ascontiguousarray(self.data[:limbs][:, :, rows, :])
            q = modulus_column(tuple(self.params.moduli[row] for row in rows))
            self._cache[cache_key] = restricted
            self._cache[("shoup", limbs)] = shoup_companion(restricted, q)
        return self._cache[cache_key], self._cache[("shoup", limbs)]

    def hoisting_correction(self, element: int, level_moduli: tuple[int, ...]) -> np.ndarray:
        """The per-(g, level) constant of hoisted rotations (see :mod:`.keyswitch`), cached."""
        from securecompute.ckks.keyswitch import hoisting_correction

        cache_key = ("hoist", element, len(level_moduli))
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = hoisting_correction(
                self.at_level(len(level_moduli)), element, level_moduli, self.params.special_prime
            )
            self._cache[cache_key] = cached
        return cached


@dataclass(frozen=True)
class GaloisKeys:
    """Key-switching keys by Galois element (``3^step mod 2N`` for rotations, ``2N-1`` for conjugation)."""

    params: CKKSParameters
    keys: dict[int, KeySwitchingKey]

    def key(self, element: int) -> KeySwitchingKey:
        """The key for ``element``.

        Raises:
            MissingKeyError: no key for that element (the message lists the elements held).
        """
        found = self.keys.get(element)
        if found is None:
            raise MissingKeyError(f"no Galois key for element {element}; keys are held for {sorted(self.keys)}")
        return found


class KeyGenerator:
    """Generates a secret key and the public keys derived from it.

    Args:
        params: scheme parameters.
        source: the random byte stream; default a fresh :class:`RandomSource` seeded from the OS.
            Pass a seeded one in tests only.
    """

    @single_blas_thread
    def __init__(self, params: CKKSParameters, source: RandomSource | None = None) -> None:
        self.params = params
        self.source = source if source is not None else RandomSource()
        moduli = params.moduli
        self.secret_key = SecretKey(
            params, forward(params.n, moduli, signed_to_residues(sample_ternary(self.source, params.n), moduli))
        )

    @single_blas_thread
    def public_key(self) -> PublicKey:
        """``(-(a s + e), a)`` over all K primes."""
        return PublicKey(self.params, self._encrypt_zero())

    @single_blas_thread
    def relin_key(self) -> KeySwitchingKey:
        """The key switching s^2 to s."""
        s = self.secret_key.data
        return self._switching_key(mul_mod(s, s, modulus_column(self.params.moduli)))

    @single_blas_thread
    def galois_keys(self, steps: list[int], conjugate: bool = False) -> GaloisKeys:
        """Galois keys for left rotations by ``steps`` (and conjugation when asked), SEAL's elements.

        Raises:
            ParameterError: a step with ``|step| >= N/2``.
        """
        n = self.params.n
        elements = {galois_element(step, n) for step in steps if step != 0}
        if conjugate:
            elements.add(2 * n - 1)
        keys = {}
        for element in sorted(elements):
            permuted = self.secret_key.data[:, galois_permutation(n, element)]
            keys[element] = self._switching_key(np.ascontiguousarray(permuted))
        return GaloisKeys(self.params, keys)

    def _encrypt_zero(self) -> np.ndarray:
        """``(-(a s + e), a)`` uint64 ``(2, K, N)`` at the key level, a uniform in NTT form."""
        params, moduli = self.params, self.params.moduli
        q = modulus_column(moduli)
        a = sample_uniform(self.source, moduli, params.n)
        error = forward(params.n, moduli, signed_to_residues(sample_noise(self.source, params.n), moduli))
        masked = add_mod(mul_mod(a, self.secret_key.data, q), error, q)
        return np.stack([sub_mod(np.zeros_like(masked), masked, q), a])

    def _switching_key(self, target: np.ndarray) -> KeySwitchingKey:
        """SEAL's key for switching ``target`` (NTT form, all K limbs) to s."""
        moduli = self.params.moduli
        special = self.params.special_prime
        components = []
        for j, qj in enumerate(moduli[:-1]):
            component = self._encrypt_zero()
            factor = np.uint64(special % qj)
            scaled = mul_mod(target[j], np.full_like(target[j], factor), np.array([qj], dtype=np.uint64))
            component[0, j] = add_mod(component[0, j], scaled, np.array([qj], dtype=np.uint64))
            components.append(component)
        return KeySwitchingKey(self.params, np.stack(components))
