"""What a FRAG search returns: hits, what each participant learned, and what it cost."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from securecompute.errors import ParameterError, ShapeError

__all__ = [
    "Hit",
    "HitArrays",
    "LeakageReport",
    "PartyLeakage",
    "PartyStats",
    "SearchResult",
    "SearchStats",
    "as_arrays",
]


class Hit(NamedTuple):
    """One neighbour: the party holding it, its opaque per-query handle, and its score.

    ``score`` is the cosine similarity or inner product (larger is closer), or the squared L2
    distance (smaller is closer), decrypted by the querier (CKKS error about 1e-5 for unit vectors).
    """

    party: str
    handle: int
    score: float


@dataclass(frozen=True)
class PartyLeakage:
    """What one party saw of one query, and what the querier learned about that party's store.

    Attributes:
        mode: "full scan", "ivf" or "failed".
        nlist: the party's IVF lists (0 without an index).
        real_lists: lists the querier chose from the centroid scores (nprobe, capped at nlist).
        dummy_lists: random lists added to hide the real ones (padded probes).
        probed_lists: real + dummy: what the party sees, in sorted order.
        candidates_scored: vectors whose scores the querier decrypted.
        score_noise: standard deviation of the noise the party added to those scores (0: exact).
        fetched: rows of this party the querier fetched payloads for (0 until :meth:`Querier.fetch`).
        fetched_real: how many of those are hits (the rest are dummies, with ``fetch(..., pad_to=)``).
        fetch_padded: the fetch was padded (``pad_to``): the party cannot tell hits from dummies.
    """

    party: str
    mode: str
    nlist: int = 0
    real_lists: int = 0
    dummy_lists: int = 0
    probed_lists: int = 0
    candidates_scored: int = 0
    score_noise: float = 0.0
    fetched: int = 0
    fetched_real: int = 0
    fetch_padded: bool = False

    def to_party(self) -> str:
        """In words: what the party learned about the query."""
        if self.mode == "failed":
            return "failed during this query; it saw the encrypted query and any probe sent to it, nothing more"
        base = "saw that a query came from this querier key (its time, d and metric), never q: encrypted under RLWE"
        return base + self._probe_words() + self._fetch_words()

    def _probe_words(self) -> str:
        if self.mode == "full scan":
            return "; full scan: nothing about where q lies from the scoring itself"
        padding = (
            f"; {self.real_lists} of them are the querier's nearest lists, hidden among {self.dummy_lists} uniform "
            f"dummies (a blind guess names a real one with probability {self.real_lists}/{self.probed_lists})"
            if self.dummy_lists
            else "; all of them are the querier's nearest lists (no padding): q lies in their Voronoi cells"
        )
        return f"; IVF: it saw which {self.probed_lists} of its {self.nlist} lists were probed" + padding

    def _fetch_words(self) -> str:
        if not self.fetched:
            return (
                "; no payload fetched yet (a fetch tells the party which of its rows are in the top-k, "
                "locating q as precisely as the answer: use fetch(..., pad_to=k))"
            )
        if not self.fetch_padded:
            return (
                f"; fetch: it saw which {self.fetched} of its rows are in the querier's top-k (no padding): "
                "q lies nearest to exactly those rows"
            )
        return (
            f"; fetch (padded): it saw {self.fetched} fetched rows, {self.fetched_real} hits and "
            f"{self.fetched - self.fetched_real} dummies drawn from the rows it scored, not told apart "
            "(obfuscation, not DP: real rows recur over repeated queries)"
        )

    def to_querier(self) -> str:
        """In words: what the querier learned about this party's store."""
        if self.mode == "failed":
            return "nothing from this party in this query"
        centroids = f"the scores of its {self.nlist} centroids, " if self.mode == "ivf" else ""
        exactness = (
            f"with Gaussian noise of standard deviation {self.score_noise:g} added by the party; "
            "repeated queries average it away"
            if self.score_noise
            else "d linearly independent queries over the same vectors reveal them exactly"
        )
        return (
            f"{centroids}the scores of {self.candidates_scored} stored vectors against q (inner products; "
            f"{exactness}), and the sizes of the scanned batches"
        )


@dataclass(frozen=True)
class LeakageReport:
    """Per party, what it saw and what the querier learned, in words and counters."""

    parties: dict[str, PartyLeakage]

    @property
    def scores_revealed_to_querier(self) -> int:
        """Stored vectors whose scores the querier decrypted, over all parties."""
        return sum(entry.candidates_scored for entry in self.parties.values())

    @property
    def probe_ids_revealed(self) -> bool:
        """True when some party saw which of its IVF lists were probed."""
        return any(entry.mode == "ivf" for entry in self.parties.values())

    @property
    def rows_fetched(self) -> int:
        """Rows fetched over all parties (hits and dummies); each party saw which of its own."""
        return sum(entry.fetched for entry in self.parties.values())

    def lines(self) -> list[str]:
        """One sentence per party and direction."""
        out = []
        for name, entry in self.parties.items():
            out.append(f"{name} learned: {entry.to_party()}")
            out.append(f"querier learned from {name}: {entry.to_querier()}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class PartyStats:
    """Cost of one query at one party: bytes each way, ciphertexts each way, the party's seconds."""

    bytes_up: int = 0
    bytes_down: int = 0
    ciphertexts_up: int = 0
    ciphertexts_down: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class SearchStats:
    """Cost of one query.

    Attributes:
        per_party: :class:`PartyStats` by party name.
        querier_seconds: encryption, decryption and merging at the querier (not waiting).
        encrypt_seconds: the part of it spent encrypting the query.
        encryption: "pooled" (Enc(0) pool + encode), "fresh" (public-key encryption) or "mixed"
            (the pool ran out part way: each party gets its own encryption of the query).
    """

    per_party: dict[str, PartyStats]
    querier_seconds: float
    encrypt_seconds: float
    encryption: str

    @property
    def bytes_up(self) -> int:
        """Bytes sent to all parties (query ciphertexts, probes), setup excluded."""
        return sum(entry.bytes_up for entry in self.per_party.values())

    @property
    def bytes_down(self) -> int:
        """Bytes received from all parties (score ciphertexts, handles)."""
        return sum(entry.bytes_down for entry in self.per_party.values())

    @property
    def party_seconds(self) -> dict[str, float]:
        """Each party's own compute seconds for this query, as it reports them."""
        return {name: entry.seconds for name, entry in self.per_party.items()}


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query.

    Attributes:
        hits: best first, at most k: (party, handle, score).
        leakage: what each participant learned.
        stats: bytes, ciphertexts and seconds.
        failures: party name -> reason, for parties that failed, timed out, refused or sent a reply
            that failed a check (wrong row count included).
        query_ids: party name -> the 16 random bytes naming the query at that party (one per party,
            so that parties cannot link a query by its id).
        k: the number of hits asked for.
        candidates: party name -> the handles it scored (fetch draws padding dummies from them).
    """

    hits: list[Hit]
    leakage: LeakageReport
    stats: SearchStats
    query_ids: dict[str, bytes]
    k: int
    failures: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def partial(self) -> bool:
        """True when some party failed, timed out or refused; ``failures`` says why."""
        return bool(self.failures)

    @property
    def incomplete(self) -> bool:
        """True when fewer than k hits came back (a partial result, or IVF probes that held fewer rows)."""
        return len(self.hits) < self.k


@dataclass(frozen=True)
class HitArrays:
    """The hits of m queries as arrays, shaped like faiss's ``D, I = index.search(xq, k)``.

    Row i holds query i's hits, best first; a query with fewer than k hits (a partial result, or IVF
    probes that held fewer rows) is padded as faiss pads: score NaN, id -1, party -1, handle 0.

    Attributes:
        D: (m, k) float64 scores (cosine or inner product: larger is closer; l2: squared distance).
        I: (m, k) int64 global ids: the ids given to :func:`as_arrays` (e.g. the global rows read from
            fetched payloads, :func:`~securecompute.federated.frag.workload.fetch_ids`); -1 where none
            was given, since a party reveals no row id without a fetch.
        party: (m, k) int64 index into ``party_names`` of the party holding each hit (-1: padding).
        handle: (m, k) uint64 per-query opaque handles, what :meth:`Querier.fetch` asks for (0: padding).
        party_names: the parties, in order of first appearance.
    """

    D: np.ndarray
    I: np.ndarray  # noqa: E741 - faiss's name, kept so that code written for faiss reads the same
    party: np.ndarray
    handle: np.ndarray
    party_names: tuple[str, ...]

    def __iter__(self) -> Iterator[np.ndarray]:
        """``D, I = arrays`` unpacks like faiss's return value."""
        return iter((self.D, self.I))


def as_arrays(
    results: Sequence[SearchResult], k: int | None = None, *, ids: Sequence[Sequence[int]] | None = None
) -> HitArrays:
    """faiss-shaped arrays of a batch of results (``Querier.search_batch``).

    Args:
        results: m search results.
        k: columns (default: the largest ``k`` the results were asked for).
        ids: optional, per result, the global id of each hit in hit order (e.g. ``fetch_ids``).

    Raises:
        ShapeError: no results, or ``ids`` does not hold one id per hit of each result.
        ParameterError: ``k`` below 1.
    """
    if not results:
        raise ShapeError("as_arrays needs at least one search result, got none")
    width = max(result.k for result in results) if k is None else k
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ParameterError(f"k must be an int >= 1, got {k!r}")
    if ids is not None and len(ids) != len(results):
        raise ShapeError(f"ids holds {len(ids)} entries for {len(results)} results")
    shape = (len(results), width)
    scores, global_ids = np.full(shape, np.nan), np.full(shape, -1, dtype=np.int64)
    parties, handles = np.full(shape, -1, dtype=np.int64), np.zeros(shape, dtype=np.uint64)
    names: dict[str, int] = {}
    for row, result in enumerate(results):
        hits = result.hits[:width]
        if ids is not None:
            if len(ids[row]) != len(result.hits):
                raise ShapeError(f"ids[{row}] holds {len(ids[row])} ids for {len(result.hits)} hits")
            global_ids[row, : len(hits)] = np.asarray(ids[row][: len(hits)], dtype=np.int64)
        for column, hit in enumerate(hits):
            scores[row, column] = hit.score
            parties[row, column] = names.setdefault(hit.party, len(names))
            handles[row, column] = hit.handle
    return HitArrays(scores, global_ids, parties, handles, tuple(names))
