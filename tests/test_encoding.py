"""The envelope: round trips, strict rejection of every malformed buffer, known-answer vectors."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.encoding import (
    NO_FINGERPRINT,
    decode_array,
    decode_json,
    encode_array,
    encode_json,
    pack,
    unpack,
)
from securecompute.errors import CorruptPayloadError, KeyMismatchError, ParameterError

VECTORS = Path(__file__).resolve().parents[1] / "protocols" / "vectors" / "envelope.json"
FINGERPRINT = bytes(range(32))
SECTIONS = {"meta": b'{"shape":[2,3]}', "data": bytes(range(256)) * 3, "empty": b""}


@pytest.fixture
def payload() -> bytes:
    return pack("test/thing", SECTIONS, FINGERPRINT)


def test_round_trip_keeps_kind_fingerprint_and_sections_in_order(payload: bytes) -> None:
    envelope = unpack(payload, kind="test/thing", fingerprint=FINGERPRINT)
    assert envelope.kind == "test/thing"
    assert envelope.fingerprint == FINGERPRINT
    assert list(envelope.sections.items()) == list(SECTIONS.items())


def test_truncated_buffers_are_rejected_at_every_length(payload: bytes) -> None:
    for length in range(len(payload)):
        with pytest.raises(CorruptPayloadError):
            unpack(payload[:length])


def test_extended_buffer_is_rejected(payload: bytes) -> None:
    with pytest.raises(CorruptPayloadError):
        unpack(payload + b"\x00")


def test_wrong_magic_is_rejected(payload: bytes) -> None:
    with pytest.raises(CorruptPayloadError, match="magic"):
        unpack(b"XXXX" + payload[4:])


def test_wrong_version_is_rejected(payload: bytes) -> None:
    with pytest.raises(CorruptPayloadError, match="version 2"):
        unpack(payload[:4] + struct.pack(">H", 2) + payload[6:])


def test_wrong_kind_is_rejected(payload: bytes) -> None:
    with pytest.raises(CorruptPayloadError, match="expected 'fhe/tensor'"):
        unpack(payload, kind="fhe/tensor")


def test_every_single_bit_flip_is_rejected(payload: bytes) -> None:
    for position in range(len(payload)):
        for bit in (0, 7):
            mutated = bytearray(payload)
            mutated[position] ^= 1 << bit
            with pytest.raises(CorruptPayloadError):
                unpack(bytes(mutated))


def test_absurd_declared_length_is_rejected_before_allocation() -> None:
    body = pack("test/thing", {"data": b"abc"})[:-32]
    length_at = body.index(b"data") + 4
    forged = body[:length_at] + struct.pack(">Q", 2**62) + body[length_at + 8 :]
    import hashlib

    forged += hashlib.blake2b(forged, digest_size=32).digest()
    with pytest.raises(CorruptPayloadError, match="declares 4611686018427387904 bytes"):
        unpack(forged)


def test_other_fingerprint_raises_key_mismatch(payload: bytes) -> None:
    with pytest.raises(KeyMismatchError, match="fingerprint"):
        unpack(payload, fingerprint=NO_FINGERPRINT)


def test_missing_section_is_named() -> None:
    envelope = unpack(pack("test/thing", {"a": b""}))
    with pytest.raises(CorruptPayloadError, match="no section 'b'"):
        envelope.section("b")


@pytest.mark.parametrize(
    ("kind", "sections", "fingerprint"),
    [
        ("Upper", {}, NO_FINGERPRINT),
        ("", {}, NO_FINGERPRINT),
        ("ok", {"bad name": b""}, NO_FINGERPRINT),
        ("ok", {"x": "text"}, NO_FINGERPRINT),
        ("ok", {}, b"short"),
    ],
)
def test_pack_refuses_invalid_arguments(kind: str, sections: dict[str, bytes], fingerprint: bytes) -> None:
    with pytest.raises(ParameterError):
        pack(kind, sections, fingerprint)


def test_not_bytes_is_rejected() -> None:
    with pytest.raises(CorruptPayloadError, match="must be bytes"):
        unpack("SCPK")  # type: ignore[arg-type]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_corrupt_payload(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError):
        unpack(data)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8),
    st.integers(min_value=-40, max_value=40),
)
def test_mutated_envelopes_only_ever_raise_corrupt_payload(edits: list[tuple[int, int]], resize: int) -> None:
    mutated = bytearray(pack("test/thing", SECTIONS, FINGERPRINT))
    for position, value in edits:
        mutated[position % len(mutated)] = value
    if resize > 0:
        mutated += bytes(resize)
    elif resize < 0:
        del mutated[resize:]
    if bytes(mutated) == pack("test/thing", SECTIONS, FINGERPRINT):
        return
    with pytest.raises(CorruptPayloadError):
        unpack(bytes(mutated), kind="test/thing", fingerprint=FINGERPRINT)


def test_known_answer_vectors_match() -> None:
    for vector in json.loads(VECTORS.read_text())["vectors"]:
        sections = {name: bytes.fromhex(value) for name, value in vector["sections"].items()}
        fingerprint = bytes.fromhex(vector["fingerprint"])
        assert pack(vector["kind"], sections, fingerprint).hex() == vector["envelope"], vector["name"]
        envelope = unpack(bytes.fromhex(vector["envelope"]))
        assert dict(envelope.sections) == sections


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.array(3.5),
        np.zeros((0, 5), dtype=np.int64),
        np.array([True, False]),
        np.arange(6, dtype=np.uint64).reshape(2, 3).T,
        (np.arange(4) + 1j).astype(np.complex128),
    ],
)
def test_array_codec_round_trips(array: np.ndarray) -> None:
    restored = decode_array(encode_array(array))
    assert restored.dtype == array.dtype
    np.testing.assert_array_equal(restored, array)


def test_array_codec_refuses_object_dtype() -> None:
    with pytest.raises(ParameterError, match="dtype object"):
        encode_array(np.array([object()]))


def test_array_codec_rejects_size_disagreement() -> None:
    data = encode_array(np.arange(4.0))
    with pytest.raises(CorruptPayloadError, match="needs 32 bytes"):
        decode_array(data[:-1])


def test_array_codec_checks_expected_dtype_and_ndim() -> None:
    data = encode_array(np.arange(4.0))
    with pytest.raises(CorruptPayloadError, match="expected int64"):
        decode_array(data, dtype="int64")
    with pytest.raises(CorruptPayloadError, match="expected 2"):
        decode_array(data, ndim=2)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.binary(max_size=120))
def test_array_codec_random_bytes_only_raise_corrupt_payload(data: bytes) -> None:
    with contextlib.suppress(CorruptPayloadError):
        decode_array(data)


def test_json_codec_is_canonical_and_strict() -> None:
    assert encode_json({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'
    assert decode_json(b'{"a":1}', expect=dict) == {"a": 1}
    with pytest.raises(CorruptPayloadError, match="NaN"):
        decode_json(b"[NaN]")
    with pytest.raises(CorruptPayloadError, match="expected dict"):
        decode_json(b"[1]", expect=dict)
    with pytest.raises(ParameterError):
        encode_json(float("nan"))


def test_layout_follows_the_spec_byte_for_byte() -> None:
    """Build an envelope by hand from the table in protocols/envelope.md and compare."""
    import hashlib

    kind, fingerprint = b"fhe/tensor", bytes(range(32))
    body = b"SCPK" + struct.pack(">HB", 1, len(kind)) + kind + fingerprint + struct.pack(">H", 2)
    body += struct.pack(">B", 4) + b"meta" + struct.pack(">Q", 2) + b"{}"
    body += struct.pack(">B", 4) + b"data" + struct.pack(">Q", 3) + b"\x01\x02\x03"
    expected = body + hashlib.blake2b(body, digest_size=32).digest()
    assert pack("fhe/tensor", {"meta": b"{}", "data": b"\x01\x02\x03"}, fingerprint) == expected
