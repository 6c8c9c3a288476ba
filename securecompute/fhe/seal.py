"""A small, hard-to-misuse CKKS layer over Microsoft SEAL, reached through ``tenseal.sealapi``.

Why: TenSEAL's ``CKKSVector`` has no slot rotation (TenSEAL#306), which an encrypted einsum needs.
Keys still come from a TenSEAL context (``ts.context``: secret, public and relinearisation keys; it
enforces 128-bit security); the SEAL objects inside it are then driven directly (``Evaluator``,
``CKKSEncoder``, ``KeyGenerator.create_galois_keys``).  Ciphertexts are plain ``sealapi.Ciphertext``
holding ``slots = N/2`` real values; every operation returns a NEW ciphertext.

Scale invariant: every ciphertext has scale exactly Δ = 2**scale_bits at every level, so two
ciphertexts can always be added once their levels are aligned (mod switching is exact).
* ``multiply_plain`` encodes the plaintext at scale q, the prime the following rescale drops, so the
  result has scale Δ·q/q = Δ exactly.
* ``multiply`` (ct x ct) yields Δ²; rescaling by q leaves Δ²/q, which is then *declared* Δ: the
  product is biased by the factor Δ/q, a relative error (Δ-q)/q per ct x ct.  A scale can only be
  divided by a prime, so no exact fix exists without spending another level; the drift per level is
  exposed as ``rescale_drift`` and ct x ct is refused where it exceeds 2**-12.  SEAL takes the primes
  just below 2**scale_bits; with 40-bit primes the drift is at most 6.7e-7 (N=8192, 2 levels),
  6.4e-6 (N=16384, 7 levels), 1.8e-5 (N=32768, 19 levels); the first rescale drops the closest prime
  (1.4e-6), and 19 successive ct x ct at N=32768 accumulate a 1.8e-4 relative bias.

Rotation: ``rotate(ct, k)`` is a LEFT rotation (slot i receives slot i+k), i.e. ``np.roll(v, -k)``,
using a Galois key for element 3**k mod 2N, which must come from a :class:`GaloisKeyBundle`.

sealapi serialises only through file paths, so bytes pass through a private temporary file (on
/dev/shm when it has room).  Only public material (public key, ciphertexts, Galois keys) touches a
file; secret contexts are serialised by TenSEAL straight to bytes.  Overflow is silent in CKKS: keep
|values| < 2**(q0_bits - scale_bits - 1) (q0 the first prime) at every step.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import tenseal as ts
from tenseal import sealapi

from securecompute.binary import FORMAT_VERSION, MAGICS, ByteReader, checked_int, length_prefixed
from securecompute.errors import (
    CorruptPayloadError,
    DepthExhaustedError,
    InsecureParametersError,
    KeyMismatchError,
    MissingKeyError,
    ParameterError,
)
from securecompute.fhe.params import CKKSParameters
from securecompute.fhe.seal_io import seal_load, seal_save

if TYPE_CHECKING:
    from typing import TypeAlias

    Ciphertext: TypeAlias = Any  # a sealapi.Ciphertext
else:
    Ciphertext = sealapi.Ciphertext

__all__ = ["MAX_RESCALE_DRIFT", "Ciphertext", "GaloisKeyBundle", "SealPublicKit", "SealSecretKit"]

MAX_RESCALE_DRIFT = 2.0**-12


# ----------------------------------------------------------------------------- Galois keys
class GaloisKeyBundle:
    """Galois keys for a set of left-rotation steps (each in 1..slots-1), tied to one kit's fingerprint."""

    def __init__(self, fingerprint: bytes, steps: frozenset[int], keys: Any = None, blob: bytes | None = None) -> None:
        self.fingerprint, self.steps = fingerprint, steps
        self._keys, self._blob = keys, blob

    def _seal_bytes(self) -> bytes:
        if self._blob is None:
            self._blob = seal_save(self._keys, 16 << 20) if self.steps else b""
        return self._blob

    def _keys_for(self, context: Any, n: int) -> Any:
        """The sealapi.GaloisKeys (None if no steps), loaded against ``context``; must hold exactly ``steps``."""
        if self._keys is None and self.steps:
            keys = seal_load(sealapi.GaloisKeys(), context, self._seal_bytes(), "Galois key bundle")
            if keys.size() != len(self.steps) or not all(keys.has_key(pow(3, k, 2 * n)) for k in self.steps):
                raise CorruptPayloadError(f"Galois key bundle does not hold keys for its steps {sorted(self.steps)}")
            self._keys = keys
        return self._keys

    def to_bytes(self) -> bytes:
        """``b"SCGK"``, version, 32-byte fingerprint, step count (u32), steps (u32 each), SEAL GaloisKeys blob."""
        steps = sorted(self.steps)
        head = struct.pack(
            f"<4sB32sI{len(steps)}I", MAGICS["seal-galois-keys"], FORMAT_VERSION, self.fingerprint, len(steps), *steps
        )
        return head + length_prefixed(self._seal_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> GaloisKeyBundle:
        """Strict inverse of :meth:`to_bytes`; the SEAL key blob itself is checked when added to a kit."""
        reader = ByteReader(data, "Galois key bundle", MAGICS["seal-galois-keys"])
        fingerprint = reader.take(32)
        count = reader.unpack("I")[0]
        steps = reader.unpack(f"{min(count, len(reader.data))}I")
        blob = reader.blob()
        reader.end()
        if (
            list(steps) != sorted(set(steps))
            or 0 in steps
            or bool(blob) != bool(steps)
            or blob[:2] not in (b"", b"^\xa1")
        ):
            raise CorruptPayloadError(f"Galois key bundle has invalid steps {list(steps)[:8]} or key blob")
        return cls(fingerprint, frozenset(steps), blob=blob)

    @property
    def nbytes(self) -> int:
        """Serialised size in bytes."""
        return len(self.to_bytes())

    def __repr__(self) -> str:
        return f"GaloisKeyBundle(steps={sorted(self.steps)}, fingerprint={self.fingerprint.hex()[:16]})"


# ----------------------------------------------------------------------------- kits
class _CKKSKit:
    """Encryption and evaluation shared by both kits; holds the TenSEAL context that keeps SEAL objects alive."""

    def __init__(self, params: CKKSParameters, ctx: Any) -> None:
        sc = ctx.seal_context().data
        key_parms = sc.key_context_data().parms()
        primes = sealapi.CoeffModulus.Create(params.poly_modulus_degree, list(params.coeff_modulus_bits))
        if (
            key_parms.scheme().name != "CKKS"
            or key_parms.poly_modulus_degree() != params.poly_modulus_degree
            or [q.value() for q in key_parms.coeff_modulus()] != [q.value() for q in primes]
            or not ctx.has_public_key()
        ):
            raise CorruptPayloadError(f"TenSEAL context does not match {params} or lacks a public key")
        self.params, self._ctx, self._sc = params, ctx, sc
        self._delta = 2.0**params.scale_bits
        self._encoder, self._evaluator = sealapi.CKKSEncoder(sc), sealapi.Evaluator(sc)
        self._encryptor = sealapi.Encryptor(sc, ctx.public_key().data)
        # None for a public kit sent without relinearisation keys (plaintext-product protocols: FRAG).
        self._relin = ctx.relin_keys().data if ctx.has_relin_keys() else None
        self._parms: list[list[int]] = []  # parms_id by level (index = levels left)
        self._drop: list[float] = []  # prime dropped when rescaling from each level (level 0: Δ, never used)
        data = sc.first_context_data()
        while data is not None:
            self._parms.insert(0, data.parms_id())
            self._drop.insert(0, float(data.parms().coeff_modulus()[-1].value()) if data.chain_index() else self._delta)
            data = data.next_context_data()
        self._level_of = {tuple(p): i for i, p in enumerate(self._parms)}
        self.fingerprint: bytes = hashlib.sha256(params.to_bytes() + seal_save(ctx.public_key().data)).digest()
        self._galois: dict[int, Any] = {}
        self._bundles: list[GaloisKeyBundle] = []

    def add_galois_keys(self, bundle: GaloisKeyBundle) -> None:
        """Make the bundle's rotation steps available; KeyMismatchError if it was made for another key."""
        if not isinstance(bundle, GaloisKeyBundle):
            raise ParameterError(f"expected a GaloisKeyBundle, got {type(bundle).__name__}")
        if bundle.fingerprint != self.fingerprint:
            raise KeyMismatchError(
                f"Galois bundle for key {bundle.fingerprint.hex()[:16]} given to kit {self.fingerprint.hex()[:16]}"
            )
        if any(not 1 <= step < self.params.slots for step in bundle.steps):
            raise CorruptPayloadError(
                f"Galois key bundle declares steps {sorted(bundle.steps)[:8]}; accepted: 1..{self.params.slots - 1}"
            )
        keys = bundle._keys_for(self._sc, self.params.poly_modulus_degree)
        if all(b is not bundle for b in self._bundles):
            self._bundles.append(bundle)
            self._galois.update(dict.fromkeys(bundle.steps, keys))

    @property
    def rotation_steps(self) -> frozenset[int]:
        """Left-rotation steps (in 1..slots-1) for which a Galois key is held."""
        return frozenset(self._galois)

    @property
    def rescale_drift(self) -> tuple[float, ...]:
        """Per level: (q - Δ)/Δ for the prime q a rescale from that level drops (0.0 at level 0); ct x ct bias."""
        return tuple((q - self._delta) / self._delta for q in self._drop)

    # --- helpers ------------------------------------------------------------
    def _encode(self, values: object, level: int, scale: float) -> Any:
        """Plaintext of ``values`` (n <= slots,) real, zero-padded, at ``level`` and ``scale``."""
        try:
            arr = np.asarray(values)
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"values must be a real 1-D array: {exc}") from None
        if arr.ndim != 1 or arr.shape[0] > self.params.slots or (arr.size and arr.dtype.kind not in "fiub"):
            raise ParameterError(
                f"values must be real, 1-D, at most {self.params.slots} long; got {arr.shape} {arr.dtype}"
            )
        padded = np.zeros(self.params.slots)
        padded[: arr.shape[0]] = arr
        if not np.all(np.isfinite(padded)):
            raise ParameterError("values must be finite (no NaN or infinity)")
        pt = sealapi.Plaintext()
        try:
            self._encoder.encode(padded.tolist(), self._parms[level], scale, pt)
        except ValueError as exc:
            raise ParameterError(f"values cannot be encoded at scale {scale:.4g}: {exc}") from None
        return pt

    def _multiplier(self, values: object, level: int, scale: float) -> Any:
        """``values`` encoded at ``level`` and ``scale``, or checked as such if already a plaintext."""
        if not isinstance(values, sealapi.Plaintext):
            return self._encode(values, level, scale)
        if tuple(values.parms_id()) != tuple(self._parms[level]) or values.scale != scale:
            raise ParameterError(f"pre-encoded multiplier was made for another level or scale than level {level}")
        return values

    def _check(self, ct: object) -> int:
        """Level of ``ct``, after checking it is a size-2 ciphertext of these parameters with scale Δ."""
        if not isinstance(ct, sealapi.Ciphertext):
            raise ParameterError(f"expected a sealapi.Ciphertext, got {type(ct).__name__}")
        level = self._level_of.get(tuple(ct.parms_id()))
        if level is None:
            raise KeyMismatchError("ciphertext was not made under this kit's CKKS parameters")
        if ct.size() != 2 or ct.scale != self._delta:
            raise ParameterError(
                f"ciphertext size {ct.size()}, scale {ct.scale}; accepted: 2, 2^{self.params.scale_bits}"
            )
        return level

    def _run(self, op: Any, *args: Any, level: int) -> Ciphertext:
        """``op(*args, out)``; SEAL refuses a transparent (exactly zero) result: return a fresh encryption of 0."""
        out = sealapi.Ciphertext()
        try:
            op(*args, out)
        except RuntimeError as exc:
            if "transparent" not in str(exc):
                raise
            self._encryptor.encrypt_zero(self._parms[level], out)
            out.scale = self._delta
        return out

    def _align(self, a: Ciphertext, b: Ciphertext) -> tuple[Ciphertext, Ciphertext, int]:
        level = min(self._check(a), self._check(b))
        return self.mod_switch_to_level(a, level), self.mod_switch_to_level(b, level), level

    def _spend_level(self, level: int, what: str) -> None:
        if level < 1:
            raise DepthExhaustedError(f"{what} needs 1 level; the ciphertext has 0 left", needed=1, available=0)

    # --- evaluation -----------------------------------------------------------
    def encrypt(self, values: object) -> Ciphertext:
        """Public-key encryption of ``values`` (n <= slots,) float64, zero-padded; top level, scale Δ."""
        out = sealapi.Ciphertext()
        self._encryptor.encrypt(self._encode(values, self.params.depth, self._delta), out)
        return out

    def level(self, ct: Ciphertext) -> int:
        """Multiplicative levels left: ``params.depth`` when fresh, 0 = cannot rescale any more."""
        return self._check(ct)

    def mod_switch_to_level(self, ct: Ciphertext, level: int) -> Ciphertext:
        """Copy of ``ct`` moved down to ``level`` (exact: values and scale unchanged)."""
        current, level = self._check(ct), checked_int(level, "level")
        if not 0 <= level <= current:
            raise ParameterError(f"cannot switch a level-{current} ciphertext to level {level}; accepted: 0..{current}")
        out = sealapi.Ciphertext()
        self._evaluator.mod_switch_to(ct, self._parms[level], out)
        return out

    def rotate(self, ct: Ciphertext, step: int) -> Ciphertext:
        """Left rotation by ``step`` slots (negative = right): out[i] = ct[(i + step) mod slots]; no level used."""
        level, k = self._check(ct), checked_int(step, "step") % self.params.slots
        if k == 0:
            return self.mod_switch_to_level(ct, level)
        if k not in self._galois:
            held = sorted(self._galois)
            shown = ", ".join(map(str, held[:20])) + (", ..." if len(held) > 20 else "")
            raise MissingKeyError(f"no Galois key for rotation step {step} (= {k} mod slots); steps held: [{shown}]")
        out = sealapi.Ciphertext()
        self._evaluator.rotate_vector(ct, k, self._galois[k], out)
        return out

    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """a + b slot-wise, at the lower of the two levels."""
        a, b, level = self._align(a, b)
        return self._run(self._evaluator.add, a, b, level=level)

    def sub(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """a - b slot-wise, at the lower of the two levels."""
        a, b, level = self._align(a, b)
        return self._run(self._evaluator.sub, a, b, level=level)

    def add_plain(self, ct: Ciphertext, values: object) -> Ciphertext:
        """ct + values, ``values`` (n <= slots,) float64 zero-padded, encoded at ct's level and scale Δ."""
        level = self._check(ct)
        return self._run(self._evaluator.add_plain, ct, self._encode(values, level, self._delta), level=level)

    def multiply_plain(self, ct: Ciphertext, values: object) -> Ciphertext:
        """ct * values slot-wise: one level, scale exactly Δ.

        ``values``: (n <= slots,) float64 zero-padded, or a plaintext from :meth:`encode_multiplier` at ct's level.
        """
        level = self._check(ct)
        self._spend_level(level, "multiply_plain")
        q = self._drop[level]  # plaintext at scale q: Δ·q after the product, exactly Δ after dropping q
        prod = self._run(self._evaluator.multiply_plain, ct, self._multiplier(values, level, q), level=level)
        prod.scale = self._delta * q  # what SEAL set already; needed when a zero product was replaced
        out = self._run(self._evaluator.rescale_to_next, prod, level=level - 1)
        out.scale = self._delta
        return out

    def encode_multiplier(self, values: object, level: int) -> Any:
        """Pre-encode ``values`` (n <= slots,) real, zero-padded, as a ``dot_plain`` operand at ``level``.

        Encoding costs as much as the product itself; a caller that multiplies the same plaintext
        vectors many times (a vector store answering queries) encodes them once with this.
        """
        level = checked_int(level, "level")
        if not 1 <= level <= self.params.depth:
            raise ParameterError(f"a multiplier needs a level in 1..{self.params.depth}, got {level}")
        return self._encode(values, level, self._drop[level])

    def add_scalar(self, ct: Ciphertext, value: float) -> Ciphertext:
        """ct + value in every slot (the constant is encoded as one coefficient: microseconds); no level used."""
        level = self._check(ct)
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise ParameterError(f"add_scalar needs a finite real number, got {value!r}")
        pt = sealapi.Plaintext()
        self._encoder.encode(float(value), self._parms[level], self._delta, pt)
        return self._run(self._evaluator.add_plain, ct, pt, level=level)

    def dot_plain(self, cts: list[Ciphertext], vectors: list[Any]) -> Ciphertext:
        """sum_i cts[i] * vectors[i] slot-wise with ONE rescale: one level, scale exactly Δ.

        The ciphertexts are moved to the lowest level among them first.  A vector may be an array or
        a plaintext from :meth:`encode_multiplier` made for that level.
        """
        if not cts or len(cts) != len(vectors):
            raise ParameterError(f"dot_plain needs as many vectors as ciphertexts, got {len(cts)} and {len(vectors)}")
        level = min(self._check(ct) for ct in cts)
        self._spend_level(level, "dot_plain")
        q = self._drop[level]
        total = None
        for ct, values in zip(cts, vectors, strict=True):
            ct = ct if self._check(ct) == level else self.mod_switch_to_level(ct, level)
            term = self._run(self._evaluator.multiply_plain, ct, self._multiplier(values, level, q), level=level)
            term.scale = self._delta * q
            if total is None:
                total = term
            else:
                self._evaluator.add_inplace(total, term)
        out = self._run(self._evaluator.rescale_to_next, total, level=level - 1)
        out.scale = self._delta
        return out

    def zeros(self, level: int) -> Ciphertext:
        """A fresh public-key encryption of the all-zero vector at ``level``, scale Δ."""
        level = checked_int(level, "level")
        if not 0 <= level <= self.params.depth:
            raise ParameterError(f"level {level} is outside 0..{self.params.depth}")
        out = sealapi.Ciphertext()
        self._encryptor.encrypt_zero(self._parms[level], out)
        out.scale = self._delta
        return out

    def multiply(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """a * b slot-wise, relinearised and rescaled: one level; relative bias ``rescale_drift[level]``."""
        level = min(self._check(a), self._check(b))
        self._spend_level(level, "multiply")
        if abs(drift := self.rescale_drift[level]) > MAX_RESCALE_DRIFT:
            raise ParameterError(
                f"ct x ct at level {level} would drop a prime {drift:+.1e} (relative) off 2^{self.params.scale_bits};"
                f" accepted: within {MAX_RESCALE_DRIFT:.1e}, i.e. middle primes of exactly scale_bits >= 40 bits"
            )
        if self._relin is None:
            raise MissingKeyError("this public kit was sent without relinearisation keys; ct x ct needs them")
        a, b, level = self._align(a, b)
        prod, relin, out = sealapi.Ciphertext(), sealapi.Ciphertext(), sealapi.Ciphertext()
        self._evaluator.multiply(a, b, prod)
        self._evaluator.relinearize(prod, self._relin, relin)
        self._evaluator.rescale_to_next(relin, out)
        out.scale = self._delta  # Δ²/q declared Δ: the documented drift
        return out

    def ciphertext_to_bytes(self, ct: Ciphertext) -> bytes:
        """SEAL serialisation (zstd-compressed) of a ciphertext of this kit; no key fingerprint is added."""
        self._check(ct)
        return seal_save(ct, 32 << 20)

    def ciphertext_from_bytes(self, data: bytes) -> Ciphertext:
        """Strict load: CorruptPayloadError unless SEAL accepts it for these parameters and it has scale Δ.

        Bytes from a kit with the SAME parameters but other keys load fine (SEAL cannot tell) and decrypt
        to garbage: callers must compare key fingerprints themselves.
        """
        ct = seal_load(sealapi.Ciphertext(), self._sc, data, "ciphertext")
        try:
            self._check(ct)
        except (ParameterError, KeyMismatchError) as exc:
            raise CorruptPayloadError(f"ciphertext bytes are not a ciphertext of this kit: {exc}") from None
        if not ct.is_ntt_form() or ct.is_transparent():
            raise CorruptPayloadError("ciphertext bytes hold a non-NTT or transparent ciphertext")
        return ct


def _kit_bytes(magic: bytes, params: CKKSParameters, context_bytes: bytes, extra: bytes = b"") -> bytes:
    return (
        magic
        + struct.pack("<B", FORMAT_VERSION)
        + length_prefixed(params.to_bytes())
        + length_prefixed(context_bytes)
        + extra
    )


def _read_kit(data: bytes, magic: bytes, what: str, allow_insecure: bool) -> tuple[ByteReader, CKKSParameters, Any]:
    reader = ByteReader(data, what, magic)
    params = CKKSParameters.from_bytes(reader.blob(), allow_insecure)
    try:
        ctx = ts.context_from(reader.blob(), n_threads=1)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CorruptPayloadError(f"{what} holds no valid TenSEAL context: {exc}") from None
    return reader, params, ctx


class SealPublicKit(_CKKSKit):
    """Evaluator: public key, relinearisation keys and chosen Galois keys; never a secret key."""

    def to_bytes(self, relin_keys: bool = True) -> bytes:
        """``b"SCEK"``, version, params, TenSEAL context (public + relin keys only), count + Galois bundles.

        ``relin_keys=False`` leaves the relinearisation keys out (smaller; :meth:`multiply` then refuses).
        """
        ctx = self._ctx.serialize(
            save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=relin_keys
        )
        bundles = struct.pack("<I", len(self._bundles)) + b"".join(length_prefixed(b.to_bytes()) for b in self._bundles)
        return _kit_bytes(MAGICS["seal-public-kit"], self.params, ctx, bundles)

    @classmethod
    def from_bytes(cls, data: bytes, allow_insecure: bool = False) -> SealPublicKit:
        """Strict inverse of :meth:`to_bytes`; a payload carrying a secret key is refused."""
        reader, params, ctx = _read_kit(data, MAGICS["seal-public-kit"], "public kit", allow_insecure)
        if ctx.is_private():
            raise CorruptPayloadError("public kit bytes contain a secret key; refusing to load them as a public kit")
        kit = cls(params, ctx)
        bundles = [GaloisKeyBundle.from_bytes(reader.blob()) for _ in range(reader.unpack("I")[0])]
        reader.end()
        for bundle in bundles:
            if bundle.fingerprint != kit.fingerprint:
                raise CorruptPayloadError("public kit bytes carry a Galois bundle made for another key")
            kit.add_galois_keys(bundle)
        return kit


class SealSecretKit(_CKKSKit):
    """Key owner: everything :class:`SealPublicKit` evaluates, plus decryption and Galois key generation."""

    def __init__(self, params: CKKSParameters, ctx: Any) -> None:
        if not ctx.is_private():
            raise CorruptPayloadError("secret kit: the TenSEAL context holds no secret key")
        super().__init__(params, ctx)
        self._decryptor = sealapi.Decryptor(self._sc, ctx.secret_key().data)
        self._keygen = sealapi.KeyGenerator(self._sc, ctx.secret_key().data)

    @classmethod
    def generate(cls, params: CKKSParameters) -> SealSecretKit:
        """Fresh secret, public and relinearisation keys (no Galois keys) from a TenSEAL context."""
        if not isinstance(params, CKKSParameters):
            raise ParameterError(f"expected CKKSParameters, got {type(params).__name__}")
        if not params.is_secure:
            raise InsecureParametersError(
                f"coeff_modulus_bits sum to {sum(params.coeff_modulus_bits)} bits, over the 128-bit limit for "
                f"N={params.poly_modulus_degree}: TenSEAL refuses such keys even with allow_insecure"
            )
        n, bits = params.poly_modulus_degree, list(params.coeff_modulus_bits)
        try:
            ctx = ts.context(ts.SCHEME_TYPE.CKKS, n, coeff_mod_bit_sizes=bits, n_threads=1)
        except ValueError as exc:
            raise ParameterError(f"SEAL cannot build a context for {params}: {exc}") from None
        return cls(params, ctx)

    def decrypt(self, ct: Ciphertext) -> np.ndarray:
        """Decrypt to a (slots,) float64 array (real parts)."""
        self._check(ct)
        pt = sealapi.Plaintext()
        self._decryptor.decrypt(ct, pt)
        return np.asarray(self._encoder.decode_double(pt), dtype=np.float64)

    def galois_keys(self, steps: Iterable[int]) -> GaloisKeyBundle:
        """Keys for exactly these left-rotation steps, reduced mod slots with 0 dropped (element 3^k mod 2N).

        The bundle is not added to this kit: call :meth:`add_galois_keys` to rotate here.
        """
        reduced = frozenset(checked_int(s, "rotation step") % self.params.slots for s in steps) - {0}
        if not reduced:
            return GaloisKeyBundle(self.fingerprint, reduced)
        keys = sealapi.GaloisKeys()
        self._keygen.create_galois_keys([pow(3, k, 2 * self.params.poly_modulus_degree) for k in sorted(reduced)], keys)
        return GaloisKeyBundle(self.fingerprint, reduced, keys=keys)

    def public_kit(self) -> SealPublicKit:
        """A new evaluator without the secret key, holding the Galois bundles added to this kit."""
        ctx = self._ctx.copy()
        ctx.make_context_public()
        kit = SealPublicKit(self.params, ctx)
        for bundle in self._bundles:
            kit.add_galois_keys(bundle)
        return kit

    def to_bytes(self) -> bytes:
        """SECRET: ``b"SCSK"``, version, params, TenSEAL context with secret key (Galois bundles not included)."""
        return _kit_bytes(MAGICS["seal-secret-kit"], self.params, self._ctx.serialize(save_secret_key=True))

    @classmethod
    def from_bytes(cls, data: bytes, allow_insecure: bool = False) -> SealSecretKit:
        """Strict inverse of :meth:`to_bytes`."""
        reader, params, ctx = _read_kit(data, MAGICS["seal-secret-kit"], "secret kit", allow_insecure)
        reader.end()
        return cls(params, ctx)
