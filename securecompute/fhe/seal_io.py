"""Bytes in and out of SEAL objects, parsed strictly.

sealapi saves and loads only through file paths, so bytes pass through a private temporary file
(on /dev/shm when it has room).  Our own small binary formats (parameters, kits, key bundles) are
read with :class:`securecompute.binary.ByteReader`.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from typing import Any

from securecompute.binary import as_bytes
from securecompute.errors import CorruptPayloadError

__all__ = ["seal_load", "seal_save"]

SHARED_MEMORY = "/dev/shm"


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
