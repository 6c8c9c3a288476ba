"""The ``simulate`` engine: the same plans on numpy slot vectors, with level accounting.

No encryption happens here and nothing is secret.  A simulated ciphertext is its slot vector and its
level; every operation consumes levels exactly as the ``seal`` engine does and refuses what it
refuses (depth, foreign plaintext levels, malformed bytes), and optional Gaussian noise of a chosen
standard deviation is added after each operation to mimic CKKS's approximate arithmetic.  Used by
notebooks, planning and fast tests; contexts refuse to serialise its tensors (``encrypts=False``).

Bytes (strict, little-endian, magics registered in :mod:`securecompute.binary`):
ciphertext ``SCSC`` v1, parameter id (first 8 bytes of SHA-256 of the parameter bytes), level u8,
slot count u32, f64 per slot; public and "secret" context
``SCSP``/``SCSS`` v1, 32-byte fingerprint, parameters blob, noise f64; rotation keys ``SCSG`` v1,
fingerprint, step count u32, steps u32 (strictly increasing, in 1..slots-1).
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from securecompute.binary import MAGICS, ByteReader, checked_int, header, length_prefixed
from securecompute.errors import CorruptPayloadError, DepthExhaustedError, KeyMismatchError, ParameterError
from securecompute.fhe.backend import CKKSEngine, CKKSKeyHolder, CostModel, slot_vector
from securecompute.fhe.params import CKKSParameters

__all__ = ["FACTORY", "SimulatedCiphertext", "SimulatedEngine", "SimulatedKeyHolder", "SimulatedPlaintext"]

PARMS_ID_BYTES = 8


@dataclass(frozen=True)
class SimulatedCiphertext:
    """Slot values, (S,) float64, the levels left, and the id of the parameters it was made under."""

    values: np.ndarray
    level: int
    parms_id: bytes


@dataclass(frozen=True)
class SimulatedPlaintext:
    """Slot values, (S,) float64, encoded as a multiplier for ciphertexts at ``level`` under ``parms_id``."""

    values: np.ndarray
    level: int
    parms_id: bytes


class SimulatedEngine:
    """Numpy implementation of :class:`~securecompute.fhe.backend.CKKSEngine` (public role)."""

    name = "simulate"
    encrypts = False

    def __init__(
        self, params: CKKSParameters, fingerprint: bytes, noise: float = 0.0, rng: np.random.Generator | None = None
    ) -> None:
        self.params = params
        self.slots = params.slots
        self.fingerprint = fingerprint
        self.noise = float(noise)
        self._rng = rng if rng is not None else np.random.default_rng(0)
        # Like SEAL's parms_id: ciphertext bytes name the parameters they were made under.
        self._parms_id = hashlib.sha256(params.to_bytes()).digest()[:PARMS_ID_BYTES]
        # Same weights and key sizes as SEAL: plans made in simulation are the plans SEAL would run.
        self.cost_model = CostModel(galois_key_bytes=params.galois_key_bytes)

    @property
    def rotation_steps(self) -> frozenset[int]:
        return frozenset(range(1, self.slots))

    # --- encoding and encryption -------------------------------------------------------------
    def encode(self, values: np.ndarray, level: int) -> SimulatedPlaintext:
        level = checked_int(level, "level")
        if not 1 <= level <= self.params.depth:
            raise ParameterError(f"a multiplier needs a level in 1..{self.params.depth}, got {level}")
        return SimulatedPlaintext(self._vector(values), level, self._parms_id)

    def encrypt(self, values: np.ndarray) -> SimulatedCiphertext:
        return self._fresh(self._vector(values), self.params.depth)

    # --- evaluation ------------------------------------------------------------------------------
    def level(self, ciphertext: SimulatedCiphertext) -> int:
        return self._check(ciphertext)

    def rotate(self, ciphertext: SimulatedCiphertext, step: int) -> SimulatedCiphertext:
        level, step = self._check(ciphertext), checked_int(step, "step")
        return self._fresh(np.roll(ciphertext.values, -step), level)

    def rotate_many(self, ciphertext: SimulatedCiphertext, steps: Sequence[int]) -> list[SimulatedCiphertext]:
        return [self.rotate(ciphertext, step) for step in steps]

    def add(self, left: SimulatedCiphertext, right: SimulatedCiphertext) -> SimulatedCiphertext:
        level = min(self._check(left), self._check(right))
        return SimulatedCiphertext(left.values + right.values, level, self._parms_id)

    def add_plain(self, ciphertext: SimulatedCiphertext, values: np.ndarray) -> SimulatedCiphertext:
        return SimulatedCiphertext(ciphertext.values + self._vector(values), self._check(ciphertext), self._parms_id)

    def add_scalar(self, ciphertext: SimulatedCiphertext, value: float) -> SimulatedCiphertext:
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise ParameterError(f"add_scalar needs a finite real number, got {value!r}")
        return SimulatedCiphertext(ciphertext.values + float(value), self._check(ciphertext), self._parms_id)

    def multiply(self, left: SimulatedCiphertext, right: SimulatedCiphertext) -> SimulatedCiphertext:
        level = self._consume(min(self._check(left), self._check(right)))
        return self._fresh(left.values * right.values, level)

    def multiply_plain(
        self, ciphertext: SimulatedCiphertext, values: np.ndarray | SimulatedPlaintext
    ) -> SimulatedCiphertext:
        level = self._check(ciphertext)
        return self._fresh(ciphertext.values * self._multiplier(values, level), self._consume(level))

    def dot_plain(
        self, ciphertexts: Sequence[SimulatedCiphertext], values: Sequence[np.ndarray | SimulatedPlaintext]
    ) -> SimulatedCiphertext:
        if not ciphertexts or len(ciphertexts) != len(values):
            raise ParameterError(
                f"dot_plain needs as many vectors as ciphertexts, got {len(ciphertexts)} and {len(values)}"
            )
        level = min(self._check(c) for c in ciphertexts)
        total = np.zeros(self.slots)
        for ciphertext, multiplier in zip(ciphertexts, values, strict=True):
            total = total + ciphertext.values * self._multiplier(multiplier, level)
        return self._fresh(total, self._consume(level))

    def zeros(self, level: int) -> SimulatedCiphertext:
        level = checked_int(level, "level")
        if not 0 <= level <= self.params.depth:
            raise ParameterError(f"level {level} is outside 0..{self.params.depth}")
        return SimulatedCiphertext(np.zeros(self.slots), level, self._parms_id)

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        """Simulation has no rescale drift: nothing to refuse."""

    # --- bytes -------------------------------------------------------------------------------------
    def ciphertext_to_bytes(self, ciphertext: SimulatedCiphertext) -> bytes:
        level = self._check(ciphertext)
        values = np.ascontiguousarray(ciphertext.values, dtype="<f8")
        return (
            header("simulated-ciphertext") + self._parms_id + struct.pack("<BI", level, self.slots) + values.tobytes()
        )

    def ciphertext_from_bytes(self, data: bytes) -> SimulatedCiphertext:
        reader = ByteReader(data, "simulated ciphertext", MAGICS["simulated-ciphertext"])
        if reader.take(PARMS_ID_BYTES) != self._parms_id:
            raise CorruptPayloadError(f"simulated ciphertext was made under other CKKS parameters than {self.params}")
        level, slots = reader.unpack("BI")
        if slots != self.slots or level > self.params.depth:
            raise CorruptPayloadError(
                f"simulated ciphertext of {slots} slots at level {level}; accepted: {self.slots} slots, "
                f"level 0..{self.params.depth}"
            )
        values = np.frombuffer(reader.take(8 * slots), dtype="<f8").astype(np.float64)
        reader.end()
        if not np.all(np.isfinite(values)):
            raise CorruptPayloadError("simulated ciphertext holds NaN or infinite values")
        return SimulatedCiphertext(values, level, self._parms_id)

    def public_bytes(self, relin_keys: bool = True) -> bytes:
        return self._context_bytes("simulated-public")

    def add_rotation_keys(self, data: bytes) -> None:
        reader = ByteReader(data, "simulated rotation keys", MAGICS["simulated-rotation-keys"])
        fingerprint = reader.take(32)
        count = reader.unpack("I")[0]
        steps = reader.unpack(f"{min(count, len(reader.data))}I")
        reader.end()
        if list(steps) != sorted(set(steps)) or any(not 1 <= s < self.slots for s in steps):
            raise CorruptPayloadError(f"simulated rotation keys hold invalid steps {list(steps)[:8]}")
        if fingerprint != self.fingerprint:
            raise KeyMismatchError(
                f"rotation keys for key {fingerprint.hex()[:16]} given to engine {self.fingerprint.hex()[:16]}"
            )

    def public(self) -> CKKSEngine[SimulatedCiphertext, SimulatedPlaintext]:
        return SimulatedEngine(self.params, self.fingerprint, self.noise, self._rng)

    # --- helpers -------------------------------------------------------------------------------
    def _context_bytes(self, magic: str) -> bytes:
        return (
            header(magic) + self.fingerprint + length_prefixed(self.params.to_bytes()) + struct.pack("<d", self.noise)
        )

    def _vector(self, values: object) -> np.ndarray:
        """(n <= slots,) real values zero-padded to (slots,) float64."""
        return slot_vector(values, self.slots)

    def _multiplier(self, values: object, level: int) -> np.ndarray:
        if isinstance(values, SimulatedPlaintext):
            if values.parms_id != self._parms_id:
                raise ParameterError(f"pre-encoded multiplier was made under other CKKS parameters than {self.params}")
            if values.level != level:
                raise ParameterError(f"pre-encoded multiplier was made for level {values.level}, not level {level}")
            return values.values
        return self._vector(values)

    def _check(self, ciphertext: object) -> int:
        if not isinstance(ciphertext, SimulatedCiphertext):
            raise ParameterError(f"expected a SimulatedCiphertext, got {type(ciphertext).__name__}")
        if (
            ciphertext.parms_id != self._parms_id
            or ciphertext.values.shape != (self.slots,)
            or not 0 <= ciphertext.level <= self.params.depth
        ):
            raise KeyMismatchError("simulated ciphertext was not made under this engine's parameters")
        return ciphertext.level

    def _consume(self, level: int) -> int:
        if level < 1:
            raise DepthExhaustedError("multiplication needs 1 level, but the ciphertext has 0 left", 1, 0)
        return level - 1

    def _fresh(self, values: np.ndarray, level: int) -> SimulatedCiphertext:
        if self.noise:
            values = values + self._rng.normal(0.0, self.noise, values.shape)
        return SimulatedCiphertext(values, level, self._parms_id)


class SimulatedKeyHolder(SimulatedEngine):
    """The simulated "secret" holder: decryption is reading the slots (there is no secret)."""

    def decrypt(self, ciphertext: SimulatedCiphertext) -> np.ndarray:
        self._check(ciphertext)
        return ciphertext.values.copy()

    def rotation_key_bytes(self, steps: Iterable[int]) -> bytes:
        reduced = sorted({checked_int(s, "rotation step") % self.slots for s in steps} - {0})
        return (
            header("simulated-rotation-keys")
            + self.fingerprint
            + struct.pack(f"<I{len(reduced)}I", len(reduced), *reduced)
        )

    def make_rotation_keys(self, steps: Iterable[int]) -> None:
        """Every step is held already."""

    def secret_bytes(self) -> bytes:
        return self._context_bytes("simulated-secret")


class SimulatedFactory:
    """Registry entry ``simulate``."""

    name = "simulate"

    def generate(
        self, params: CKKSParameters, *, noise: float = 0.0, seed: int | None = None
    ) -> CKKSKeyHolder[SimulatedCiphertext, SimulatedPlaintext]:
        if not isinstance(noise, (int, float)) or not np.isfinite(noise) or noise < 0:
            raise ParameterError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
        fingerprint = hashlib.sha256(b"simulated" + params.to_bytes() + secrets.token_bytes(16)).digest()
        return SimulatedKeyHolder(params, fingerprint, noise, np.random.default_rng(seed))

    def load_public(self, data: bytes) -> CKKSEngine[SimulatedCiphertext, SimulatedPlaintext]:
        return SimulatedEngine(*_read_context(data, "simulated-public"))

    def load_secret(self, data: bytes) -> CKKSKeyHolder[SimulatedCiphertext, SimulatedPlaintext]:
        return SimulatedKeyHolder(*_read_context(data, "simulated-secret"))


def _read_context(data: bytes, magic: str) -> tuple[CKKSParameters, bytes, float]:
    reader = ByteReader(data, magic.replace("-", " ") + " context", MAGICS[magic])
    fingerprint = reader.take(32)
    params = CKKSParameters.from_bytes(reader.blob(), allow_insecure=True)
    noise = struct.unpack("<d", reader.take(8))[0]
    reader.end()
    if not np.isfinite(noise) or noise < 0:
        raise CorruptPayloadError(f"simulated context declares noise {noise!r}; accepted: finite, >= 0")
    return params, fingerprint, noise


FACTORY = SimulatedFactory()
