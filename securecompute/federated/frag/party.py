"""A FRAG data party: plaintext vectors that never leave it, answering encrypted queries as bytes.

A party holds a public context per querier (the public key only, never a secret key:
one that carries a secret key is refused).  It scores the column-packed query against batches of its
own vectors: ``sum_j Enc(q_j) * X[:, j]`` is one ciphertext of ``slots`` scores per batch, depth 1, no
rotations, with the batch columns encoded once at setup.  With an IVF index it first scores the
query against its centroids, then scans the lists the querier probes.  Results carry random
per-query handles instead of row numbers; the querier fetches payloads by handle.

Every request and reply is an envelope (:mod:`.messages`); :meth:`Party.handle` turns any refusal
(a ``SecureComputeError``) into a ``frag/error`` reply instead of raising, as a remote party would.

Resources are bounded: at most :data:`MAX_SESSIONS` querier keys (least recently used evicted),
:data:`PENDING_QUERIES` queries waiting for a probe and :data:`HANDLE_MEMORY` queries' handles per
session, stored as two numpy arrays (12 bytes per scored row), and :data:`MAX_CHANNELS` channels.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from securecompute.channel import SecureChannel
from securecompute.encoding import MAGIC, Envelope, encode_array, encode_json, pack, unpack
from securecompute.errors import (
    CorruptPayloadError,
    KeyMismatchError,
    ParameterError,
    ProtocolError,
    SecureComputeError,
    TamperedMessageError,
)
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag.channels import ChannelEnd, check_nonce, fresh_nonce
from securecompute.federated.frag.index import IVFIndex, StoreLayout, check_vectors, score_columns
from securecompute.federated.frag.params import FragParameters
from securecompute.fhe.backend import CKKSEngine
from securecompute.progress import progress

__all__ = ["Party"]

logger = logging.getLogger(__name__)

PENDING_QUERIES = 8
"""Queries per session whose ciphertexts a party keeps between the centroid round and the probe round."""
HANDLE_MEMORY = 16
"""Recent queries per session whose handles can still be fetched; older handles expire."""
MAX_SESSIONS = 8
"""Querier keys a party keeps a session for (each holds the store encoded once: ~157 MB for 100k x 50)."""
MAX_STORES = 4
"""Prepared stores (one per metric and norm bound) a party keeps."""
MAX_CHANNELS = 64
"""Querier channel keys a party keeps a channel for."""
MAX_PENDING_SETUPS = 2
"""Unconfirmed setups a party keeps per sender key (a newer one pushes out the oldest)."""
MAX_PENDING_SENDERS = 64
"""Sender keys a party keeps unconfirmed setups for (least recently seen evicted)."""


@dataclass
class _Store:
    """The party's vectors prepared for one metric: score columns, IVF index, batches."""

    columns: np.ndarray
    index: IVFIndex | None
    centroid_columns: np.ndarray | None
    layout: StoreLayout


@dataclass
class _PendingSetup:
    """A clear-text setup answered but not yet confirmed: its channel, and what to install on confirmation."""

    channel: SecureChannel
    install: tuple[FragParameters, Any] | None
    """(params, public context) of an accepted setup; None when it was refused (its channel still opens).

    Not the prepared store: pending setups are unauthenticated and up to 128, and each could pin an (n, d)
    copy of the vectors for parameters of its own; the store is looked up (or rebuilt) at confirmation."""


@dataclass
class _Session:
    """Everything a party keeps for one querier key."""

    params: FragParameters
    engine: CKKSEngine[Any, Any]
    store: _Store
    batches: list[list[Any]]
    centroid_chunks: list[tuple[int, list[Any]]]
    pending: OrderedDict[bytes, list[Any]] = field(default_factory=OrderedDict)
    handles: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = field(default_factory=OrderedDict)
    """Per query id: its handles sorted (uint64) and the row of each (int64), 16 bytes per scored row."""


class Party:
    """One vector store in a FRAG federation.

    Args:
        name: how queriers and results name this party (1-64 printable characters).
        vectors: (n, d) real, finite; n >= 1.
        nlist: IVF lists (k-means on this party's vectors), or None for full scans only.
        seed: seed of k-means (None: fresh randomness).
        payloads: n strings or bytes returned by fetch; None returns the vectors themselves.
        query_budget: queries each querier key may make (None: unlimited).
        score_noise: standard deviation of Gaussian noise added homomorphically to every returned
            candidate score (0: none); a DP-style trade of recall for what the querier learns.
        rerandomize: add a fresh public-key Enc(0) to every returned ciphertext, so that it is no
            longer a deterministic function of the query ciphertexts and this party's rows (whoever
            holds the query ciphertexts but not the secret key cannot test a guess of the rows by
            recomputing the product).  It gives NO circuit privacy towards the querier: the added
            noise is no larger than the product's, which still depends on the rows; see
            protocols/frag.md, section 6.
        channel_key: 32-byte X25519 private key of this party's authenticated channel (None: fresh);
            queriers pin :attr:`channel_public_key`.

    Raises:
        ShapeError: empty store or not 2-D.  ParameterError: NaN/inf, bad nlist, payload count.
    """

    def __init__(
        self,
        name: str,
        vectors: np.ndarray,
        *,
        nlist: int | None = None,
        seed: int | None = None,
        payloads: Sequence[str | bytes] | None = None,
        query_budget: int | None = None,
        score_noise: float = 0.0,
        rerandomize: bool = False,
        channel_key: bytes | None = None,
    ) -> None:
        if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable():
            raise ParameterError(f"party name must be 1-64 printable characters, got {name!r}")
        self.name = name
        self.vectors = check_vectors(vectors, name)
        self.size, self.dim = (int(extent) for extent in self.vectors.shape)
        if nlist is not None and (isinstance(nlist, bool) or not isinstance(nlist, int) or not 1 <= nlist <= self.size):
            raise ParameterError(f"{name}: nlist must be None or an int in 1..{self.size}, got {nlist!r}")
        if payloads is not None and len(payloads) != self.size:
            raise ParameterError(f"{name}: {len(payloads)} payloads for {self.size} vectors")
        if query_budget is not None and (
            isinstance(query_budget, bool) or not isinstance(query_budget, int) or query_budget < 0
        ):
            raise ParameterError(f"{name}: query_budget must be None or an int >= 0, got {query_budget!r}")
        if isinstance(score_noise, bool) or not isinstance(score_noise, (int, float)) or not 0 <= score_noise < 1e3:
            raise ParameterError(f"{name}: score_noise must be a number in [0, 1000), got {score_noise!r}")
        self.nlist, self.seed, self.query_budget = nlist, seed, query_budget
        self.score_noise, self.rerandomize = float(score_noise), bool(rerandomize)
        self._payloads = None if payloads is None else [_as_bytes(item) for item in payloads]
        self._stores: OrderedDict[tuple[bytes, int], _Store] = OrderedDict()
        # keyed by (sender channel key, querier fingerprint): a querier's CKKS context is public (its setup
        # travels in the clear), so a session must belong to the channel that confirmed it, or anyone with a
        # channel of their own could replace another querier's session with other parameters
        self._sessions: OrderedDict[tuple[bytes, bytes], _Session] = OrderedDict()
        self._queries_served: dict[bytes, int] = {}
        self._channel = ChannelEnd(channel_key, role="responder")
        self._channels: OrderedDict[bytes, SecureChannel] = OrderedDict()
        self._pending_setups: OrderedDict[bytes, OrderedDict[bytes, _PendingSetup]] = OrderedDict()

    @property
    def channel_public_key(self) -> bytes:
        """The 32-byte public key a querier pins to authenticate this party."""
        return self._channel.public_key

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, to rebuild this party elsewhere (a Ray actor).

        They include the vectors, the payloads and the channel PRIVATE key: whoever receives them is
        this party.  Only the party's own operator should build from them (the Ray executor is a
        single-trust-domain simulation; ``protocols/frag.md`` section 5).
        """
        payloads = None if self._payloads is None else list(self._payloads)
        return {
            "name": self.name,
            "vectors": self.vectors,
            "nlist": self.nlist,
            "seed": self.seed,
            "payloads": payloads,
            "query_budget": self.query_budget,
            "score_noise": self.score_noise,
            "rerandomize": self.rerandomize,
            "channel_key": self._channel.private_bytes,
        }

    def queries_served(self, fingerprint: bytes) -> int:
        """Queries answered so far for the querier key with this fingerprint."""
        return self._queries_served.get(fingerprint, 0)

    def handle_frame(self, sender: bytes, frame: bytes) -> bytes:
        """Answer one message from the querier whose channel public key is ``sender``, over the channel.

        A ``frag/setup`` envelope travels in the clear and proposes a new channel: this party draws a
        fresh nonce, derives fresh keys from both static keys and both nonces, and answers with a
        ``frag/channel-open`` (its nonce, and the setup reply sealed under the new keys with the
        setup's SHA-256 as associated data).  The setup stays PENDING: anyone can replay a recorded
        setup or send one under another querier's public key, so it replaces no live channel and no
        session until the sender proves it holds the private key of ``sender`` by sending a frame that
        opens under the new keys (the querier's first request).  At most :data:`MAX_PENDING_SETUPS`
        setups wait per sender, for at most :data:`MAX_PENDING_SENDERS` senders.  Every other message
        must be the next frame of the live channel or the first frame of a pending one.  A frame that
        fails authentication gets an UNSEALED ``frag/error`` reply, which the querier cannot open
        either: it records a TamperedMessageError.
        """
        try:
            if not isinstance(sender, bytes) or len(sender) != 32:  # a dict key below: a list would raise TypeError
                raise ParameterError(f"sender must be a 32-byte channel public key, got {type(sender).__name__}")
            if not isinstance(frame, bytes):
                raise CorruptPayloadError(f"a frame must be bytes, got {type(frame).__name__}")
            if frame[: len(MAGIC)] == MAGIC:
                return self._open_channel(sender, frame)
            channel, message = self._receive(sender, frame)
        except SecureComputeError as error:
            logger.info("party %s refused a channel frame: %s", self.name, error)
            return wire.error_message(error)
        return channel.seal(self._answer(message, sender))

    def _open_channel(self, sender: bytes, setup: bytes) -> bytes:
        envelope = unpack(setup)
        if envelope.kind != wire.SETUP:
            raise TamperedMessageError(f"only frag/setup travels outside the channel, not {envelope.kind!r}")
        querier_nonce = check_nonce(envelope.section("nonce"), "querier")
        party_nonce = fresh_nonce()  # fresh keys at every setup, even under the same static keys
        channel = self._channel.open_with(sender, querier_nonce, party_nonce)
        try:
            params, context, store = self._accept_setup(envelope)
            pending = _PendingSetup(channel, (params, context))
            reply = _setup_reply(self, context.fingerprint, store)
        except SecureComputeError as error:
            logger.info("party %s refused a setup: %s", self.name, error)
            pending, reply = _PendingSetup(channel, None), wire.error_message(error)
        waiting = self._pending_setups.pop(sender, OrderedDict())
        waiting[party_nonce] = pending
        while len(waiting) > MAX_PENDING_SETUPS:
            waiting.popitem(last=False)
        self._pending_setups[sender] = waiting
        while len(self._pending_setups) > MAX_PENDING_SENDERS:
            self._pending_setups.popitem(last=False)
        sealed = channel.seal(reply, hashlib.sha256(setup).digest())
        return pack(wire.CHANNEL_OPEN, {"nonce": party_nonce, "frame": sealed})

    def _receive(self, sender: bytes, frame: bytes) -> tuple[SecureChannel, bytes]:
        """Open ``frame`` under ``sender``'s live channel, or confirm the pending setup whose keys open it.

        Only the holder of ``sender``'s private key can seal a frame under a pending setup's keys, so the
        first frame that opens under them confirms that setup: its channel becomes the live one (the
        sender's other pending setups are dropped) and its session is installed.
        """
        live = self._channels.get(sender)
        waiting = self._pending_setups.get(sender)
        if live is None and not waiting:
            raise TamperedMessageError("no channel with this querier key: send frag/setup first")
        refusals: list[TamperedMessageError] = []
        if live is not None:
            try:
                message = live.open(frame)
            except TamperedMessageError as error:
                refusals.append(error)
            else:
                self._channels.move_to_end(sender)
                return live, message
        for pending in (waiting or {}).values():
            try:
                message = pending.channel.open(frame)
            except TamperedMessageError as error:
                refusals.append(error)
                continue
            del self._pending_setups[sender]
            self._channels.pop(sender, None)
            self._channels[sender] = pending.channel
            while len(self._channels) > MAX_CHANNELS:
                self._channels.popitem(last=False)
            if pending.install is not None:
                params, context = pending.install
                self._install_session(sender, params, context, self._store(params, context.backend.slots))
            return pending.channel, message
        raise refusals[0]  # the live channel's reason when there is one (e.g. a replayed sequence number)

    def handle(self, message: bytes) -> bytes:
        """Answer one request envelope with one reply envelope; refusals become ``frag/error`` replies.

        Without a channel there is no sender to tell queriers apart: every plain request shares one
        owner, so this in-process mode trusts whoever calls it (``protocols/frag.md`` section 5).
        """
        return self._answer(message, b"")

    def _answer(self, message: bytes, owner: bytes) -> bytes:
        """:meth:`handle` for the sessions of ``owner`` (the sender's channel public key, b"" without a channel)."""
        try:
            envelope = unpack(message)
            if envelope.kind == wire.SETUP:
                return self._setup(envelope, owner)
            session = self._session(envelope, owner)
            if envelope.kind == wire.QUERY:
                return self._query(envelope, session)
            if envelope.kind == wire.PROBE:
                return self._probe(envelope, session)
            if envelope.kind == wire.FETCH:
                return self._fetch(envelope, session)
            raise CorruptPayloadError(f"a party does not answer messages of kind {envelope.kind!r}")
        except SecureComputeError as error:
            logger.info("party %s refused a request: %s", self.name, error)
            return wire.error_message(error)

    # --- setup -------------------------------------------------------------------------------
    def _setup(self, envelope: Envelope, owner: bytes) -> bytes:
        params, context, store = self._accept_setup(envelope)
        self._install_session(owner, params, context, store)
        return _setup_reply(self, context.fingerprint, store)

    def _accept_setup(self, envelope: Envelope) -> tuple[FragParameters, Any, _Store]:
        """Check a setup and prepare (or reuse) the store; installs nothing."""
        params = wire_params(envelope)
        check_nonce(envelope.section("nonce"), "querier")
        if set(envelope.sections) != {"params", "context", "nonce"}:
            raise CorruptPayloadError(f"frag/setup carries sections {sorted(envelope.sections)}")
        context = wire.load_public_context(envelope.section("context"), envelope.fingerprint)
        if context.params != params.ckks():
            raise ProtocolError(f"context parameters {context.params} are not the FRAG chain for {params}")
        if self.dim != params.dim:
            raise ParameterError(
                f"party {self.name!r} stores d={self.dim} vectors; the querier searches d={params.dim}"
            )
        if self.score_noise > params.max_score_noise:
            raise ParameterError(
                f"party {self.name!r}: score_noise {self.score_noise:g} exceeds {params.max_score_noise:.4g}, the "
                f"most this chain holds for score bound {params.score_bound:g} without wrapping"
            )
        engine = context.backend
        if not engine.encrypts:  # a crafted context of a simulation engine would carry the query in the clear
            raise ProtocolError(f"the querier's context runs the {engine.name!r} engine, which does not encrypt")
        return params, context, self._store(params, engine.slots)

    def _install_session(self, owner: bytes, params: FragParameters, context: Any, store: _Store) -> None:
        """Encode the store for ``owner``'s querier key and keep the session (an identical live one is kept as is)."""
        key = (owner, context.fingerprint)
        current = self._sessions.get(key)
        if current is not None and current.params == params and current.store is store:
            self._sessions.move_to_end(key)
            return
        engine = context.backend
        level = engine.params.depth
        batches = [
            [engine.encode(store.columns[batch.rows, column], level) for column in range(params.columns)]
            for batch in progress(store.layout.batches, desc=f"{self.name}: encoding store", unit="batch")
        ]
        centroid_chunks: list[tuple[int, list[Any]]] = []
        if store.centroid_columns is not None:
            slots = engine.slots
            for start in range(0, len(store.centroid_columns), slots):
                chunk = store.centroid_columns[start : start + slots]
                encoded = [engine.encode(chunk[:, column], level) for column in range(params.columns)]
                centroid_chunks.append((len(chunk), encoded))
        self._sessions.pop(key, None)
        self._sessions[key] = _Session(params, engine, store, batches, centroid_chunks)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)  # least recently used querier key

    def _store(self, params: FragParameters, slots: int) -> _Store:
        key = (params.to_bytes(), slots)
        if key in self._stores:
            self._stores.move_to_end(key)
        else:
            columns = score_columns(self.vectors, params)
            index = centroid_columns = None
            if self.nlist is not None:
                spherical = params.metric == "cosine"
                basis = columns if spherical else self.vectors
                index = IVFIndex.build(basis, self.nlist, self.seed, spherical)
                centroid_columns = score_columns(index.centroids, params)
                layout = StoreLayout(index.assignment, index.nlist, slots)
            else:
                layout = StoreLayout(np.zeros(self.size, dtype=np.int64), 1, slots)
            self._stores[key] = _Store(columns, index, centroid_columns, layout)
            while len(self._stores) > MAX_STORES:
                self._stores.popitem(last=False)
        return self._stores[key]

    def _session(self, envelope: Envelope, owner: bytes) -> _Session:
        session = self._sessions.get((owner, envelope.fingerprint))
        if session is None:
            raise KeyMismatchError(
                f"party {self.name!r} has no session for querier key {envelope.fingerprint.hex()[:16]}...; "
                "ciphertexts from another querier's context are refused (send frag/setup first)"
            )
        self._sessions.move_to_end((owner, envelope.fingerprint))
        return session

    # --- queries -----------------------------------------------------------------------------
    def _query(self, envelope: Envelope, session: _Session) -> bytes:
        started = time.perf_counter()
        meta = wire.read_meta(envelope, {"query_id": str, "mode": str})
        query_id = wire.read_query_id(meta)
        if meta["mode"] not in ("scan", "centroids"):
            raise CorruptPayloadError(f"query mode {meta['mode']!r}; accepted: scan, centroids")
        ciphertexts = self._load_query(envelope, session)
        self._spend_budget(envelope.fingerprint)
        if meta["mode"] == "scan":
            return self._scan(session, envelope.fingerprint, query_id, ciphertexts, None, started)
        if session.store.index is None:
            raise ProtocolError(f"party {self.name!r} has no IVF index; ask for a full scan")
        session.pending[query_id] = ciphertexts
        while len(session.pending) > PENDING_QUERIES:
            session.pending.popitem(last=False)
        engine = session.engine
        outputs = [
            self._finish(engine, engine.dot_plain(ciphertexts, encoded), 0) for _, encoded in session.centroid_chunks
        ]
        counts = [count for count, _ in session.centroid_chunks]
        data = [engine.ciphertext_to_bytes(ciphertext) for ciphertext in outputs]
        empty = np.zeros(0, dtype=np.uint64)
        seconds = time.perf_counter() - started
        return wire.scores_message(envelope.fingerprint, query_id, "centroids", counts, empty, data, seconds)

    def _probe(self, envelope: Envelope, session: _Session) -> bytes:
        started = time.perf_counter()
        meta = wire.read_meta(envelope, {"query_id": str, "lists": list})
        query_id = wire.read_query_id(meta)
        nlist = session.store.layout.nlist
        lists = wire.read_int_list(meta["lists"], "probed lists", nlist)
        if not lists or len(set(lists)) != len(lists):
            raise CorruptPayloadError(f"probed lists must be distinct and non-empty, got {lists[:16]}")
        ciphertexts = session.pending.pop(query_id, None)
        if ciphertexts is None:
            raise ProtocolError("probe for a query this party has not scored centroids for (or already probed)")
        return self._scan(session, envelope.fingerprint, query_id, ciphertexts, lists, started)

    def _scan(
        self,
        session: _Session,
        fingerprint: bytes,
        query_id: bytes,
        ciphertexts: list[Any],
        lists: list[int] | None,
        started: float,
    ) -> bytes:
        engine, layout = session.engine, session.store.layout
        numbers = layout.batches_for(lists)
        rows = [layout.batches[b].rows for b in numbers]
        counts = [len(batch_rows) for batch_rows in rows]
        outputs = [
            engine.ciphertext_to_bytes(self._finish(engine, engine.dot_plain(ciphertexts, session.batches[b]), count))
            for b, count in zip(numbers, counts, strict=True)
        ]
        handles = _fresh_handles(sum(counts))
        all_rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
        order = np.argsort(handles)
        session.handles[query_id] = (handles[order], all_rows[order])
        while len(session.handles) > HANDLE_MEMORY:
            session.handles.popitem(last=False)
        seconds = time.perf_counter() - started
        return wire.scores_message(
            fingerprint, query_id, "candidates", counts, handles, outputs, seconds, self.score_noise
        )

    def _finish(self, engine: CKKSEngine[Any, Any], scores: Any, noisy_slots: int) -> Any:
        """Add score noise to the first ``noisy_slots`` slots and a fresh Enc(0), as configured."""
        if self.score_noise and noisy_slots:
            noise = np.random.default_rng(secrets.randbits(128)).normal(0.0, self.score_noise, size=noisy_slots)
            scores = engine.add_plain(scores, noise)
        if self.rerandomize:
            scores = engine.add(scores, engine.zeros(engine.level(scores)))
        return scores

    def _load_query(self, envelope: Envelope, session: _Session) -> list[Any]:
        engine = session.engine
        ciphertexts = [
            engine.ciphertext_from_bytes(data) for data in wire.read_ciphertexts(envelope, session.params.columns)
        ]
        if any(engine.level(ciphertext) != engine.params.depth for ciphertext in ciphertexts):
            raise CorruptPayloadError("query ciphertexts must be fresh (top level)")
        return ciphertexts

    def _spend_budget(self, fingerprint: bytes) -> None:
        served = self._queries_served.get(fingerprint, 0)
        if self.query_budget is not None and served >= self.query_budget:
            raise ProtocolError(
                f"party {self.name!r}: query budget of {self.query_budget} for this querier key is spent"
            )
        self._queries_served[fingerprint] = served + 1

    # --- payloads ----------------------------------------------------------------------------
    def _fetch(self, envelope: Envelope, session: _Session) -> bytes:
        meta = wire.read_meta(envelope, {"query_id": str})
        query_id = wire.read_query_id(meta)
        table = session.handles.get(query_id)
        if table is None:
            raise ProtocolError("fetch for an unknown or expired query")
        issued, issued_rows = table
        handles = wire.read_handles(envelope)
        if not 1 <= len(handles) <= wire.MAX_FETCH or len(np.unique(handles)) != len(handles):
            raise CorruptPayloadError(f"a fetch names 1..{wire.MAX_FETCH} distinct handles, got {len(handles)}")
        places = np.minimum(np.searchsorted(issued, handles), max(len(issued) - 1, 0))
        known = (issued[places] == handles) if len(issued) else np.zeros(len(handles), dtype=bool)
        if not known.all():
            raise ProtocolError(f"{int((~known).sum())} handle(s) were not issued for this query")
        rows = [int(row) for row in issued_rows[places]]
        if self._payloads is None:
            items = [encode_array(self.vectors[row]) for row in rows]
            kind = "vector"
        else:
            items = [self._payloads[row] for row in rows]
            kind = "bytes"
        sections = {"meta": encode_json({"query_id": query_id.hex(), "count": len(items), "kind": kind})}
        sections.update({f"item{number}": item for number, item in enumerate(items)})
        return pack(wire.PAYLOADS, sections, envelope.fingerprint)

    def __repr__(self) -> str:
        index = f"nlist={self.nlist}" if self.nlist is not None else "full scan"
        return f"Party({self.name!r}, n={self.size}, d={self.dim}, {index})"


def _setup_reply(party: Party, fingerprint: bytes, store: _Store) -> bytes:
    """The ``frag/setup-reply``: the party's name, size and number of IVF lists (0 without an index)."""
    meta = {"name": party.name, "size": party.size, "nlist": store.layout.nlist if store.index is not None else 0}
    return pack(wire.SETUP_REPLY, {"meta": encode_json(meta)}, fingerprint)


def wire_params(envelope: Envelope) -> FragParameters:
    """The FragParameters section of a setup envelope."""
    return FragParameters.from_bytes(envelope.section("params"))


def _fresh_handles(count: int) -> np.ndarray:
    """(count,) distinct uint64 handles from the operating system's randomness."""
    while True:
        handles = np.frombuffer(secrets.token_bytes(8 * count), dtype=np.uint64).copy()
        if len(np.unique(handles)) == count:
            return handles


def _as_bytes(item: str | bytes) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    raise ParameterError(f"payloads must be str or bytes, got {type(item).__name__}")
