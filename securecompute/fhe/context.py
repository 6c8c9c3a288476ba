"""CKKS contexts: the secret-key holder and the public evaluator, on any registered engine.

:class:`CKKSContext` wraps an engine's key holder (:class:`~securecompute.fhe.backend.CKKSKeyHolder`):
it can encrypt, decrypt and make rotation keys.  :meth:`CKKSContext.public` gives an
:class:`EvaluationContext` around the engine's public evaluator
(:class:`~securecompute.fhe.backend.CKKSEngine`): public key, relinearisation keys and whatever
rotation keys it was given; it can encrypt and compute, never decrypt.

Engines are chosen by name (``backend="seal"`` by default, ``"cross"`` for this project's RNS-CKKS
on the GEMM kernels, ``"simulate"`` for numpy slot vectors with the same plans and costs but no
cryptography).  Contexts serialise to envelopes that name the
engine and carry the parameters and the context fingerprint (SHA-256 of the parameters and public
key); every tensor carries them too, so tensors from another context, engine or parameters are
refused (``KeyMismatchError``, ``EngineMismatchError``) instead of decrypting to garbage as TenSEAL
would.  Simulated contexts hold nothing secret and encrypt nothing: they refuse to serialise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, MissingKeyError, ParameterError, ShapeError
from securecompute.fhe.backend import CKKSEngine, CKKSKeyHolder
from securecompute.fhe.engines import engine_factory
from securecompute.fhe.layout import TensorLayout
from securecompute.fhe.params import CKKSParameters
from securecompute.fhe.tensor import EncryptedTensor, engine_sections, read_engine_name

__all__ = ["DEFAULT_POLY_MODULUS_DEGREE", "CKKSContext", "EvaluationContext"]

logger = logging.getLogger(__name__)

DEFAULT_POLY_MODULUS_DEGREE = 16384
SECRET_KIND = "fhe/secret-context"
PUBLIC_KIND = "fhe/public-context"
KEYS_KIND = "fhe/rotation-keys"


class EvaluationContext:
    """A context that can encrypt and evaluate but holds no secret key.

    Attributes:
        backend: the engine's public evaluator (every operation goes through it).
        params: the CKKS parameters.
        fingerprint: 32 bytes naming the parameters and public key.
    """

    is_private = False

    def __init__(self, backend: CKKSEngine[Any, Any]) -> None:
        self.backend: CKKSEngine[Any, Any] = backend
        self.params: CKKSParameters = backend.params
        self.fingerprint: bytes = backend.fingerprint

    @property
    def engine_name(self) -> str:
        """Registry name of the engine underneath (``"seal"``, ``"simulate"``, ...)."""
        return self.backend.name

    @property
    def simulate(self) -> bool:
        """True for a simulated (unencrypted) context."""
        return not self.backend.encrypts

    @property
    def slots(self) -> int:
        """Slots per ciphertext, N/2."""
        return self.params.slots

    @property
    def depth(self) -> int:
        """Multiplicative levels of a fresh ciphertext."""
        return self.params.depth

    @property
    def rotation_steps(self) -> frozenset[int]:
        """Left-rotation steps this context holds rotation keys for (all, when simulated)."""
        return self.backend.rotation_steps

    def galois_key_bytes(self) -> int:
        """Bytes of one rotation key under this engine (its cost model)."""
        return self.backend.cost_model.galois_key_bytes

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        """Refuse, before any work, ciphertext products at levels whose rescale drifts too far.

        Raises:
            ParameterError: the engine cannot keep the scale at those levels.
        """
        self.backend.check_ciphertext_products(levels)

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
        chunks = [self.backend.encrypt(vector) for vector in layout.pack(values)]
        return EncryptedTensor(self, layout, chunks)

    def add_rotation_keys(self, data: bytes) -> None:
        """Install rotation keys made by the secret holder (:meth:`CKKSContext.rotation_keys`)."""
        envelope = unpack(data, kind=KEYS_KIND, fingerprint=self.fingerprint)
        self.backend.add_rotation_keys(envelope.section("keys"))

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
        return self._envelope(PUBLIC_KIND, self.backend.public_bytes(relin_keys))

    def _envelope(self, kind: str, keys: bytes) -> bytes:
        return pack(kind, {**engine_sections(self), "keys": keys}, self.fingerprint)

    def decrypt(self, tensor: EncryptedTensor) -> np.ndarray:
        raise MissingKeyError("an evaluation context holds no secret key and cannot decrypt; use the CKKSContext")

    def public(self) -> EvaluationContext:
        return self

    def _refuse_simulated(self) -> None:
        if not self.backend.encrypts:
            raise ParameterError(
                f"a simulated context ({self.backend.name!r} engine) holds no keys and its tensors are not "
                "encrypted: nothing to serialise"
            )

    def __repr__(self) -> str:
        kind = "simulated " if self.simulate else ""
        role = "secret" if self.is_private else "public"
        return (
            f"<{type(self).__name__} {kind}{role} engine={self.backend.name} N={self.params.poly_modulus_degree} "
            f"depth={self.depth} fingerprint={self.fingerprint.hex()[:12]}>"
        )


class CKKSContext(EvaluationContext):
    """The secret-key holder: everything an evaluation context does, plus decryption and key making."""

    is_private = True

    def __init__(self, holder: CKKSKeyHolder[Any, Any]) -> None:
        super().__init__(holder)
        self.holder: CKKSKeyHolder[Any, Any] = holder

    @classmethod
    def create(
        cls,
        depth: int = 3,
        *,
        poly_modulus_degree: int | None = None,
        scale_bits: int = 40,
        backend: str | None = None,
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
            backend: the engine's registry name (:func:`securecompute.fhe.engines.engine_names`);
                default ``"seal"``.
            simulate: alias of ``backend="simulate"`` (numpy slot vectors: no security; fast).
            allow_insecure: accept parameters below 128-bit security (tests only).
            noise: simulated contexts only: standard deviation of noise added per operation.
            seed: simulated contexts only: seed of that noise.

        Raises:
            ParameterError / InsecureParametersError: impossible or insecure parameters, an unknown
                engine, or ``simulate=True`` with another backend.
        """
        if simulate and backend not in (None, "simulate"):
            raise ParameterError(f"simulate=True contradicts backend={backend!r}; pass one of them")
        name = "simulate" if simulate else (backend or "seal")
        if poly_modulus_degree is None:
            default = CKKSParameters.for_depth(depth, None, scale_bits, allow_insecure)
            poly_modulus_degree = max(default.poly_modulus_degree, DEFAULT_POLY_MODULUS_DEGREE)
        params = CKKSParameters.for_depth(depth, poly_modulus_degree, scale_bits, allow_insecure)
        return cls.generate(params, backend=name, noise=noise, seed=seed)

    @classmethod
    def generate(
        cls, params: CKKSParameters, *, backend: str = "seal", noise: float = 0.0, seed: int | None = None
    ) -> CKKSContext:
        """Fresh keys for exactly ``params`` on the engine registered as ``backend``."""
        if not isinstance(params, CKKSParameters):
            raise ParameterError(f"expected CKKSParameters, got {type(params).__name__}")
        return cls(engine_factory(backend).generate(params, noise=noise, seed=seed))

    def public(self) -> EvaluationContext:
        """An evaluation context with the public key and the rotation keys made so far, no secret."""
        return EvaluationContext(self.holder.public())

    def decrypt(self, tensor: EncryptedTensor) -> np.ndarray:
        """Decrypt to an array of the tensor's shape.

        Raises:
            KeyMismatchError: the tensor belongs to another context.
        """
        EncryptedTensor.checked(tensor).check_context(self)
        vectors = np.stack([self.holder.decrypt(chunk) for chunk in tensor.chunks])
        return tensor.layout.unpack(vectors)

    def rotation_keys(self, steps: Iterable[int] | Any) -> bytes:
        """Rotation keys for ``steps`` (or for a plan's rotation steps), as bytes for an evaluator."""
        wanted = getattr(steps, "rotation_steps", steps)
        self._refuse_simulated()
        return pack(KEYS_KIND, {"keys": self.holder.rotation_key_bytes(wanted)}, self.fingerprint)

    def ensure_rotation_steps(self, steps: Iterable[int]) -> None:
        """Generate the rotation keys for any of ``steps`` not held yet."""
        missing = sorted(set(steps) - self.rotation_steps)
        if missing:
            logger.info("generating %d rotation keys", len(missing))
            self.holder.make_rotation_keys(missing)

    def serialize(self) -> bytes:
        """The secret key and parameters in an envelope.  Keep these bytes secret."""
        self._refuse_simulated()
        return self._envelope(SECRET_KIND, self.holder.secret_bytes())

    @staticmethod
    def load(data: bytes) -> CKKSContext | EvaluationContext:
        """Load a context serialised by :meth:`serialize` (secret) or ``public().serialize()``.

        Raises:
            CorruptPayloadError: malformed bytes, another kind of payload, or keys that do not match
                the envelope's parameters or fingerprint.
            ParameterError: the envelope names an engine that is not registered here.
        """
        envelope = unpack(data, kind=(SECRET_KIND, PUBLIC_KIND))
        if set(envelope.sections) != {"engine", "params", "keys"}:
            raise CorruptPayloadError(f"context envelope has sections {sorted(envelope.sections)}")
        factory = engine_factory(read_engine_name(envelope.section("engine")))
        context: CKKSContext | EvaluationContext
        if envelope.kind == SECRET_KIND:
            context = CKKSContext(factory.load_secret(envelope.section("keys")))
        else:
            context = EvaluationContext(factory.load_public(envelope.section("keys")))
        if context.params.to_bytes() != envelope.section("params"):
            raise CorruptPayloadError("context envelope's parameters do not match the keys it carries")
        if context.fingerprint != envelope.fingerprint:
            raise CorruptPayloadError("context envelope's fingerprint does not match the keys it carries")
        return context
