"""EncryptedTensor: a tensor of engine ciphertexts with its slot layout and its context.

The tensor never looks inside its chunks: levels and bytes go through the context's engine
(:class:`~securecompute.fhe.backend.CKKSEngine`).  Its envelope names the engine and carries the
parameters, so bytes made by another engine or under other parameters are refused with
:class:`~securecompute.errors.EngineMismatchError` before any ciphertext is parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from securecompute.encoding import decode_json, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, EngineMismatchError, KeyMismatchError, ParameterError
from securecompute.fhe.layout import TensorLayout
from securecompute.fhe.operators import TensorOperators

if TYPE_CHECKING:
    import numpy as np

    from securecompute.fhe.context import EvaluationContext

__all__ = ["TENSOR_KIND", "EncryptedTensor", "engine_sections", "read_engine_name"]

TENSOR_KIND = "fhe/tensor"
MAX_TENSOR_CHUNKS = 4096


class EncryptedTensor(TensorOperators):
    """A real tensor encrypted under one CKKS context.

    Attributes:
        context: the context it was made under (secret or evaluation).
        layout: how its values sit in the slots of ``chunks``.
        chunks: the ciphertexts, opaque objects of the context's engine.
    """

    def __init__(self, context: EvaluationContext, layout: TensorLayout, chunks: list[Any]) -> None:
        if len(chunks) != layout.chunks:
            raise ParameterError(f"layout needs {layout.chunks} ciphertexts, got {len(chunks)}")
        self.context = context
        self.layout = layout
        self.chunks = chunks

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layout.shape

    @property
    def ndim(self) -> int:
        return len(self.layout.shape)

    @property
    def level(self) -> int:
        """Multiplicative levels left (the lowest over its ciphertexts)."""
        return min(int(self.context.backend.level(chunk)) for chunk in self.chunks)

    @property
    def fingerprint(self) -> bytes:
        return self.context.fingerprint

    def check_context(self, context: EvaluationContext) -> None:
        """Raise KeyMismatchError unless ``context`` has this tensor's fingerprint."""
        if context.fingerprint != self.context.fingerprint:
            raise KeyMismatchError(
                f"tensor belongs to context {self.context.fingerprint.hex()[:12]}, not "
                f"{context.fingerprint.hex()[:12]}; decrypt or combine it only with its own context"
            )

    def decrypt(self) -> np.ndarray:
        """Decrypt with the tensor's own context (which must hold the secret key)."""
        return self.context.decrypt(self)

    def serialize(self) -> bytes:
        """Envelope of kind ``fhe/tensor``: engine name, parameters, layout and one section per ciphertext."""
        self.context._refuse_simulated()
        codec = self.context.backend
        meta = {"shape": list(self.layout.shape), "storage": list(self.layout.storage), "slots": self.layout.slots}
        sections = {**engine_sections(self.context), "layout": encode_json(meta)}
        sections.update({f"ct{k}": codec.ciphertext_to_bytes(chunk) for k, chunk in enumerate(self.chunks)})
        return pack(TENSOR_KIND, sections, self.context.fingerprint)

    @classmethod
    def load(cls, data: bytes, context: EvaluationContext) -> EncryptedTensor:
        """Load bytes from :meth:`serialize` into ``context``.

        Raises:
            EngineMismatchError: the tensor was made by another engine or under other parameters.
            KeyMismatchError: the tensor was made under another key (fingerprint).
            CorruptPayloadError: malformed bytes, layout or ciphertexts.
        """
        context._refuse_simulated()
        envelope = unpack(data, kind=TENSOR_KIND)
        name = read_engine_name(envelope.section("engine"))
        if name != context.backend.name:
            raise EngineMismatchError(
                f"tensor was made by the {name!r} engine; this context runs {context.backend.name!r}"
            )
        if envelope.section("params") != context.params.to_bytes():
            raise EngineMismatchError(f"tensor was made under other CKKS parameters than {context.params}")
        if envelope.fingerprint != context.fingerprint:
            raise KeyMismatchError(
                f"tensor has key fingerprint {envelope.fingerprint.hex()[:16]}, this context "
                f"{context.fingerprint.hex()[:16]}; load it only into the context it was made under"
            )
        layout = _layout(envelope.section("layout"), context.slots)
        names = [f"ct{k}" for k in range(layout.chunks)]
        if list(envelope.sections) != ["engine", "params", "layout", *names]:
            raise CorruptPayloadError(f"tensor sections {list(envelope.sections)} do not match its layout {names}")
        codec = context.backend
        return cls(context, layout, [codec.ciphertext_from_bytes(envelope.section(name)) for name in names])

    def __repr__(self) -> str:
        return f"<EncryptedTensor shape={self.shape} level={self.level} ciphertexts={len(self.chunks)}>"


def _layout(data: bytes, slots: int) -> TensorLayout:
    meta = decode_json(data, expect=dict)
    shape, storage = meta.get("shape"), meta.get("storage")
    valid = (
        set(meta) == {"shape", "storage", "slots"}
        and meta["slots"] == slots
        and isinstance(shape, list)
        and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1 << 30 for n in shape)
        and isinstance(storage, list)
        and all(isinstance(a, int) and not isinstance(a, bool) for a in storage)
        and sorted(a for a in storage if a >= 0) == list(range(len(shape)))
        and all(a >= -(1 << 30) and (-a & (-a - 1)) == 0 for a in storage if a < 0)
        and len(storage) <= 64
    )
    if not valid:
        raise CorruptPayloadError(f"tensor layout {meta!r:.120} is invalid for a context with {slots} slots")
    layout = TensorLayout(tuple(shape), tuple(storage), slots)
    if layout.chunks > MAX_TENSOR_CHUNKS:
        raise CorruptPayloadError(f"tensor layout needs {layout.chunks} ciphertexts; at most {MAX_TENSOR_CHUNKS}")
    return layout


def engine_sections(context: EvaluationContext) -> dict[str, bytes]:
    """The envelope sections that name ``context``'s engine and parameters."""
    return {"engine": context.backend.name.encode("ascii"), "params": context.params.to_bytes()}


def read_engine_name(data: bytes) -> str:
    """The engine name in an ``engine`` section: 1..32 printable ASCII characters.

    Raises:
        CorruptPayloadError: anything else.
    """
    try:
        name = data.decode("ascii")
    except UnicodeDecodeError:
        name = ""
    if not 1 <= len(name) <= 32 or not name.isprintable():
        raise CorruptPayloadError(f"envelope names the engine {data[:32]!r}; expected a registered engine name")
    return name
