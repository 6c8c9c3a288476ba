"""Homomorphic evaluation on NTT-form RNS ciphertexts, SEAL's ops bit for bit.

Every method takes and returns immutable :class:`~securecompute.ckks.ciphertext.Ciphertext` values
(uint64 ``(size, L, N)`` residues, scale).  Rules are SEAL 4.3's: add/add_plain need the same level
and scales equal to machine precision; multiply and multiply_plain multiply the scales; rescale divides
by the last data prime with rounding and divides the scale by it (as a double); mod-switch drops the
last prime and keeps the scale; rotations by ``step`` use SEAL's Galois element ``3^step mod 2N`` and
its key-switching method (:mod:`.keyswitch`).  ``rotate_many`` hoists one ModUp over all steps.

Each op is a body written once against :class:`~securecompute.ckks.arrays.RingOps` (the ``_*_body``
functions below): the numpy engine runs it eagerly; the JAX engine (:mod:`.device`) runs it as one
jitted program on device-resident arrays, its ciphertexts' data then being ``jax.Array`` uint64.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.ckks.arrays import NumpyRingOps, RingOps
from securecompute.ckks.ciphertext import Ciphertext, check_ciphertext, check_plaintext_data
from securecompute.ckks.encoder import Plaintext
from securecompute.ckks.keys import GaloisKeys, KeySwitchingKey
from securecompute.ckks.keyswitch import divide_round_last, galois_arrays, hoisted_switch, mod_up, switch_key
from securecompute.ckks.params import CKKSParameters
from securecompute.ckks.ring import BACKENDS, galois_element, ntt_for
from securecompute.errors import DepthExhaustedError, MissingKeyError, ParameterError, ShapeError

__all__ = ["Evaluator"]

_EPSILON = sys.float_info.epsilon
_Value = TypeVar("_Value", Ciphertext, Plaintext)


class Evaluator:
    """SEAL-compatible CKKS evaluation with public keys only.

    Args:
        params: scheme parameters.
        relin_key: the key for s^2 (needed by :meth:`relinearize`).
        galois_keys: keys by Galois element (needed by :meth:`rotate`, :meth:`rotate_many`, :meth:`conjugate`).
        backend: the array engine: "numpy", or "jax" (every op one jitted program on the device,
            :mod:`securecompute.ckks.device`; every chain, the 48..60-bit primes through
            :class:`securecompute.cross.jax_wide.JaxWideNTT`; results are ``jax.Array`` uint64,
            inputs numpy or JAX); the words are identical.
        device: the ``jax.Device`` of the JAX engine (CPU or GPU; default ``jax.devices()[0]``); only
            with backend "jax".

    Raises:
        ParameterError: an unknown backend, or a device with the numpy backend; DependencyMissingError:
            "jax" without JAX installed; NotAvailableError: a TPU device.
    """

    def __init__(
        self,
        params: CKKSParameters,
        relin_key: KeySwitchingKey | None = None,
        galois_keys: GaloisKeys | None = None,
        backend: str = "numpy",
        device: Any = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ParameterError(f"backend={backend!r} is unknown; accepted: {BACKENDS}")
        if device is not None and backend != "jax":
            raise ParameterError(f"device={device!r} is for backend='jax' only; backend is {backend!r}")
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
        self._numpy_ops = NumpyRingOps(params.n)
        self._device: Any = None
        if backend == "jax":
            from securecompute.ckks.device import DeviceEngine

            self._device = DeviceEngine(params.n, device)

    def on_engine(self, value: _Value) -> _Value:
        """``value`` (a ciphertext or plaintext) with its data on this engine: uploaded to the device once
        on JAX (ops on it then copy nothing between host and device), as is on numpy.

        Raises:
            ShapeError: not a ciphertext or plaintext of these parameters.
        """
        if isinstance(value, Plaintext):
            self._check_plain(value)
        else:
            self._check(value, "ciphertext")
        data = np.asarray(value.data) if self._device is None else self._device.to_device(value.data)
        return replace(value, data=data)  # keeps a subclass's fields (the adapters' parameter tags)

    def block_until_ready(self, ciphertexts: Ciphertext | list[Ciphertext]) -> None:
        """Wait for the device to finish the ciphertexts' data (JAX runs asynchronously); a no-op on numpy."""
        items = ciphertexts if isinstance(ciphertexts, list) else [ciphertexts]
        if self._device is not None:
            self._device.jax.block_until_ready([item.data for item in items])

    # -- linear ops ---------------------------------------------------------------------------------

    @single_blas_thread
    def add(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        """``left + right`` (sizes may differ: the longer one's extra polynomials are kept)."""
        self._check(left, "left")
        self._check(right, "right")
        self._same_level_and_scale(left.level, left.scale, right.level, right.scale)
        short, long_ = (left, right) if left.size <= right.size else (right, left)
        moduli = self.params.moduli_at(left.level)
        return Ciphertext(self._run(_add_body, (moduli,), (), long_.data, short.data), left.scale)

    def sub(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        """``left - right``."""
        return self.add(left, self.negate(right))

    @single_blas_thread
    def negate(self, ciphertext: Ciphertext) -> Ciphertext:
        """``-ciphertext``."""
        self._check(ciphertext, "ciphertext")
        moduli = self.params.moduli_at(ciphertext.level)
        return Ciphertext(self._run(_negate_body, (moduli,), (), ciphertext.data), ciphertext.scale)

    @single_blas_thread
    def add_plain(self, ciphertext: Ciphertext, plaintext: Plaintext) -> Ciphertext:
        """``ciphertext + plaintext`` (same level, equal scales): c_0 gains the plaintext."""
        self._check(ciphertext, "ciphertext")
        self._check_plain(plaintext)
        self._same_level_and_scale(ciphertext.level, ciphertext.scale, plaintext.level, plaintext.scale)
        moduli = self.params.moduli_at(ciphertext.level)
        data = self._run(_add_plain_body, (moduli,), (), ciphertext.data, plaintext.data)
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
        moduli = self.params.moduli_at(ciphertext.level)
        return Ciphertext(self._run(_multiply_plain_body, (moduli,), (), ciphertext.data, plaintext.data), scale)

    @single_blas_thread
    def dot_plain(self, ciphertexts: list[Ciphertext], plaintexts: list[Plaintext]) -> Ciphertext:
        """``sum_i ciphertexts[i] * plaintexts[i]``: the words of :meth:`multiply_plain` then :meth:`add`,
        term by term, as one program on the JAX engine (one pass on numpy).

        Raises:
            ParameterError: no terms, unequal counts, levels that differ (ciphertexts and plaintexts
                at one level), or products whose scales differ.
        """
        if not ciphertexts or len(ciphertexts) != len(plaintexts):
            raise ParameterError(
                f"dot_plain needs as many plaintexts as ciphertexts (at least one); got {len(ciphertexts)} "
                f"and {len(plaintexts)}"
            )
        for index, (ciphertext, plaintext) in enumerate(zip(ciphertexts, plaintexts, strict=True)):
            self._check(ciphertext, f"ciphertexts[{index}]")
            self._check_plain(plaintext)
            if plaintext.level != ciphertext.level:
                raise ParameterError(
                    f"plaintexts[{index}] level {plaintext.level} differs from ciphertext level {ciphertext.level}"
                )
        level, scale = ciphertexts[0].level, ciphertexts[0].scale * plaintexts[0].scale
        for ciphertext, plaintext in zip(ciphertexts[1:], plaintexts[1:], strict=True):
            self._same_level_and_scale(level, scale, ciphertext.level, ciphertext.scale * plaintext.scale)
        self._check_scale(scale, level)
        moduli = self.params.moduli_at(level)
        datas = tuple(ciphertext.data for ciphertext in ciphertexts)
        plains = tuple(plaintext.data for plaintext in plaintexts)
        if self._device is None:
            datas, plains = tuple(np.asarray(d) for d in datas), tuple(np.asarray(p) for p in plains)
        return Ciphertext(self._run(_dot_plain_body, (moduli,), (), datas, plains), scale)

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
        moduli = self.params.moduli_at(left.level)
        return Ciphertext(self._run(_multiply_body, (moduli,), (), left.data, right.data), scale)

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
        key, shoup = self._key_arrays("relin", self.relin_key, len(moduli))
        statics = (moduli, self.params.special_prime)
        data = self._run(_relinearize_body, statics, self._switch_sets(moduli), ciphertext.data, key, shoup)
        return Ciphertext(data, ciphertext.scale)

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
        data = self._run(divide_round_last, (moduli,), (moduli[-1:], moduli[:-1]), ciphertext.data)
        return Ciphertext(data, ciphertext.scale / float(moduli[-1]))

    @single_blas_thread
    def mod_switch(self, ciphertext: Ciphertext) -> Ciphertext:
        """Drop the last data prime without rounding; the scale is kept (SEAL's ``mod_switch_to_next``).

        Raises:
            DepthExhaustedError: the ciphertext is at level 0.
        """
        self._check(ciphertext, "ciphertext")
        self._need_lower_level(ciphertext.level, "mod_switch")
        self._check_scale(ciphertext.scale, ciphertext.level - 1)
        return Ciphertext(self._run(_drop_last_body, (), (), ciphertext.data), ciphertext.scale)

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
        return replace(plaintext, data=self._run(_truncate_body, (level + 1,), (), plaintext.data))

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
        key_data, shoup = self._key_arrays(element, key, len(moduli))
        table = self._galois_arrays(element)[0]
        statics = (moduli, self.params.special_prime)
        data = self._run(_galois_body, statics, self._switch_sets(moduli), ciphertext.data, key_data, shoup, table)
        return Ciphertext(data, ciphertext.scale)

    @single_blas_thread
    def rotate_many(self, ciphertext: Ciphertext, steps: list[int]) -> list[Ciphertext]:
        """Rotations of one ciphertext by every step, hoisted: one ModUp shared by all of them.

        Each result equals :meth:`rotate` (and SEAL's ``rotate_vector``) bit for bit; step 0 returns
        the input.  A rotation whose hoisting identity fails (a zero digit on a negated position, see
        :mod:`.keyswitch`) runs :meth:`apply_galois` instead; on the JAX engine the flags of that check
        are computed on the device and fetched once per call (one small host sync).

        Raises:
            MissingKeyError: a step without its Galois key (checked before any work).
        """
        self._check(ciphertext, "ciphertext")
        self._need_size_two(ciphertext)
        elements = [galois_element(step, self.params.n) if step else 0 for step in steps]
        keys = {element: self._galois_key(element) for element in elements if element}
        if not keys:
            return [ciphertext for _ in steps]
        moduli = self.params.moduli_at(ciphertext.level)
        distinct = tuple(keys)
        arrays = tuple(
            (
                *self._key_arrays(element, keys[element], len(moduli)),
                self._correction(element, keys[element], moduli),
                self._galois_arrays(element),
            )
            for element in distinct
        )
        statics = (moduli, self.params.special_prime)  # one program per level and count of distinct steps
        switched, flags = self._run(_rotate_many_body, statics, self._switch_sets(moduli), ciphertext.data, arrays)
        fallbacks = self._device.to_host(flags) if self._device is not None else flags
        by_element = {}
        for element, data, fallback in zip(distinct, switched, fallbacks, strict=True):
            # a zero digit on a negated position: the single path is exact
            by_element[element] = (
                self.apply_galois(ciphertext, element) if fallback else Ciphertext(data, ciphertext.scale)
            )
        return [by_element[element] if element else ciphertext for element in elements]

    # -- engine -------------------------------------------------------------------------------------

    def _run(
        self, body: Callable[..., Any], statics: tuple[Any, ...], ntt_sets: tuple[tuple[int, ...], ...], *arrays: Any
    ) -> Any:
        """``body(ops, *arrays, *statics)`` on this engine: eager numpy, or one jitted JAX program."""
        if self._device is None:
            host = (array if isinstance(array, tuple) else np.asarray(array) for array in arrays)
            return body(self._numpy_ops, *host, *statics)
        return self._device.run(body, statics, ntt_sets, *arrays)

    def _switch_sets(self, moduli: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """The moduli tuples whose NTTs a key switch at this level runs."""
        return (moduli, (*moduli, self.params.special_prime), (self.params.special_prime,))

    def _key_arrays(self, name: object, key: KeySwitchingKey, limbs: int) -> tuple[Any, Any]:
        """The key at ``limbs`` data primes and its Shoup companions (device copies, cached, on JAX)."""
        if self._device is None:
            return key.at_level(limbs), key.shoup_at_level(limbs)
        arrays: tuple[Any, Any] = self._device.upload(
            key, ("key", name, limbs), lambda: (key.at_level(limbs), key.shoup_at_level(limbs))
        )
        return arrays

    def _galois_arrays(self, element: int) -> tuple[Any, Any]:
        """The gather table and negated-coefficient mask of ``element`` (device copies, cached, on JAX)."""
        if self._device is None:
            return galois_arrays(self.params.n, element)
        arrays: tuple[Any, Any] = self._device.upload(
            self.params, ("galois", element), lambda: galois_arrays(self.params.n, element)
        )
        return arrays

    def _correction(self, element: int, key: KeySwitchingKey, moduli: tuple[int, ...]) -> Any:
        """The hoisting correction of ``element`` at this level (a device copy, cached, on JAX)."""
        if self._device is None:
            return key.hoisting_correction(element, moduli)
        return self._device.upload(
            key, ("hoist", element, len(moduli)), lambda: key.hoisting_correction(element, moduli)
        )

    # -- checks -------------------------------------------------------------------------------------

    def _check(self, ciphertext: Ciphertext, name: str) -> None:
        check_ciphertext(ciphertext, self.params, name)
        self._check_scale_value(ciphertext.scale, name)

    def _check_plain(self, plaintext: Plaintext) -> None:
        if not isinstance(plaintext, Plaintext):
            raise ShapeError(f"plaintext must be a Plaintext, got {type(plaintext).__name__}")
        check_plaintext_data(plaintext.data, self.params)
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


# -- op bodies: written once against RingOps, run eagerly (numpy) or traced (JAX) ---------------------


def _add_body(ops: RingOps, long_: Any, short: Any, moduli: tuple[int, ...]) -> Any:
    count = short.shape[0]
    head = ops.add(long_[:count], short, moduli)
    return head if long_.shape[0] == count else ops.xp.concatenate([head, long_[count:]])


def _negate_body(ops: RingOps, data: Any, moduli: tuple[int, ...]) -> Any:
    return ops.sub(ops.xp.zeros_like(data), data, moduli)


def _add_plain_body(ops: RingOps, data: Any, plain: Any, moduli: tuple[int, ...]) -> Any:
    return ops.xp.concatenate([ops.add(data[:1], plain[None], moduli), data[1:]])


def _multiply_plain_body(ops: RingOps, data: Any, plain: Any, moduli: tuple[int, ...]) -> Any:
    return ops.mul(data, plain[None], moduli)


def _dot_plain_body(ops: RingOps, datas: tuple[Any, ...], plains: tuple[Any, ...], moduli: tuple[int, ...]) -> Any:
    total = None
    for data, plain in zip(datas, plains, strict=True):
        term = _multiply_plain_body(ops, data, plain, moduli)
        if total is None:
            total = term
        else:
            total = (
                _add_body(ops, total, term, moduli)
                if total.shape[0] >= term.shape[0]
                else _add_body(ops, term, total, moduli)
            )
    return total


def _multiply_body(ops: RingOps, left: Any, right: Any, moduli: tuple[int, ...]) -> Any:
    out: list[Any] = [None] * (left.shape[0] + right.shape[0] - 1)
    for i in range(left.shape[0]):
        products = ops.mul(left[i][None], right, moduli)
        for j in range(right.shape[0]):
            out[i + j] = products[j] if out[i + j] is None else ops.add(out[i + j], products[j], moduli)
    return ops.xp.stack(out)


def _drop_last_body(ops: RingOps, data: Any) -> Any:
    return ops.contiguous(data[:, :-1, :])


def _truncate_body(ops: RingOps, data: Any, limbs: int) -> Any:
    return ops.contiguous(data[:limbs])


def _relinearize_body(ops: RingOps, data: Any, key: Any, shoup: Any, moduli: tuple[int, ...], special: int) -> Any:
    switched = switch_key(ops, data[2], key, shoup, moduli, special)
    return ops.add(data[:2], switched, moduli)


def _galois_body(
    ops: RingOps, data: Any, key: Any, shoup: Any, table: Any, moduli: tuple[int, ...], special: int
) -> Any:
    permuted = ops.gather(data, table)
    switched = switch_key(ops, permuted[1], key, shoup, moduli, special)
    return ops.xp.stack([ops.add(permuted[0], switched[0], moduli), switched[1]])


def _rotate_many_body(
    ops: RingOps,
    data: Any,
    keys: tuple[tuple[Any, Any, Any, tuple[Any, Any]], ...],
    moduli: tuple[int, ...],
    special: int,
) -> tuple[Any, Any]:
    """Hoisted rotations, one per ``(key, shoup, correction, (table, negated))`` in ``keys``: ``(results, fallbacks)``.

    Eager: a result is None where its fallback flag is set.  Traced: every result is computed and the
    flags come back as one boolean device array.
    """
    decomposed = mod_up(ops, data[1], moduli, special)
    results: list[Any] = []
    flags: list[Any] = []
    for key, shoup, correction, galois in keys:
        switched, fallback = hoisted_switch(ops, decomposed, galois, key, shoup, correction, moduli, special)
        flags.append(fallback)
        if switched is None:
            results.append(None)
            continue
        first = ops.add(ops.gather(data[0], galois[0]), switched[0], moduli)
        results.append(ops.xp.stack([first, switched[1]]))
    return tuple(results), (flags if ops.eager else ops.xp.stack(flags))
