"""Fiat-Shamir transcript: deterministic, and binding to every label, byte and order."""

from __future__ import annotations

from securecompute.zk.field import MODULUS
from securecompute.zk.transcript import Transcript


def _challenge(messages: list[tuple[bytes, bytes]], domain: bytes = b"test") -> int:
    transcript = Transcript(domain)
    for label, data in messages:
        transcript.append_message(label, data)
    return transcript.challenge(b"c")


def test_same_messages_give_the_same_challenge() -> None:
    messages = [(b"a", b"1"), (b"b", b"22")]
    assert _challenge(messages) == _challenge(messages)
    assert 0 <= _challenge(messages) < MODULUS


def test_challenge_depends_on_data_label_order_and_domain() -> None:
    base = _challenge([(b"a", b"1"), (b"b", b"22")])
    assert base != _challenge([(b"a", b"1"), (b"b", b"23")])
    assert base != _challenge([(b"a", b"1"), (b"c", b"22")])
    assert base != _challenge([(b"b", b"22"), (b"a", b"1")])
    assert base != _challenge([(b"a", b"1"), (b"b", b"22")], domain=b"other")


def test_length_prefixes_prevent_boundary_shifts() -> None:
    assert _challenge([(b"ab", b"c")]) != _challenge([(b"a", b"bc")])
    assert _challenge([(b"a", b"bc"), (b"d", b"")]) != _challenge([(b"a", b"b"), (b"cd", b"")])


def test_successive_challenges_differ() -> None:
    transcript = Transcript()
    values = transcript.challenges(b"x", 4)
    assert len(set(values)) == 4
