"""The one versioned byte envelope for everything that leaves a process.

Contexts, ciphertext tensors, proofs and federated messages all travel as an *envelope*::

    offset  size  field
    0       4     magic b"SCPK"
    4       2     format version, unsigned big-endian (this module writes and reads version 1)
    6       1     length k of the kind (1..64)
    7       k     kind, ASCII [a-z0-9._/-], e.g. "fhe/tensor"
    7+k     32    fingerprint of the parameters and public key the payload belongs to (zeros: none)
    39+k    2     number of sections (0..1024), unsigned big-endian
    then, per section:
            1     length m of the section name (1..64)
            m     name, ASCII [a-z0-9._-], unique within the envelope
            8     length n of the data, unsigned big-endian
            n     data
    end-32  32    BLAKE2b-256 digest of every byte before it

Parsing is strict and bounded: every declared length is checked against the bytes that remain
before anything is sliced or allocated, the whole buffer must be consumed exactly, and any
deviation raises :class:`~securecompute.errors.CorruptPayloadError`.  The trailing digest catches
accidental corruption (a flipped bit, a truncated file); it is *not* authentication, since anyone
can recompute it.  Messages between mutually distrusting parties additionally go through
:mod:`securecompute.channel`.  Nothing here ever unpickles.

Section payloads use the small strict codecs below (:func:`encode_array`, :func:`encode_json`)
or the native serialisation of a library (SEAL ciphertexts, curve points) checked by its parser.
The format is hand-written because it is part of the project's trust boundary; the spec lives in
``protocols/envelope.md`` with known-answer vectors in ``protocols/vectors/envelope.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from securecompute.errors import CorruptPayloadError, KeyMismatchError, ParameterError

__all__ = [
    "FINGERPRINT_BYTES",
    "FORMAT_VERSION",
    "MAGIC",
    "NO_FINGERPRINT",
    "Envelope",
    "decode_array",
    "decode_json",
    "encode_array",
    "encode_json",
    "pack",
    "unpack",
]

MAGIC = b"SCPK"
FORMAT_VERSION = 1
FINGERPRINT_BYTES = 32
NO_FINGERPRINT = bytes(FINGERPRINT_BYTES)
DIGEST_BYTES = 32
MAX_SECTIONS = 1024
MAX_NAME_LENGTH = 64
MAX_JSON_INT_DIGITS = 20
"""Most digits of a JSON integer (enough for every uint64 and int64); longer ones are refused unconverted."""
MAX_ARRAY_BYTES = 1 << 62
"""Most bytes an array may declare, counting every zero extent as 1 (numpy's own limit is 2**63)."""

_KIND_PATTERN = re.compile(r"[a-z0-9._/-]{1,64}\Z")
_SECTION_PATTERN = re.compile(r"[a-z0-9._-]{1,64}\Z")
_FIXED_HEADER = struct.Struct(">4sHB")  # magic, version, kind length
_MINIMUM_LENGTH = _FIXED_HEADER.size + 1 + FINGERPRINT_BYTES + 2 + DIGEST_BYTES


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: its kind, fingerprint and named byte sections (in wire order)."""

    kind: str
    fingerprint: bytes
    sections: Mapping[str, bytes] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def section(self, name: str) -> bytes:
        """Return the bytes of section ``name``; CorruptPayloadError if the envelope lacks it."""
        try:
            return self.sections[name]
        except KeyError:
            present = ", ".join(self.sections) or "none"
            raise CorruptPayloadError(
                f"envelope of kind {self.kind!r} has no section {name!r} (sections present: {present})"
            ) from None


def pack(kind: str, sections: Mapping[str, bytes], fingerprint: bytes = NO_FINGERPRINT) -> bytes:
    """Serialise ``sections`` under ``kind`` and ``fingerprint`` into one envelope.

    Raises:
        ParameterError: an invalid kind, section name, fingerprint length or section type.
    """
    if not isinstance(kind, str) or not _KIND_PATTERN.match(kind):
        raise ParameterError(f"envelope kind {kind!r} is invalid; use 1-64 characters of [a-z0-9._/-]")
    if not isinstance(fingerprint, bytes) or len(fingerprint) != FINGERPRINT_BYTES:
        raise ParameterError(f"fingerprint must be {FINGERPRINT_BYTES} bytes, got {fingerprint!r:.60}")
    if len(sections) > MAX_SECTIONS:
        raise ParameterError(f"an envelope holds at most {MAX_SECTIONS} sections, got {len(sections)}")
    kind_bytes = kind.encode("ascii")
    parts = [_FIXED_HEADER.pack(MAGIC, FORMAT_VERSION, len(kind_bytes)), kind_bytes, fingerprint]
    parts.append(struct.pack(">H", len(sections)))
    for name, data in sections.items():
        if not isinstance(name, str) or not _SECTION_PATTERN.match(name):
            raise ParameterError(f"section name {name!r} is invalid; use 1-64 characters of [a-z0-9._-]")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ParameterError(f"section {name!r} must be bytes, got {type(data).__name__}")
        name_bytes = name.encode("ascii")
        parts += [struct.pack(">B", len(name_bytes)), name_bytes, struct.pack(">Q", len(data)), bytes(data)]
    body = b"".join(parts)
    return body + hashlib.blake2b(body, digest_size=DIGEST_BYTES).digest()


def unpack(
    data: bytes,
    *,
    kind: str | Collection[str] | None = None,
    fingerprint: bytes | None = None,
) -> Envelope:
    """Parse an envelope strictly.

    Args:
        data: the bytes as received.
        kind: the kind (or kinds) the caller accepts; None accepts any.
        fingerprint: the fingerprint the caller expects; None accepts any.

    Raises:
        CorruptPayloadError: malformed, truncated, extended, corrupted, wrong magic, version or kind.
        KeyMismatchError: well formed, but made under another fingerprint than ``fingerprint``.
    """
    buffer = _as_buffer(data, "an envelope")
    if len(buffer) < _MINIMUM_LENGTH:
        raise CorruptPayloadError(f"envelope is {len(buffer)} bytes, shorter than the {_MINIMUM_LENGTH}-byte minimum")
    magic, version, _ = _FIXED_HEADER.unpack_from(buffer)
    if magic != MAGIC:
        raise CorruptPayloadError(f"not a securecompute envelope: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise CorruptPayloadError(
            f"envelope format version {version} is not supported; this build reads version {FORMAT_VERSION}"
        )
    body, digest = buffer[:-DIGEST_BYTES], buffer[-DIGEST_BYTES:]
    if hashlib.blake2b(body, digest_size=DIGEST_BYTES).digest() != digest:
        raise CorruptPayloadError("envelope digest does not match its contents (corrupted or truncated)")
    envelope = _parse_body(body)
    _check_expectations(envelope, kind, fingerprint)
    return envelope


def _parse_body(body: bytes) -> Envelope:
    reader = _Reader(body)
    reader.take(_FIXED_HEADER.size - 1)
    kind = reader.ascii_name(_KIND_PATTERN, "kind")
    fingerprint = reader.take(FINGERPRINT_BYTES)
    (count,) = struct.unpack(">H", reader.take(2))
    if count > MAX_SECTIONS:
        raise CorruptPayloadError(f"envelope declares {count} sections; at most {MAX_SECTIONS} are allowed")
    sections: dict[str, bytes] = {}
    for _ in range(count):
        name = reader.ascii_name(_SECTION_PATTERN, "section name")
        if name in sections:
            raise CorruptPayloadError(f"envelope repeats section {name!r}")
        (length,) = struct.unpack(">Q", reader.take(8))
        sections[name] = reader.take(length)
    if reader.remaining:
        raise CorruptPayloadError(f"envelope has {reader.remaining} unexpected bytes after its last section")
    return Envelope(kind=kind, fingerprint=fingerprint, sections=sections)


def _check_expectations(envelope: Envelope, kind: str | Collection[str] | None, fingerprint: bytes | None) -> None:
    if kind is not None:
        accepted = {kind} if isinstance(kind, str) else set(kind)
        if envelope.kind not in accepted:
            raise CorruptPayloadError(
                f"envelope holds kind {envelope.kind!r}; expected {' or '.join(sorted(map(repr, accepted)))}"
            )
    if fingerprint is not None and envelope.fingerprint != fingerprint:
        raise KeyMismatchError(
            f"payload of kind {envelope.kind!r} was made under fingerprint {envelope.fingerprint.hex()[:16]}..., "
            f"but this context has fingerprint {fingerprint.hex()[:16]}...; load it with the context it came from"
        )


class _Reader:
    """A cursor over bytes that refuses to read past the end."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, count: int) -> bytes:
        if count > self.remaining:
            raise CorruptPayloadError(
                f"payload declares {count} bytes at offset {self._offset}, but only {self.remaining} remain"
            )
        chunk = self._data[self._offset : self._offset + count]
        self._offset += count
        return chunk

    def ascii_name(self, pattern: re.Pattern[str], what: str) -> str:
        (length,) = struct.unpack(">B", self.take(1))
        if not 1 <= length <= MAX_NAME_LENGTH:
            raise CorruptPayloadError(f"envelope {what} length {length} is outside 1..{MAX_NAME_LENGTH}")
        raw = self.take(length)
        text = raw.decode("ascii", errors="replace")
        if not pattern.match(text):
            raise CorruptPayloadError(f"envelope {what} {raw!r} has characters outside {pattern.pattern}")
        return text


# --- section codecs ---------------------------------------------------------------------------

_DTYPE_CODES: dict[str, int] = {
    "bool": 1,
    "uint8": 2,
    "int32": 3,
    "int64": 4,
    "uint64": 5,
    "float32": 6,
    "float64": 7,
    "complex128": 8,
}
_CODE_DTYPES = {code: np.dtype(name) for name, code in _DTYPE_CODES.items()}
_ARRAY_HEADER = struct.Struct(">BB")  # dtype code, ndim
MAX_ARRAY_NDIM = 32


def encode_array(array: np.ndarray) -> bytes:
    """Encode a numeric array as dtype code, ndim, dims (u64 each) and little-endian C-order data.

    Raises:
        ParameterError: a dtype outside bool, uint8, int32, int64, uint64, float32, float64,
            complex128, or more than 32 dimensions.
    """
    values = np.asarray(array)
    code = _DTYPE_CODES.get(values.dtype.name)
    if code is None:
        raise ParameterError(f"cannot encode dtype {values.dtype}; accepted: {', '.join(_DTYPE_CODES)}")
    if values.ndim > MAX_ARRAY_NDIM:
        raise ParameterError(f"cannot encode a {values.ndim}-d array; at most {MAX_ARRAY_NDIM} dimensions")
    little = values.astype(values.dtype.newbyteorder("<"), copy=False)
    header = _ARRAY_HEADER.pack(code, values.ndim) + struct.pack(f">{values.ndim}Q", *values.shape)
    return header + np.ascontiguousarray(little).tobytes()


def decode_array(data: bytes, *, dtype: str | None = None, ndim: int | None = None) -> np.ndarray:
    """Decode :func:`encode_array` output strictly, optionally insisting on a dtype and ndim.

    Returns:
        a new, writable array in native byte order.

    Raises:
        CorruptPayloadError: not bytes, malformed bytes, sizes that disagree with the data, a shape
            whose extents (zeros counted as 1) times the item size exceed 2**62 bytes, or an
            unexpected dtype or ndim.
    """
    reader = _Reader(_as_buffer(data, "an array"))
    code, dims = _ARRAY_HEADER.unpack(reader.take(_ARRAY_HEADER.size))
    if code not in _CODE_DTYPES:
        raise CorruptPayloadError(f"array dtype code {code} is unknown; known codes: {sorted(_CODE_DTYPES)}")
    if dims > MAX_ARRAY_NDIM:
        raise CorruptPayloadError(f"array declares {dims} dimensions; at most {MAX_ARRAY_NDIM} are allowed")
    element = _CODE_DTYPES[code]
    shape = struct.unpack(f">{dims}Q", reader.take(8 * dims))
    count = nominal = 1
    for extent in shape:
        count *= extent
        nominal *= max(extent, 1)  # numpy refuses a (0, 2**63) shape although it holds no element
    if nominal * element.itemsize > MAX_ARRAY_BYTES:
        raise CorruptPayloadError(f"array shape {shape} is beyond {MAX_ARRAY_BYTES} bytes for dtype {element}")
    if count * element.itemsize != reader.remaining:
        raise CorruptPayloadError(
            f"array of shape {shape} and dtype {element} needs {count * element.itemsize} bytes, "
            f"but {reader.remaining} follow"
        )
    if dtype is not None and element != np.dtype(dtype):
        raise CorruptPayloadError(f"array has dtype {element}, expected {np.dtype(dtype)}")
    if ndim is not None and dims != ndim:
        raise CorruptPayloadError(f"array has {dims} dimensions, expected {ndim}")
    raw = np.frombuffer(reader.take(reader.remaining), dtype=element.newbyteorder("<"))
    return raw.astype(element, copy=True).reshape(shape)


def encode_json(value: Any) -> bytes:
    """Encode JSON-compatible metadata canonically (sorted keys, no NaN, UTF-8).

    Raises:
        ParameterError: a value JSON cannot represent exactly (NaN, infinities, other objects).
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise ParameterError(f"metadata is not plain JSON: {error}") from None


def decode_json(data: bytes, *, expect: type | None = None) -> Any:
    """Decode :func:`encode_json` output strictly; ``expect`` checks the top-level type.

    Raises:
        CorruptPayloadError: not bytes, invalid UTF-8 or JSON, NaN/Infinity literals, a number that
            overflows to an infinity (``1e999``), an integer of more than 20 digits, a repeated object
            key, nesting too deep for the parser, a string with a lone UTF-16 surrogate (``"\\ud800"``),
            or the wrong top-level type.
    """
    text = _as_buffer(data, "metadata")
    try:
        value = json.loads(
            text.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CorruptPayloadError(f"metadata is not valid JSON: {error}") from None
    if expect is not None and not isinstance(value, expect):
        raise CorruptPayloadError(f"metadata is a {type(value).__name__}, expected {expect.__name__}")
    _check_text(value)
    return value


def _check_text(value: Any) -> None:
    """Refuse a string holding a lone UTF-16 surrogate (``"\\ud800"``): valid JSON, but no text.

    Such a string cannot be written as UTF-8, so printing a reader's error message that quotes it (a
    party's refusal, a failure line in the CLI) would raise UnicodeEncodeError far from the parser.
    Walked without recursion: the parser already bounded the depth, not the width.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise CorruptPayloadError(f"metadata string {item[:24]!r} holds a lone UTF-16 surrogate") from None
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())


def _as_buffer(data: object, what: str) -> bytes:
    """``data`` as bytes if it is a bytes-like object; anything else (an int would allocate) is refused."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptPayloadError(f"{what} must be bytes, got {type(data).__name__}")
    return bytes(data)


def _refuse_constant(name: str) -> Any:
    raise CorruptPayloadError(f"metadata contains the non-JSON constant {name}")


def _bounded_int(digits: str) -> int:
    # Checked before int(): Python refuses over 4300 digits with a bare ValueError, and fewer cost quadratic time.
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise CorruptPayloadError(
            f"metadata integer {digits[:24]}... has {len(digits.lstrip('-'))} digits; at most {MAX_JSON_INT_DIGITS}"
        )
    return int(digits)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CorruptPayloadError(f"metadata number {text[:24]!r} overflows float64 (infinities are not JSON)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Canonical JSON never repeats a key; accepting one would let two readers see two values.
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise CorruptPayloadError(f"metadata repeats the object key {key[:40]!r}")
        value[key] = item
    return value
