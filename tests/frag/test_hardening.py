"""Fresh channel keys per setup, per-party queries, fetch leakage and padding, row counts, bounded party state."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag import party as party_module
from securecompute.federated.frag.channels import ChannelEnd
from securecompute.federated.frag.transport import LocalTransport
from tests.frag.conftest import DIM, clustered


class Recorder(LocalTransport):
    """In-process delivery that keeps every request and reply, and can fail one party on demand."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes, bytes | Exception]] = []
        self.fail: dict[str, str] = {}  # party name -> "crash" (setup included) or "timeout" (answers, reply lost)

    def exchange(self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None) -> list[bytes | Exception]:
        replies = super().exchange(requests, sender)
        out: list[bytes | Exception] = []
        for (party, message), reply in zip(requests, replies, strict=True):
            mode = self.fail.get(party.name)
            if mode == "crash":
                reply = RuntimeError("party process died")
            elif mode == "timeout":
                reply = TimeoutError(f"party {party.name!r} did not answer in time")  # it did the work
            self.log.append((party.name, message, reply))
            out.append(reply)
        return out


def test_a_restarted_party_with_a_fixed_key_gets_fresh_channel_keys(backend: str) -> None:
    key = secrets.token_bytes(32)
    store = clustered(120, 31)
    transport = Recorder()
    querier = Querier(dim=DIM, backend=backend, executor=transport)
    query = clustered(1, 32)[0]
    for _ in range(2):  # the same party restarted: same name, store and channel key, a new object
        assert not querier.search(query, [Party("fixed", store, channel_key=key)], k=3).partial
    setups = [reply for _, message, reply in transport.log if message[:4] == b"SCPK"]
    assert len(setups) == 2
    first, second = (unpack(reply) for reply in setups if isinstance(reply, bytes))
    assert first.kind == second.kind == wire.CHANNEL_OPEN
    assert first.section("nonce") != second.section("nonce")
    # The party's sealed setup reply is the same plaintext (same name, size, key) at sequence number 0 in both
    # sessions; under one key and nonce it would be the same bytes.  Fresh keys make it differ.
    assert first.section("frame")[:9] == second.section("frame")[:9]  # same header: version 1, sequence 0
    assert first.section("frame")[9:] != second.section("frame")[9:]
    # And the querier's first query frames (sequence 0 both times) never share a keystream: their XOR is not
    # the XOR of two envelopes that start with the same magic and kind.
    queries = [message for _, message, _ in transport.log if message[:4] != b"SCPK"]
    head = min(len(queries[0]), len(queries[-1]))
    xor = bytes(a ^ b for a, b in zip(queries[0][9:head], queries[-1][9:head], strict=True))
    assert xor[:16] != bytes(16)  # both plaintexts start with b"SCPK", version and b"frag/query"


def test_channel_keys_depend_on_both_nonces() -> None:
    querier_end, party_end = ChannelEnd(None, "initiator"), ChannelEnd(bytes(range(32)), "responder")
    nonces = [secrets.token_bytes(32) for _ in range(3)]
    sealed = {
        party_end.open_with(querier_end.public_key, nonces[0], nonce).seal(b"same plaintext")
        for nonce in (nonces[1], nonces[2])
    }
    sealed.add(party_end.open_with(querier_end.public_key, nonces[2], nonces[1]).seal(b"same plaintext"))
    assert len(sealed) == 3
    channel = querier_end.open_with(party_end.public_key, nonces[0], nonces[1])
    assert channel.open(party_end.open_with(querier_end.public_key, nonces[0], nonces[1]).seal(b"x")) == b"x"


def test_each_party_gets_its_own_query_id_and_its_own_encryption(backend: str) -> None:
    transport = Recorder()
    parties = [Party("u", clustered(100, 33)), Party("v", clustered(100, 34))]
    querier = Querier(dim=DIM, backend=backend, executor=transport, authenticated=False)
    querier.fill_pool(2 * DIM)  # exactly one query's worth for each party
    result = querier.search(clustered(1, 35)[0], parties, k=4)
    assert result.stats.encryption == "pooled"
    assert len(querier.pool) == 0
    assert result.query_ids["u"] != result.query_ids["v"]
    sent = {name: unpack(message) for name, message, _ in transport.log if unpack(message).kind == wire.QUERY}
    assert sent["u"].section("meta") != sent["v"].section("meta")
    assert not {sent["u"].section(f"ct{j}") for j in range(DIM)} & {sent["v"].section(f"ct{j}") for j in range(DIM)}


def test_fetch_leakage_is_reported_and_padding_hides_the_hits(
    parties: list[Party], queries: np.ndarray, backend: str
) -> None:
    querier = Querier(dim=DIM, backend=backend)
    result = querier.search(queries[0], parties, k=4)
    before = result.leakage.parties["a"]
    assert before.fetched == 0
    assert "pad_to=k" in before.to_party()
    plain = querier.fetch(result, parties)
    by_party = {name: sum(hit.party == name for hit in result.hits) for name in "abc"}
    for name, count in by_party.items():
        entry = result.leakage.parties[name]
        assert (entry.fetched, entry.fetched_real) == (count, count)
        if count:
            assert "top-k (no padding)" in entry.to_party()
    padded_result = querier.search(queries[0], parties, k=4)
    padded = querier.fetch(padded_result, parties, pad_to=4)
    assert [type(item) for item in padded] == [type(item) for item in plain]
    assert sorted(map(bytes, padded)) == sorted(map(bytes, plain))  # same rows (payloads), dummies discarded
    for name in "abc":  # every party saw exactly 4 fetched rows, whatever its share of the hits
        entry = padded_result.leakage.parties[name]
        assert entry.fetched == 4
        assert entry.fetched_real == by_party[name]
    assert padded_result.leakage.rows_fetched == 12
    for entry in padded_result.leakage.parties.values():
        assert entry.fetch_padded
        assert "fetch (padded)" in entry.to_party()
        assert "not told apart" in entry.to_party()
    with pytest.raises(ParameterError, match="pad_to"):
        querier.fetch(padded_result, parties, pad_to=max(by_party.values()) - 1 or -1)


class ShortParty(Party):
    """Drops the last score batch of every full scan (and its handles): a silently smaller answer."""

    def _answer(self, message: bytes, owner: bytes) -> bytes:  # what handle and handle_frame both call
        reply = super()._answer(message, owner)
        envelope = unpack(reply)
        if envelope.kind != wire.SCORES:
            return reply
        scores = wire.parse_scores(reply, envelope.fingerprint, 2048, 1e3)
        keep = sum(scores.counts[:-1])
        return wire.scores_message(
            envelope.fingerprint,
            scores.query_id,
            scores.what,
            scores.counts[:-1],
            scores.handles[:keep],
            scores.ciphertexts[:-1],
            scores.seconds,
        )


def test_a_full_scan_that_skips_rows_is_flagged_not_silently_smaller(backend: str) -> None:
    honest = Party("honest", clustered(200, 36))
    short = ShortParty("short", clustered(2500, 37))  # two batches; it returns one
    result = Querier(dim=DIM, backend=backend).search(clustered(1, 38)[0], [honest, short], k=5)
    assert result.partial
    assert "scored 2048 rows in a full scan of its 2500" in result.failures["short"]
    assert {hit.party for hit in result.hits} == {"honest"}


def test_ivf_with_too_few_candidates_is_flagged_incomplete(backend: str) -> None:
    party = Party("lists", clustered(5000, 39), nlist=4, seed=0)
    querier = Querier(dim=DIM, backend=backend)
    result = querier.search(clustered(1, 40)[0], [party], k=4000, nprobe=1)
    assert not result.partial
    assert result.incomplete
    assert len(result.hits) == result.leakage.scores_revealed_to_querier < 4000
    assert not querier.search(clustered(1, 40)[0], [party], k=10, nprobe=1).incomplete


def test_setup_crashes_and_timeouts_give_partial_results_and_reconnect(backend: str) -> None:
    parties = [Party("up", clustered(150, 41)), Party("down", clustered(150, 42))]
    transport = Recorder()
    querier = Querier(dim=DIM, backend=backend, executor=transport)
    transport.fail["down"] = "crash"
    result = querier.search(clustered(1, 43)[0], parties, k=3)  # the crash happens at setup
    assert result.partial
    assert result.failures["down"].startswith("setup: PartyFailedError")
    assert result.leakage.parties["down"].mode == "failed"
    assert len(result.hits) == 3
    transport.fail["down"] = "timeout"  # setup again; this time the reply of the party is lost
    assert querier.search(clustered(1, 43)[0], parties, k=3).partial
    transport.fail.clear()
    assert querier.connect(parties) == {}  # it was set up again under fresh channel keys
    assert not querier.search(clustered(1, 43)[0], parties, k=3).partial
    transport.fail["down"] = "timeout"  # a query-time timeout leaves the channel out of step ...
    assert querier.search(clustered(1, 43)[0], parties, k=3).partial
    transport.fail.clear()
    assert not querier.search(clustered(1, 43)[0], parties, k=3).partial  # ... and the next search re-keys it


def session_key(querier: Querier) -> tuple[bytes, bytes]:
    """The key of ``querier``'s session at a party: its channel public key (b"" without one) and fingerprint."""
    return (querier.channel_public_key or b"", querier.fingerprint)


def test_party_state_is_bounded(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setattr(party_module, "MAX_SESSIONS", 2)
    monkeypatch.setattr(party_module, "HANDLE_MEMORY", 4)  # the same expiry as at 16, in fewer searches
    party = Party("bounded", clustered(60, 44))
    queriers = [Querier(dim=DIM, backend=backend) for _ in range(3)]
    query = clustered(1, 45)[0]
    for querier in queriers:
        querier.connect([party])
        assert session_key(querier) not in party._sessions  # pending until its first frame
        assert not querier.search(query, [party], k=1).partial
    assert len(party._sessions) == 2  # the least recently used key (the first) was evicted
    evicted = queriers[0].search(query, [party], k=1)
    assert evicted.partial
    assert "KeyMismatchError" in evicted.failures["bounded"]
    assert not queriers[0].search(query, [party], k=1).partial  # set up again by itself
    queriers[1].search(query, [party], k=1)  # queriers[0] had evicted it; this sets it up again
    first = queriers[1].search(query, [party], k=1)
    assert not first.partial
    for _ in range(party_module.HANDLE_MEMORY):
        queriers[1].search(query, [party], k=1)
    with pytest.raises(Exception, match="unknown or expired"):
        queriers[1].fetch(first, [party])
    handles, rows = party._sessions[session_key(queriers[1])].handles.popitem()[1]
    assert (handles.dtype, rows.dtype) == (np.uint64, np.int64)  # compact: 16 bytes per scored row
    assert (handles[1:] >= handles[:-1]).all()  # sorted, for a binary search at fetch


def test_score_noise_is_capped_by_the_chain_and_declared_noise_too(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    limit = querier.params.max_score_noise
    assert 1.0 + 8 * limit <= querier.params.headroom / 2
    with pytest.raises(ParameterError, match="exceeds"):
        querier.search(np.ones(DIM), [Party("loud", clustered(30, 46), score_noise=limit * 1.01)], k=1)
    reply = Party("quiet", clustered(30, 46)).handle(querier.public_setup())
    assert unpack(reply).kind == wire.SETUP_REPLY
    fake = wire.scores_message(querier.fingerprint, bytes(16), "candidates", [1], np.ones(1), [b"x"], 0.0, limit * 2)
    with pytest.raises(CorruptPayloadError, match="declared score noise"):
        wire.parse_scores(fake, querier.fingerprint, 2048, limit)


def disguised_secret(querier: Querier) -> tuple[bytes, str]:
    """The querier's secret key words in bytes that start as its engine's public context, and the refusal due.

    ``seal``: the secret kit (b"SCSK", version, params, the TenSEAL context WITH the secret key) relabelled
    with the public kit's magic b"SCEK".  ``cross``: the public context followed by the secret key words
    (what a b"SCXS" secret context holds after its public part); the strict parser stops at the public part.
    """
    holder = querier.context.holder
    secret = holder.secret_bytes()
    if querier.context.engine_name == "seal":
        return b"SCEK" + secret[4:], "secret key"
    public = holder.public_bytes()
    return public + secret[secret.index(public) + len(public) :], "trailing bytes"


def test_a_public_envelope_hiding_a_secret_key_is_refused_at_setup(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    keys, refusal = disguised_secret(querier)
    naming = {"engine": backend.encode(), "params": querier.params.ckks().to_bytes()}
    disguised = pack("fhe/public-context", {**naming, "keys": keys}, querier.fingerprint)
    sections = {"params": querier.params.to_bytes(), "context": disguised, "nonce": bytes(32)}
    reply = unpack(Party("careful", clustered(30, 47)).handle(pack(wire.SETUP, sections, querier.fingerprint)))
    with pytest.raises(CorruptPayloadError, match=refusal):
        wire.raise_if_error(reply, "careful")


def test_the_setup_carries_no_relinearisation_keys(backend: str) -> None:
    from securecompute.errors import MissingKeyError

    querier = Querier(dim=DIM, backend=backend)
    party = Party("plain", clustered(30, 48))
    querier.search(clustered(1, 48)[0], [party], k=1)  # the session exists once the first frame confirms the setup
    kit = party._sessions[session_key(querier)].engine
    ciphertext = kit.ciphertext_from_bytes(querier.encrypt_query(np.ones(DIM))[0][0])
    with pytest.raises(MissingKeyError, match="relinearisation"):
        kit.multiply(ciphertext, ciphertext)
    with_relin = len(querier._context.public().serialize())
    assert len(unpack(querier.public_setup()).section("context")) < with_relin / 2
