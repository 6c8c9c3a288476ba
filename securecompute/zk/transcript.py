"""A Merlin-style Fiat-Shamir transcript over BLAKE2b-512.

Every message is absorbed as ``len(label) (8 bytes BE) || label || len(data) (8 bytes BE) || data``
into one running BLAKE2b state that starts from a domain separator, so no two different message
sequences hash alike.  A challenge absorbs its own label, copies the state, finalises the copy
(64 bytes), reduces it mod r (bias below 2**-256) and absorbs the 64 bytes back *raw* (a plain
``update`` with no label or length prefix), so successive
challenges differ and each one depends on everything before it.

The prover and the verifier run the same calls in the same order; the protocol spec
(``protocols/zkrelu.md``) lists that order.  Hand-written: it is about forty lines and part of the
proof system's soundness argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from securecompute.zk.field import MODULUS, scalar_to_bytes
from securecompute.zk.group import Point, encode_point

__all__ = ["DOMAIN", "Transcript"]

DOMAIN = b"securecompute/zkrelu/v1"
"""Default domain separator."""

_CHALLENGE_BYTES = 64


class Transcript:
    """Running Fiat-Shamir state; see the module docstring for the byte layout."""

    def __init__(self, domain: bytes = DOMAIN) -> None:
        self._state = hashlib.blake2b(digest_size=_CHALLENGE_BYTES)
        self.log: list[tuple[bytes, int]] | None = None
        """If set to a list, every challenge is appended to it as ``(label, value)`` (known-answer vectors)."""
        self.append_message(b"domain-separator", domain)

    def append_message(self, label: bytes, data: bytes) -> None:
        """Absorb ``data`` under ``label`` (both length-prefixed)."""
        self._state.update(len(label).to_bytes(8, "big") + label + len(data).to_bytes(8, "big") + data)

    def append_int(self, label: bytes, value: int) -> None:
        """Absorb a non-negative int below 2**64 as 8 big-endian bytes."""
        self.append_message(label, value.to_bytes(8, "big"))

    def append_scalars(self, label: bytes, values: Sequence[int]) -> None:
        """Absorb field elements (canonical 32-byte little-endian each, concatenated)."""
        self.append_message(label, b"".join(scalar_to_bytes(value) for value in values))

    def append_points(self, label: bytes, points: Sequence[Point]) -> None:
        """Absorb G1 points (48-byte compressed each, concatenated)."""
        self.append_message(label, b"".join(encode_point(point) for point in points))

    def challenge(self, label: bytes) -> int:
        """A field element derived from everything absorbed so far."""
        self.append_message(b"challenge", label)
        output = self._state.copy().digest()
        self._state.update(output)  # raw: no label or length prefix
        value = int.from_bytes(output, "little") % MODULUS
        if self.log is not None:
            self.log.append((label, value))
        return value

    def challenges(self, label: bytes, count: int) -> list[int]:
        """``count`` successive challenges under one label."""
        return [self.challenge(label) for _ in range(count)]
