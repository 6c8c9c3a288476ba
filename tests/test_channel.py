"""The authenticated channel: delivery, and rejection of every kind of tampering."""

from __future__ import annotations

import pytest

from securecompute.channel import ChannelKey, SecureChannel, open_channel
from securecompute.errors import ParameterError, ProtocolError, TamperedMessageError

CONTEXT = b"test session 1"


def _pair(context_b: bytes = CONTEXT) -> tuple[SecureChannel, SecureChannel]:
    alice, bob = ChannelKey.generate(), ChannelKey.generate()
    return (
        open_channel(alice, bob.public_bytes, role="initiator", context=CONTEXT),
        open_channel(bob, alice.public_bytes, role="responder", context=context_b),
    )


def test_messages_arrive_in_both_directions() -> None:
    alice, bob = _pair()
    assert bob.open(alice.seal(b"query")) == b"query"
    assert alice.open(bob.seal(b"answer")) == b"answer"
    assert bob.open(alice.seal(b"")) == b""


def test_every_flipped_bit_is_rejected() -> None:
    alice, _ = _pair()
    frame = alice.seal(b"top-k scores")
    for position in range(len(frame)):
        _, fresh_bob = _pair()
        mutated = bytearray(frame)
        mutated[position] ^= 0x04
        with pytest.raises(TamperedMessageError):
            fresh_bob.open(bytes(mutated))


def test_flipped_bit_does_not_consume_the_sequence_number() -> None:
    alice, bob = _pair()
    frame = alice.seal(b"payload")
    forged = bytearray(frame)
    forged[-1] ^= 1
    with pytest.raises(TamperedMessageError):
        bob.open(bytes(forged))
    assert bob.open(frame) == b"payload"


def test_replayed_frame_is_rejected() -> None:
    alice, bob = _pair()
    frame = alice.seal(b"once")
    bob.open(frame)
    with pytest.raises(TamperedMessageError, match="sequence number 0, expected 1"):
        bob.open(frame)


def test_reordered_frames_are_rejected() -> None:
    alice, bob = _pair()
    alice.seal(b"first")
    second = alice.seal(b"second")
    with pytest.raises(TamperedMessageError, match="replayed or reordered"):
        bob.open(second)


def test_reflected_frame_is_rejected() -> None:
    alice, _ = _pair()
    frame = alice.seal(b"to bob")
    with pytest.raises(TamperedMessageError):
        alice.open(frame)


def test_other_context_cannot_read() -> None:
    alice, bob = _pair(context_b=b"another session")
    with pytest.raises(TamperedMessageError):
        bob.open(alice.seal(b"secret"))


def test_associated_data_must_match() -> None:
    alice, bob = _pair()
    frame = alice.seal(b"scores", associated_data=b"round 3")
    with pytest.raises(TamperedMessageError):
        bob.open(frame, associated_data=b"round 4")


def test_third_party_key_cannot_read() -> None:
    alice, bob, eve = ChannelKey.generate(), ChannelKey.generate(), ChannelKey.generate()
    to_bob = open_channel(alice, bob.public_bytes, role="initiator", context=CONTEXT)
    eve_end = open_channel(eve, alice.public_bytes, role="responder", context=CONTEXT)
    with pytest.raises(TamperedMessageError):
        eve_end.open(to_bob.seal(b"secret"))


def test_short_frame_is_rejected() -> None:
    _, bob = _pair()
    with pytest.raises(TamperedMessageError, match="shorter"):
        bob.open(b"\x01" * 10)


def test_bad_public_key_length_is_refused() -> None:
    with pytest.raises(ParameterError, match="32 raw bytes"):
        open_channel(ChannelKey.generate(), b"\x01" * 31, role="initiator", context=CONTEXT)


def test_low_order_public_key_is_refused() -> None:
    with pytest.raises(ProtocolError, match="low-order"):
        open_channel(ChannelKey.generate(), bytes(32), role="initiator", context=CONTEXT)


def test_bad_role_is_refused() -> None:
    key = ChannelKey.generate()
    with pytest.raises(ParameterError, match="role"):
        open_channel(key, key.public_bytes, role="server", context=CONTEXT)  # type: ignore[arg-type]
