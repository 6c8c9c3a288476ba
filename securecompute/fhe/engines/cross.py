"""The ``cross`` engine: this project's RNS-CKKS (:mod:`securecompute.ckks`) behind the engine interface.

The scheme runs on the matrix-engine kernels of :mod:`securecompute.cross` (GEMM NTTs, RNS), bit
for bit SEAL's operations, with its own key generation and CSPRNG samplers; the array engine is
numpy (BLAS, the default) or JAX (``CrossFactory("jax")``, registry name ``cross-jax``), which give
identical words.  Parameters are the einsum's :class:`~securecompute.fhe.params.CKKSParameters`
(the same 128-bit table and bit sizes as the ``seal`` engine); the primes are those SEAL's
``CoeffModulus.Create`` picks for them (:func:`.cross_io.ring_parameters`), so both engines compute
modulo the same chain.  protocols/ckks.md says which chain and why.

Scale invariant (as the ``seal`` engine keeps it): ``multiply_plain``/``dot_plain`` encode their
plaintext at the scale of the prime the rescale drops, so the result is exactly Δ; ``multiply``
declares Δ²/q to be Δ, refused where that drifts by more than ``MAX_RESCALE_DRIFT``.  Levels count
levels left, which here equals the scheme's chain index (limbs - 1).  Bytes: :mod:`.cross_io`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.binary import MAGICS, ByteReader, checked_int, header
from securecompute.ckks import (
    Ciphertext,
    CKKSEncoder,
    Decryptor,
    Encryptor,
    Evaluator,
    GaloisKeys,
    KeyGenerator,
    KeySwitchingKey,
    Plaintext,
    PublicKey,
    RandomSource,
    SecretKey,
)
from securecompute.ckks.ciphertext import is_array
from securecompute.ckks.ring import galois_element
from securecompute.errors import (
    CorruptPayloadError,
    DepthExhaustedError,
    KeyMismatchError,
    MissingKeyError,
    ParameterError,
    SecureComputeError,
)
from securecompute.fhe.backend import CKKSEngine, CKKSKeyHolder, CostModel, slot_vector
from securecompute.fhe.engines.cross_io import (
    fingerprint_of,
    parms_id,
    public_context_bytes,
    read_array,
    read_public_context,
    read_rotation_keys,
    read_secret_context,
    ring_parameters,
    rotation_keys_bytes,
    secret_context_bytes,
)
from securecompute.fhe.params import CKKSParameters

__all__ = [
    "ARRAY_ENGINES",
    "FACTORY",
    "JAX_FACTORY",
    "MAX_RESCALE_DRIFT",
    "CrossEvaluator",
    "CrossFactory",
    "CrossKeyHolder",
    "cross_cost_model",
]

ARRAY_ENGINES = ("numpy", "jax")

#: Largest relative bias (q - Δ)/Δ a ct x ct product may declare away (the ``seal`` engine's bound).
MAX_RESCALE_DRIFT = 2.0**-12


@dataclass(frozen=True)
class CrossCiphertext(Ciphertext):
    """A scheme ciphertext tagged with the id of the parameters it was made under (refused under others)."""

    parms_id: bytes = b""


@dataclass(frozen=True)
class CrossPlaintext(Plaintext):
    """A scheme plaintext tagged with the id of the parameters it was encoded under."""

    parms_id: bytes = b""


def cross_cost_model(params: CKKSParameters) -> CostModel:
    """Weights measured on this engine (numpy array engine, one BLAS thread), rotation = 1.0.

    ``benchmarks/cross_cost_model.py`` at N = 2^14, chain (60, 40, 40, 60), medians of 7, SEAL in the
    same run (``benchmarks/results/cross_cost_model.json``): rotation 92 ms, one more ``dot_plain``
    term 7.8 ms (0.08), ct x ct with relinearisation and rescale 132 ms (1.43), ct x pt with its
    rescale 33 ms (0.36).  Diagonals are relatively cheaper than on SEAL (0.25 there in that run),
    since our key switch is the expensive part.  A rotation key is SEAL's layout, (K-1) x 2 x K x N
    words of 8 bytes.
    """
    return CostModel(
        rotation=1.0,
        diagonal=0.08,
        ciphertext_multiply=1.43,
        plain_multiply=0.36,
        galois_key_bytes=params.galois_key_bytes,
        galois_generator=3,
    )


class CrossEvaluator:
    """Public evaluator: public key, relinearisation key (optional) and the rotation keys given to it."""

    name = "cross"
    encrypts = True

    def __init__(
        self,
        params: CKKSParameters,
        public_key: PublicKey,
        relin_key: KeySwitchingKey | None,
        rotation_keys: dict[int, KeySwitchingKey],
        array_engine: str = "numpy",
    ) -> None:
        if array_engine not in ARRAY_ENGINES:
            raise ParameterError(f"array_engine={array_engine!r} is unknown; accepted: {ARRAY_ENGINES}")
        self.params = params
        self.slots = params.slots
        self.array_engine = array_engine
        self.name = "cross" if array_engine == "numpy" else f"cross-{array_engine}"
        self.ring = ring_parameters(params)
        self.public_key = public_key
        self.relin_key = relin_key
        self.fingerprint = fingerprint_of(params, public_key)
        self.cost_model = cross_cost_model(params)
        self._delta = 2.0**params.scale_bits
        self._parms_id = parms_id(params)
        self._rotation_keys = dict(rotation_keys)  # step (1..slots-1) -> key for element 3^step mod 2N
        self._galois = GaloisKeys(self.ring, {self._element(s): k for s, k in self._rotation_keys.items()})
        self._encoder = CKKSEncoder(self.ring)
        self._encryptor = Encryptor(public_key)
        # The encryptor's CSPRNG stream is not thread-safe, and two encryptions sharing draws would
        # share their masks (FRAG's Enc(0) pool fills from a thread): one encryption at a time.
        self._encrypt_lock = threading.Lock()
        self._evaluator = Evaluator(self.ring, relin_key, self._galois, backend=array_engine)

    @property
    def rotation_steps(self) -> frozenset[int]:
        return frozenset(self._rotation_keys)

    # --- encoding and encryption -------------------------------------------------------------
    def encode(self, values: np.ndarray, level: int) -> Plaintext:
        level = checked_int(level, "level")
        if not 1 <= level <= self.params.depth:
            raise ParameterError(f"a multiplier needs a level in 1..{self.params.depth}, got {level}")
        # A plan's multipliers are encoded once (fhe.prepare): on JAX they are uploaded here, once, too.
        return self._evaluator.on_engine(self._encode(values, level, self._drop(level)))

    def encrypt(self, values: np.ndarray) -> Ciphertext:
        plaintext = self._encode(values, self.params.depth, self._delta)
        with self._encrypt_lock:
            ciphertext = self._encryptor.encrypt(plaintext)
        return self._own(self._evaluator.on_engine(ciphertext))  # JAX: on the device from here on

    # --- evaluation ------------------------------------------------------------------------------
    def level(self, ciphertext: Ciphertext) -> int:
        return self._check(ciphertext)

    def rotate(self, ciphertext: Ciphertext, step: int) -> Ciphertext:
        self._check(ciphertext)
        k = self._held_step(step)
        if k == 0:
            return self._own(Ciphertext(_copy(ciphertext.data), ciphertext.scale))
        return self._own(self._evaluator.apply_galois(ciphertext, self._element(k)))

    def rotate_many(self, ciphertext: Ciphertext, steps: Sequence[int]) -> list[Ciphertext]:
        self._check(ciphertext)
        reduced = [self._held_step(step) for step in steps]  # every key checked before any work
        rotated = self._evaluator.rotate_many(ciphertext, reduced)
        return [
            self._own(out if k else Ciphertext(_copy(out.data), out.scale))
            for k, out in zip(reduced, rotated, strict=True)
        ]

    def add(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        left, right = self._align(left, right)
        return self._own(self._evaluator.add(left, right))

    def add_plain(self, ciphertext: Ciphertext, values: np.ndarray) -> Ciphertext:
        level = self._check(ciphertext)
        return self._own(self._evaluator.add_plain(ciphertext, self._encode(values, level, self._delta)))

    def add_scalar(self, ciphertext: Ciphertext, value: float) -> Ciphertext:
        self._check(ciphertext)
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise ParameterError(f"add_scalar needs a finite real number, got {value!r}")
        return self._own(self._evaluator.add_scalar(ciphertext, float(value)))

    def multiply(self, left: Ciphertext, right: Ciphertext) -> Ciphertext:
        level = min(self._check(left), self._check(right))
        self._spend_level(level, "multiply")
        self.check_ciphertext_products([level])
        if self.relin_key is None:
            raise MissingKeyError("this evaluator was sent without relinearisation keys; ct x ct needs them")
        left, right = self._align(left, right)
        product = self._evaluator.relinearize(self._evaluator.multiply(left, right))
        rescaled = self._evaluator.rescale(product)
        return self._own(Ciphertext(rescaled.data, self._delta))  # Δ²/q declared Δ: the documented drift

    def multiply_plain(self, ciphertext: Ciphertext, values: np.ndarray | Plaintext) -> Ciphertext:
        return self.dot_plain([ciphertext], [values])

    def dot_plain(self, ciphertexts: Sequence[Ciphertext], values: Sequence[np.ndarray | Plaintext]) -> Ciphertext:
        if not ciphertexts or len(ciphertexts) != len(values):
            raise ParameterError(
                f"dot_plain needs as many vectors as ciphertexts, got {len(ciphertexts)} and {len(values)}"
            )
        level = min(self._check(c) for c in ciphertexts)
        self._spend_level(level, "dot_plain")
        multipliers = [self._multiplier(v, level) for v in values]  # all encoded or checked before any product
        aligned = [self._evaluator.mod_switch_to(ciphertext, level) for ciphertext in ciphertexts]
        rescaled = self._evaluator.rescale(self._evaluator.dot_plain(aligned, multipliers))
        # The multiplier was encoded at float(q): the scale is Δ again, exactly for primes below 2^53 and
        # within 2^-53 relative for wider middle primes (which the parameters allow), far below CKKS noise.
        return self._own(Ciphertext(rescaled.data, self._delta))

    def zeros(self, level: int) -> Ciphertext:
        level = checked_int(level, "level")
        if not 0 <= level <= self.params.depth:
            raise ParameterError(f"level {level} is outside 0..{self.params.depth}")
        plaintext = self._encoder.encode_scalar(0.0, self._delta, level)
        with self._encrypt_lock:
            ciphertext = self._encryptor.encrypt(plaintext)
        return self._own(self._evaluator.on_engine(ciphertext))

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        drift = {level: (self._drop(level) - self._delta) / self._delta for level in levels if level > 0}
        bad = sorted(level for level, d in drift.items() if abs(d) > MAX_RESCALE_DRIFT)
        if bad:
            raise ParameterError(
                f"ciphertext products at level(s) {bad} would bias results by up to "
                f"{max(abs(drift[level]) for level in bad):.1e}; accepted: within {MAX_RESCALE_DRIFT:.1e}, "
                "i.e. middle primes of exactly scale_bits >= 40 bits"
            )

    # --- bytes -------------------------------------------------------------------------------------
    def ciphertext_to_bytes(self, ciphertext: Ciphertext) -> bytes:
        level = self._check(ciphertext)
        return (
            header("cross-ciphertext")
            + self._parms_id
            + bytes([level])
            + np.asarray(ciphertext.data).astype("<u8").tobytes()
        )

    def ciphertext_from_bytes(self, data: bytes) -> Ciphertext:
        reader = ByteReader(data, "cross ciphertext", MAGICS["cross-ciphertext"])
        if reader.take(len(self._parms_id)) != self._parms_id:
            raise CorruptPayloadError(f"cross ciphertext was made under other CKKS parameters than {self.params}")
        level = reader.unpack("B")[0]
        if level > self.params.depth:
            raise CorruptPayloadError(f"cross ciphertext at level {level}; accepted: 0..{self.params.depth}")
        moduli = self.ring.moduli_at(level)
        words = read_array(reader, (2, level + 1, self.ring.n), moduli, "cross ciphertext")
        reader.end()
        return self._own(self._evaluator.on_engine(Ciphertext(words, self._delta)))

    def public_bytes(self, relin_keys: bool = True) -> bytes:
        relin = self.relin_key if relin_keys else None
        return public_context_bytes(self.params, self.public_key, relin, self._rotation_keys)

    def add_rotation_keys(self, data: bytes) -> None:
        reader = ByteReader(data, "cross rotation keys", MAGICS["cross-rotation-keys"])
        fingerprint = reader.take(32)
        keys = read_rotation_keys(reader, self.ring, self.slots)
        reader.end()
        if fingerprint != self.fingerprint:
            raise KeyMismatchError(
                f"rotation keys for key {fingerprint.hex()[:16]} given to engine {self.fingerprint.hex()[:16]}"
            )
        self._install(keys)

    def public(self) -> CKKSEngine[Ciphertext, Plaintext]:
        return CrossEvaluator(self.params, self.public_key, self.relin_key, self._rotation_keys, self.array_engine)

    # --- helpers -------------------------------------------------------------------------------
    def _install(self, keys: dict[int, KeySwitchingKey]) -> None:
        self._rotation_keys.update(keys)
        self._galois.keys.update({self._element(step): key for step, key in keys.items()})

    def _element(self, step: int) -> int:
        return galois_element(step, self.ring.n)

    def _drop(self, level: int) -> float:
        """The prime a rescale from ``level`` drops, as a float (the plaintext scale of products there)."""
        return float(self.ring.moduli[level])

    def _held_step(self, step: int) -> int:
        k = checked_int(step, "step") % self.slots
        if k and k not in self._rotation_keys:
            held = sorted(self._rotation_keys)
            shown = ", ".join(map(str, held[:20])) + (", ..." if len(held) > 20 else "")
            raise MissingKeyError(f"no Galois key for rotation step {step} (= {k} mod slots); steps held: [{shown}]")
        return k

    def _encode(self, values: object, level: int, scale: float) -> Plaintext:
        """``values`` ((n <= slots,) real, zero-padded) encoded at ``level`` and ``scale``."""
        padded = slot_vector(values, self.slots)
        try:
            plaintext = self._encoder.encode(padded, scale, level)
        except SecureComputeError as exc:
            raise ParameterError(f"values cannot be encoded at scale {scale:.4g}: {exc}") from None
        return CrossPlaintext(plaintext.data, plaintext.scale, self._parms_id)

    def _multiplier(self, values: object, level: int) -> Plaintext:
        if not isinstance(values, Plaintext):
            return self._encode(values, level, self._drop(level))
        if not isinstance(values, CrossPlaintext) or values.parms_id != self._parms_id:
            raise ParameterError("pre-encoded multiplier was not encoded under this engine's CKKS parameters")
        if values.level != level or values.scale != self._drop(level) or values.data.shape[1] != self.ring.n:
            raise ParameterError(f"pre-encoded multiplier was made for another level or scale than level {level}")
        return values

    def _check(self, ciphertext: object) -> int:
        """Level of ``ciphertext`` after checking it is a size-2 ciphertext of these parameters at scale Δ."""
        if not isinstance(ciphertext, Ciphertext):
            raise ParameterError(f"expected a cross Ciphertext, got {type(ciphertext).__name__}")
        if not isinstance(ciphertext, CrossCiphertext) or ciphertext.parms_id != self._parms_id:
            raise KeyMismatchError("ciphertext was not made under this engine's CKKS parameters")
        data = ciphertext.data
        if not is_array(data) or data.dtype != np.uint64 or data.ndim != 3 or data.shape[2] != self.ring.n:
            got = f"{data.dtype} {data.shape}" if is_array(data) else type(data).__name__
            raise KeyMismatchError(
                f"ciphertext data ({got}) was not made under this engine's CKKS parameters "
                f"(uint64 (2, L, {self.ring.n}))"
            )
        level = ciphertext.level
        if not 0 <= level <= self.params.depth or ciphertext.size != 2 or ciphertext.scale != self._delta:
            raise ParameterError(
                f"ciphertext size {ciphertext.size}, level {level}, scale {ciphertext.scale}; "
                f"accepted: 2, 0..{self.params.depth}, 2^{self.params.scale_bits}"
            )
        return level

    def _own(self, ciphertext: Ciphertext) -> CrossCiphertext:
        """``ciphertext`` tagged with these parameters' id (SEAL's ``parms_id`` plays this role there)."""
        return CrossCiphertext(ciphertext.data, ciphertext.scale, self._parms_id)

    def _align(self, left: Ciphertext, right: Ciphertext) -> tuple[Ciphertext, Ciphertext]:
        level = min(self._check(left), self._check(right))
        return self._evaluator.mod_switch_to(left, level), self._evaluator.mod_switch_to(right, level)

    def _spend_level(self, level: int, what: str) -> None:
        if level < 1:
            raise DepthExhaustedError(f"{what} needs 1 level; the ciphertext has 0 left", needed=1, available=0)


class CrossKeyHolder(CrossEvaluator):
    """The secret-key owner: decryption, rotation-key generation, secret export."""

    def __init__(
        self,
        params: CKKSParameters,
        keygen: KeyGenerator,
        public_key: PublicKey,
        relin_key: KeySwitchingKey,
        rotation_keys: dict[int, KeySwitchingKey],
        array_engine: str = "numpy",
    ) -> None:
        super().__init__(params, public_key, relin_key, rotation_keys, array_engine)
        self._keygen = keygen
        self._keygen_lock = threading.Lock()  # the key generator's CSPRNG stream, as for encryption
        self._decryptor = Decryptor(keygen.secret_key)

    def decrypt(self, ciphertext: Ciphertext) -> np.ndarray:
        self._check(ciphertext)
        return np.asarray(self._encoder.decode(self._decryptor.decrypt(ciphertext)).real, dtype=np.float64)

    def rotation_key_bytes(self, steps: Iterable[int]) -> bytes:
        keys = self._rotation_keys_for(steps)
        return header("cross-rotation-keys") + self.fingerprint + rotation_keys_bytes(keys)

    def make_rotation_keys(self, steps: Iterable[int]) -> None:
        missing = {checked_int(s, "rotation step") % self.slots for s in steps} - {0} - set(self._rotation_keys)
        if missing:
            self._install(self._rotation_keys_for(missing))

    def secret_bytes(self) -> bytes:
        return secret_context_bytes(self.public_bytes(), self._keygen.secret_key)

    def _rotation_keys_for(self, steps: Iterable[int]) -> dict[int, KeySwitchingKey]:
        """Keys for exactly ``steps`` reduced mod slots, 0 dropped; held ones reused, others generated."""
        reduced = sorted({checked_int(s, "rotation step") % self.slots for s in steps} - {0})
        fresh = [k for k in reduced if k not in self._rotation_keys]
        with self._keygen_lock:
            made = self._keygen.galois_keys(fresh).keys if fresh else {}
        return {k: self._rotation_keys.get(k) or made[self._element(k)] for k in reduced}


def _copy(data: Any) -> Any:
    """A fresh array for a returned ciphertext: numpy data is copied; JAX arrays are immutable and shared."""
    return data.copy() if isinstance(data, np.ndarray) else data


class CrossFactory:
    """Registry entry ``cross`` (numpy array engine) or ``cross-jax`` (JAX).

    Args:
        array_engine: "numpy" (BLAS GEMMs; the default) or "jax" (jitted; CPU, GPU or TPU).
    """

    def __init__(self, array_engine: str = "numpy") -> None:
        if array_engine not in ARRAY_ENGINES:
            raise ParameterError(f"array_engine={array_engine!r} is unknown; accepted: {ARRAY_ENGINES}")
        self.array_engine = array_engine
        self.name = "cross" if array_engine == "numpy" else f"cross-{array_engine}"

    def generate(
        self, params: CKKSParameters, *, noise: float = 0.0, seed: int | None = None
    ) -> CKKSKeyHolder[Ciphertext, Plaintext]:
        """Fresh keys from the OS's randomness (``seed`` is ignored: real keys are never seeded here)."""
        if noise:
            raise ParameterError("noise= applies to simulated contexts only; real CKKS brings its own")
        keygen = KeyGenerator(ring_parameters(params))
        return CrossKeyHolder(params, keygen, keygen.public_key(), keygen.relin_key(), {}, self.array_engine)

    def load_public(self, data: bytes) -> CKKSEngine[Ciphertext, Plaintext]:
        params, _, public_key, relin_key, rotation_keys = read_public_context(data)
        return CrossEvaluator(params, public_key, relin_key, rotation_keys, self.array_engine)

    def load_secret(self, data: bytes) -> CKKSKeyHolder[Ciphertext, Plaintext]:
        (params, _, public_key, relin_key, rotation_keys), secret = read_secret_context(data)
        if relin_key is None:
            raise CorruptPayloadError("cross secret context lacks its relinearisation key")
        keygen = _KeyGeneratorOf(secret)
        return CrossKeyHolder(params, keygen, public_key, relin_key, rotation_keys, self.array_engine)


class _KeyGeneratorOf(KeyGenerator):
    """A key generator around an existing secret key (a loaded secret context), fresh OS randomness."""

    def __init__(self, secret_key: SecretKey) -> None:  # no super(): that would sample a new secret
        self.params = secret_key.params
        self.source = RandomSource()
        self.secret_key = secret_key


FACTORY = CrossFactory("numpy")
JAX_FACTORY = CrossFactory("jax")
