"""Authenticated channels between a querier and its parties (:mod:`securecompute.channel` underneath).

Each side holds a static X25519 key; the querier pins each party's public key
(``Party.channel_public_key``, handed over out of band) and the party learns the querier's from the
transport.  Static keys alone would give the same AES-GCM keys at every setup, and the channel's
sequence numbers restart at 0, so a restarted party or a retried setup would reuse (key, nonce)
pairs.  Every setup therefore makes fresh channel keys: the querier puts a fresh 32-byte nonce in
its ``frag/setup``, the party answers with its own fresh nonce, both in the clear, and both sides
derive the channel under the context ``securecompute/frag/v2 || querier nonce || party nonce``.  A
party re-keys at every setup.  An attacker who alters either nonce only makes the two sides derive
different keys, so the first frame fails authentication.

Every request and reply then travels as an AES-GCM frame with a per-direction sequence number, so
an altered, replayed, reordered or injected message raises
:class:`~securecompute.errors.TamperedMessageError` and is never parsed.
"""

from __future__ import annotations

import secrets
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from securecompute.channel import ChannelKey, SecureChannel, open_channel
from securecompute.errors import CorruptPayloadError, ParameterError

__all__ = ["CHANNEL_CONTEXT", "NONCE_BYTES", "ChannelEnd", "check_nonce", "fresh_nonce"]

CHANNEL_CONTEXT = b"securecompute/frag/v2"
NONCE_BYTES = 32
"""Bytes of each side's per-setup nonce."""


def fresh_nonce() -> bytes:
    """32 bytes from the operating system's randomness."""
    return secrets.token_bytes(NONCE_BYTES)


def check_nonce(value: bytes, who: str) -> bytes:
    """``value`` if it is a 32-byte nonce; CorruptPayloadError otherwise."""
    if not isinstance(value, bytes) or len(value) != NONCE_BYTES:
        raise CorruptPayloadError(f"the {who} channel nonce must be {NONCE_BYTES} bytes")
    return value


class ChannelEnd:
    """One participant's static channel key (raw private bytes kept so that a Ray actor can be given the same key)."""

    def __init__(self, private: bytes | None, role: Literal["initiator", "responder"]) -> None:
        if private is None:
            private = secrets.token_bytes(32)
        if not isinstance(private, bytes) or len(private) != 32:
            raise ParameterError("channel_key must be 32 raw bytes (an X25519 private key) or None")
        self.private_bytes = private
        self._key = ChannelKey(X25519PrivateKey.from_private_bytes(private))
        self._role: Literal["initiator", "responder"] = role

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key to hand to the peer."""
        return self._key.public_bytes

    def open_with(self, peer_public: bytes, querier_nonce: bytes, party_nonce: bytes) -> SecureChannel:
        """The channel of one setup with the peer whose public key is ``peer_public``.

        The keys depend on both static keys and on both setup nonces, so each setup has its own keys.
        """
        context = CHANNEL_CONTEXT + check_nonce(querier_nonce, "querier") + check_nonce(party_nonce, "party")
        return open_channel(self._key, peer_public, role=self._role, context=context)
