"""Outsourced mode: a data owner keeps its vectors encrypted under its own key on an untrusted host.

The owner (:class:`OutsourcedOwner`) makes a CKKS key, cuts its score columns into batches of ``slots``
rows, and uploads, per batch, one ciphertext per column (``frag/outsourced-store``) together with its
public context (public and relinearisation keys, no secret key).  To search, the owner sends the same
column-packed query as in federated mode (``frag/outsourced-query``); the host
(:class:`StorageHost`) computes ``sum_j Enc(q_j) * Enc(X[:, j])`` per batch, ciphertext by ciphertext
(relinearised and rescaled: depth 1), and returns one ciphertext of scores per batch.  Only the owner
can decrypt.  The host learns the store's size and d, and when queries happen; not the vectors, not the
query, not the scores.

Ciphertext products need a scale of at least 40 bits (the ``seal`` engine's ``multiply`` refuses a larger
rescale drift), so this mode uses N = 8192 with primes (60, 40, 60): 128-bit secure, scores below 2^19.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from securecompute.encoding import decode_json, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError, ProtocolError
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag.index import check_query, check_vectors, score_columns
from securecompute.federated.frag.params import FragParameters, Metric, secret_context
from securecompute.fhe.backend import CKKSEngine
from securecompute.fhe.params import CKKSParameters

__all__ = ["OUTSOURCED_PARAMETERS", "OutsourcedOwner", "StorageHost"]

OUTSOURCED_PARAMETERS = CKKSParameters(8192, (60, 40, 60), 40)
STORE = "frag/outsourced-store"
QUERY = "frag/outsourced-query"
SCORES = "frag/outsourced-scores"
SCORE_SLACK = 1e-3


class OutsourcedOwner:
    """The data owner: its key, its (plaintext) vectors, the upload, the query and the decryption.

    Args:
        vectors: (n, d) real, finite.
        metric: "cosine" (default), "ip" or "l2"; ``max_norm`` bounds norms for ip/l2.
        backend: the CKKS engine of the owner's keys ("seal", default, or "cross"; any encrypting engine
            of :mod:`securecompute.fhe.engines`); the host follows the engine named in the upload.

    Raises:
        ShapeError / ParameterError: bad vectors, norms above max_norm, bad metric, a backend that is
            unknown or does not encrypt.
    """

    def __init__(
        self, vectors: np.ndarray, *, metric: Metric = "cosine", max_norm: float = 1.0, backend: str = "seal"
    ) -> None:
        store = check_vectors(vectors, "outsourced store")
        self.params = FragParameters(store.shape[1], metric, max_norm)
        self._columns = score_columns(store, self.params)
        self._context = secret_context(OUTSOURCED_PARAMETERS, backend)
        self._engine = self._context.holder
        self.fingerprint: bytes = self._context.fingerprint
        self.size = int(store.shape[0])
        self._pending: dict[bytes, float] = {}

    def upload(self) -> bytes:
        """The ``frag/outsourced-store`` envelope: public context, batch sizes, column ciphertexts per batch."""
        engine, slots = self._engine, self._engine.slots
        sections: dict[str, bytes] = {"context": self._context.public().serialize()}
        counts = []
        for batch, start in enumerate(range(0, self.size, slots)):
            block = self._columns[start : start + slots]
            counts.append(len(block))
            for column in range(block.shape[1]):
                sections[f"b{batch}c{column}"] = engine.ciphertext_to_bytes(engine.encrypt(block[:, column]))
        sections["meta"] = encode_json({"counts": counts, "columns": self.params.columns})
        return pack(STORE, sections, self.fingerprint)

    def query(self, query: np.ndarray) -> bytes:
        """The ``frag/outsourced-query`` envelope for (d,) ``query`` (normalised under cosine).

        Raises:
            ShapeError / ParameterError: wrong shape, NaN/inf, zero (cosine) or norm above max_norm.
        """
        vector = check_query(query, self.params)
        columns = np.append(vector, 1.0) if self.params.metric == "l2" else vector
        engine = self._engine
        query_id = secrets.token_bytes(wire.QUERY_ID_BYTES)
        self._pending[query_id] = float(vector @ vector)
        sections = {"meta": encode_json({"query_id": query_id.hex()})}
        sections.update(
            wire.ciphertext_sections(
                [engine.ciphertext_to_bytes(engine.encrypt(np.full(engine.slots, value))) for value in columns]
            )
        )
        return pack(QUERY, sections, self.fingerprint)

    def read(self, reply: bytes, k: int) -> list[tuple[int, float]]:
        """Decrypt the host's reply: the k best (row, score) pairs, best first.

        Raises:
            CorruptPayloadError / KeyMismatchError: a malformed reply, another key, an unknown query.
            ParameterError: k outside 1..n.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.size:
            raise ParameterError(f"k must be an int in 1..{self.size}, got {k!r}")
        envelope = unpack(reply, kind=SCORES, fingerprint=self.fingerprint)
        meta = wire.read_meta(envelope, {"query_id": str})
        query_square = self._pending.pop(wire.read_query_id(meta), None)
        if query_square is None:
            raise ProtocolError("reply to a query this owner did not send (or already read)")
        batches = -(-self.size // self._engine.slots)
        engine = self._engine
        scores = np.concatenate(
            [engine.decrypt(engine.ciphertext_from_bytes(data)) for data in wire.read_ciphertexts(envelope, batches)]
        )[: self.size]
        wire.check_score_values(scores, self.params.score_bound + SCORE_SLACK, "outsourced scores")
        if self.params.metric == "l2":
            scores = scores + query_square
        order = np.argsort(-scores if self.params.larger_is_closer else scores, kind="stable")[:k]
        return [(int(row), float(scores[row])) for row in order]


class StorageHost:
    """The untrusted host: it holds the owner's ciphertexts and public context, and scores queries.

    Raises:
        ProtocolError: the upload carries a secret context.  CorruptPayloadError: malformed upload.
    """

    def __init__(self, upload: bytes) -> None:

        envelope = unpack(upload, kind=STORE)
        context = wire.load_public_context(envelope.section("context"), envelope.fingerprint)
        if context.params != OUTSOURCED_PARAMETERS:
            raise CorruptPayloadError("the upload's context is not the outsourced chain")
        meta = decode_json(envelope.section("meta"), expect=dict)
        counts, columns = meta.get("counts"), meta.get("columns")
        if set(meta) != {"counts", "columns"} or not isinstance(columns, int) or not 1 <= columns <= 4097:
            raise CorruptPayloadError(f"outsourced store metadata {sorted(meta)} is malformed")
        slots = context.params.slots
        counts = wire.read_int_list(counts, "batch sizes", slots + 1)
        expected = {f"b{b}c{c}" for b in range(len(counts)) for c in range(columns)} | {"context", "meta"}
        if set(envelope.sections) != expected or not counts or 0 in counts:
            raise CorruptPayloadError("outsourced store sections do not match its batch sizes and columns")
        self._engine: CKKSEngine[Any, Any] = context.backend
        self.fingerprint = context.fingerprint
        self.size = sum(counts)
        self.columns = columns
        self._batches = [
            [self._engine.ciphertext_from_bytes(envelope.sections[f"b{b}c{c}"]) for c in range(columns)]
            for b in range(len(counts))
        ]

    def handle(self, query: bytes) -> bytes:
        """Score a ``frag/outsourced-query`` against every batch: one score ciphertext per batch.

        Raises:
            KeyMismatchError: a query under another key.  CorruptPayloadError: malformed query.
        """
        envelope = unpack(query, kind=QUERY, fingerprint=self.fingerprint)
        meta = wire.read_meta(envelope, {"query_id": str})
        wire.read_query_id(meta)
        engine = self._engine
        ciphertexts = [engine.ciphertext_from_bytes(data) for data in wire.read_ciphertexts(envelope, self.columns)]
        outputs = []
        for batch in self._batches:
            total = None
            for query_ct, column_ct in zip(ciphertexts, batch, strict=True):
                product = engine.multiply(query_ct, column_ct)
                total = product if total is None else engine.add(total, product)
            outputs.append(engine.ciphertext_to_bytes(total))
        sections = {"meta": envelope.section("meta"), **wire.ciphertext_sections(outputs)}
        return pack(SCORES, sections, self.fingerprint)
