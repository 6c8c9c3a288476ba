"""Hostile bytes for the ``cross`` engine's readers: only named SecureComputeErrors, never a bare exception.

Small secure parameters (N = 4096, chain (40, 20, 40)) keep keys small; the readers do not depend on N.
Oracles: the format layouts of :mod:`securecompute.fhe.engines.cross_io` (offsets computed by hand).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.binary import header, length_prefixed
from securecompute.errors import CorruptPayloadError, KeyMismatchError, SecureComputeError
from securecompute.fhe.engines.cross import CrossFactory, CrossKeyHolder
from securecompute.fhe.engines.cross_io import ring_parameters
from securecompute.fhe.params import CKKSParameters

PARAMS = CKKSParameters(4096, (40, 20, 40), 20)
FACTORY = CrossFactory()
FUZZ = settings(max_examples=60, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def holder() -> CrossKeyHolder:
    made = FACTORY.generate(PARAMS)
    assert isinstance(made, CrossKeyHolder)
    made.make_rotation_keys([1, 2])
    return made


@pytest.fixture(scope="module")
def payloads(holder: CrossKeyHolder) -> dict[str, bytes]:
    return {
        "public": holder.public_bytes(),
        "secret": holder.secret_bytes(),
        "ciphertext": holder.ciphertext_to_bytes(holder.encrypt(np.arange(4.0) / 4)),
        "rotation": holder.rotation_key_bytes([3]),
    }


def _reader(holder: CrossKeyHolder, kind: str) -> Callable[[bytes], object]:
    return {
        "public": FACTORY.load_public,
        "secret": FACTORY.load_secret,
        "ciphertext": holder.public().ciphertext_from_bytes,
        "rotation": holder.public().add_rotation_keys,
    }[kind]


def _only_named_errors(read: Callable[[bytes], object], data: bytes) -> None:
    # anything else (IndexError, struct.error, a ValueError from numpy, ...) escapes and fails the test
    with contextlib.suppress(SecureComputeError):
        read(data)


KINDS = st.sampled_from(["public", "secret", "ciphertext", "rotation"])


@FUZZ
@given(kind=KINDS, data=st.binary(max_size=200))
def test_random_bytes_raise_only_named_errors(
    holder: CrossKeyHolder, payloads: dict[str, bytes], kind: str, data: bytes
) -> None:
    prefix = payloads[kind][:5]  # the right magic and version, so that parsing goes past them
    _only_named_errors(_reader(holder, kind), prefix + data)
    _only_named_errors(_reader(holder, kind), data)


def _field_offsets(kind: str, payloads: dict[str, bytes]) -> list[int]:
    """Where the header and the counted fields of ``kind`` start (the relinearisation flag, the key count)."""
    ring = ring_parameters(PARAMS)
    key_count, n = len(ring.moduli), ring.n
    if kind in ("ciphertext", "rotation"):
        return [0]  # magic, version, parameter id or fingerprint, level or key count: all in the first 64 bytes
    start = 0 if kind == "public" else 5 + 8  # a secret context holds the public one behind its own header
    flag = start + 5 + 8 + len(PARAMS.to_bytes()) + 8 * 2 * key_count * n
    count = flag + 1 + 8 * (key_count - 1) * 2 * key_count * n
    assert payloads[kind][flag] == 1  # the offsets are right: a relinearisation key follows
    assert payloads[kind][count : count + 4] == (2).to_bytes(4, "little")  # and two rotation keys
    return [0, start, flag, count]


@FUZZ
@given(
    kind=KINDS,
    edits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_fields_raise_only_named_errors(
    holder: CrossKeyHolder, payloads: dict[str, bytes], kind: str, edits: list[tuple[int, int, int]]
) -> None:
    """Bytes altered within 64 bytes of a field: magics, lengths, parameters, the relinearisation flag, counts."""
    data = bytearray(payloads[kind])
    offsets = _field_offsets(kind, payloads)
    for which, shift, value in edits:
        data[offsets[which % len(offsets)] + shift] = value
    _only_named_errors(_reader(holder, kind), bytes(data))


@FUZZ
@given(kind=KINDS, cut=st.integers(0, 2**31))
def test_every_truncation_is_refused(holder: CrossKeyHolder, payloads: dict[str, bytes], kind: str, cut: int) -> None:
    data = payloads[kind]
    with pytest.raises((CorruptPayloadError, KeyMismatchError)):
        _reader(holder, kind)(data[: cut % len(data)])


def test_a_chain_without_enough_ntt_primes_is_a_corrupt_payload() -> None:
    """Valid-looking bit sizes with too few primes = 1 mod 2N (twenty 20-bit ones at N = 2^15) named as such."""
    params = CKKSParameters(32768, (21, *(20,) * 20, 21), 20)  # 442 bits: inside the 128-bit table
    with pytest.raises(CorruptPayloadError, match="prime chain"):
        FACTORY.load_public(header("cross-public") + length_prefixed(params.to_bytes()))


def test_a_secret_key_must_be_one_ternary_polynomial_on_every_prime(holder: CrossKeyHolder) -> None:
    """The last limbs of the secret key (not the first, which also opens the public key) altered."""
    data = bytearray(holder.secret_bytes())
    ring = ring_parameters(PARAMS)
    limb_bytes = 8 * ring.n
    last_limb = len(data) - limb_bytes  # the secret key's words end the payload; its last limb is the special prime's
    data[last_limb : last_limb + 8] = (1).to_bytes(8, "little")  # a residue below every prime, s changed there only
    with pytest.raises(CorruptPayloadError, match="ternary"):
        FACTORY.load_secret(bytes(data))
    FACTORY.load_secret(holder.secret_bytes())  # the unaltered bytes still load
