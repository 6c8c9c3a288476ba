"""Strict reading of the project's small binary formats, and the register of their magics.

Every hand-written binary format (the envelope, CKKS parameters, engine kits and key bundles,
simulated ciphertexts) starts with a 4-byte magic and a format version.  :data:`MAGICS` lists them
all, one magic per format, so that bytes of one format are never mistaken for another;
:class:`ByteReader` is the one cursor over untrusted bytes, turning every malformation (wrong
magic or version, truncation, trailing bytes) into a
:class:`~securecompute.errors.CorruptPayloadError`.  Nothing here allocates more than the bytes
already received.
"""

from __future__ import annotations

import struct

import numpy as np

from securecompute.errors import CorruptPayloadError, ParameterError

__all__ = ["FORMAT_VERSION", "MAGICS", "ByteReader", "as_bytes", "checked_int", "header", "length_prefixed"]

FORMAT_VERSION = 1

#: format name -> its 4-byte magic; distinct by construction (tests/test_binary.py checks it).
MAGICS: dict[str, bytes] = {
    "envelope": b"SCPK",  # securecompute.encoding (protocols/envelope.md)
    "ckks-parameters": b"SCKP",  # securecompute.fhe.params
    "seal-public-kit": b"SCEK",  # securecompute.fhe.seal: public and evaluation keys
    "seal-secret-kit": b"SCSK",  # securecompute.fhe.seal: the secret key
    "seal-galois-keys": b"SCGK",  # securecompute.fhe.seal: rotation keys
    "simulated-ciphertext": b"SCSC",  # securecompute.fhe.engines.simulate
    "simulated-public": b"SCSP",  # securecompute.fhe.engines.simulate
    "simulated-secret": b"SCSS",  # securecompute.fhe.engines.simulate
    "simulated-rotation-keys": b"SCSG",  # securecompute.fhe.engines.simulate
    "cross-ciphertext": b"SCXC",  # securecompute.fhe.engines.cross_io
    "cross-public": b"SCXP",  # securecompute.fhe.engines.cross_io
    "cross-secret": b"SCXS",  # securecompute.fhe.engines.cross_io
    "cross-rotation-keys": b"SCXG",  # securecompute.fhe.engines.cross_io
}


def as_bytes(data: object, what: str) -> bytes:
    """``data`` as bytes; CorruptPayloadError naming ``what`` if it is not bytes-like."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptPayloadError(f"{what} must be bytes, got {type(data).__name__}")
    return bytes(data)


class ByteReader:
    """Strict little-endian cursor over untrusted bytes that start with ``magic`` and the format version.

    Every failure is a CorruptPayloadError naming ``what``.
    """

    def __init__(self, data: object, what: str, magic: bytes) -> None:
        self.data, self.pos, self.what = as_bytes(data, what), 0, what
        got = self.take(len(magic))
        if got != magic:
            raise CorruptPayloadError(f"{what} starts with {got!r}, expected {magic!r}")
        if (version := self.unpack("B")[0]) != FORMAT_VERSION:
            raise CorruptPayloadError(f"{what} has format version {version}, accepted: {FORMAT_VERSION}")

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        if n < 0 or self.pos + n > len(self.data):
            raise CorruptPayloadError(f"{self.what} is truncated at byte {self.pos} of {len(self.data)}")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def unpack(self, fmt: str) -> tuple[int, ...]:
        """The next values of struct format ``fmt`` (little-endian)."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def blob(self) -> bytes:
        """A u64 length and that many bytes (see :func:`length_prefixed`)."""
        return self.take(self.unpack("Q")[0])

    def end(self) -> None:
        """Refuse trailing bytes."""
        if self.pos != len(self.data):
            raise CorruptPayloadError(f"{self.what} has {len(self.data) - self.pos} trailing bytes")


def header(format_name: str) -> bytes:
    """Magic and version of the registered format ``format_name``."""
    return MAGICS[format_name] + struct.pack("<B", FORMAT_VERSION)


def length_prefixed(data: bytes) -> bytes:
    """``data`` behind its u64 little-endian length."""
    return struct.pack("<Q", len(data)) + data


def checked_int(value: object, name: str) -> int:
    """``value`` as an int; ParameterError naming ``name`` for bools and non-integers."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be an int, got {value!r}")
    return int(value)
