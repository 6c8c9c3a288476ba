"""Hypothesis strategies for hostile bytes: random, mutated, and well-formed envelopes with hostile sections.

A mutated envelope that keeps a valid digest reaches the parsers behind ``unpack`` (metadata JSON,
arrays, SEAL objects, proofs); random bytes and raw mutations test ``unpack`` itself.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from securecompute.encoding import MAGIC, pack, unpack

HUGE_NUMBERS = [b"9" * 5000, b"-" + b"1" * 400, b"1e999", b"-1e999", b"1" + b"0" * 30, b"4.9e-324", b"NaN", b"Infinity"]
"""JSON number texts a hostile peer may send: over-long integers, overflowing floats, non-JSON constants."""


def hostile_json() -> st.SearchStrategy[bytes]:
    """Bytes that are JSON or nearly: nested values, huge numbers, deep nesting, repeated keys, junk."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=8)
    )
    values = st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    )
    plain = values.map(lambda value: json.dumps(value).encode())
    numbers = st.sampled_from(HUGE_NUMBERS)
    in_object = st.tuples(st.text(max_size=8), numbers).map(
        lambda pair: b'{"' + pair[0].encode() + b'":' + pair[1] + b"}"
    )
    deep = st.integers(100, 5000).map(lambda depth: b"[" * depth + b"]" * depth)
    repeated = st.just(b'{"a":1,"a":2}')
    return st.one_of(plain, numbers, in_object, deep, repeated, st.binary(max_size=64))


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes flipped, cut or inserted (the digest of an envelope then fails)."""

    def apply(draw: st.DrawFn) -> bytes:
        buffer = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            action = draw(st.sampled_from(["flip", "cut", "insert"]))
            position = draw(st.integers(0, max(len(buffer) - 1, 0)))
            if action == "flip" and buffer:
                buffer[position] ^= 1 << draw(st.integers(0, 7))
            elif action == "cut":
                del buffer[position : position + draw(st.integers(1, 16))]
            else:
                buffer[position:position] = draw(st.binary(min_size=1, max_size=16))
        return bytes(buffer)

    return st.composite(apply)()


def resealed(envelope_bytes: bytes, json_sections: tuple[str, ...] = ("meta",)) -> st.SearchStrategy[bytes]:
    """A well-formed envelope (valid digest) of the same kind and fingerprint with one section made hostile.

    JSON sections get :func:`hostile_json`; other sections are mutated, truncated, emptied or grown.
    """
    envelope = unpack(envelope_bytes)

    def apply(draw: st.DrawFn) -> bytes:
        sections: dict[str, Any] = dict(envelope.sections)
        name = draw(st.sampled_from(sorted(sections)))
        if name in json_sections:
            sections[name] = draw(hostile_json())
        else:
            sections[name] = draw(st.one_of(mutated(sections[name]), st.just(b""), st.binary(max_size=32)))
        if draw(st.booleans()):
            sections.pop(draw(st.sampled_from(sorted(sections))))
        return pack(envelope.kind, sections, envelope.fingerprint)

    return st.composite(apply)()


def hostile_bytes(valid: bytes, json_sections: tuple[str, ...] = ("meta",)) -> st.SearchStrategy[bytes]:
    """Random bytes, raw mutations of ``valid`` and, if it is an envelope, re-sealed ones with a hostile section."""
    if valid[:4] != MAGIC:
        return st.one_of(st.binary(max_size=256), mutated(valid))
    return st.one_of(st.binary(max_size=256), mutated(valid), resealed(valid, json_sections))
