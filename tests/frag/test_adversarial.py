"""FRAG against hostile parties and bystanders (issue 12, findings 3, 4 and 5, and the parser class).

A replayed or forged clear-text setup must not cut a querier off; one malicious party must not cost the
honest parties their answer; every message parser fails only with a package error.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securecompute.channel import ChannelKey
from securecompute.encoding import MAGIC, pack, unpack
from securecompute.errors import ParameterError, SecureComputeError
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag import party as party_module
from securecompute.federated.frag.channels import ChannelEnd
from securecompute.federated.frag.outsourced import OutsourcedOwner, StorageHost
from securecompute.federated.frag.params import FragParameters
from tests.frag.conftest import DIM, clustered, engines_of
from tests.frag.test_hardening import Recorder, session_key
from tests.hostile import hostile_bytes

FUZZ = settings(derandomize=True, max_examples=30, deadline=None)


def recorded_setup(transport: Recorder) -> bytes:
    return next(message for _, message, _ in transport.log if message[: len(MAGIC)] == MAGIC)


def test_a_replayed_setup_does_not_cut_the_querier_off(backend: str) -> None:
    """Finding 4: replaying a querier's recorded frag/setup replaced its live channel at the party."""
    transport = Recorder()
    querier = Querier(dim=DIM, backend=backend, executor=transport)
    party = Party("target", clustered(80, 60))
    query = clustered(1, 61)[0]
    assert not querier.search(query, [party], k=3).partial
    setup, sender = recorded_setup(transport), querier.channel_public_key
    assert sender is not None
    for _ in range(5):  # the attacker replays it (it answers with a channel-open it cannot read)
        assert unpack(party.handle_frame(sender, setup)).kind == wire.CHANNEL_OPEN
    assert len(party._pending_setups[sender]) == party_module.MAX_PENDING_SETUPS  # bounded per sender
    result = querier.search(query, [party], k=3)
    assert not result.partial, result.failures
    assert len(result.hits) == 3


def test_setups_from_many_fresh_sender_keys_evict_no_live_channel(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Finding 4: MAX_CHANNELS setups under fake sender keys evicted every live channel."""
    monkeypatch.setattr(party_module, "MAX_CHANNELS", 2)
    monkeypatch.setattr(party_module, "MAX_PENDING_SENDERS", 3)
    transport = Recorder()
    querier = Querier(dim=DIM, backend=backend, executor=transport)
    party = Party("crowded", clustered(60, 62))
    query = clustered(1, 63)[0]
    assert not querier.search(query, [party], k=2).partial
    setup = recorded_setup(transport)
    for _ in range(6):  # keys nobody proves possession of
        party.handle_frame(ChannelKey.generate().public_bytes, setup)
    assert len(party._pending_setups) == 3
    assert not querier.search(query, [party], k=2).partial


def test_unconfirmed_setups_with_many_parameters_pin_no_more_stores_than_max_stores(backend: str) -> None:
    """Review: each pending setup kept its prepared store, an (n, d) copy of the vectors per distinct
    FragParameters, so 128 unauthenticated setups with 128 max_norms pinned 128 copies (MAX_STORES is 4)."""
    gc.collect()
    before = sum(isinstance(item, party_module._Store) for item in gc.get_objects())  # other tests' parties
    party = Party("frugal", clustered(50, 75))
    largest = float(np.linalg.norm(party.vectors, axis=1).max())
    for step in range(12):
        querier = Querier(
            dim=DIM, backend=backend, metric="ip", max_norm=largest + 1.0 + step
        )  # one store per max_norm
        reply = unpack(party.handle_frame(ChannelKey.generate().public_bytes, querier.public_setup()))
        assert reply.kind == wire.CHANNEL_OPEN
    assert sum(len(waiting) for waiting in party._pending_setups.values()) == 12
    gc.collect()
    alive = sum(isinstance(item, party_module._Store) for item in gc.get_objects())
    assert alive - before <= party_module.MAX_STORES


@pytest.mark.parametrize("sender", [[1], bytearray(32), None, b"short", "x" * 32])
def test_a_sender_that_is_not_a_channel_key_gets_an_answer_not_an_exception(sender: Any) -> None:
    """Review: an unhashable sender (a list, a bytearray) made handle_frame raise a bare TypeError."""
    party = Party("picky", clustered(20, 76))
    for frame in (Querier(dim=DIM).public_setup(), b"\x01" * 40):
        with pytest.raises(ParameterError, match="32-byte channel public key"):
            wire.raise_if_error(unpack(party.handle_frame(sender, frame)), "picky")


def test_a_pending_setup_installs_its_session_only_when_confirmed(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    party = Party("careful", clustered(40, 64))
    querier.connect([party])
    assert session_key(querier) not in party._sessions  # no frame under the new keys yet
    assert not querier.search(clustered(1, 65)[0], [party], k=1).partial
    assert session_key(querier) in party._sessions
    assert not party._pending_setups


def test_a_confirmed_setup_under_another_channel_key_leaves_the_victims_session_alone(backend: str) -> None:
    """Review of finding 4: sessions were keyed by CKKS fingerprint alone, so anyone with a channel of their
    own could confirm a setup carrying the victim's public context (it travels in the clear) with other
    parameters; the victim's next search then silently returned inner products instead of cosines."""
    transport = Recorder()
    victim = Querier(dim=DIM, backend=backend, executor=transport)
    unit = clustered(80, 70)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    party = Party("shared", unit * np.random.default_rng(1).uniform(0.05, 1.0, (80, 1)))  # norms differ
    query = clustered(1, 71)[0]
    before = victim.search(query, [party], k=5)
    assert not before.partial
    recorded = unpack(recorded_setup(transport))
    same_chain = FragParameters(dim=DIM, metric="ip", max_norm=1.0)  # the victim's CKKS chain, another metric
    assert same_chain.ckks() == victim.params.ckks()
    nonce = bytes(range(32))
    forged = pack(
        wire.SETUP,
        {"params": same_chain.to_bytes(), "context": recorded.section("context"), "nonce": nonce},
        recorded.fingerprint,
    )
    attacker = ChannelEnd(None, role="initiator")
    opened = unpack(party.handle_frame(attacker.public_key, forged), kind=wire.CHANNEL_OPEN)
    channel = attacker.open_with(party.channel_public_key, nonce, opened.section("nonce"))
    accepted = unpack(channel.open(opened.section("frame"), hashlib.sha256(forged).digest()))
    assert accepted.kind == wire.SETUP_REPLY  # the party took it: the attack is not refused earlier
    party.handle_frame(attacker.public_key, channel.seal(b"any frame confirms"))  # a session of its own
    assert (attacker.public_key, recorded.fingerprint) in party._sessions
    after = victim.search(query, [party], k=5)
    assert not after.partial, after.failures
    np.testing.assert_allclose([hit.score for hit in after.hits], [hit.score for hit in before.hits], atol=1e-3)


def test_a_clear_setup_with_a_long_integer_gets_an_answer_not_an_exception() -> None:
    """Finding 3: a 5000-digit integer in an unauthenticated setup made handle_frame raise ValueError."""
    querier = Querier(dim=DIM)
    envelope = unpack(querier.public_setup())
    sections = dict(envelope.sections)
    sections["params"] = sections["params"].replace(b'"dim":16', b'"dim":' + b"1" * 5000)
    setup = pack(envelope.kind, sections, envelope.fingerprint)
    party = Party("sturdy", clustered(30, 66))
    sender = ChannelKey.generate().public_bytes
    assert unpack(party.handle_frame(sender, setup)).kind == wire.CHANNEL_OPEN  # a sealed frag/error inside
    with pytest.raises(SecureComputeError, match="digits"):
        wire.raise_if_error(unpack(party.handle(setup)), "sturdy")


class Refusing(Party):
    """A malicious party that answers every setup with a forged configuration refusal (ParameterError)."""

    def _accept_setup(self, envelope: Any) -> Any:  # its sealed frag/error reply names ParameterError
        raise ParameterError("your configuration is wrong (it is not)")


def test_one_party_claiming_a_configuration_error_costs_the_others_nothing(backend: str) -> None:
    """Review: a party's ParameterError refusal at setup was re-raised by search, so one malicious party
    that claimed one lost every honest party's hits.  Raised now only when no party accepts the setup."""
    honest, liar = Party("honest", clustered(60, 72)), Refusing("liar", clustered(60, 73))
    querier = Querier(dim=DIM, backend=backend)
    result = querier.search(clustered(1, 74)[0], [honest, liar], k=4)
    assert result.partial
    assert "ParameterError" in result.failures["liar"]
    assert {hit.party for hit in result.hits} == {"honest"}
    assert len(result.hits) == 4
    with pytest.raises(ParameterError, match="it is not"):  # nobody accepted: the caller must hear it
        Querier(dim=DIM, backend=backend).search(clustered(1, 74)[0], [Refusing("only", clustered(60, 73))], k=1)


class Lying(Party):
    """A malicious party whose scores replies carry ``seconds`` as the given JSON number text."""

    def __init__(self, *args: Any, seconds: bytes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = seconds

    def _answer(self, message: bytes, owner: bytes) -> bytes:  # what handle and handle_frame both call
        reply = super()._answer(message, owner)
        envelope = unpack(reply)
        if envelope.kind != wire.SCORES:
            return reply
        meta = json.loads(envelope.section("meta"))
        meta["seconds"] = 0.25
        text = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode().replace(b"0.25", self.seconds)
        return pack(envelope.kind, {**envelope.sections, "meta": text}, envelope.fingerprint)


@pytest.mark.parametrize("seconds", [b"9" * 5000, b"1e999"])
def test_one_lying_party_costs_the_others_nothing(seconds: bytes, backend: str) -> None:
    """Findings 3 and 5: a 5000-digit ``seconds`` crashed the whole search (honest hits lost); ``1e999``
    landed in SearchStats as inf.  Now the liar is a recorded failure and the honest party's hits stand."""
    honest = Party("honest", clustered(60, 67))
    liar = Lying("liar", clustered(60, 68), seconds=seconds)
    result = Querier(dim=DIM, backend=backend).search(clustered(1, 69)[0], [honest, liar], k=4)
    assert result.partial
    assert "CorruptPayloadError" in result.failures["liar"]
    assert {hit.party for hit in result.hits} == {"honest"}
    assert len(result.hits) == 4
    assert all(np.isfinite(stats.seconds) for stats in result.stats.per_party.values())


def test_any_exception_while_processing_one_party_becomes_its_recorded_failure(
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    """A reply that escapes every parser (here: a bug simulated in the querier's reading) is one failure."""
    querier = Querier(dim=DIM, backend=backend)
    original = querier._read_scores

    def broken(party: Party, *args: Any) -> Any:
        if party.name == "odd":
            raise ZeroDivisionError("simulated bug")
        return original(party, *args)

    monkeypatch.setattr(querier, "_read_scores", broken)
    result = querier.search(
        clustered(1, 70)[0], [Party("fine", clustered(50, 71)), Party("odd", clustered(50, 72))], k=3
    )
    assert result.partial
    assert "ZeroDivisionError" in result.failures["odd"]
    assert len(result.hits) == 3


@pytest.fixture(scope="module")
def federated(backend: str) -> tuple[Querier, Party, bytes, bytes]:
    """A connected querier on ``backend`` and a party, a setup, and a scores reply (bytes fixed once for Hypothesis)."""
    querier = Querier(dim=DIM, authenticated=False, backend=backend)
    party = Party("fuzzed", clustered(40, 73), nlist=4, seed=0)
    setup = querier.public_setup()
    party.handle(setup)
    ciphertexts, _ = querier.encrypt_query(clustered(1, 74)[0])
    meta = json.dumps({"mode": "scan", "query_id": "00" * 16}).encode()
    query = pack(wire.QUERY, {"meta": meta, **wire.ciphertext_sections(ciphertexts)}, querier.fingerprint)
    scores = party.handle(query)
    assert engines_of(querier, party) == {backend}
    return querier, party, setup, scores


@FUZZ
@given(data=st.data())
def test_party_answers_every_hostile_message_with_an_envelope(
    federated: tuple[Querier, Party, bytes, bytes], data: st.DataObject
) -> None:
    querier, party, setup, _ = federated
    probe = pack(wire.PROBE, {"meta": b'{"lists":[0],"query_id":"' + b"11" * 16 + b'"}'}, querier.fingerprint)
    fetch = pack(
        wire.FETCH,
        {"meta": b'{"query_id":"' + b"22" * 16 + b'"}', "handles": bytes([5, 1]) + bytes(7) + b"\x01" + bytes(8)},
        querier.fingerprint,
    )
    message = data.draw(st.one_of(hostile_bytes(probe), hostile_bytes(fetch), hostile_bytes(setup, ("params",))))
    assert unpack(party.handle(message)).kind in (wire.ERROR, wire.SCORES, wire.PAYLOADS, wire.SETUP_REPLY)


KNOWN_SENDER = ChannelKey.generate().public_bytes


@FUZZ
@given(data=st.data())
def test_party_answers_every_hostile_channel_frame_with_an_envelope(
    federated: tuple[Querier, Party, bytes, bytes], data: st.DataObject
) -> None:
    """The channel entry point too: hostile clear-text setups and frames, from known and unknown senders."""
    _, party, setup, _ = federated
    sender = data.draw(st.sampled_from([KNOWN_SENDER, ChannelKey.generate().public_bytes]))
    frame = data.draw(st.one_of(hostile_bytes(setup, ("params", "context", "nonce")), st.binary(max_size=200)))
    reply = unpack(party.handle_frame(sender, frame))
    assert reply.kind in (wire.ERROR, wire.CHANNEL_OPEN)
    assert sum(len(waiting) for waiting in party._pending_setups.values()) <= 2 * party_module.MAX_PENDING_SENDERS


@FUZZ
@given(data=st.data())
def test_scores_parser_raises_only_package_errors(
    federated: tuple[Querier, Party, bytes, bytes], data: st.DataObject
) -> None:
    querier, _, _, scores = federated
    reply = data.draw(hostile_bytes(scores))
    with contextlib.suppress(SecureComputeError):
        wire.parse_scores(reply, querier.fingerprint, querier.context.slots, querier.params.max_score_noise)


@pytest.fixture(scope="module")
def outsourced(backend: str) -> tuple[OutsourcedOwner, bytes, StorageHost]:
    """An owner on ``backend``, its upload (20 vectors, d = 16) and the host holding it."""
    owner = OutsourcedOwner(clustered(20, 75), backend=backend)
    upload = owner.upload()
    host = StorageHost(upload)
    assert engines_of(owner, host) == {backend}
    return owner, upload, host


def test_outsourced_mode_refuses_hostile_uploads_and_queries_by_name(
    outsourced: tuple[OutsourcedOwner, bytes, StorageHost],
) -> None:
    """What the review could not reach: the outsourced host parses an upload and queries from outside."""
    owner, upload, host = outsourced
    envelope = unpack(upload)
    for meta in (b'{"columns":1' + b"0" * 5000 + b',"counts":[20]}', b'{"columns":1e999,"counts":[20]}', b"[" * 10000):
        with pytest.raises(SecureComputeError):
            StorageHost(pack(envelope.kind, {**envelope.sections, "meta": meta}, envelope.fingerprint))
    hits = owner.read(host.handle(owner.query(clustered(1, 76)[0])), k=3)  # the host still serves the owner
    assert len(hits) == 3


@settings(derandomize=True, max_examples=12, deadline=None)
@given(data=st.data())
def test_outsourced_host_raises_only_package_errors(
    outsourced: tuple[OutsourcedOwner, bytes, StorageHost], data: st.DataObject
) -> None:
    owner, upload, host = outsourced
    with contextlib.suppress(SecureComputeError):
        StorageHost(data.draw(hostile_bytes(upload)))
    query = pack("frag/outsourced-query", {"meta": b'{"query_id":"' + b"33" * 16 + b'"}'}, owner.fingerprint)
    with contextlib.suppress(SecureComputeError):
        host.handle(data.draw(hostile_bytes(query)))
