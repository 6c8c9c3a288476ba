"""An authenticated, encrypted channel between two simulated parties.

Each party makes a :class:`ChannelKey` (an X25519 key pair) and sends its 32-byte public key to the
other over any medium.  :func:`open_channel` then derives two AES-256-GCM keys, one per direction,
with HKDF-SHA256 from the X25519 shared secret, both public keys and a caller-chosen context string
(the protocol and session it belongs to).  Every frame is::

    offset size  field
    0      1     frame version (1)
    1      8     sequence number, unsigned big-endian, starting at 0 in each direction
    9      n+16  AES-GCM ciphertext and tag; the nonce is 4 zero bytes + the sequence number and the
                 associated data is the 9-byte header followed by the caller's associated data

The receiver accepts exactly the next sequence number, so an altered, replayed, reordered,
reflected (sent back to its sender) or misdirected frame raises
:class:`~securecompute.errors.TamperedMessageError` and yields no plaintext.

What it does not do: it authenticates the *key*, not the person.  Binding a public key to a party
(certificates, a pinned key list) is the caller's business, as is hiding message lengths and timing.
Keys live in memory only; there is no forward secrecy within one channel.  The primitives come from
``cryptography``; only the framing and key schedule are written here.  See ``protocols/channel.md``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securecompute.errors import ParameterError, ProtocolError, TamperedMessageError

__all__ = ["FRAME_VERSION", "PUBLIC_KEY_BYTES", "ChannelKey", "SecureChannel", "open_channel"]

FRAME_VERSION = 1
PUBLIC_KEY_BYTES = 32
_HEADER = struct.Struct(">BQ")
_TAG_BYTES = 16
_KEY_SCHEDULE_SALT = b"securecompute/channel/v1"
Role = Literal["initiator", "responder"]


class ChannelKey:
    """One party's X25519 key pair for setting up channels; the private half never leaves it."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private_key = private_key

    @classmethod
    def generate(cls) -> ChannelKey:
        """Make a fresh key pair from the operating system's randomness."""
        return cls(X25519PrivateKey.generate())

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte raw public key to hand to the peer."""
        return self._private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def _shared_secret(self, peer_public: bytes) -> bytes:
        if not isinstance(peer_public, bytes) or len(peer_public) != PUBLIC_KEY_BYTES:
            raise ParameterError(f"peer public key must be {PUBLIC_KEY_BYTES} raw bytes, got {peer_public!r:.60}")
        try:
            return self._private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError:
            # cryptography refuses low-order points whose shared secret is all zeros.
            raise ProtocolError("peer public key is a low-order point; refusing the key agreement") from None


@dataclass
class SecureChannel:
    """One end of an established channel: :meth:`seal` frames to send, :meth:`open` frames received."""

    _send_key: AESGCM
    _receive_key: AESGCM
    _sent: int = field(default=0)
    _received: int = field(default=0)

    def seal(self, message: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt and authenticate ``message``; ``associated_data`` is authenticated, not sent.

        Raises:
            ParameterError: ``message`` or ``associated_data`` is not bytes.
        """
        _check_bytes(message, "message")
        _check_bytes(associated_data, "associated_data")
        header = _HEADER.pack(FRAME_VERSION, self._sent)
        frame = header + self._send_key.encrypt(_nonce(self._sent), bytes(message), header + bytes(associated_data))
        self._sent += 1
        return frame

    def open(self, frame: bytes, associated_data: bytes = b"") -> bytes:
        """Check and decrypt the next frame from the peer.

        Raises:
            TamperedMessageError: the frame is not bytes, malformed, altered, replayed, out of order, or
                was not sent by the peer under the same associated data.
            ParameterError: ``associated_data`` (the caller's own value) is not bytes.
        """
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise TamperedMessageError(f"a channel frame must be bytes, got {type(frame).__name__}")
        _check_bytes(associated_data, "associated_data")
        frame = bytes(frame)
        if len(frame) < _HEADER.size + _TAG_BYTES:
            raise TamperedMessageError(f"channel frame is {len(frame)} bytes, shorter than header and tag")
        version, sequence = _HEADER.unpack_from(frame)
        if version != FRAME_VERSION:
            raise TamperedMessageError(f"channel frame version {version}; this build reads {FRAME_VERSION}")
        if sequence != self._received:
            raise TamperedMessageError(
                f"channel frame has sequence number {sequence}, expected {self._received} (replayed or reordered)"
            )
        header = frame[: _HEADER.size]
        try:
            message = self._receive_key.decrypt(
                _nonce(sequence), frame[_HEADER.size :], header + bytes(associated_data)
            )
        except InvalidTag:
            raise TamperedMessageError("channel frame failed authentication (altered or misdirected)") from None
        self._received += 1
        return message


def open_channel(own_key: ChannelKey, peer_public: bytes, *, role: Role, context: bytes) -> SecureChannel:
    """Derive a :class:`SecureChannel` with the peer whose public key is ``peer_public``.

    Args:
        own_key: this party's key pair.
        peer_public: the peer's 32-byte public key.
        role: "initiator" on one side and "responder" on the other; it picks the direction keys.
        context: bytes naming the protocol and session; both sides must pass the same value.  Never
            reuse a context with the same two key pairs: the keys would repeat and, with sequence
            numbers restarting at 0, so would the AES-GCM nonces.  Put fresh randomness from both
            sides in the context of every session.

    Raises:
        ParameterError: a bad role, context or public key length.
        ProtocolError: the peer's key is a low-order point.
    """
    if role not in ("initiator", "responder"):
        raise ParameterError(f"role must be 'initiator' or 'responder', got {role!r}")
    if not isinstance(context, bytes):
        raise ParameterError(f"context must be bytes, got {type(context).__name__}")
    secret = own_key._shared_secret(peer_public)
    initiator_public, responder_public = (
        (own_key.public_bytes, peer_public) if role == "initiator" else (peer_public, own_key.public_bytes)
    )
    info = struct.pack(">I", len(context)) + context + initiator_public + responder_public
    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=_KEY_SCHEDULE_SALT, info=info).derive(secret)
    initiator_to_responder, responder_to_initiator = AESGCM(material[:32]), AESGCM(material[32:])
    if role == "initiator":
        return SecureChannel(initiator_to_responder, responder_to_initiator)
    return SecureChannel(responder_to_initiator, initiator_to_responder)


def _check_bytes(value: object, name: str) -> None:
    # bytes(int) would allocate that many zero bytes, bytes(str) raises TypeError: refuse both by name.
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ParameterError(f"{name} must be bytes, got {type(value).__name__}")


def _nonce(sequence: int) -> bytes:
    return bytes(4) + struct.pack(">Q", sequence)
