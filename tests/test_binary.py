"""The register of binary formats: one magic per format, and every reader refuses the others."""

from __future__ import annotations

import pytest

from securecompute.binary import MAGICS, ByteReader, header, length_prefixed
from securecompute.encoding import MAGIC as ENVELOPE_MAGIC
from securecompute.errors import CorruptPayloadError


def test_every_format_has_its_own_four_byte_magic() -> None:
    magics = list(MAGICS.values())
    assert all(len(magic) == 4 for magic in magics)
    assert len(set(magics)) == len(magics)
    assert MAGICS["envelope"] == ENVELOPE_MAGIC


@pytest.mark.parametrize("expected", sorted(MAGICS))
def test_a_reader_refuses_every_other_format(expected: str) -> None:
    for other in MAGICS:
        data = header(other) + length_prefixed(b"payload")
        if other == expected:
            assert ByteReader(data, expected, MAGICS[expected]).blob() == b"payload"
        else:
            with pytest.raises(CorruptPayloadError, match="expected"):
                ByteReader(data, expected, MAGICS[expected])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"SC", "truncated"),
        (MAGICS["ckks-parameters"] + b"\x02", "version 2"),
        (header("ckks-parameters") + (99).to_bytes(8, "little"), "truncated"),
    ],
)
def test_malformed_bytes_are_corrupt_payloads(data: bytes, match: str) -> None:
    reader_magic = MAGICS["ckks-parameters"]
    with pytest.raises(CorruptPayloadError, match=match):
        ByteReader(data, "parameters", reader_magic).blob()


def test_trailing_bytes_are_refused() -> None:
    reader = ByteReader(header("envelope") + b"x", "thing", MAGICS["envelope"])
    with pytest.raises(CorruptPayloadError, match="trailing"):
        reader.end()
