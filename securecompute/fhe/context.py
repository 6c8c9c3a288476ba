"""CKKS contexts: the secret-key holder, the public evaluator, and their simulated twins.

:class:`CKKSContext` holds the secret key and can encrypt, decrypt and make rotation keys;
:meth:`CKKSContext.public` gives an :class:`EvaluationContext` that holds only the public key,
relinearisation keys and whatever rotation keys it was given: it can encrypt and compute, never
decrypt.  Both serialise to package envelopes carrying the context fingerprint (SHA-256 of the
parameters and public key), and every tensor carries it too, so tensors from another context are
refused (``KeyMismatchError``) instead of decrypting to garbage as TenSEAL would.

``simulate=True`` gives contexts with the same API whose "ciphertexts" are plain numpy slot
vectors with level accounting: same plans, same costs, no cryptography and no security.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import numpy as np

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, MissingKeyError, ParameterError, ShapeError
from securecompute.fhe.layout import TensorLayout
from securecompute.fhe.params import CKKSParameters
from securecompute.fhe.seal import MAX_RESCALE_DRIFT, GaloisKeyBundle, SealPublicKit, SealSecretKit
from securecompute.fhe.seal_backend import SealBackend
from securecompute.fhe.simulate import SimulatedBackend
from securecompute.fhe.tensor import EncryptedTensor

__all__ = ["DEFAULT_POLY_MODULUS_DEGREE", "CKKSContext", "EvaluationContext"]

logger = logging.getLogger(__name__)

DEFAULT_POLY_MODULUS_DEGREE = 16384
SECRET_KIND = "fhe/secret-context"
PUBLIC_KIND = "fhe/public-context"
KEYS_KIND = "fhe/rotation-keys"


class EvaluationContext:
    """A context that can encrypt and evaluate but holds no secret key."""

    is_private = False

    def __init__(
        self,
        params: CKKSParameters,
        kit: SealPublicKit | SealSecretKit | None,
        fingerprint: bytes,
        simulated: SimulatedBackend | None = None,
    ) -> None:
        self.params = params
        self._kit = kit
        self.fingerprint = fingerprint
        self._simulated = simulated
        self.backend: Any = simulated if simulated is not None else SealBackend(kit)

    @property
    def simulate(self) -> bool:
        """True for a simulated (unencrypted) context."""
        return self._simulated is not None

    @property
    def slots(self) -> int:
        """Slots per ciphertext, N/2."""
        return self.params.slots

    @property
    def kit(self) -> SealPublicKit | SealSecretKit:
        """The SEAL kit underneath, for protocols that drive ciphertexts directly (FRAG).

        Raises:
            ParameterError: a simulated context has no kit.
        """
        self._refuse_simulated()
        assert self._kit is not None
        return self._kit

    @property
    def depth(self) -> int:
        """Multiplicative levels of a fresh ciphertext."""
        return self.params.depth

    @property
    def rotation_steps(self) -> frozenset[int]:
        """Left-rotation steps this context holds Galois keys for (all, when simulated)."""
        if self._simulated is not None:
            return frozenset(range(1, self.slots))
        assert self._kit is not None
        return self._kit.rotation_steps

    def galois_key_bytes(self) -> int:
        """Uncompressed size of one Galois key: (K-1) x 2 x K x N x 8 bytes for K primes."""
        primes = len(self.params.coeff_modulus_bits)
        return (primes - 1) * 2 * primes * self.params.poly_modulus_degree * 8

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        """Refuse, before any work, ciphertext products at levels whose rescale drifts too far.

        Raises:
            ParameterError: a level's dropped prime is more than 2^-12 (relative) off the scale.
        """
        if self._kit is None:
            return
        drift = self._kit.rescale_drift
        bad = [level for level in levels if 0 < level < len(drift) and abs(drift[level]) > MAX_RESCALE_DRIFT]
        if bad:
            raise ParameterError(
                f"ciphertext products at level(s) {bad} would bias results by up to "
                f"{max(abs(drift[level]) for level in bad):.1e}; use scale_bits >= 40"
            )

    def encrypt(self, array: np.ndarray | Iterable[float] | float) -> EncryptedTensor:
        """Encrypt a real array of any shape (0-d included) at the top level.

        Raises:
            ShapeError: an axis of size 0.
            ParameterError: values that are not finite reals.
        """
        values = np.asarray(array)
        if values.dtype.kind not in "biuf":
            raise ParameterError(f"can only encrypt real numbers, got an array of dtype {values.dtype}")
        values = values.astype(np.float64)
        if 0 in values.shape:
            raise ShapeError(f"cannot encrypt an array of shape {values.shape}: every axis needs size >= 1")
        if not np.all(np.isfinite(values)):
            raise ParameterError("cannot encrypt NaN or infinite values")
        layout = TensorLayout.row_major(values.shape, self.slots)
        chunks = [self._encrypt_vector(vector) for vector in layout.pack(values)]
        return EncryptedTensor(self, layout, chunks)

    def add_rotation_keys(self, data: bytes) -> None:
        """Install rotation (Galois) keys made by the secret holder (:meth:`CKKSContext.rotation_keys`)."""
        envelope = unpack(data, kind=KEYS_KIND, fingerprint=self.fingerprint)
        if self._kit is not None:
            self._kit.add_galois_keys(GaloisKeyBundle.from_bytes(envelope.section("keys")))

    def ensure_rotation_steps(self, steps: Iterable[int]) -> None:
        """Make sure keys for ``steps`` are held.

        Raises:
            MissingKeyError: a public context lacks some; the message names them.
        """
        missing = sorted(set(steps) - self.rotation_steps)
        if missing:
            shown = ", ".join(map(str, missing[:12])) + (" ..." if len(missing) > 12 else "")
            raise MissingKeyError(
                f"this evaluation context lacks Galois keys for {len(missing)} rotation step(s) ({shown}); "
                "have the secret holder run ctx.rotation_keys(plan) and pass the bytes to add_rotation_keys"
            )

    def serialize(self) -> bytes:
        """Public key, relinearisation keys and rotation keys held, in an envelope (no secret key)."""
        return self._public_envelope(relin_keys=True)

    def serialize_without_relin_keys(self) -> bytes:
        """:meth:`serialize` minus the relinearisation keys, for protocols without ciphertext products (FRAG).

        A context loaded from these bytes refuses ciphertext x ciphertext products (``MissingKeyError``).
        """
        return self._public_envelope(relin_keys=False)

    def _public_envelope(self, relin_keys: bool) -> bytes:
        self._refuse_simulated()
        assert self._kit is not None
        public = self._kit.public_kit() if isinstance(self._kit, SealSecretKit) else self._kit
        return pack(PUBLIC_KIND, {"kit": public.to_bytes(relin_keys)}, self.fingerprint)

    def decrypt(self, tensor: EncryptedTensor) -> np.ndarray:
        raise MissingKeyError("an evaluation context holds no secret key and cannot decrypt; use the CKKSContext")

    def public(self) -> EvaluationContext:
        return self

    def _encrypt_vector(self, vector: np.ndarray) -> Any:
        if self._simulated is not None:
            return self._simulated.encrypt(vector, self.depth)
        assert self._kit is not None
        return self._kit.encrypt(vector)

    def _refuse_simulated(self) -> None:
        if self._simulated is not None:
            raise ParameterError(
                "a simulated context holds no keys and its tensors are not encrypted: nothing to serialise"
            )

    def __repr__(self) -> str:
        kind = "simulated " if self.simulate else ""
        role = "secret" if self.is_private else "public"
        return (
            f"<{type(self).__name__} {kind}{role} N={self.params.poly_modulus_degree} "
            f"depth={self.depth} fingerprint={self.fingerprint.hex()[:12]}>"
        )


class CKKSContext(EvaluationContext):
    """The secret-key holder: everything an evaluation context does, plus decryption and key making."""

    is_private = True

    @classmethod
    def create(
        cls,
        depth: int = 3,
        *,
        poly_modulus_degree: int | None = None,
        scale_bits: int = 40,
        simulate: bool = False,
        allow_insecure: bool = False,
        noise: float = 0.0,
        seed: int | None = None,
    ) -> CKKSContext:
        """Make fresh keys for circuits of up to ``depth`` multiplicative levels.

        Args:
            depth: levels a fresh ciphertext has (the chain is 60, depth x scale_bits, 60 bits).
            poly_modulus_degree: N; default the smallest of 2^14 and 2^15 that is 128-bit secure
                for the chain (per the HomomorphicEncryption.org table).
            scale_bits: log2 of the encoding scale.
            simulate: numpy slot vectors instead of ciphertexts (no security; fast).
            allow_insecure: accept parameters below 128-bit security (tests only).
            noise: simulated contexts only: standard deviation of noise added per operation.
            seed: simulated contexts only: seed of that noise.

        Raises:
            ParameterError / InsecureParametersError: impossible or insecure parameters.
        """
        if poly_modulus_degree is None:
            default = CKKSParameters.for_depth(depth, None, scale_bits, allow_insecure)
            poly_modulus_degree = max(default.poly_modulus_degree, DEFAULT_POLY_MODULUS_DEGREE)
        params = CKKSParameters.for_depth(depth, poly_modulus_degree, scale_bits, allow_insecure)
        if simulate:
            fingerprint = hashlib.sha256(b"simulated" + params.to_bytes() + secrets.token_bytes(16)).digest()
            return cls(params, None, fingerprint, SimulatedBackend(params.slots, noise, seed))
        if noise:
            raise ParameterError("noise= applies to simulated contexts only; real CKKS brings its own")
        kit = SealSecretKit.generate(params)
        return cls(params, kit, kit.fingerprint)

    def public(self) -> EvaluationContext:
        """An evaluation context with the public key and the rotation keys made so far, no secret."""
        if self._simulated is not None:
            return EvaluationContext(self.params, None, self.fingerprint, self._simulated)
        assert isinstance(self._kit, SealSecretKit)
        return EvaluationContext(self.params, self._kit.public_kit(), self.fingerprint)

    def decrypt(self, tensor: EncryptedTensor) -> np.ndarray:
        """Decrypt to an array of the tensor's shape.

        Raises:
            KeyMismatchError: the tensor belongs to another context.
        """
        EncryptedTensor.checked(tensor).check_context(self)
        if self._simulated is not None:
            vectors = np.stack([chunk.values for chunk in tensor.chunks])
        else:
            assert isinstance(self._kit, SealSecretKit)
            vectors = np.stack([self._kit.decrypt(chunk) for chunk in tensor.chunks])
        return tensor.layout.unpack(vectors)

    def rotation_keys(self, steps: Iterable[int] | Any) -> bytes:
        """Galois keys for ``steps`` (or for a plan's rotation steps), as bytes for an evaluator."""
        wanted = getattr(steps, "rotation_steps", steps)
        self._refuse_simulated()
        assert isinstance(self._kit, SealSecretKit)
        return pack(KEYS_KIND, {"keys": self._kit.galois_keys(wanted).to_bytes()}, self.fingerprint)

    def ensure_rotation_steps(self, steps: Iterable[int]) -> None:
        """Generate the Galois keys for any of ``steps`` not held yet."""
        missing = sorted(set(steps) - self.rotation_steps)
        if missing:
            assert isinstance(self._kit, SealSecretKit)
            logger.info("generating %d Galois keys", len(missing))
            self._kit.add_galois_keys(self._kit.galois_keys(missing))

    def serialize(self) -> bytes:
        """The secret key and parameters in an envelope.  Keep these bytes secret."""
        self._refuse_simulated()
        assert isinstance(self._kit, SealSecretKit)
        return pack(SECRET_KIND, {"kit": self._kit.to_bytes()}, self.fingerprint)

    @staticmethod
    def load(data: bytes) -> CKKSContext | EvaluationContext:
        """Load a context serialised by :meth:`serialize` (secret) or ``public().serialize()``.

        Raises:
            CorruptPayloadError: malformed bytes or another kind of payload.
        """
        envelope = unpack(data, kind=(SECRET_KIND, PUBLIC_KIND))
        kit: SealSecretKit | SealPublicKit
        if envelope.kind == SECRET_KIND:
            kit = SealSecretKit.from_bytes(envelope.section("kit"))
        else:
            kit = SealPublicKit.from_bytes(envelope.section("kit"))
        if kit.fingerprint != envelope.fingerprint:
            raise CorruptPayloadError("context envelope's fingerprint does not match the keys it carries")
        if isinstance(kit, SealSecretKit):
            return CKKSContext(kit.params, kit, kit.fingerprint)
        return EvaluationContext(kit.params, kit, kit.fingerprint)
