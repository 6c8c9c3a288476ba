"""The CKKS engine interface: what the einsum executor, tensors, contexts and FRAG may call.

An *engine* owns everything that depends on a CKKS implementation: encoding, encryption, the
evaluation operations, the ciphertext codec, public and rotation key bytes, and the cost model the
planner reads.  Engines are chosen by name (:mod:`securecompute.fhe.engines`: ``seal``,
``simulate``); nothing above this interface touches an engine's objects, so a new engine plugs in
by implementing the two Protocols below and registering a factory.

Two Protocols, two roles (DESIGN.md: the secret-key holder and the public evaluator are different
objects): :class:`CKKSEngine` is the evaluator anybody holding the public context can have;
:class:`CKKSKeyHolder` adds decryption, rotation-key making and secret export, and only the
secret-key owner has one.  :meth:`CKKSKeyHolder.public` gives the evaluator without the secret.

Levels count *multiplicative levels left*: ``params.depth`` for a fresh ciphertext, 0 when no
rescale remains.  Every operation returns a new ciphertext; inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from securecompute.errors import ParameterError

if TYPE_CHECKING:
    from securecompute.fhe.params import CKKSParameters

__all__ = ["CKKSEngine", "CKKSKeyHolder", "CostModel", "EngineFactory", "slot_vector"]

CiphertextT = TypeVar("CiphertextT")
PlaintextT = TypeVar("PlaintextT")


def slot_vector(values: object, slots: int) -> np.ndarray:
    """``values`` ((n <= slots,) real, finite) zero-padded to (slots,) float64: what engines encode.

    Raises:
        ParameterError: not a real 1-D array of at most ``slots`` finite values.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"values must be a real 1-D array: {exc}") from None
    if array.ndim != 1 or array.shape[0] > slots or (array.size and array.dtype.kind not in "fiub"):
        raise ParameterError(f"values must be real, 1-D, at most {slots} long; got {array.shape} {array.dtype}")
    padded = np.zeros(slots)
    padded[: array.shape[0]] = array
    if not np.all(np.isfinite(padded)):
        raise ParameterError("values must be finite (no NaN or infinity)")
    return padded


@dataclass(frozen=True)
class CostModel:
    """What the planner weighs plans by, measured on one engine (rotation = 1.0).

    Attributes:
        rotation: one key-switched slot rotation.
        diagonal: one ct x pt product inside a linear transform (its share of the rescale included).
        ciphertext_multiply: one ct x ct product with relinearisation and rescale.
        plain_multiply: one stand-alone ct x pt product with its rescale.
        galois_key_bytes: bytes of one rotation key, as sent to an evaluator (0: unknown).
        galois_generator: g of the Galois element ``g**step mod 2N`` that rotates left by ``step``
            slots (SEAL's and this project's convention: 3; conjugation is 2N - 1).
    """

    rotation: float = 1.0
    diagonal: float = 0.35
    ciphertext_multiply: float = 1.4
    plain_multiply: float = 0.35
    galois_key_bytes: int = 0
    galois_generator: int = 3

    def __post_init__(self) -> None:
        weights = (self.rotation, self.diagonal, self.ciphertext_multiply, self.plain_multiply)
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 < w < float("inf") for w in weights):
            raise ParameterError(f"cost model weights must be finite and > 0, got {weights}")
        if isinstance(self.galois_key_bytes, bool) or not isinstance(self.galois_key_bytes, int):
            raise ParameterError(f"galois_key_bytes must be an int >= 0, got {self.galois_key_bytes!r}")
        generator = self.galois_generator
        if self.galois_key_bytes < 0 or isinstance(generator, bool) or not isinstance(generator, int):
            raise ParameterError(f"galois_key_bytes must be >= 0 and galois_generator an int, got {self}")
        if generator < 3 or generator % 2 == 0:
            raise ParameterError(f"galois_generator must be odd and >= 3 (a unit of Z/2N), got {generator}")

    def galois_element(self, step: int, slots: int) -> int:
        """Galois element of a left rotation by ``step`` slots in a ring of degree N = 2 x ``slots``."""
        return pow(self.galois_generator, step, 4 * slots)


class CKKSEngine(Protocol[CiphertextT, PlaintextT]):
    """A public CKKS evaluator: encrypt, encode, compute, (de)serialise; it never decrypts.

    **Scale invariant** (the executor and FRAG rely on it): every ciphertext an engine returns has
    scale exactly Δ = 2**params.scale_bits, at every level.  Two ciphertexts can therefore always be
    added once aligned to the lower level (which the engine does itself), and a product followed by
    its rescale lands at Δ again: ``multiply_plain``/``dot_plain`` encode their plaintext at the
    scale of the prime the rescale drops, so the result is exactly Δ; ``multiply`` (ct x ct)
    declares Δ²/q to be Δ, a relative bias of (q - Δ)/Δ that :meth:`check_ciphertext_products`
    bounds before any work.  An engine that cannot keep this invariant must refuse the operation.

    Attributes:
        name: the registry name of the engine (``"seal"``, ``"simulate"``, ...).
        params: the CKKS parameters the keys were made for.
        slots: real values per ciphertext (N/2).
        fingerprint: 32 bytes identifying the parameters and public key (what envelopes carry).
        encrypts: False for engines whose ciphertexts are not encrypted (simulation): contexts refuse
            to serialise their tensors and FRAG parties refuse their contexts.  True is a claim that
            ciphertexts are randomised public-key encryptions (the conformance suite checks the bytes).
        cost_model: the weights and key sizes the planner uses for this engine.
    """

    name: str
    params: CKKSParameters
    slots: int
    fingerprint: bytes
    encrypts: bool
    cost_model: CostModel

    @property
    def rotation_steps(self) -> frozenset[int]:
        """Left-rotation steps (in 1..slots-1) this engine holds keys for."""
        ...

    # --- encoding and encryption -------------------------------------------------------------
    def encode(self, values: np.ndarray, level: int) -> PlaintextT:
        """``values`` ((n <= slots,) real, zero-padded) as a multiplier for ciphertexts at ``level`` (1..depth).

        The plaintext is accepted by :meth:`multiply_plain` and :meth:`dot_plain` at that level only.
        """
        ...

    def encrypt(self, values: np.ndarray) -> CiphertextT:
        """Public-key encryption of ``values`` ((n <= slots,) real, zero-padded) at the top level."""
        ...

    # --- evaluation ------------------------------------------------------------------------------
    def level(self, ciphertext: CiphertextT) -> int:
        """Multiplicative levels left in ``ciphertext``."""
        ...

    def rotate(self, ciphertext: CiphertextT, step: int) -> CiphertextT:
        """Left rotation: out[i] = in[(i + step) mod slots] (``np.roll(v, -step)``); no level used."""
        ...

    def rotate_many(self, ciphertext: CiphertextT, steps: Sequence[int]) -> list[CiphertextT]:
        """``[rotate(ciphertext, s) for s in steps]``; an engine may share (hoist) the key-switch decomposition."""
        ...

    def add(self, left: CiphertextT, right: CiphertextT) -> CiphertextT:
        """left + right slot-wise, at the lower of the two levels."""
        ...

    def add_plain(self, ciphertext: CiphertextT, values: np.ndarray) -> CiphertextT:
        """ciphertext + values ((n <= slots,) real, zero-padded); no level used."""
        ...

    def add_scalar(self, ciphertext: CiphertextT, value: float) -> CiphertextT:
        """ciphertext + value in every slot; no level used."""
        ...

    def multiply(self, left: CiphertextT, right: CiphertextT) -> CiphertextT:
        """left * right slot-wise, relinearised and rescaled: one level."""
        ...

    def multiply_plain(self, ciphertext: CiphertextT, values: np.ndarray | PlaintextT) -> CiphertextT:
        """ciphertext * values slot-wise (an array, or a plaintext from :meth:`encode` at its level): one level."""
        ...

    def dot_plain(self, ciphertexts: Sequence[CiphertextT], values: Sequence[np.ndarray | PlaintextT]) -> CiphertextT:
        """sum_i ciphertexts[i] * values[i] with a single rescale: one level below the lowest input."""
        ...

    def zeros(self, level: int) -> CiphertextT:
        """A fresh encryption of the all-zero vector at ``level`` (0..depth)."""
        ...

    def check_ciphertext_products(self, levels: Iterable[int]) -> None:
        """Refuse (ParameterError), before any work, ct x ct products at levels where Δ drifts too far."""
        ...

    # --- bytes -------------------------------------------------------------------------------------
    def ciphertext_to_bytes(self, ciphertext: CiphertextT) -> bytes:
        """The engine's serialisation of one ciphertext (no key fingerprint: envelopes carry it)."""
        ...

    def ciphertext_from_bytes(self, data: bytes) -> CiphertextT:
        """Strict inverse of :meth:`ciphertext_to_bytes`; CorruptPayloadError for bytes of other parameters."""
        ...

    def public_bytes(self, relin_keys: bool = True) -> bytes:
        """Public key, relinearisation keys (unless ``relin_keys=False``) and the rotation keys held."""
        ...

    def add_rotation_keys(self, data: bytes) -> None:
        """Install rotation keys from :meth:`CKKSKeyHolder.rotation_key_bytes`; KeyMismatchError if foreign."""
        ...

    def public(self) -> CKKSEngine[CiphertextT, PlaintextT]:
        """An evaluator without the secret key (itself, for a public engine)."""
        ...


class CKKSKeyHolder(CKKSEngine[CiphertextT, PlaintextT], Protocol[CiphertextT, PlaintextT]):
    """The secret-key owner's engine: everything an evaluator does, plus decryption and key export."""

    def decrypt(self, ciphertext: CiphertextT) -> np.ndarray:
        """(slots,) float64 slot values."""
        ...

    def rotation_key_bytes(self, steps: Iterable[int]) -> bytes:
        """Rotation keys for exactly these left-rotation steps (reduced mod slots, 0 dropped), as bytes."""
        ...

    def make_rotation_keys(self, steps: Iterable[int]) -> None:
        """Generate and hold the rotation keys for ``steps`` not held yet."""
        ...

    def secret_bytes(self) -> bytes:
        """SECRET: the secret key and parameters (keep these bytes secret)."""
        ...


class EngineFactory(Protocol):
    """How the registry makes and loads one engine's objects."""

    name: str

    def generate(
        self, params: CKKSParameters, *, noise: float = 0.0, seed: int | None = None
    ) -> CKKSKeyHolder[Any, Any]:
        """Fresh keys for ``params`` (``noise``/``seed``: simulation only; others refuse noise)."""
        ...

    def load_public(self, data: bytes) -> CKKSEngine[Any, Any]:
        """An evaluator from :meth:`CKKSEngine.public_bytes`; CorruptPayloadError if malformed.

        Must refuse (CorruptPayloadError) bytes that carry a secret key, however framed: FRAG
        parties load querier contexts through this and must never hold the querier's secret.
        """
        ...

    def load_secret(self, data: bytes) -> CKKSKeyHolder[Any, Any]:
        """A key holder from :meth:`CKKSKeyHolder.secret_bytes`; CorruptPayloadError if malformed."""
        ...
