"""Bytes of the ``cross`` engine: ciphertexts, public and secret contexts, rotation keys.

Strict little-endian formats (magics registered in :mod:`securecompute.binary`); every array is
uint64 residues in NTT form (SEAL's bit-reversed order), limb l modulo ``q_l``, and every residue
is checked to lie below its prime.  Sizes follow from the parameters, which are read first and
validated (N <= 32768, at most the 128-bit table's bits), and every array is taken from bytes
already received, so nothing is allocated beyond the input.

* ciphertext ``SCXC`` v1: parameter id (first 8 bytes of SHA-256 of the parameter bytes), level u8
  (levels left), then ``2 x (level+1) x N`` u64.  The scale is not stored: it is Δ by the engine's
  invariant.
* public context ``SCXP`` v1: parameter bytes (u64 length-prefixed), public key ``2 x K x N`` u64,
  relinearisation flag u8 (then ``(K-1) x 2 x K x N`` u64), then the rotation keys as in ``SCXG``
  without its fingerprint.  The fingerprint (SHA-256 of parameter bytes and public key words) is
  recomputed, never read.
* secret context ``SCXS`` v1: the public context (length-prefixed), then the secret key ``K x N`` u64.
* rotation keys ``SCXG`` v1: the 32-byte fingerprint of the key owner, key count u32, then per key
  its left-rotation step u32 (strictly increasing, in 1..slots-1) and ``(K-1) x 2 x K x N`` u64.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from securecompute.binary import MAGICS, ByteReader, header, length_prefixed
from securecompute.ckks import CKKSParameters as RingParameters
from securecompute.ckks import KeySwitchingKey, PublicKey, SecretKey
from securecompute.ckks.ring import add_mod, inverse, modulus_column, mul_mod
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.fhe.params import CKKSParameters

__all__ = [
    "PARMS_ID_BYTES",
    "array_bytes",
    "fingerprint_of",
    "parms_id",
    "public_context_bytes",
    "read_public_context",
    "read_rotation_keys",
    "read_secret_context",
    "ring_parameters",
    "rotation_keys_bytes",
    "secret_context_bytes",
]

PARMS_ID_BYTES = 8

#: A public key (-(a s + e), a) opens to -e under its secret; e is SEAL's centred binomial noise
#: (|e| <= 21), so anything larger means the secret key belongs to another public key.
PUBLIC_KEY_ERROR_LIMIT = 64


@lru_cache(maxsize=32)
def ring_parameters(params: CKKSParameters) -> RingParameters:
    """The scheme's view of ``params``: the primes SEAL's ``CoeffModulus.Create`` picks for these bit sizes.

    Security was checked by ``params`` itself (same table), so the ring view does not check it again.
    """
    return RingParameters.from_bit_sizes(params.poly_modulus_degree, params.coeff_modulus_bits, allow_insecure=True)


def centred_coefficients(ring: RingParameters, evaluations: np.ndarray) -> np.ndarray:
    """int64 ``(K, N)``: the coefficients of NTT-form ``(K, N)`` residues, centred in (-q_l/2, q_l/2] per limb."""
    coefficients = inverse(ring.n, ring.moduli, evaluations).astype(np.int64)  # residues < 2^61 fit int64
    moduli = np.array(ring.moduli, dtype=np.int64)[:, None]
    return np.where(coefficients > moduli // 2, coefficients - moduli, coefficients)


def check_key_pair(public_key: PublicKey, secret: SecretKey) -> None:
    """Refuse a secret key that is not one ternary polynomial, or does not open ``public_key``.

    On every limb, s must be the same polynomial with coefficients in {-1, 0, 1}, and the public key
    (-(a s + e), a) must open to the same -e with |e| <= ``PUBLIC_KEY_ERROR_LIMIT``.  (Checking one
    limb only would let the other limbs of either key be anything.)

    Raises:
        CorruptPayloadError: either condition fails.
    """
    ring = secret.params
    s = centred_coefficients(ring, secret.data)
    if np.any(np.abs(s) > 1) or np.any(s != s[:1]):
        raise CorruptPayloadError("cross secret context: the secret key is not one ternary polynomial on every prime")
    column = modulus_column(ring.moduli)
    phase = add_mod(public_key.data[0], mul_mod(public_key.data[1], secret.data, column), column)
    error = centred_coefficients(ring, phase)
    if np.any(np.abs(error) > PUBLIC_KEY_ERROR_LIMIT) or np.any(error != error[:1]):
        raise CorruptPayloadError("cross secret context: the secret key does not belong to its public key")


def parms_id(params: CKKSParameters) -> bytes:
    """Like SEAL's parms_id: 8 bytes naming the parameters a ciphertext was made under."""
    return hashlib.sha256(params.to_bytes()).digest()[:PARMS_ID_BYTES]


def fingerprint_of(params: CKKSParameters, public_key: PublicKey) -> bytes:
    """32 bytes: SHA-256 of the parameter bytes and the public key words."""
    return hashlib.sha256(params.to_bytes() + array_bytes(public_key.data)).digest()


def array_bytes(array: np.ndarray) -> bytes:
    """uint64 words, little-endian, C order."""
    return np.ascontiguousarray(array, dtype="<u8").tobytes()


def read_array(reader: ByteReader, shape: tuple[int, ...], moduli: tuple[int, ...], what: str) -> np.ndarray:
    """``shape`` uint64 words whose second-to-last axis runs over ``moduli``; each residue below its prime.

    Raises:
        CorruptPayloadError: truncated bytes, or a residue not below its prime.
    """
    count = int(np.prod(shape))
    words = np.frombuffer(reader.take(8 * count), dtype="<u8").astype(np.uint64).reshape(shape)
    if shape[-2] != len(moduli):
        raise CorruptPayloadError(f"{what}: {shape[-2]} limbs for {len(moduli)} primes")
    if np.any(words >= modulus_column(moduli)):
        raise CorruptPayloadError(f"{what} holds a residue not below its prime")
    return words


def switching_key_shape(ring: RingParameters) -> tuple[int, int, int, int]:
    """Shape of one key-switching key: ``(K-1, 2, K, N)``."""
    count = len(ring.moduli)
    return (count - 1, 2, count, ring.n)


def rotation_keys_bytes(keys: Mapping[int, KeySwitchingKey]) -> bytes:
    """Count u32, then per step (increasing) the step u32 and the key's words (no header)."""
    parts = [struct.pack("<I", len(keys))]
    for step in sorted(keys):
        parts.append(struct.pack("<I", step) + array_bytes(keys[step].data))
    return b"".join(parts)


def read_rotation_keys(reader: ByteReader, ring: RingParameters, slots: int) -> dict[int, KeySwitchingKey]:
    """Inverse of :func:`rotation_keys_bytes`: step -> key.

    Raises:
        CorruptPayloadError: steps not strictly increasing in 1..slots-1, or malformed key words.
    """
    count = reader.unpack("I")[0]
    keys: dict[int, KeySwitchingKey] = {}
    previous = 0
    for _ in range(count):  # each key is taken from bytes already received: a lying count only truncates
        step = reader.unpack("I")[0]
        if not previous < step < slots:
            raise CorruptPayloadError(
                f"rotation key for step {step} after step {previous}; accepted: increasing steps in 1..{slots - 1}"
            )
        words = read_array(reader, switching_key_shape(ring), ring.moduli, f"rotation key for step {step}")
        keys[step] = KeySwitchingKey(ring, words)
        previous = step
    return keys


def public_context_bytes(
    params: CKKSParameters,
    public_key: PublicKey,
    relin_key: KeySwitchingKey | None,
    rotation_keys: Mapping[int, KeySwitchingKey],
) -> bytes:
    """``SCXP`` bytes (see the module docstring)."""
    relin = b"\x01" + array_bytes(relin_key.data) if relin_key is not None else b"\x00"
    return (
        header("cross-public")
        + length_prefixed(params.to_bytes())
        + array_bytes(public_key.data)
        + relin
        + rotation_keys_bytes(rotation_keys)
    )


PublicParts = tuple[CKKSParameters, RingParameters, PublicKey, KeySwitchingKey | None, dict[int, KeySwitchingKey]]


def read_public_context(data: bytes) -> PublicParts:
    """Inverse of :func:`public_context_bytes`: parameters (both views), public key, relin key, rotation keys.

    Raises:
        CorruptPayloadError: any malformation (wrong magic, truncation, bad residues, trailing bytes,
            parameters whose bit sizes have too few NTT primes).
        InsecureParametersError: parameters above the 128-bit table.
    """
    reader = ByteReader(data, "cross public context", MAGICS["cross-public"])
    params = CKKSParameters.from_bytes(reader.blob())
    try:
        ring = ring_parameters(params)
    except ParameterError as exc:  # valid-looking bit sizes with too few NTT primes (e.g. many 20-bit ones)
        raise CorruptPayloadError(f"cross public context names parameters without a prime chain: {exc}") from None
    count, n = len(ring.moduli), ring.n
    public_key = PublicKey(ring, read_array(reader, (2, count, n), ring.moduli, "public key"))
    flag = reader.unpack("B")[0]
    if flag not in (0, 1):
        raise CorruptPayloadError(f"cross public context has relinearisation flag {flag}; accepted: 0 or 1")
    relin_key = None
    if flag:
        relin_key = KeySwitchingKey(
            ring, read_array(reader, switching_key_shape(ring), ring.moduli, "relinearisation key")
        )
    rotation_keys = read_rotation_keys(reader, ring, params.slots)
    reader.end()
    return params, ring, public_key, relin_key, rotation_keys


def secret_context_bytes(public_bytes: bytes, secret_key: SecretKey) -> bytes:
    """``SCXS`` bytes: the public context and the secret key words."""
    return header("cross-secret") + length_prefixed(public_bytes) + array_bytes(secret_key.data)


def read_secret_context(data: bytes) -> tuple[PublicParts, SecretKey]:
    """Inverse of :func:`secret_context_bytes`.

    Raises:
        CorruptPayloadError: malformed bytes, a secret key that is not ternary on every prime, or
            one that does not open its public key.
    """
    reader = ByteReader(data, "cross secret context", MAGICS["cross-secret"])
    parts = read_public_context(reader.blob())
    ring = parts[1]
    secret = SecretKey(ring, read_array(reader, (len(ring.moduli), ring.n), ring.moduli, "secret key"))
    reader.end()
    check_key_pair(parts[2], secret)
    return parts, secret
