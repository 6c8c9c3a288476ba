"""Bad input, foreign keys, tampered bytes and failing parties: a clear error or a partial result."""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence

import numpy as np
import pytest

from securecompute.encoding import encode_json, pack, unpack
from securecompute.errors import (
    CorruptPayloadError,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
    ShapeError,
    TamperedMessageError,
)
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag.transport import LocalTransport
from tests.frag.conftest import DIM, clustered


class FaultyTransport(LocalTransport):
    """In-process delivery that, after the setup, corrupts requests or replies of one named party."""

    def __init__(self, victim: str, fault: str) -> None:
        self.victim, self.fault, self.calls = victim, fault, 0

    def exchange(self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None) -> list[bytes | Exception]:
        self.calls += 1
        setup = self.calls == 1
        if self.fault == "flip-request" and not setup:
            requests = [(party, flip(message) if party.name == self.victim else message) for party, message in requests]
        replies = super().exchange(requests, sender)
        out: list[bytes | Exception] = []
        for (party, _), reply in zip(requests, replies, strict=True):
            if (
                party.name != self.victim
                or setup
                or isinstance(reply, Exception)
                or self.fault in ("flip-request", "none")
            ):
                out.append(reply)
            elif self.fault == "flip":
                out.append(flip(reply))
            elif self.fault == "truncate":
                out.append(reply[: len(reply) // 3])
            else:
                out.append(RuntimeError("party process died"))
        return out


def flip(data: bytes) -> bytes:
    """``data`` with one bit flipped in its middle."""
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x10
    return bytes(flipped)


@pytest.fixture
def small() -> list[Party]:
    return [Party("one", clustered(300, 11)), Party("two", clustered(200, 12), nlist=4, seed=0)]


def test_wrong_query_dimension_nan_and_zero_are_refused(small: list[Party]) -> None:
    querier = Querier(dim=DIM)
    with pytest.raises(ShapeError, match=r"\(16,\)"):
        querier.search(np.ones(DIM + 1), small)
    with pytest.raises(ParameterError, match="NaN"):
        querier.search(np.full(DIM, np.nan), small)
    with pytest.raises(ParameterError, match="zero vector"):
        querier.search(np.zeros(DIM), small)
    with pytest.raises(ShapeError):
        querier.search_batch(np.ones((2, DIM + 1)), small)


def test_k_nprobe_and_parties_are_checked(small: list[Party]) -> None:
    querier = Querier(dim=DIM)
    with pytest.raises(ParameterError, match="larger than the 500 vectors"):
        querier.search(np.ones(DIM), small, k=501)
    for bad in ({"k": 0}, {"k": 2.5}, {"nprobe": 0}, {"pad_probes": -1}):
        with pytest.raises(ParameterError):
            querier.search(np.ones(DIM), small, **bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="distinct"):
        querier.search(np.ones(DIM), [small[0], Party("one", clustered(5, 1))])
    with pytest.raises(ParameterError, match="non-empty"):
        querier.search(np.ones(DIM), [])


def test_bad_stores_are_refused_when_made() -> None:
    with pytest.raises(ShapeError, match="empty"):
        Party("empty", np.zeros((0, DIM)))
    with pytest.raises(ShapeError, match="2-D"):
        Party("flat", np.ones(DIM))
    bad = clustered(10, 1)
    bad[3, 2] = np.inf
    with pytest.raises(ParameterError, match="NaN or infinity"):
        Party("inf", bad)
    with pytest.raises(ParameterError, match="nlist"):
        Party("lists", clustered(10, 1), nlist=11)
    with pytest.raises(ParameterError, match="payloads"):
        Party("pay", clustered(10, 1), payloads=["x"])
    with pytest.raises(ParameterError, match="channel_key"):
        Party("key", clustered(10, 1), channel_key=b"short")


def test_a_party_of_another_dimension_refuses_at_setup(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    with pytest.raises(ParameterError, match="refused: party 'wide' stores d=17"):
        querier.search(np.ones(DIM), [Party("wide", clustered(20, 1, dim=17))])


def test_norms_above_the_declared_bound_are_refused(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend, metric="ip", max_norm=1.0)
    with pytest.raises(ParameterError, match="above the querier's max_norm"):
        querier.search(np.ones(DIM) / 8, [Party("big", clustered(20, 1))])
    with pytest.raises(ParameterError, match="exceeds max_norm"):
        querier.search(np.ones(DIM), [Party("ok", clustered(20, 1) / 100)])


def test_a_party_refuses_a_context_carrying_the_secret_key(small: list[Party], backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    secret = querier._context.serialize()
    sections = {"params": querier.params.to_bytes(), "context": secret, "nonce": bytes(32)}
    message = pack(wire.SETUP, sections, querier.fingerprint)
    reply = unpack(small[0].handle(message))
    with pytest.raises(ProtocolError, match="SECRET context"):
        wire.raise_if_error(reply, "one")


def test_ciphertexts_from_another_querier_are_refused_before_decryption(small: list[Party], backend: str) -> None:
    # alice without a channel: plain requests (party.handle) reach the sessions set up by plain requests only
    alice, mallory = Querier(dim=DIM, backend=backend, authenticated=False), Querier(dim=DIM, backend=backend)
    alice.search(np.ones(DIM), small, k=1)  # alice is set up with both parties; mallory is not
    ciphertexts, _ = mallory.encrypt_query(np.ones(DIM) / 4)
    meta = encode_json({"query_id": "00" * 16, "mode": "scan"})
    query = pack(wire.QUERY, {"meta": meta, **wire.ciphertext_sections(ciphertexts)}, mallory.fingerprint)
    with pytest.raises(KeyMismatchError, match="no session for querier key"):
        wire.raise_if_error(unpack(small[0].handle(query)), "one")
    # Relabelled with alice's fingerprint, the engine cannot tell the keys apart, but alice refuses the garbage.
    forged = pack(wire.QUERY, {"meta": meta, **wire.ciphertext_sections(ciphertexts)}, alice.fingerprint)
    scores = wire.parse_scores(small[0].handle(forged), alice.fingerprint, 2048, alice.params.max_score_noise)
    with pytest.raises(CorruptPayloadError, match="beyond the bound"):
        alice._decrypt(scores)


def test_a_tampered_request_is_refused_by_the_party(small: list[Party], backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    querier.search(np.ones(DIM), small, k=1)
    ciphertexts, _ = querier.encrypt_query(np.ones(DIM) / 4)
    meta = encode_json({"query_id": "00" * 16, "mode": "scan"})
    query = bytearray(pack(wire.QUERY, {"meta": meta, **wire.ciphertext_sections(ciphertexts)}, querier.fingerprint))
    query[5000] ^= 0x01
    with pytest.raises(CorruptPayloadError, match="digest"):
        wire.raise_if_error(unpack(small[0].handle(bytes(query))), "one")
    with pytest.raises(CorruptPayloadError):
        wire.raise_if_error(unpack(small[0].handle(bytes(query[:-100]))), "one")


@pytest.mark.parametrize(
    ("fault", "authenticated", "reason"),
    [
        ("flip", True, "TamperedMessageError"),
        ("truncate", True, "TamperedMessageError"),
        ("flip-request", True, "TamperedMessageError"),
        ("flip", False, "CorruptPayloadError"),
        ("truncate", False, "CorruptPayloadError"),
        ("flip-request", False, "CorruptPayloadError"),
        ("crash", True, "party process died"),
    ],
)
def test_a_failing_party_gives_a_partial_result(
    small: list[Party], fault: str, authenticated: bool, reason: str, backend: str
) -> None:
    querier = Querier(dim=DIM, backend=backend, executor=FaultyTransport("two", fault), authenticated=authenticated)
    result = querier.search(np.ones(DIM), small, k=5, nprobe=2)
    assert result.partial
    assert set(result.failures) == {"two"}
    assert reason in result.failures["two"]
    assert len(result.hits) == 5
    assert {hit.party for hit in result.hits} == {"one"}
    assert result.leakage.parties["two"].mode == "failed"


def test_an_injected_request_without_the_channel_key_is_refused(small: list[Party]) -> None:
    querier = Querier(dim=DIM)
    querier.connect(small)
    sender = querier.channel_public_key
    assert sender is not None
    frame = struct.pack(">BQ", 1, 0) + secrets.token_bytes(200)  # well-formed header, next sequence number
    with pytest.raises(TamperedMessageError, match="failed authentication"):
        wire.raise_if_error(unpack(small[0].handle_frame(sender, frame)), "one")
    query = pack(wire.FETCH, {"meta": encode_json({"query_id": "00" * 16})}, querier.fingerprint)
    with pytest.raises(TamperedMessageError, match="only frag/setup travels outside the channel"):
        wire.raise_if_error(unpack(small[0].handle_frame(sender, query)), "one")
    with pytest.raises(TamperedMessageError, match="no channel"):
        wire.raise_if_error(unpack(small[0].handle_frame(bytes(32), frame)), "one")
    assert not querier.search(np.ones(DIM), small, k=2).partial  # the genuine channel still works


def test_the_next_search_recovers_from_a_desynchronised_channel(small: list[Party], backend: str) -> None:
    transport = FaultyTransport("two", "flip-request")
    querier = Querier(dim=DIM, backend=backend, executor=transport)
    assert querier.search(np.ones(DIM), small, k=2).partial
    transport.fault = "none"
    # The channel to "two" was out of step; the querier set it up again under fresh keys by itself.
    assert not querier.search(np.ones(DIM), small, k=2).partial
    querier.close()  # forgetting every setup also works, through the same transport
    assert not querier.search(np.ones(DIM), small, k=2).partial


def test_the_query_budget_is_enforced_per_querier_key(backend: str) -> None:
    party = Party("budget", clustered(50, 1), query_budget=2)
    querier = Querier(dim=DIM, backend=backend)
    for _ in range(2):
        assert not querier.search(np.ones(DIM), [party], k=1).partial
    result = querier.search(np.ones(DIM), [party], k=1)
    assert result.partial
    assert "budget of 2" in result.failures["budget"]
    assert result.hits == []
    assert party.queries_served(querier.fingerprint) == 2
    assert (
        not Querier(dim=DIM, backend=backend).search(np.ones(DIM), [party], k=1).partial
    )  # another key, its own budget


def test_fetch_refuses_handles_it_did_not_issue(small: list[Party]) -> None:
    querier = Querier(dim=DIM)
    result = querier.search(np.ones(DIM), small, k=2)
    forged = type(result)(
        [result.hits[0]._replace(handle=result.hits[0].handle ^ 1)],
        result.leakage,
        result.stats,
        result.query_ids,
        result.k,
    )
    with pytest.raises(ProtocolError, match="not issued"):
        querier.fetch(forged, small)
    stale = type(result)(
        result.hits, result.leakage, result.stats, dict.fromkeys(result.query_ids, bytes(16)), result.k
    )
    with pytest.raises(ProtocolError, match="unknown or expired"):
        querier.fetch(stale, small)
