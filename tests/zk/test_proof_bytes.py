"""ReluProof bytes: round trip, strict parsing, and no byte of a proof can change without detection."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError
from securecompute.zk import Params, ReluProof, prove_relu, verify_relu
from securecompute.zk.proof import KIND
from tests.zk.conftest import random_inputs


def test_round_trip_preserves_bytes_and_validity(tiny_backward_proof: ReluProof, tiny_params: Params) -> None:
    data = tiny_backward_proof.to_bytes()
    loaded = ReluProof.from_bytes(data)
    assert loaded.to_bytes() == data
    assert verify_relu(tiny_params, loaded)
    assert loaded.size_bytes == len(data)
    assert 0 < loaded.commitment_bytes < loaded.size_bytes


def test_json_view_and_notebook_badge(tiny_proof: ReluProof) -> None:
    view = json.loads(tiny_proof.to_json())
    assert view["n"] == tiny_proof.n
    assert len(view["commitments"]["bits"]) == len(tiny_proof.commitments["bits"].rows)
    assert "verified" in tiny_proof._repr_html_()
    bad = ReluProof.from_bytes(_mutate_section(tiny_proof.to_bytes(), "prod", 3 * 48))
    assert "INVALID" in bad._repr_html_()


def _mutate_section(data: bytes, name: str, offset: int, mask: int = 0x01) -> bytes:
    """Change one byte inside section ``name`` and re-seal the envelope (a valid digest, so parsing goes deeper)."""
    envelope = unpack(data)
    sections = dict(envelope.sections)
    body = bytearray(sections[name])
    body[offset] ^= mask
    sections[name] = bytes(body)
    return pack(envelope.kind, sections, fingerprint=envelope.fingerprint)


def _rejected(data: bytes, pp: Params) -> bool:
    try:
        proof = ReluProof.from_bytes(data)
    except CorruptPayloadError:
        return True
    return not verify_relu(pp, proof)


MASKS = (0x01, 0x80, 0xFF)
"""XOR masks of the single-byte changes: lowest bit, highest bit, every bit."""


def test_every_single_byte_change_is_detected(tiny_proof: ReluProof, tiny_params: Params) -> None:
    # not re-sealed: the envelope's digest is what catches these
    data = tiny_proof.to_bytes()
    for position in range(len(data)):
        for mask in MASKS:
            changed = bytearray(data)
            changed[position] ^= mask
            assert _rejected(bytes(changed), tiny_params), position


def _section_changes_detected(
    proof: ReluProof, pp: Params, stride: int, masks: tuple[int, ...] = (0x01,), all_masks_in: tuple[str, ...] = ()
) -> int:
    """Re-sealed changes at every ``stride``-th byte of each section with each mask; every byte of the sections
    named in ``all_masks_in`` with every mask of :data:`MASKS`.  Returns the number of changes checked."""
    data = proof.to_bytes()
    checked = 0
    for name, body in unpack(data).sections.items():
        step, section_masks = (1, MASKS) if name in all_masks_in else (stride, masks)
        for offset in range(0, len(body), step):
            for mask in section_masks:
                assert _rejected(_mutate_section(data, name, offset, mask), pp), (name, offset, mask)
                checked += 1
    return checked


def test_every_section_byte_change_behind_a_valid_digest_is_detected(
    micro_proof: ReluProof, micro_params: Params
) -> None:
    # the envelope digest alone catches the test above; re-sealing makes the parser and verifier do the work.
    # Every byte of every section of the smallest proof XOR 0x01, and all three masks on every byte of meta (the
    # parameters, n and the backward flag).  0x80 and 0xff on the other sections are sampled (every 5th byte) in
    # the next test: all three masks on every byte took 27 s here, over the test-time budget.
    assert verify_relu(micro_params, micro_proof)
    sections = unpack(micro_proof.to_bytes()).sections
    expected = sum(len(body) * (len(MASKS) if name == "meta" else 1) for name, body in sections.items())
    assert _section_changes_detected(micro_proof, micro_params, 1, (0x01,), ("meta",)) == expected


def test_extra_masks_on_sampled_section_bytes_of_the_smallest_proof(
    micro_proof: ReluProof, micro_params: Params
) -> None:
    # 0x80 and 0xff at every 5th byte of every section other than meta (which the test above covers fully)
    sections = {name: body for name, body in unpack(micro_proof.to_bytes()).sections.items() if name != "meta"}
    expected = 2 * sum(len(range(0, len(body), 5)) for body in sections.values())
    meta = 3 * len(unpack(micro_proof.to_bytes()).sections["meta"])
    assert _section_changes_detected(micro_proof, micro_params, 5, (0x80, 0xFF), ("meta",)) == expected + meta


def test_sampled_section_byte_changes_of_a_backward_proof_are_detected(
    tiny_backward_proof: ReluProof, tiny_params: Params
) -> None:
    assert _section_changes_detected(tiny_backward_proof, tiny_params, 7) > 300


def test_fingerprint_and_kind_are_checked(tiny_proof: ReluProof) -> None:
    envelope = unpack(tiny_proof.to_bytes())
    with pytest.raises(CorruptPayloadError, match="fingerprint"):
        ReluProof.from_bytes(pack(KIND, envelope.sections, fingerprint=bytes(32)))
    with pytest.raises(CorruptPayloadError, match="kind"):
        ReluProof.from_bytes(pack("zk/other", envelope.sections, fingerprint=envelope.fingerprint))
    sections = dict(envelope.sections)
    del sections["sc2"]
    with pytest.raises(CorruptPayloadError, match="sections"):
        ReluProof.from_bytes(pack(KIND, sections, fingerprint=envelope.fingerprint))


@pytest.mark.parametrize(
    "meta",
    [
        b'{"backward":false,"frac_bits":2,"max_log_n":4,"n":4,"q_bits":4,"x":1}',
        b'{"backward":0,"frac_bits":2,"max_log_n":4,"n":4,"q_bits":4}',
        b'{"backward":false,"frac_bits":2,"max_log_n":4,"n":99999999999999999999,"q_bits":4}',
        b'{"backward":false,"frac_bits":2,"max_log_n":4,"n":4.0,"q_bits":4}',
        b'{"backward": false,"frac_bits":2,"max_log_n":4,"n":4,"q_bits":4}',
        b'{"backward":false,"frac_bits":2,"max_log_n":99,"n":4,"q_bits":4}',
        b"[]",
    ],
)
def test_malformed_meta_is_refused(tiny_proof: ReluProof, meta: bytes) -> None:
    envelope = unpack(tiny_proof.to_bytes())
    sections = dict(envelope.sections)
    sections["meta"] = meta
    with pytest.raises(CorruptPayloadError):
        ReluProof.from_bytes(pack(KIND, sections, fingerprint=envelope.fingerprint))


def test_non_canonical_scalar_is_refused(tiny_proof: ReluProof) -> None:
    from securecompute.zk.field import MODULUS

    envelope = unpack(tiny_proof.to_bytes())
    sections = dict(envelope.sections)
    z1 = 3 * 48  # the first response of the first product proof follows its three points
    sections["prod"] = sections["prod"][:z1] + (MODULUS + 1).to_bytes(32, "little") + sections["prod"][z1 + 32 :]
    with pytest.raises(CorruptPayloadError, match="canonical"):
        ReluProof.from_bytes(pack(KIND, sections, fingerprint=envelope.fingerprint))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_corrupt_payload(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError):
        ReluProof.from_bytes(data)


@settings(
    derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_fuzzed_sections_raise_only_corrupt_payload_or_fail(
    tiny_proof: ReluProof, tiny_params: Params, data: st.DataObject
) -> None:
    envelope = unpack(tiny_proof.to_bytes())
    sections = dict(envelope.sections)
    name = data.draw(st.sampled_from(sorted(sections)))
    sections[name] = data.draw(
        st.one_of(st.binary(max_size=200), st.just(sections[name][:-1]), st.just(sections[name] + b"\x00"))
    )
    forged = pack(KIND, sections, fingerprint=envelope.fingerprint)
    assert _rejected(forged, tiny_params) or forged == tiny_proof.to_bytes()


def test_sampled_byte_changes_of_a_larger_proof_are_detected(params: Params) -> None:
    # Q = R = 16, n = 256, forward and backward: about 19 KB; 120 positions spread over every section
    proof = prove_relu(params, random_inputs(params, 256, seed=1), random_inputs(params, 256, seed=2), seed=3)
    data = proof.to_bytes()
    envelope = unpack(data)
    rng = random.Random(5)
    names = list(envelope.sections)
    for _ in range(120):
        name = rng.choice(names)
        offset = rng.randrange(len(envelope.sections[name]))
        assert _rejected(_mutate_section(data, name, offset, mask=1 << rng.randrange(8)), params), (name, offset)
