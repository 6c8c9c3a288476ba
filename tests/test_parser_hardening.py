"""Every entry point that reads outside bytes fails only with its named error (issue 12, findings 3, 5, 6, 7).

Findings first (each failed before the fix), then fuzzing with random bytes, raw mutations and
well-formed envelopes that carry one hostile section (:mod:`tests.hostile`).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.channel import ChannelKey, open_channel
from securecompute.encoding import decode_array, decode_json, encode_array, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError, SecureComputeError, TamperedMessageError
from tests.hostile import hostile_bytes, hostile_json

FUZZ = settings(derandomize=True, max_examples=60, deadline=None)
SLOW_FUZZ = settings(derandomize=True, max_examples=15, deadline=None)


def refuses_only_with(kind: type[Exception], parse: Callable[[Any], Any], data: Any) -> None:
    """``parse(data)`` either returns or raises ``kind`` (never another exception)."""
    with contextlib.suppress(kind):
        parse(data)


@pytest.mark.parametrize("digits", [4301, 5000, 21])
def test_long_json_integers_are_corrupt_payload_not_value_error(digits: int) -> None:
    """Finding 3: over 4300 digits, Python's int() raised a bare ValueError out of decode_json."""
    with pytest.raises(CorruptPayloadError, match="digits"):
        decode_json(b'{"n":' + b"7" * digits + b"}")
    assert decode_json(b"[" + b"9" * 20 + b"]") == [int("9" * 20)]  # every uint64 still reads


@pytest.mark.parametrize("text", [b"1e999", b"-1e999", b'{"seconds":1e400}', b"[2e308]"])
def test_numbers_that_overflow_to_infinity_are_refused(text: bytes) -> None:
    """Finding 5: 1e999 decoded to inf although the envelope spec rules infinities out."""
    with pytest.raises(CorruptPayloadError, match="overflows float64"):
        decode_json(text)


def test_repeated_keys_and_non_bytes_are_refused() -> None:
    with pytest.raises(CorruptPayloadError, match="repeats the object key 'a'"):
        decode_json(b'{"a":1,"a":2}')
    for value in ("{}", None, 10**9):
        with pytest.raises(CorruptPayloadError, match="must be bytes"):
            decode_json(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [b'["\\ud800"]', b'{"\\udfff":1}', b'{"a":["x","\\ud83d"]}'])
def test_strings_with_a_lone_surrogate_are_refused(text: bytes) -> None:
    """Review: a lone surrogate decoded into a str that cannot be written as UTF-8 (printing a party's
    refusal that quoted it raised UnicodeEncodeError); surrogate pairs and other text still decode."""
    with pytest.raises(CorruptPayloadError, match="lone UTF-16 surrogate"):
        decode_json(text)
    readable = {"name": "\U0001f600 é", "list": ["\u00e9"]}
    assert decode_json(encode_json(readable)) == readable


@pytest.mark.parametrize(
    "data",
    [
        bytes([7, 2]) + struct.pack(">QQ", 0, 2**63),  # numpy: "array is too big"
        bytes([2, 3]) + struct.pack(">QQQ", 0, 2**40, 2**40),
        bytes([7, 1]) + struct.pack(">Q", 2**64 - 1),
    ],
)
def test_array_shapes_beyond_numpy_are_corrupt_payload(data: bytes) -> None:
    """Finding 6: (0, 2**63) passed the byte count (zero elements) and numpy raised ValueError at reshape."""
    with pytest.raises(CorruptPayloadError):
        decode_array(data)


@pytest.mark.parametrize("value", ["text", None, 12, 3.5])
def test_decode_array_refuses_non_bytes(value: Any) -> None:
    """Finding 6: a str raised TypeError."""
    with pytest.raises(CorruptPayloadError, match="must be bytes"):
        decode_array(value)


@pytest.mark.parametrize("frame", ["text", None, 1 << 30, 4.5])
def test_channel_open_refuses_non_bytes_frames_without_allocating(frame: Any) -> None:
    """Finding 7: a str or None raised TypeError; an int became bytes(int), a zero buffer of that size."""
    alice, bob = ChannelKey.generate(), ChannelKey.generate()
    receiver = open_channel(bob, alice.public_bytes, role="responder", context=b"test")
    with pytest.raises(TamperedMessageError, match="must be bytes"):
        receiver.open(frame)
    with pytest.raises(ParameterError, match="message must be bytes"):
        receiver.seal(1 << 30)  # type: ignore[arg-type]


@FUZZ
@given(hostile_json())
def test_decode_json_raises_only_corrupt_payload(data: bytes) -> None:
    refuses_only_with(CorruptPayloadError, decode_json, data)


@FUZZ
@given(hostile_bytes(encode_array(np.arange(12, dtype=np.float64).reshape(3, 4))))
def test_decode_array_raises_only_corrupt_payload(data: bytes) -> None:
    refuses_only_with(CorruptPayloadError, decode_array, data)


@FUZZ
@given(hostile_bytes(pack("test/kind", {"meta": encode_json({"a": [1, 2.5]}), "data": b"x" * 40})))
def test_unpack_raises_only_corrupt_payload(data: bytes) -> None:
    refuses_only_with(CorruptPayloadError, lambda raw: decode_json(unpack(raw, kind="test/kind").section("meta")), data)


@FUZZ
@given(st.data())
def test_channel_open_raises_only_tampered_message(data: st.DataObject) -> None:
    alice, bob = ChannelKey.generate(), ChannelKey.generate()
    sender = open_channel(alice, bob.public_bytes, role="initiator", context=b"fuzz")
    receiver = open_channel(bob, alice.public_bytes, role="responder", context=b"fuzz")
    frame = data.draw(hostile_bytes(sender.seal(b"hello")))
    refuses_only_with(TamperedMessageError, receiver.open, frame)


@pytest.fixture(scope="module")
def context() -> Any:
    from securecompute.fhe import CKKSContext

    return CKKSContext.create(depth=1, poly_modulus_degree=8192)


def test_encrypted_tensor_with_a_long_integer_in_its_layout_is_corrupt(context: Any) -> None:
    """Finding 3 through ``EncryptedTensor.load``: the layout's JSON carried a 5000-digit integer."""
    from securecompute.fhe import EncryptedTensor

    envelope = unpack(context.encrypt(np.ones(3)).serialize())
    sections = dict(envelope.sections)
    sections["layout"] = sections["layout"].replace(b'"slots":', b'"slots":' + b"1" * 5000 + b',"x":')
    with pytest.raises(CorruptPayloadError):
        EncryptedTensor.load(pack(envelope.kind, sections, envelope.fingerprint), context.public())


@pytest.fixture(scope="module")
def serialised(context: Any) -> tuple[bytes, bytes]:
    """A tensor and the public context, serialised once (a fresh encryption differs at every call)."""
    return context.encrypt(np.ones(3)).serialize(), context.public().serialize()


@SLOW_FUZZ
@given(st.data())
def test_context_and_tensor_loaders_raise_only_package_errors(
    context: Any, serialised: tuple[bytes, bytes], data: st.DataObject
) -> None:
    from securecompute.fhe import CKKSContext, EncryptedTensor

    public = context.public()
    tensor = data.draw(hostile_bytes(serialised[0], json_sections=("layout",)))
    refuses_only_with(SecureComputeError, lambda raw: EncryptedTensor.load(raw, public), tensor)
    loaded = data.draw(hostile_bytes(serialised[1], json_sections=()))
    refuses_only_with(SecureComputeError, CKKSContext.load, loaded)


@FUZZ
@given(st.data())
def test_relu_proof_parser_raises_only_corrupt_payload(data: st.DataObject) -> None:
    proof_bytes = _micro_proof()
    from securecompute.zk import ReluProof

    refuses_only_with(CorruptPayloadError, ReluProof.from_bytes, data.draw(hostile_bytes(proof_bytes)))


_PROOF: list[bytes] = []


def _micro_proof() -> bytes:
    """The smallest zkReLU proof (Q = 2, R = 1, two elements), made once per session."""
    if not _PROOF:
        from securecompute.zk import Params, prove_relu

        _PROOF.append(
            prove_relu(Params.setup(q_bits=2, frac_bits=1, max_log_n=1), np.array([-3, 2]), seed=13).to_bytes()
        )
    return _PROOF[0]
