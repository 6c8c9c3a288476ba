"""The FRAG querier: the only secret key, the encrypted query, and the global top-k.

Protocol (``protocols/frag.md``): the querier makes one CKKS key that it never shares and sends each
party a public context.  A query q (d,) goes out column-packed: ciphertext j holds q_j in every slot
(plus a ciphertext of 1 under L2).  Each party gets its OWN encryption of the query and its own
random query id, so that colluding parties cannot link a query by its ciphertexts or id.  Each party
answers with encrypted scores under random handles, either for its whole store or, with IVF, first
for its centroids and then for the lists the querier probes.  The querier decrypts, checks the row
counts, merges the best k over all parties and fetches payloads by handle (optionally padded with
dummy rows, :meth:`Querier.fetch`).

Query encryption draws on a pool of fresh Enc(0) ciphertexts made offline (:meth:`Querier.fill_pool`)
when it holds enough, and falls back to public-key encryption (a fresh Enc(0) plus the constant)
otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from securecompute.channel import SecureChannel
from securecompute.encoding import encode_array, encode_json, pack, unpack
from securecompute.errors import (
    CorruptPayloadError,
    KeyMismatchError,
    ParameterError,
    SecureComputeError,
    ShapeError,
    TamperedMessageError,
)
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag.channels import ChannelEnd, check_nonce, fresh_nonce
from securecompute.federated.frag.index import check_query
from securecompute.federated.frag.params import FragParameters, Metric, secret_context
from securecompute.federated.frag.party import PENDING_QUERIES, Party
from securecompute.federated.frag.pool import ZeroPool
from securecompute.federated.frag.result import (
    Hit,
    LeakageReport,
    PartyLeakage,
    PartyStats,
    SearchResult,
    SearchStats,
)
from securecompute.federated.frag.transport import Transport, make_transport
from securecompute.fhe.context import CKKSContext

logger = logging.getLogger(__name__)

__all__ = ["Querier"]

SCORE_SLACK = 1e-3
"""Absolute tolerance above the score bound before decrypted scores count as garbage (CKKS error is ~1e-5)."""
BATCH = PENDING_QUERIES
"""Queries per exchange in :meth:`Querier.search_batch` and :meth:`Querier.fetch_batch` (8): a party keeps
that many queries pending between the IVF rounds (``party.PENDING_QUERIES``) and 16 queries' handles."""
SETUP_REFUSALS = (ParameterError, ShapeError)
"""A party's setup refusals that are the caller's configuration error (wrong d, norms, noise): raised, not partial."""


@dataclass(frozen=True)
class _Link:
    """What the querier knows about a party after setup."""

    size: int
    nlist: int


@dataclass
class _Round:
    """Per-party bookkeeping of one query."""

    query_id: bytes = b""
    bytes_up: int = 0
    bytes_down: int = 0
    cts_up: int = 0
    cts_down: int = 0
    seconds: float = 0.0
    real: int = 0
    dummy: int = 0
    noise: float = 0.0
    mode: str = "full scan"


@dataclass
class _Job:
    """One query of a batch: its vector, per-party rounds, failures and candidates, querier-side seconds."""

    vector: np.ndarray
    rounds: dict[str, _Round]
    failures: dict[str, str]
    candidates: list[tuple[str, np.ndarray, np.ndarray]]
    seconds: float = 0.0
    encrypt_seconds: float = 0.0
    encryptions: set[str] = field(default_factory=set)


class Querier:
    """Holds one CKKS secret key and searches parties with encrypted queries.

    Args:
        dim: d, the vector length.
        metric: "cosine" (default), "ip" or "l2".
        max_norm: largest norm of queries and stored vectors under "ip"/"l2" (1.0 for cosine).
        executor: "local" (parties in this process), "ray" (one Ray actor per party: a simulation
            inside one trust domain, see :mod:`.transport`), or a Transport.
        authenticated: carry every message in an authenticated channel (X25519 + AES-GCM, fresh keys
            at every setup) to the party's pinned ``channel_public_key`` (default); False sends bare
            envelopes, whose digest catches corruption but not a deliberate substitution.
        backend: the CKKS engine of the querier's keys ("seal", default, or "cross"; any encrypting
            engine of :mod:`securecompute.fhe.engines`); parties follow the engine named in the setup.

    Keys, query ids, handles and dummy probe lists always come from the operating system's randomness.

    Raises:
        ParameterError: invalid dim, metric, max_norm, executor or backend (unknown, or not encrypting).
    """

    def __init__(
        self,
        dim: int,
        *,
        metric: Metric = "cosine",
        max_norm: float = 1.0,
        executor: str | Transport = "local",
        authenticated: bool = True,
        backend: str = "seal",
    ) -> None:
        self.params = FragParameters(dim, metric, max_norm)
        self._context = secret_context(self.params.ckks(), backend)  # parties refuse a simulation's setup too
        self._engine = self._context.holder
        self.fingerprint: bytes = self._context.fingerprint
        self.pool = ZeroPool(self._engine)
        self._executor = executor
        self._transport: Transport | None = None
        self._links: dict[int, tuple[Party, _Link]] = {}
        self._stale: set[int] = set()
        self._channel = ChannelEnd(None, role="initiator") if authenticated else None
        self._channels: dict[int, SecureChannel] = {}

    @property
    def context(self) -> CKKSContext:
        """The CKKS context holding this querier's secret key (``.holder``: the engine); never give it away."""
        return self._context

    @property
    def channel_public_key(self) -> bytes | None:
        """The 32-byte static channel public key parties see as ``sender`` (None when not authenticated)."""
        return None if self._channel is None else self._channel.public_key

    # --- setup ---------------------------------------------------------------------------------
    def public_setup(self, nonce: bytes | None = None) -> bytes:
        """A ``frag/setup`` envelope: parameters, the public context and a fresh channel nonce (or ``nonce``)."""
        sections = {
            "params": self.params.to_bytes(),
            "context": self._context.public().serialize_without_relin_keys(),  # no ct x ct: no relin keys
            "nonce": check_nonce(fresh_nonce() if nonce is None else nonce, "querier"),
        }
        return pack(wire.SETUP, sections, self.fingerprint)

    def fill_pool(self, count: int) -> None:
        """Make ``count`` fresh Enc(0) ciphertexts offline; a query uses ``columns`` of them per party."""
        self.pool.fill(count)

    def encrypt_query(self, query: np.ndarray) -> tuple[list[bytes], str]:
        """One party's column-packed encryption of ``query``: serialised ciphertexts and "pooled" or "fresh".

        Raises:
            ShapeError / ParameterError: a bad query (see :meth:`search`).
        """
        return self._encrypt(check_query(query, self.params))

    def encryption_timing(self, count: int = 50, rounds: int = 5) -> dict[str, float]:
        """Median seconds over ``rounds`` to encrypt ``count`` query values, four ways, and the speedups.

        ``fresh_full_encode``: public-key encryption of a full slot vector (an FFT encode);
        ``fresh_scalar``: a fresh public-key Enc(0) plus the value as a constant (what :meth:`search`
        does without a pool); ``pooled``: a pooled Enc(0) plus the constant; ``*_serialised``: the
        same plus serialisation, i.e. what a query costs end to end.  The pool fill is timed apart.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ParameterError(f"count must be an int >= 1, got {count!r}")
        engine, level = self._engine, self._engine.params.depth
        values = [float(value) for value in np.linspace(-0.5, 0.5, count)]
        ways: dict[str, Any] = {
            "fresh_full_encode": lambda v: engine.encrypt(np.full(engine.slots, v)),
            "fresh_scalar": lambda v: engine.add_scalar(engine.zeros(level), v),
            "pooled": self.pool.encrypt_constant,
            "fresh_scalar_serialised": lambda v: engine.ciphertext_to_bytes(engine.add_scalar(engine.zeros(level), v)),
            "pooled_serialised": lambda v: engine.ciphertext_to_bytes(self.pool.encrypt_constant(v)),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        fills = []
        for _ in range(rounds):
            started = time.perf_counter()
            self.pool.fill(2 * count, desc="Enc(0) pool (timing)")
            fills.append(time.perf_counter() - started)
            for name, way in ways.items():
                started = time.perf_counter()
                for value in values:
                    way(value)
                times[name].append(time.perf_counter() - started)
        out = {f"{name}_seconds": statistics.median(spent) for name, spent in times.items()}
        out["pool_fill_seconds"] = statistics.median(fills) / 2
        out["count"] = float(count)
        out["speedup_vs_full_encode"] = out["fresh_full_encode_seconds"] / out["pooled_seconds"]
        out["speedup_vs_scalar"] = out["fresh_scalar_seconds"] / out["pooled_seconds"]
        out["speedup_serialised"] = out["fresh_scalar_serialised_seconds"] / out["pooled_serialised_seconds"]
        return out

    def close(self) -> None:
        """Release the transport (Ray actors) and forget every setup and channel.

        The next search sets the parties up again, under fresh channel keys.
        """
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._links.clear()
        self._channels.clear()
        self._stale.clear()

    def _transport_now(self) -> Transport:
        if self._transport is None:
            self._transport = make_transport(self._executor)
        return self._transport

    def connect(self, parties: Sequence[Party]) -> dict[str, str]:
        """Set up parties not set up yet (search does it on first use; call it to time searches alone).

        Returns:
            party name -> reason, for parties that crashed, timed out or answered with a bad reply;
            a search flags them in its result (partial) and tries their setup again next time.

        Raises:
            ParameterError / ShapeError: a party's refusal of the configuration (wrong dimension,
                norms above max_norm, score noise the chain cannot hold), naming it, when no party took
                the setup; otherwise such a refusal is returned like any other failure (any party can
                claim one, so one party must not cost the others their answer).
        """
        return self._connect(self._check_parties(parties))

    def _connect(self, parties: Sequence[Party]) -> dict[str, str]:
        fresh = [
            party
            for party in parties
            if id(party) in self._stale or self._links.get(id(party), (None,))[0] is not party
        ]
        if not fresh:
            return {}
        requests = [(party, self.public_setup()) for party in fresh]
        for party in fresh:
            self._links.pop(id(party), None)
            self._channels.pop(id(party), None)
            self._stale.discard(id(party))
        transport = self._transport_now()
        if self._channel is None:
            replies = transport.exchange(requests)
        else:
            replies = transport.exchange(requests, sender=self._channel.public_key)
        failures: dict[str, str] = {}
        refusals: list[SecureComputeError] = []
        for (party, setup), reply in zip(requests, replies, strict=True):
            try:
                envelope = unpack(self._open_setup_reply(party, setup, reply), kind=(wire.SETUP_REPLY, wire.ERROR))
                wire.raise_if_error(envelope, party.name)
                if envelope.fingerprint != self.fingerprint:
                    raise CorruptPayloadError(f"party {party.name!r} answered the setup under another key")
                meta = wire.read_meta(envelope, {"name": str, "size": int, "nlist": int})
                if meta["name"] != party.name or meta["size"] < 1 or meta["nlist"] < 0:
                    raise CorruptPayloadError(f"party {party.name!r} sent an inconsistent setup reply {meta}")
            except Exception as error:  # one party's bad reply must not cost the others their answer
                error = _as_failure(error)
                if isinstance(error, SETUP_REFUSALS):
                    refusals.append(error)
                failures[party.name] = f"setup: {type(error).__name__}: {error}"
                self._channels.pop(id(party), None)
                continue
            self._links[id(party)] = (party, _Link(meta["size"], meta["nlist"]))
        # A configuration refusal is the caller's to hear, but only when no party took the setup: any party can
        # claim one, and a lying party must not cost the honest ones their answer (it is a failure then).
        if refusals and not any(self._links.get(id(party), (None,))[0] is party for party in parties):
            raise refusals[0]
        return failures

    def _open_setup_reply(self, party: Party, setup: bytes, reply: bytes | Exception) -> bytes:
        """The setup reply envelope, after opening the party's ``frag/channel-open`` when authenticated."""
        if isinstance(reply, SecureComputeError):
            raise reply
        if isinstance(reply, Exception):
            raise wire.PartyFailedError(f"party {party.name!r} failed during setup: {type(reply).__name__}: {reply}")
        if not isinstance(reply, bytes):
            raise CorruptPayloadError(f"party {party.name!r} answered with {type(reply).__name__}, not bytes")
        if self._channel is None:
            return reply
        envelope = unpack(reply, kind=(wire.CHANNEL_OPEN, wire.ERROR))
        if envelope.kind == wire.ERROR:  # unsealed: it cannot be told apart from a forgery
            raise TamperedMessageError(f"party {party.name!r} answered the setup with an unauthenticated error")
        if set(envelope.sections) != {"nonce", "frame"}:
            raise CorruptPayloadError(f"party {party.name!r} sent a malformed frag/channel-open")
        party_nonce = check_nonce(envelope.section("nonce"), "party")
        querier_nonce = unpack(setup).section("nonce")
        channel = self._channel.open_with(party.channel_public_key, querier_nonce, party_nonce)
        inner = channel.open(envelope.section("frame"), hashlib.sha256(setup).digest())
        self._channels[id(party)] = channel
        return inner

    # --- search --------------------------------------------------------------------------------
    def search(
        self,
        query: np.ndarray,
        parties: Sequence[Party],
        k: int = 10,
        nprobe: int | None = None,
        *,
        pad_probes: int = 0,
    ) -> SearchResult:
        """The k nearest stored vectors to ``query`` over all ``parties``.

        A party that crashes, times out or sends a bad reply (at setup or during the query) is named
        in ``result.failures`` and ``result.partial`` is True; the others still answer.  A party whose
        channel may be out of step (a timeout, a tampered frame) is set up again, under fresh channel
        keys, by the next search.

        Args:
            query: (d,) real, finite (unit-normalised here under cosine; norm <= max_norm otherwise).
            parties: distinct-named parties.
            k: hits wanted, 1..total store size.
            nprobe: IVF lists to scan per party with an index (None: full scan everywhere).
            pad_probes: random dummy lists added to each party's probes to hide the real ones.

        Raises:
            ShapeError / ParameterError: bad query, k, nprobe, pad_probes or parties, or k above the
                parties' total size; a party's refusal of the configuration at setup when no party took
                the setup (else that party is a recorded failure, like any other).
        """
        vector = check_query(query, self.params)
        return self._search_checked(
            [vector], self._check_search(parties, k, nprobe, pad_probes), k, nprobe, pad_probes
        )[0]

    def _check_search(self, parties: Sequence[Party], k: object, nprobe: object, pad_probes: object) -> list[Party]:
        """The checked parties; ParameterError for a bad party list, k, nprobe or pad_probes."""
        listed = self._check_parties(parties)
        _check_count(k, "k", 1)
        if nprobe is not None:
            _check_count(nprobe, "nprobe", 1)
        _check_count(pad_probes, "pad_probes", 0)
        return listed

    def _search_checked(
        self, vectors: list[np.ndarray], parties: list[Party], k: int, nprobe: int | None, pad: int
    ) -> list[SearchResult]:
        """Set up who needs it, check k against the parties' sizes, search every checked vector."""
        failures = self._connect(parties)
        total = sum(self._links[id(party)][1].size for party in parties if id(party) in self._links)
        if k > total and not failures:
            raise ParameterError(f"k={k} is larger than the {total} vectors the parties hold together")
        return self._search(vectors, parties, k, nprobe, pad, failures)

    def search_batch(
        self,
        queries: np.ndarray,
        parties: Sequence[Party],
        k: int = 10,
        nprobe: int | None = None,
        *,
        pad_probes: int = 0,
    ) -> list[SearchResult]:
        """:meth:`search` for each row of (m, d) ``queries``, each with fresh ciphertexts and handles.

        The queries go out in batches of :data:`BATCH`: every party gets the first-round requests of
        a batch's queries in one exchange (and, under IVF, their probes in one more), in channel
        order, so a batch costs the round trips of one search (one message per party and exchange
        on a transport that groups a party's requests, as ``FlowerTransport`` does).  Each query has
        its own ciphertexts, query id, handles, result, failures and statistics, and a complete
        result has the hits :meth:`search` would find (scores equal up to CKKS noise).  What differs from m :meth:`search` calls is when a
        failed party is tried again: setup (and the retry of a failed or out-of-step party) happens
        once per batch, so a party that times out, or whose reply fails authentication, usually
        fails every later query of the same batch too (its channel is out of step until the next
        batch sets it up again), where m searches would set it up again before the next query.

        Args:
            queries: (m, d) real, finite, m >= 1; each row as ``query`` of :meth:`search`.
            parties, k, nprobe, pad_probes: as for :meth:`search`, for every query.

        Returns:
            m results, in the rows' order.

        Raises:
            ShapeError: ``queries`` is not (m, d) with m >= 1; the other errors of :meth:`search`,
                raised before any query is sent for a bad row or argument.
        """
        matrix = np.asarray(queries)
        if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] != self.params.dim:
            raise ShapeError(f"queries must be (m, {self.params.dim}) with m >= 1, got shape {matrix.shape}")
        vectors = [check_query(row, self.params) for row in matrix]
        listed = self._check_search(parties, k, nprobe, pad_probes)
        results: list[SearchResult] = []
        for start in range(0, len(vectors), BATCH):
            results += self._search_checked(vectors[start : start + BATCH], listed, k, nprobe, pad_probes)
        return results

    def fetch(
        self, result: SearchResult, parties: Sequence[Party], *, pad_to: int | None = None
    ) -> list[bytes | np.ndarray]:
        """The payload of each hit of ``result`` (bytes, or the vector (d,) when the party has no payloads).

        A fetch tells each party which of its rows are in the top-k, which locates q about as well
        as the answer itself.  With ``pad_to=m`` every party that scored rows gets a request for
        exactly m rows (fewer only if it scored fewer): its hits plus dummies drawn uniformly, with
        OS randomness, from the other rows it scored, in sorted handle order; the dummies' payloads
        are discarded.  The leakage report records what each party saw (``fetched``).  A party keeps a
        query's handles for its last 16 queries from this key (``party.HANDLE_MEMORY``): fetch before.

        Raises:
            ParameterError: a hit's party is not among ``parties``; ``pad_to`` below a party's hit count.
            SecureComputeError: a party's refusal (expired query, unknown handle) or a bad reply.
        """
        return self.fetch_batch([result], parties, pad_to=pad_to)[0]

    def fetch_batch(
        self, results: Sequence[SearchResult], parties: Sequence[Party], *, pad_to: int | None = None
    ) -> list[list[bytes | np.ndarray]]:
        """:meth:`fetch` for each of ``results``, in one exchange: each party gets every result's fetch at once.

        Args:
            results: 1 to :data:`BATCH` search results of this querier (a party keeps the handles of
                its last 16 queries only: fetch before).
            parties, pad_to: as for :meth:`fetch`, for every result.

        Returns:
            per result, in order, its hits' payloads as :meth:`fetch` returns them.

        Raises:
            ParameterError: no results or more than :data:`BATCH`; the errors of :meth:`fetch`, checked
                for every result before anything is sent.
            SecureComputeError: as :meth:`fetch`, for the first bad reply of any result; then no
                result's payloads are returned (m :meth:`fetch` calls would return those before it).
        """
        if not 1 <= len(results) <= BATCH:
            raise ParameterError(f"fetch_batch takes 1 to {BATCH} results, got {len(results)}")
        by_name = {party.name: party for party in parties}
        plans = [self._fetch_plan(result, by_name, pad_to) for result in results]
        requests = []
        owners = []
        for number, (result, (_, asked)) in enumerate(zip(results, plans, strict=True)):
            for name, handles in asked.items():
                if not handles:
                    continue
                meta = encode_json({"query_id": result.query_ids[name].hex()})
                array = encode_array(np.asarray(handles, dtype=np.uint64))
                requests.append((by_name[name], pack(wire.FETCH, {"meta": meta, "handles": array}, self.fingerprint)))
                owners.append(number)
        replies = self._exchange(requests)
        payloads: list[dict[tuple[str, int], bytes | np.ndarray]] = [{} for _ in results]
        for (party, _), reply, number in zip(requests, replies, owners, strict=True):
            result, (wanted, asked) = results[number], plans[number]
            handles = asked[party.name]
            try:
                items = self._read_payloads(party.name, reply, result.query_ids[party.name], len(handles))
            except Exception as error:  # a reply that escaped the parsers is still named as this party's
                raise _as_failure(error) from None
            payloads[number].update(zip(((party.name, handle) for handle in handles), items, strict=True))
            entry = result.leakage.parties[party.name]
            hits = len(wanted.get(party.name, []))
            result.leakage.parties[party.name] = replace(
                entry,
                fetched=entry.fetched + len(handles),
                fetched_real=entry.fetched_real + hits,
                fetch_padded=pad_to is not None and (entry.fetch_padded or not entry.fetched),
            )
        return [
            [found[(hit.party, hit.handle)] for hit in result.hits]
            for result, found in zip(results, payloads, strict=True)
        ]

    def _fetch_plan(
        self, result: SearchResult, by_name: dict[str, Party], pad_to: int | None
    ) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """(hits' handles per party, handles to ask per party: the hits plus ``pad_to`` dummies, sorted)."""
        wanted: dict[str, list[int]] = {}
        for hit in result.hits:
            if hit.party not in by_name:
                raise ParameterError(f"hit from party {hit.party!r}, which is not among the parties given")
            wanted.setdefault(hit.party, []).append(hit.handle)
        asked = {name: sorted(handles) for name, handles in wanted.items()}
        if pad_to is not None:
            _check_count(pad_to, "pad_to", 1)
            if any(len(handles) > pad_to for handles in wanted.values()):
                raise ParameterError(f"pad_to={pad_to} is below the hits of some party; use pad_to >= k")
            chooser = secrets.SystemRandom()
            for name, scored in result.candidates.items():
                if name not in by_name:
                    raise ParameterError(f"party {name!r} scored rows but is not among the parties given")
                real = set(wanted.get(name, []))
                others = [int(handle) for handle in scored.tolist() if int(handle) not in real]
                dummies = chooser.sample(others, min(pad_to - len(real), len(others)))
                asked[name] = sorted(real | set(dummies))
        return wanted, asked

    # --- internals -----------------------------------------------------------------------------
    def _search(
        self,
        vectors: list[np.ndarray],
        parties: list[Party],
        k: int,
        nprobe: int | None,
        pad: int,
        failures: dict[str, str],
    ) -> list[SearchResult]:
        """Search every vector: one exchange for all first rounds, one for all IVF probes, then each result."""
        jobs = [_Job(vector, {party.name: _Round() for party in parties}, dict(failures), []) for vector in vectors]
        requests: list[tuple[Party, bytes]] = []
        owners: list[_Job] = []
        for job in jobs:
            clock = time.perf_counter()
            for party in parties:
                if party.name in job.failures:
                    continue
                state = job.rounds[party.name]
                state.query_id = secrets.token_bytes(wire.QUERY_ID_BYTES)  # one per party: not linkable by id
                started = time.perf_counter()
                ciphertexts, encryption = self._encrypt(job.vector)  # one per party: not linkable by ciphertext
                job.encrypt_seconds += time.perf_counter() - started
                job.encryptions.add(encryption)
                ivf = nprobe is not None and self._links[id(party)][1].nlist > 0
                state.mode = "ivf" if ivf else "full scan"
                meta = encode_json({"query_id": state.query_id.hex(), "mode": "centroids" if ivf else "scan"})
                sections = {"meta": meta, **wire.ciphertext_sections(ciphertexts)}
                requests.append((party, pack(wire.QUERY, sections, self.fingerprint)))
                owners.append(job)
                state.cts_up += len(ciphertexts)
            job.seconds += time.perf_counter() - clock
        first = True  # the first round answers IVF parties with centroid scores, whose probes make a second
        while requests:
            probes: list[tuple[Party, bytes]] = []
            probe_owners: list[_Job] = []
            for (party, message), reply, job in zip(requests, self._exchange(requests), owners, strict=True):
                started = time.perf_counter()
                state = job.rounds[party.name]
                state.bytes_up += len(message)
                try:
                    if first and state.mode == "ivf":
                        scores = self._read_scores(party, reply, state, "centroids")
                        probes.append((party, self._probe(party, scores, nprobe or 1, pad, state)))
                        probe_owners.append(job)
                    else:
                        scores = self._read_scores(party, reply, state, "candidates")
                        job.candidates.append((party.name, scores.handles, self._decrypt(scores)))
                except Exception as error:  # one party's bad reply must not cost the others their answer
                    self._fail(party, _as_failure(error), job.failures)
                job.seconds += time.perf_counter() - started
            requests, owners, first = probes, probe_owners, False
        return [self._result(job, parties, k) for job in jobs]

    def _result(self, job: _Job, parties: list[Party], k: int) -> SearchResult:
        """One query's result from its candidates: the merged top k, the leakage report, the statistics."""
        started = time.perf_counter()
        hits = self._merge(job.candidates, k, float(job.vector @ job.vector))
        job.seconds += time.perf_counter() - started
        rounds, failures = job.rounds, job.failures
        scored = {name: len(handles) for name, handles, _ in job.candidates}
        leakage = LeakageReport(
            {
                party.name: PartyLeakage(
                    party.name,
                    "failed" if party.name in failures else rounds[party.name].mode,
                    self._links[id(party)][1].nlist if id(party) in self._links else 0,
                    rounds[party.name].real,
                    rounds[party.name].dummy,
                    rounds[party.name].real + rounds[party.name].dummy,
                    scored.get(party.name, 0),
                    rounds[party.name].noise,
                )
                for party in parties
            }
        )
        encryptions = job.encryptions
        stats = SearchStats(
            {
                name: PartyStats(state.bytes_up, state.bytes_down, state.cts_up, state.cts_down, state.seconds)
                for name, state in rounds.items()
            },
            job.seconds,
            job.encrypt_seconds,
            encryptions.pop() if len(encryptions) == 1 else ("mixed" if encryptions else "none"),
        )
        query_ids = {name: state.query_id for name, state in rounds.items() if state.query_id}
        kept = {name: handles for name, handles, _ in job.candidates}
        return SearchResult(hits, leakage, stats, query_ids, k, failures, kept)

    def _fail(self, party: Party, error: SecureComputeError, failures: dict[str, str]) -> None:
        """Record ``party``'s failure; a party that lost this key's session (evicted) is set up again next time."""
        failures[party.name] = f"{type(error).__name__}: {error}"
        if isinstance(error, KeyMismatchError):
            self._stale.add(id(party))

    def _exchange(self, requests: list[tuple[Party, bytes]]) -> list[bytes | Exception]:
        """Send each request to its party and collect the replies, through the channels when authenticated.

        A party whose reply is missing (crash, timeout) or fails authentication may have a channel out
        of step: it is marked for a fresh setup at the next search.
        """
        if not requests:
            return []
        if self._channel is None:
            replies = self._transport_now().exchange(requests)
            return [self._checked_bytes(party, reply) for (party, _), reply in zip(requests, replies, strict=True)]
        sealed = [(party, self._channels[id(party)].seal(message)) for party, message in requests]
        replies = self._transport_now().exchange(sealed, sender=self._channel.public_key)
        opened: list[bytes | Exception] = []
        for (party, _), reply in zip(requests, replies, strict=True):
            checked = self._checked_bytes(party, reply)
            if isinstance(checked, Exception):
                opened.append(checked)
                continue
            try:
                opened.append(self._channels[id(party)].open(checked))
            except TamperedMessageError as error:
                self._stale.add(id(party))
                opened.append(error)
        return opened

    def _checked_bytes(self, party: Party, reply: object) -> bytes | Exception:
        """``reply`` if it is bytes; otherwise the exception standing for it (and the party marked stale)."""
        if isinstance(reply, bytes):
            return reply
        self._stale.add(id(party))
        if isinstance(reply, Exception):
            return reply
        return CorruptPayloadError(f"party {party.name!r} answered with {type(reply).__name__}, not bytes")

    def _encrypt(self, vector: np.ndarray) -> tuple[list[bytes], str]:
        """Column-packed query: one serialised ciphertext per query column, each value in every slot."""
        columns = np.append(vector, 1.0) if self.params.metric == "l2" else vector
        engine = self._engine
        if len(self.pool) >= len(columns):
            ciphertexts = [self.pool.encrypt_constant(float(value)) for value in columns]
            encryption = "pooled"
        else:
            level = engine.params.depth
            ciphertexts = [engine.add_scalar(engine.zeros(level), float(value)) for value in columns]
            encryption = "fresh"
        return [engine.ciphertext_to_bytes(ciphertext) for ciphertext in ciphertexts], encryption

    def _read_scores(self, party: Party, reply: bytes | Exception, state: _Round, expected: str) -> wire.ScoresMessage:
        name = party.name
        if isinstance(reply, SecureComputeError):
            raise reply  # e.g. a reply frame that failed authentication
        if isinstance(reply, Exception):
            raise wire.PartyFailedError(f"{type(reply).__name__}: {reply}")
        state.bytes_down += len(reply)
        wire.raise_if_error(unpack(reply, kind=(wire.SCORES, wire.ERROR)), name)
        scores = wire.parse_scores(reply, self.fingerprint, self._engine.slots, self.params.max_score_noise)
        if scores.query_id != state.query_id:
            raise CorruptPayloadError(f"party {name!r} answered another query")
        if scores.what != expected:
            raise CorruptPayloadError(f"party {name!r} sent {scores.what} scores where {expected} were due")
        link = self._links[id(party)][1]
        rows = sum(scores.counts)
        if expected == "candidates" and state.mode == "full scan" and rows != link.size:
            raise CorruptPayloadError(f"party {name!r} scored {rows} rows in a full scan of its {link.size}")
        if expected == "candidates" and rows > link.size:
            raise CorruptPayloadError(f"party {name!r} scored {rows} rows, more than its {link.size}")
        state.cts_down += len(scores.ciphertexts)
        if scores.what == "candidates":
            state.noise = scores.noise
        state.seconds += scores.seconds
        return scores

    def _decrypt(self, scores: wire.ScoresMessage) -> np.ndarray:
        """(sum(counts),) float64 decrypted scores; garbage (another key, tampering) is refused.

        Besides the score bound (widened by 8 sigma of declared noise), the unused slots after each
        batch's ``count`` must decrypt to zero: the party's multipliers are zero there.
        """
        engine = self._engine
        values = []
        for data, count in zip(scores.ciphertexts, scores.counts, strict=True):
            ciphertext = engine.ciphertext_from_bytes(data)
            if engine.level(ciphertext) != engine.params.depth - 1:
                raise CorruptPayloadError("score ciphertexts must be exactly one product deep")
            slots = engine.decrypt(ciphertext)
            wire.check_score_values(slots[count:], SCORE_SLACK, "unused slots")
            values.append(slots[:count])
        result = np.concatenate(values) if values else np.zeros(0)
        wire.check_score_values(result, self.params.score_bound + SCORE_SLACK + 8.0 * scores.noise, "scores")
        return result

    def _probe(self, party: Party, scores: wire.ScoresMessage, nprobe: int, pad: int, state: _Round) -> bytes:
        """Choose the nearest lists from the centroid scores, add dummies (OS randomness), write the probe."""
        centroid_scores = self._decrypt(scores)
        nlist = self._links[id(party)][1].nlist
        if len(centroid_scores) != nlist:
            raise CorruptPayloadError(f"party {party.name!r} scored {len(centroid_scores)} centroids, not {nlist}")
        order = np.argsort(-centroid_scores if self.params.larger_is_closer else centroid_scores, kind="stable")
        real = [int(value) for value in order[: min(nprobe, nlist)]]
        others = [int(value) for value in order[len(real) :]]
        dummies = secrets.SystemRandom().sample(others, min(pad, len(others)))
        state.real, state.dummy = len(real), len(dummies)
        meta = encode_json({"query_id": state.query_id.hex(), "lists": sorted(real + dummies)})
        return pack(wire.PROBE, {"meta": meta}, self.fingerprint)

    def _merge(self, candidates: list[tuple[str, np.ndarray, np.ndarray]], k: int, query_square: float) -> list[Hit]:
        if not candidates:
            return []
        names = np.concatenate([np.full(len(handles), index) for index, (_, handles, _) in enumerate(candidates)])
        handles = np.concatenate([handles for _, handles, _ in candidates])
        scores = np.concatenate([values for _, _, values in candidates])
        if self.params.metric == "l2":
            scores = scores + query_square
        key = -scores if self.params.larger_is_closer else scores
        best = np.argsort(key, kind="stable")[:k]
        return [Hit(candidates[int(names[i])][0], int(handles[i]), float(scores[i])) for i in best]

    def _read_payloads(self, name: str, reply: bytes | Exception, query_id: bytes, count: int) -> list[Any]:
        from securecompute.encoding import decode_array

        if isinstance(reply, SecureComputeError):
            raise reply
        if isinstance(reply, Exception):
            raise wire.PartyFailedError(f"party {name!r} failed to return payloads: {reply!r}") from reply
        envelope = unpack(reply, kind=(wire.PAYLOADS, wire.ERROR))
        wire.raise_if_error(envelope, name)
        if envelope.fingerprint != self.fingerprint:
            raise CorruptPayloadError(f"party {name!r} returned payloads under another key")
        meta = wire.read_meta(envelope, {"query_id": str, "count": int, "kind": str})
        if wire.read_query_id(meta) != query_id or meta["count"] != count or meta["kind"] not in ("bytes", "vector"):
            raise CorruptPayloadError(f"party {name!r} returned payloads that do not match the request")
        items = [envelope.section(f"item{number}") for number in range(count)]
        if len(envelope.sections) != count + 1:
            raise CorruptPayloadError(f"party {name!r} returned extra sections with its payloads")
        if meta["kind"] == "vector":
            return [decode_array(item, dtype="float64", ndim=1) for item in items]
        return items

    def _check_parties(self, parties: Sequence[Party]) -> list[Party]:
        listed = list(parties)
        if not listed or not all(isinstance(party, Party) for party in listed):
            raise ParameterError("parties must be a non-empty list of Party objects")
        names = [party.name for party in listed]
        if len(set(names)) != len(names):
            raise ParameterError(f"party names must be distinct, got {names}")
        return listed

    def __repr__(self) -> str:
        return (
            f"Querier(d={self.params.dim}, metric={self.params.metric!r}, "
            f"N={self._context.params.poly_modulus_degree}, key={self.fingerprint.hex()[:12]})"
        )


def _as_failure(error: Exception) -> SecureComputeError:
    """``error`` itself if it is a package error, else a CorruptPayloadError naming it (a reply no parser caught)."""
    if isinstance(error, SecureComputeError):
        return error
    # a bare exception may as well be a bug in the querier's own code: keep its traceback for whoever debugs
    logger.warning("a party's reply raised %s; recorded as that party's failure", type(error).__name__, exc_info=error)
    return CorruptPayloadError(f"reply could not be processed: {type(error).__name__}: {str(error)[:200]}")


def _check_count(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an int >= {minimum}, got {value!r}")
