"""Homomorphic evaluation on NTT-form RNS ciphertexts, SEAL's ops bit for bit.

Every method takes and returns immutable :class:`~securecompute.ckks.ciphertext.Ciphertext` values
(uint64 ``(size, L, N)`` residues, scale).  Rules are SEAL 4.3's: add/add_plain need the same level
and scales equal to machine precision; multiply and multiply_plain multiply the scales; rescale divides
by the last data prime with rounding and divides the scale by it (as a double); mod-switch drops the
last prime and keeps the scale; rotations by ``step`` use SEAL's Galois element ``3^step mod 2N`` and
its key-switching method (:mod:`.keyswitch`).  ``rotate_many`` hoists one ModUp over all steps.
"""

from __future__ import annotations

import sys

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.ckks.ciphertext import Ciphertext, check_ciphertext
from securecompute.ckks.encoder import Plaintext
from securecompute.ckks.keys import GaloisKeys, KeySwitchingKey
from securecompute.ckks.keyswitch import divide_round_last, hoisted_switch, mod_up, switch_key
from securecompute.ckks.params import CKKSParameters
from securecompute.ckks.ring import (
    BACKENDS,
    add_mod,
    galois_element,
    galois_permutation,
    modulus_column,
    mul_mod,
    ntt_for,
    sub_mod,
)
from securecompute.errors import DepthExhaustedError, MissingKeyError, ParameterError, ShapeError

__all__ = ["Evaluator"]

_EPSILON = sys.float_info.epsilon


class Evaluator:
    """SEAL-compatible CKKS evaluation with public keys only.

    Args:
        params: scheme parameters.
        relin_key: the key for s^2 (needed by :meth:`relinearize`).
        galois_keys: keys by Galois element (needed by :meth:`rotate`, :meth:`rotate_many`, :meth:`conjugate`).
        backend: the array engine of the transforms: "numpy" or "jax" (jitted; every chain, the
            48..60-bit primes through :class:`securecompute.cross.jax_wide.JaxWideNTT`); the words are
            identical.

    Raises:
        ParameterError: an unknown backend; DependencyMissingError: "jax" without JAX installed.
    """

    def __init__(
        self,
        params: CKKSParameters,
        relin_key: KeySwitchingKey | None = None,
        galois_keys: GaloisKeys | None = None,
        backend: str = "numpy",
    ) -> None:
        if backend not in BACKENDS:
            raise ParameterError(f"backend={backend!r} is unknown; accepted: {BACKENDS}")
        if backend != "numpy":  # fail early (JAX missing) rather than inside the first operation
            ntt_for(params.n, params.moduli, backend)
        # A key made for another chain has the same shape when N and K agree; using it would return garbage.
        foreign = [] if relin_key is None or relin_key.params == params else ["relin_key"]
        if galois_keys is not None:
            foreign += [
                f"Galois key for element {element}"
                for element, key in sorted(galois_keys.keys.items())
                if key.params != params or galois_keys.params != params
            ]
        if foreign:
            raise ParameterError(
                f"{', '.join(foreign)} belong to other parameters; the Evaluator's are N={params.n}, "
                f"moduli {params.moduli}"
            )
        self.backend = backend
        self.params = params
        self.relin_key = relin_key
        self.galois_keys = galois_keys

    # -- linear ops ---------------------------------------------------------------------------------

    @single_blas_thread
    def add(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        """``left + right`` (sizes may differ: the longer one's extra polynomials are kept)."""
        self._check(left, "left")
        self._check(right, "right")
        self._same_level_and_scale(left.level, left.scale, right.level, right.scale)
        q = self._q(left.level)
        short, long_ = (left, right) if left.size <= right.size else (right, left)
        data = long_.data.copy()
        data[: short.size] = add_mod(long_.data[: short.size], short.data, q)
        return Ciphertext(data, left.scale)

    def sub(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        """``left - right``."""
        return self.add(left, self.negate(right))

    @single_blas_thread
    def negate(self, ciphertext: Ciphertext) -> Ciphertext:
        """``-ciphertext``."""
        self._check(ciphertext, "ciphertext")
        q = self._q(ciphertext.level)
        return Ciphertext(sub_mod(np.zeros_like(ciphertext.data), ciphertext.data, q), ciphertext.scale)

    @single_blas_thread
    def add_plain(self, ciphertext: Ciphertext, plaintext: Plaintext) -> Ciphertext:
        """``ciphertext + plaintext`` (same level, equal scales): c_0 gains the plaintext."""
        self._check(ciphertext, "ciphertext")
        self._check_plain(plaintext)
        self._same_level_and_scale(ciphertext.level, ciphertext.scale, plaintext.level, plaintext.scale)
        data = ciphertext.data.copy()
        data[0] = add_mod(data[0], plaintext.data, self._q(ciphertext.level))
        return Ciphertext(data, ciphertext.scale)

    @single_blas_thread
    def add_scalar(self, ciphertext: Ciphertext, value: float) -> Ciphertext:
        """Add ``value`` to every slot (encoded as SEAL's scalar encode at the ciphertext's scale)."""
        from securecompute.ckks.encoder import CKKSEncoder

        plain = CKKSEncoder(self.params).encode_scalar(value, ciphertext.scale, ciphertext.level)
        return self.add_plain(ciphertext, plain)

    @single_blas_thread
    def multiply_plain(self, ciphertext: Ciphertext, plaintext: Plaintext) -> Ciphertext:
        """Slotwise product with a plaintext at the same level; the scales multiply (rescale after)."""
        self._check(ciphertext, "ciphertext")
        self._check_plain(plaintext)
        if plaintext.level != ciphertext.level:
            raise ParameterError(f"plaintext level {plaintext.level} differs from ciphertext level {ciphertext.level}")
        scale = ciphertext.scale * plaintext.scale
        self._check_scale(scale, ciphertext.level)
        q = self._q(ciphertext.level)
        return Ciphertext(mul_mod(ciphertext.data, plaintext.data[None], q), scale)

    # -- multiplication -----------------------------------------------------------------------------

    @single_blas_thread
    def multiply(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        """Tensor product: size a + b - 1, ``out_k = sum_(i+j=k) left_i right_j``; the scales multiply."""
        self._check(left, "left")
        self._check(right, "right")
        if left.level != right.level:
            raise ParameterError(f"operands are at levels {left.level} and {right.level}; multiply needs one level")
        scale = left.scale * right.scale
        self._check_scale(scale, left.level)
        q = self._q(left.level)
        out = np.zeros((left.size + right.size - 1, *left.data.shape[1:]), dtype=np.uint64)
        for i in range(left.size):
            products = mul_mod(left.data[i][None], right.data, q)
            for j in range(right.size):
                out[i + j] = add_mod(out[i + j], products[j], q)
        return Ciphertext(out, scale)

    @single_blas_thread
    def relinearize(self, ciphertext: Ciphertext) -> Ciphertext:
        """Size 3 (or more) back to 2 with the relinearisation key, SEAL's key switch per extra polynomial.

        Raises:
            MissingKeyError: no relinearisation key; ParameterError: a ciphertext of size 2 or less
                than that, or larger than 3 (only s^2 keys are held).
        """
        self._check(ciphertext, "ciphertext")
        if self.relin_key is None:
            raise MissingKeyError("relinearize needs a relinearisation key; none was given to the Evaluator")
        if ciphertext.size != 3:
            raise ParameterError(
                f"relinearize takes a size-3 ciphertext (after one multiply); got size {ciphertext.size}"
            )
        moduli = self.params.moduli_at(ciphertext.level)
        switched = switch_key(ciphertext.data[2], self.relin_key, moduli, self.backend)
        q = modulus_column(moduli)
        return Ciphertext(add_mod(ciphertext.data[:2], switched, q), ciphertext.scale)

    # -- level management ---------------------------------------------------------------------------

    @single_blas_thread
    def rescale(self, ciphertext: Ciphertext) -> Ciphertext:
        """Divide by the last data prime q_l with rounding; scale / q_l (SEAL's ``rescale_to_next``).

        Raises:
            DepthExhaustedError: the ciphertext is at level 0.
        """
        self._check(ciphertext, "ciphertext")
        self._need_lower_level(ciphertext.level, "rescale")
        moduli = self.params.moduli_at(ciphertext.level)
        data = divide_round_last(ciphertext.data, moduli, self.backend)
        last = moduli[-1]
        return Ciphertext(data, ciphertext.scale / float(last))

    @single_blas_thread
    def mod_switch(self, ciphertext: Ciphertext) -> Ciphertext:
        """Drop the last data prime without rounding; the scale is kept (SEAL's ``mod_switch_to_next``).

        Raises:
            DepthExhaustedError: the ciphertext is at level 0.
        """
        self._check(ciphertext, "ciphertext")
        self._need_lower_level(ciphertext.level, "mod_switch")
        self._check_scale(ciphertext.scale, ciphertext.level - 1)
        return Ciphertext(np.ascontiguousarray(ciphertext.data[:, :-1, :]), ciphertext.scale)

    def mod_switch_to(self, ciphertext: Ciphertext, level: int) -> Ciphertext:
        """Drop primes down to chain index ``level`` (at most the ciphertext's level)."""
        self.params.check_level(level)
        if level > ciphertext.level:
            raise ParameterError(f"cannot raise level {ciphertext.level} to {level}: mod_switch only goes down")
        while ciphertext.level > level:
            ciphertext = self.mod_switch(ciphertext)
        return ciphertext

    def mod_switch_plain(self, plaintext: Plaintext, level: int) -> Plaintext:
        """A plaintext truncated to chain index ``level``."""
        self._check_plain(plaintext)
        self.params.check_level(level)
        if level > plaintext.level:
            raise ParameterError(f"cannot raise plaintext level {plaintext.level} to {level}")
        return Plaintext(np.ascontiguousarray(plaintext.data[: level + 1]), plaintext.scale)

    # -- rotations ----------------------------------------------------------------------------------

    def rotate(self, ciphertext: Ciphertext, step: int) -> Ciphertext:
        """Left rotation of the slots by ``step`` (negative: right), SEAL's ``rotate_vector``.

        With the key for ``3^step mod 2N`` this is one key switch.  Without it, as SEAL does, the step
        is written in non-adjacent form (signed powers of two, low first) and rotated term by term,
        skipping terms of N/2 slots (the identity), each with its own key.

        Step 0 returns the ciphertext unchanged, as SEAL does (Galois element 2N-1, which
        :func:`galois_element` gives for 0, is conjugation, not the identity).

        Raises:
            MissingKeyError: no key for the step and none for one of its NAF terms.
        """
        n = self.params.n
        if not isinstance(step, bool) and isinstance(step, int | np.integer) and step == 0:
            self._check(ciphertext, "ciphertext")
            return ciphertext
        element = galois_element(step, n)
        if self.galois_keys is None or element in self.galois_keys.keys:
            return self.apply_galois(ciphertext, element)
        terms = non_adjacent_form(int(step))
        if len(terms) == 1:
            raise MissingKeyError(
                f"no Galois key for step {step} (element {element}); keys are held for {sorted(self.galois_keys.keys)}"
            )
        for term in terms:
            if abs(term) != n // 2:
                ciphertext = self.rotate(ciphertext, term)
        return ciphertext

    def conjugate(self, ciphertext: Ciphertext) -> Ciphertext:
        """Complex conjugation of every slot (Galois element 2N - 1)."""
        return self.apply_galois(ciphertext, 2 * self.params.n - 1)

    @single_blas_thread
    def apply_galois(self, ciphertext: Ciphertext, element: int) -> Ciphertext:
        """SEAL's ``apply_galois``: ``(pi_g(c_0) + ks_0, ks_1)`` with ``ks = switch_key(pi_g(c_1))``."""
        self._check(ciphertext, "ciphertext")
        key = self._galois_key(element)
        self._need_size_two(ciphertext)
        moduli = self.params.moduli_at(ciphertext.level)
        table = galois_permutation(self.params.n, element)
        permuted = ciphertext.data[:, :, table]
        switched = switch_key(permuted[1], key, moduli, self.backend)
        q = modulus_column(moduli)
        return Ciphertext(np.stack([add_mod(permuted[0], switched[0], q), switched[1]]), ciphertext.scale)

    @single_blas_thread
    def rotate_many(self, ciphertext: Ciphertext, steps: list[int]) -> list[Ciphertext]:
        """Rotations of one ciphertext by every step, hoisted: one ModUp shared by all of them.

        Each result equals :meth:`rotate` (and SEAL's ``rotate_vector``) bit for bit; step 0 returns
        the input.

        Raises:
            MissingKeyError: a step without its Galois key (checked before any work).
        """
        self._check(ciphertext, "ciphertext")
        self._need_size_two(ciphertext)
        elements = [galois_element(step, self.params.n) if step else 0 for step in steps]
        keys = {element: self._galois_key(element) for element in elements if element}
        moduli = self.params.moduli_at(ciphertext.level)
        q = modulus_column(moduli)
        decomposed = mod_up(ciphertext.data[1], moduli, self.params.special_prime, self.backend) if keys else None
        results = []
        for element in elements:
            if not element or decomposed is None:
                results.append(ciphertext)
                continue
            switched = hoisted_switch(decomposed, element, keys[element], moduli, self.backend)
            if switched is None:  # a zero digit on a negated position: the single path is exact
                results.append(self.apply_galois(ciphertext, element))
                continue
            table = galois_permutation(self.params.n, element)
            first = add_mod(ciphertext.data[0][:, table], switched[0], q)
            results.append(Ciphertext(np.stack([first, switched[1]]), ciphertext.scale))
        return results

    # -- checks -------------------------------------------------------------------------------------

    def _q(self, level: int) -> np.ndarray:
        return modulus_column(self.params.moduli_at(level))

    def _check(self, ciphertext: Ciphertext, name: str) -> None:
        check_ciphertext(ciphertext, self.params, name)
        self._check_scale_value(ciphertext.scale, name)

    def _check_plain(self, plaintext: Plaintext) -> None:
        if not isinstance(plaintext, Plaintext):
            raise ShapeError(f"plaintext must be a Plaintext, got {type(plaintext).__name__}")
        data = plaintext.data
        if (
            data.dtype != np.uint64
            or data.ndim != 2
            or data.shape[1] != self.params.n
            or not 1 <= data.shape[0] <= self.params.max_level + 1
        ):
            raise ShapeError(
                f"plaintext must be uint64 (L <= {self.params.max_level + 1}, N={self.params.n}); "
                f"got {data.dtype} {data.shape}"
            )
        self._check_scale_value(plaintext.scale, "plaintext")

    @staticmethod
    def _check_scale_value(scale: float, name: str) -> None:
        if not (isinstance(scale, float | int) and np.isfinite(scale) and scale > 0):
            raise ParameterError(f"{name} scale {scale!r} must be a finite positive number")

    def _same_level_and_scale(self, level_a: int, scale_a: float, level_b: int, scale_b: float) -> None:
        if level_a != level_b:
            raise ParameterError(f"operands are at levels {level_a} and {level_b}; bring them to one level first")
        if abs(scale_a - scale_b) >= _EPSILON * max(abs(scale_a), abs(scale_b), 1.0):
            raise ParameterError(f"scales {scale_a} and {scale_b} differ; rescale or re-encode to one scale")

    def _check_scale(self, scale: float, level: int) -> None:
        bits = sum(q.bit_length() for q in self.params.moduli_at(level))
        if not scale > 0 or int(np.log2(scale)) >= bits:
            raise ParameterError(f"scale {scale} (2^{np.log2(scale):.1f}) does not fit level {level} of {bits} bits")

    def _need_lower_level(self, level: int, operation: str) -> None:
        if level == 0:
            raise DepthExhaustedError(f"{operation} needs a level below 0: the ciphertext is at the last level", 1, 0)

    def _need_size_two(self, ciphertext: Ciphertext) -> None:
        if ciphertext.size != 2:
            raise ParameterError(f"rotations need a size-2 ciphertext (relinearise first); got size {ciphertext.size}")

    def _galois_key(self, element: int) -> KeySwitchingKey:
        if self.galois_keys is None:
            raise MissingKeyError("rotations need Galois keys; none were given to the Evaluator")
        return self.galois_keys.key(element)


def non_adjacent_form(value: int) -> list[int]:
    """The signed powers of two of ``value``'s non-adjacent form, lowest first (SEAL's ``util::naf``).

    Each digit z_i in {-1, 0, 1} with no two adjacent non-zero: ``z_i = 2 - (v mod 4)`` when v is odd,
    then ``v = (v - z_i) / 2``; the sign of ``value`` is applied to every term.
    """
    sign = -1 if value < 0 else 1
    remaining, terms, power = abs(value), [], 1
    while remaining:
        digit = 2 - (remaining & 3) if remaining & 1 else 0
        remaining = (remaining - digit) >> 1
        if digit:
            terms.append(sign * digit * power)
        power <<= 1
    return terms
