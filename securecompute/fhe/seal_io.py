"""Bytes in and out of SEAL objects, parsed strictly.

sealapi saves and loads only through file paths, so bytes pass through a private temporary file
(on /dev/shm when it has room).  Our own small binary formats (parameters, kits, key bundles) are
read with :class:`ByteReader`, which turns every malformation into a CorruptPayloadError.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from typing import Any

import numpy as np

from securecompute.errors import CorruptPayloadError, ParameterError

__all__ = ["FORMAT_VERSION", "ByteReader", "as_bytes", "checked_int", "length_prefixed", "seal_load", "seal_save"]

FORMAT_VERSION = 1
SHARED_MEMORY = "/dev/shm"


def as_bytes(data: object, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptPayloadError(f"{what} must be bytes, got {type(data).__name__}")
    return bytes(data)


class ByteReader:
    """Strict cursor over untrusted bytes; every failure is a CorruptPayloadError."""

    def __init__(self, data: object, what: str, magic: bytes) -> None:
        self.data, self.pos, self.what = as_bytes(data, what), 0, what
        got = self.take(len(magic))
        if got != magic:
            raise CorruptPayloadError(f"{what} starts with {got!r}, expected {magic!r}")
        if (version := self.unpack("B")[0]) != FORMAT_VERSION:
            raise CorruptPayloadError(f"{what} has format version {version}, accepted: {FORMAT_VERSION}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CorruptPayloadError(f"{self.what} is truncated at byte {self.pos} of {len(self.data)}")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def blob(self) -> bytes:
        return self.take(self.unpack("Q")[0])

    def end(self) -> None:
        if self.pos != len(self.data):
            raise CorruptPayloadError(f"{self.what} has {len(self.data) - self.pos} trailing bytes")


def length_prefixed(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


def private_temp_file(size_hint: int) -> str:
    """A fresh private file, on /dev/shm when it has room for ``size_hint`` bytes (+64 MiB)."""
    fast = os.access(SHARED_MEMORY, os.W_OK) and shutil.disk_usage(SHARED_MEMORY).free > size_hint + (64 << 20)
    fd, path = tempfile.mkstemp(dir=SHARED_MEMORY if fast else None, prefix="sc-seal-")
    os.close(fd)
    return path


def seal_save(obj: Any, size_hint: int = 0) -> bytes:
    """Serialise a sealapi object (which only saves to a path) to bytes (SEAL's zstd-compressed format)."""
    path = private_temp_file(size_hint)
    try:
        obj.save(path)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def seal_load(obj: Any, context: Any, data: bytes, what: str) -> Any:
    """Load SEAL bytes into ``obj`` after checking the 16-byte SEAL header; any refusal -> CorruptPayloadError."""
    data = as_bytes(data, what)
    magic, header_size, _, _, _, _, size = struct.unpack("<HBBBBHQ", data[:16].ljust(16, b"\0"))
    if magic != 0xA15E or header_size != 16 or size != len(data):
        raise CorruptPayloadError(f"{what} has no valid SEAL header (magic {magic:#x}, size {size} of {len(data)})")
    path = private_temp_file(len(data))
    try:
        with open(path, "wb") as fh:
            fh.write(data)
        obj.load(context, path)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CorruptPayloadError(f"{what} was refused by SEAL: {exc}") from None
    finally:
        os.unlink(path)
    return obj


def checked_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be an int, got {value!r}")
    return int(value)
