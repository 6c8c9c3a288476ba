"""Residue number system (RNS) arithmetic over the CROSS kernels: CRT, fast basis conversion, rescale.

A big integer ``X`` in ``[0, Q)``, ``Q = q_0 * ... * q_(L-1)`` for pairwise coprime moduli, is held
as its residues ``x_i = X mod q_i``; a polynomial with such coefficients is an int64 ``(..., L, n)``
array (limb axis before the coefficient axis, as in :mod:`securecompute.cross.ntt`).  With
``q_hat_i = Q / q_i`` the CRT reads

    X = sum_i c_i * q_hat_i  mod Q,        c_i = [x_i * q_hat_i^-1]_(q_i)   (in [0, q_i)).

* :func:`decompose` / :func:`compose`: exact, through Python ints (``compose`` is the reference).
* :class:`BasisConverter`: CROSS's "fast basis conversion" (BConv, the HPS/BEHZ formula) to a
  target basis ``p_0 .. p_(L'-1)`` without the final ``mod Q``:

      y_j = sum_i c_i * [q_hat_i]_(p_j)  mod p_j.

  Since ``0 <= sum_i c_i q_hat_i = Q * sum_i c_i / q_i < L * Q``, the result is exactly
  ``y_j = (X + u*Q) mod p_j`` with ``u = floor(sum_i c_i / q_i)``, an integer with
  ``0 <= u <= L - 1`` (the error bound; u is the same for every target limb).  The sum over limbs
  is one exact digit GEMM for every target limb at once (:class:`BasisConverter`).
* :func:`rescale_by_last`: CKKS rescale, ``X -> round(X / q_last)`` in the basis without
  ``q_last``, computed as SEAL's ``divide_and_round_q_last`` does: ``floor((X + h) / q_last)``
  with ``h = floor(q_last / 2)`` for the representative ``X`` in ``[0, Q)``.  q_last is odd, so
  there are no ties: this is round-to-nearest, and it agrees modulo ``Q / q_last`` with the
  rounding of the centred representative.
* :func:`negacyclic_multiply`: product modulo ``(X^n + 1, q_i)`` through the GEMM NTT.

Moduli are odd, at most 60 bits and pairwise coprime; 31 bits or fewer is the uint64 fast path of
:func:`~securecompute.cross.modmath.mod_mul`, wider moduli run exactly on its slower path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.cross.bat import DigitPlan, ModMatmul, plan_digits, split_digits_int
from securecompute.cross.modmath import FAST_MODULUS_BITS, MAX_MODULUS_BITS, mod_mul, rint_reduce_centred
from securecompute.cross.ntt import NTT
from securecompute.errors import ParameterError, ShapeError

__all__ = [
    "BasisConverter",
    "RNSBasis",
    "compose",
    "decompose",
    "negacyclic_multiply",
    "rescale_by_last",
]


class RNSBasis:
    """Pairwise coprime odd moduli ``q_0 .. q_(L-1)`` with their CRT constants.

    Args:
        moduli: L >= 1 odd integers of 2..60 bits, pairwise coprime.

    Attributes:
        moduli: the moduli, a tuple of ints.
        product: ``Q``, their product.
        punctured: ``q_hat_i = Q / q_i`` (Python ints).
        punctured_inverse: ``q_hat_i^-1 mod q_i`` (Python ints).
        fast: every modulus has at most 31 bits (uint64 fast path).

    Raises:
        ParameterError: an empty list, a modulus that is not an odd integer of 2..60 bits, or two
            moduli with a common factor (the message names them).
    """

    def __init__(self, moduli: Sequence[int]) -> None:
        values = tuple(moduli)
        if not values:
            raise ParameterError("moduli is empty: expected at least one odd modulus")
        for q in values:
            if isinstance(q, bool) or not isinstance(q, int | np.integer):
                raise ParameterError(f"modulus {q!r} must be an int")
            if q < 3 or q % 2 == 0 or int(q).bit_length() > MAX_MODULUS_BITS:
                raise ParameterError(f"modulus {q} must be an odd integer of 2..{MAX_MODULUS_BITS} bits")
        self.moduli: tuple[int, ...] = tuple(int(q) for q in values)
        for index, q in enumerate(self.moduli):
            for other in self.moduli[index + 1 :]:
                if math.gcd(q, other) != 1:
                    raise ParameterError(
                        f"moduli {q} and {other} share the factor {math.gcd(q, other)}: expected pairwise coprime"
                    )
        self.product: int = math.prod(self.moduli)
        self.punctured: tuple[int, ...] = tuple(self.product // q for q in self.moduli)
        self.punctured_inverse: tuple[int, ...] = tuple(
            pow(hat % q, -1, q) for hat, q in zip(self.punctured, self.moduli, strict=True)
        )
        self.fast: bool = max(self.moduli).bit_length() <= FAST_MODULUS_BITS

    def __len__(self) -> int:
        return len(self.moduli)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RNSBasis) and other.moduli == self.moduli

    def __hash__(self) -> int:
        return hash(self.moduli)

    def __repr__(self) -> str:
        return f"RNSBasis({list(self.moduli)})"

    def drop_last(self) -> RNSBasis:
        """The basis without its last modulus (the level below, after a rescale).

        Raises:
            ParameterError: the basis has a single modulus.
        """
        if len(self.moduli) < 2:
            raise ParameterError(f"cannot drop the last modulus of {self!r}: it has only one")
        return RNSBasis(self.moduli[:-1])


def decompose(x: int | np.ndarray | Sequence[int], basis: RNSBasis | Sequence[int]) -> np.ndarray:
    """Residues of integers in RNS form.

    Args:
        x: a Python int or an integer array ``(..., n)`` (int64, or object of Python ints for values
            beyond 64 bits), each value in ``[0, Q)`` or centred in ``[-(Q-1)/2, (Q-1)/2]``.
        basis: an :class:`RNSBasis` or its moduli.

    Returns:
        int64 ``(..., L, n)`` with ``out[..., i, k] = x[..., k] mod q_i`` (``(L,)`` for a scalar).

    Raises:
        ParameterError: a non-integer value or one outside ``[-(Q-1)/2, Q)``.
    """
    rns = _as_basis(basis)
    values = _integer_array(x)
    if values.size:
        low, high = (
            (min(values.flat), max(values.flat)) if values.dtype == object else (int(values.min()), int(values.max()))
        )
        if low < -((rns.product - 1) // 2) or high >= rns.product:
            raise ParameterError(
                f"values in [{low}, {high}] are outside [-(Q-1)/2, Q) for Q={rns.product} (~2^{rns.product.bit_length()})"
            )
    squeeze = values.ndim == 0
    expanded = values.reshape(1, 1) if squeeze else values[..., None, :]
    moduli = np.array(rns.moduli, dtype=object if values.dtype == object else np.int64).reshape(-1, 1)
    residues: np.ndarray = np.remainder(expanded, moduli).astype(np.int64)
    return residues[..., 0] if squeeze else residues


def compose(residues: np.ndarray, basis: RNSBasis | Sequence[int], centred: bool = False) -> np.ndarray:
    """Exact CRT: the integers whose residues are given.

    Args:
        residues: integer ``(..., L, n)`` (or ``(L,)`` for one value), limb i in ``[0, q_i)``.
        basis: an :class:`RNSBasis` or its moduli.
        centred: return values in ``[-(Q-1)/2, (Q-1)/2]`` instead of ``[0, Q)``.

    Returns:
        object array ``(..., n)`` of Python ints (0-d for a ``(L,)`` input).

    Raises:
        ShapeError, ParameterError: wrong limb count, dtype, or a residue outside ``[0, q_i)``.
    """
    rns = _as_basis(basis)
    array = np.asarray(residues)
    single = array.ndim == 1
    if single:
        array = array.reshape(-1, 1)
    _check_residues(array, rns, "residues")
    total = np.zeros(array.shape[:-2] + array.shape[-1:], dtype=object)
    for limb, (q, hat, hat_inverse) in enumerate(zip(rns.moduli, rns.punctured, rns.punctured_inverse, strict=True)):
        coefficient = mod_mul(array[..., limb, :].astype(np.int64), hat_inverse, q)
        total = total + coefficient.astype(object) * hat
    total = total % rns.product
    if centred:
        total = np.where(total > (rns.product - 1) // 2, total - rns.product, total)
    result = np.asarray(total, dtype=object)
    return result[..., 0] if single else result


class BasisConverter:
    """Fast (approximate) basis conversion from ``source`` to ``target``, as one GEMM (CROSS's BConv).

    ``convert`` returns ``y_j = (X + u*Q) mod p_j`` for the source value ``X`` in ``[0, Q)``, with
    ``u = floor(sum_i c_i / q_i)``, ``c_i = [x_i * q_hat_i^-1]_(q_i)``, so ``0 <= u <= L - 1``
    (L = ``len(source)``) and u is the same for every target limb.  No ``mod Q`` is performed:
    this is CROSS's BConv, used where the ``u*Q`` error is tolerated or removed later.

    Layout: step 1 is the elementwise ``c_i = x_i * q_hat_i^-1 mod q_i``.  Step 2 is ONE float64 GEMM
    ``(L', D*L) @ (D*L, B*n)``: the integers ``c_i`` (not reduced modulo any ``p_j``, so every target
    row multiplies the same data) are split into D balanced digits of d bits, ``c_i = sum_k 2^(d*k) c_ik``,
    and row j of the constant holds ``[q_hat_i * 2^(d*k)]_(p_j)`` (centred) in column ``k*L + i``; batch
    and coefficients are the GEMM columns.  The digit plan (:func:`~securecompute.cross.bat.plan_digits`)
    proves every output ``|G| + p_j <= 2^53``, so the GEMM is exact and one float Barrett per row (its
    own ``p_j``) finishes.  30-bit moduli: D = 2 digits of 15 bits, exact up to L = 256 source limbs.
    When no such plan exists (target moduli above about 45 bits, whose constants alone fill the float
    mantissa) it falls back to one :class:`~securecompute.cross.bat.ModMatmul` per target limb, whose
    wide path splits the constants too (:attr:`one_gemm` says which).

    Args:
        source: basis of the input (:class:`RNSBasis` or moduli), L limbs.
        target: basis of the output, L' limbs (it may share moduli with the source: those limbs
            then come out as ``X mod p_j`` exactly).

    Attributes:
        source, target: the two bases.
        constants: int64 ``(L', L)``, ``[q_hat_i]_(p_j)``.
        one_gemm: True when the conversion is the single GEMM (else the per-target fallback).
        plan: the single GEMM's :class:`~securecompute.cross.bat.DigitPlan` (None on the fallback).
        folded: float64 ``(L', D*L)``, the single GEMM's constant (None on the fallback).

    Raises:
        ParameterError: an invalid basis.
    """

    def __init__(self, source: RNSBasis | Sequence[int], target: RNSBasis | Sequence[int]) -> None:
        self.source = _as_basis(source)
        self.target = _as_basis(target)
        self.constants = np.array(
            [[hat % p for hat in self.source.punctured] for p in self.target.moduli], dtype=np.int64
        )
        self._target_column = np.array(self.target.moduli, dtype=np.int64).reshape(-1, 1, 1)
        self._needs_reduction = max(self.source.moduli) > min(self.target.moduli)
        widest = max(self.target.moduli)
        try:
            self.plan: DigitPlan | None = plan_digits(
                max(self.source.moduli) - 1, (widest - 1) // 2, len(self.source), widest
            )
        except ParameterError:
            self.plan = None
        self.one_gemm = self.plan is not None
        self.folded: np.ndarray | None = None
        self._fallback: ModMatmul | None = None
        if self.plan is None:
            self._fallback = ModMatmul(self.constants[:, None, :], self.target.moduli)
            return
        columns = []
        for k in range(self.plan.digits):
            shift = 1 << (self.plan.digit_bits * k)
            columns.append(
                [[_centred(hat * shift % p, p) for hat in self.source.punctured] for p in self.target.moduli]
            )
        self.folded = np.concatenate(np.array(columns, dtype=np.float64), axis=1)  # (L', D*L), digit-major
        self._q = np.array(self.target.moduli, dtype=np.float64).reshape(-1, 1)
        self._inverse_q = 1.0 / self._q

    @single_blas_thread
    def convert(self, residues: np.ndarray) -> np.ndarray:
        """Convert ``(..., L, n)`` source residues to int64 ``(..., L', n)`` target residues.

        Raises:
            ShapeError, ParameterError: wrong limb count, dtype, or a residue outside ``[0, q_i)``.
        """
        array = np.asarray(residues)
        _check_residues(array, self.source, "residues")
        scaled = _limbwise_mul(array.astype(np.int64), self.source.punctured_inverse, self.source.moduli)
        if self.plan is not None and self.folded is not None:
            return self._convert_one_gemm(scaled, self.plan, self.folded)
        assert self._fallback is not None
        # (..., L, n) -> (..., L', L, n): one copy of the c_i per target limb, reduced modulo p_j.
        per_target = np.broadcast_to(
            scaled[..., None, :, :], (*scaled.shape[:-2], len(self.target), *scaled.shape[-2:])
        )
        if self._needs_reduction:
            per_target = np.remainder(per_target, self._target_column)
        return self._fallback.apply(per_target)[..., 0, :]

    def _convert_one_gemm(self, scaled: np.ndarray, plan: DigitPlan, folded: np.ndarray) -> np.ndarray:
        """``folded @ digits(c)`` reduced row by row: ``(..., L, n)`` int64 c_i -> ``(..., L', n)``."""
        batch, limbs, n = scaled.shape[:-2], scaled.shape[-2], scaled.shape[-1]
        count = int(np.prod(batch, dtype=np.int64))
        columns = scaled.reshape(count, limbs, n).transpose(1, 0, 2).reshape(limbs, count * n)
        digits = split_digits_int(columns, plan, axis=0)  # (D*L, B*n), digit-major
        result = rint_reduce_centred(folded @ digits, self._q, self._inverse_q)
        np.add(result, self._q, out=result, where=result < 0)
        out = result.astype(np.int64).reshape(len(self.target), count, n).transpose(1, 0, 2)
        return out.reshape(*batch, len(self.target), n)


@single_blas_thread
def rescale_by_last(residues: np.ndarray, basis: RNSBasis | Sequence[int]) -> np.ndarray:
    """Divide by the last modulus and round (CKKS rescale), as SEAL's ``divide_and_round_q_last``.

    For the value ``X`` in ``[0, Q)`` with residues ``x`` this returns the residues of
    ``floor((X + h) / q_last)``, ``h = floor(q_last / 2)``, i.e. ``round(X / q_last)`` (no ties,
    q_last is odd), in the basis without ``q_last``, computed limb by limb:
    ``y_i = (x_i - ([x_last + h]_(q_last) - h)) * q_last^-1 mod q_i``.  Coefficient form only
    (for NTT-form data, inverse-transform first).

    Args:
        residues: integer ``(..., L, n)``, limb i in ``[0, q_i)``, L >= 2.
        basis: an :class:`RNSBasis` (or moduli) of L moduli.

    Returns:
        int64 ``(..., L-1, n)`` residues modulo ``q_0 .. q_(L-2)``.

    Raises:
        ShapeError, ParameterError: wrong shape or dtype, residues out of range, or L < 2.
    """
    rns = _as_basis(basis)
    kept = rns.drop_last()
    array = np.asarray(residues)
    _check_residues(array, rns, "residues")
    values = array.astype(np.int64)
    q_last = rns.moduli[-1]
    half = q_last // 2
    shifted_last = (values[..., -1:, :] + half) % q_last  # (..., 1, n) in [0, q_last)
    column = np.array(kept.moduli, dtype=np.int64).reshape(-1, 1)
    half_mod = np.array([half % q for q in kept.moduli], dtype=np.int64).reshape(-1, 1)
    # (X + h) - [X + h]_(q_last) is divisible by q_last; its residues are x_i + h - [x_last + h].
    numerator = (values[..., :-1, :] + half_mod - shifted_last % column) % column
    inverses = tuple(pow(q_last, -1, q) for q in kept.moduli)
    return _limbwise_mul(numerator, inverses, kept.moduli)


@single_blas_thread
def negacyclic_multiply(a: np.ndarray, b: np.ndarray, moduli: Sequence[int], n: int) -> np.ndarray:
    """Product of polynomials modulo ``(X^n + 1, q_i)`` on every limb, through the GEMM NTT.

    Args:
        a, b: integer ``(..., L, n)`` residues (batch shapes broadcast), limb i in ``[0, q_i)``.
        moduli: L NTT-friendly primes (q = 1 mod 2n, at most 60 bits), as :class:`NTT` accepts.
        n: the ring degree, a power of two.

    Returns:
        int64 ``(..., L, n)`` in ``[0, q_i)``.

    Raises:
        ShapeError, ParameterError: shapes that are not ``(..., L, n)``, residues out of range, or
            moduli/n that :class:`NTT` refuses.
    """
    limbs = tuple(int(q) for q in moduli)
    for name, operand in (("a", a), ("b", b)):
        shape = np.shape(operand)
        if len(shape) < 2 or shape[-2:] != (len(limbs), n):
            raise ShapeError(f"{name} must have shape (..., L={len(limbs)}, n={n}); got {shape}")
    ntt = _cached_ntt(n, limbs)
    left = ntt.forward(np.asarray(a), order="bit_reversed")
    right = ntt.forward(np.asarray(b), order="bit_reversed")
    products = np.stack([mod_mul(left[..., limb, :], right[..., limb, :], q) for limb, q in enumerate(limbs)], axis=-2)
    return ntt.inverse(products, order="bit_reversed")


# -- helpers --------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _cached_ntt(n: int, moduli: tuple[int, ...]) -> NTT:
    """NTT objects are costly to build (constant matrices): keep the recent ones."""
    return NTT(n, moduli)


def _centred(value: int, modulus: int) -> int:
    """``value`` in ``[0, modulus)`` as its balanced representative in ``[-(modulus-1)/2, (modulus-1)/2]``."""
    return value - modulus if value > (modulus - 1) // 2 else value


def _as_basis(basis: RNSBasis | Sequence[int]) -> RNSBasis:
    return basis if isinstance(basis, RNSBasis) else RNSBasis(basis)


def _integer_array(x: int | np.ndarray | Sequence[int]) -> np.ndarray:
    """``x`` as an int64 array, or an object array of Python ints when a value needs more than 63 bits."""
    if isinstance(x, bool):
        raise ParameterError("x must be an integer or an integer array, got a bool")
    if isinstance(x, int):
        return np.array(x, dtype=object if abs(x) >= 1 << 62 else np.int64)
    array = np.asarray(x)
    if array.dtype == object:
        for value in array.flat:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ParameterError(f"x must hold integers; found {value!r} of type {type(value).__name__}")
        return np.asarray(np.vectorize(int, otypes=[object])(array) if array.size else array)
    if not np.issubdtype(array.dtype, np.integer):
        raise ParameterError(f"x must have an integer dtype or hold Python ints, got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and int(array.max()) >= 1 << 63:
        return array.astype(object)
    return array.astype(np.int64)


def _check_residues(array: np.ndarray, basis: RNSBasis, name: str) -> None:
    """Raise unless ``array`` is integer ``(..., L, n)`` with limb i in ``[0, q_i)``."""
    limbs = len(basis)
    if array.ndim < 2 or array.shape[-2] != limbs:
        raise ShapeError(f"{name} must have shape (..., L={limbs}, n); got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ParameterError(f"{name} must have an integer dtype, got {array.dtype}")
    if array.size == 0:
        return
    reduce_axes = tuple(i for i in range(array.ndim) if i != array.ndim - 2)
    low, high = array.min(axis=reduce_axes), array.max(axis=reduce_axes)
    for limb, q in enumerate(basis.moduli):
        if int(low[limb]) < 0 or int(high[limb]) >= q:
            raise ParameterError(f"{name} limb {limb} holds values in [{low[limb]}, {high[limb]}]; expected [0, {q})")


def _limbwise_mul(values: np.ndarray, constants: Sequence[int], moduli: Sequence[int]) -> np.ndarray:
    """``values[..., i, :] * constants[i] mod moduli[i]`` for int64 ``(..., L, n)`` residues."""
    return np.stack(
        [mod_mul(values[..., limb, :], c % q, q) for limb, (c, q) in enumerate(zip(constants, moduli, strict=True))],
        axis=-2,
    )
