"""Seeded workloads for FRAG demos, the CLI and benchmarks: data, splits, the exact oracle, recall."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated.frag.party import Party
from securecompute.federated.frag.querier import Querier
from securecompute.federated.frag.result import SearchResult
from securecompute.randomness import Seed, as_generator

__all__ = ["exact_top_k", "fetch_ids", "make_parties", "recall_at_k", "synthetic_vectors", "unit_rows"]


def synthetic_vectors(n: int, dim: int, seed: Seed = 0, clusters: int = 64, spread: float = 3.0) -> np.ndarray:
    """(n, dim) float64 from a seeded Gaussian mixture: centres ~ N(0, spread^2), unit noise around them.

    A small ``spread`` (below ~1 at d=50) makes the clusters overlap, so that IVF misses neighbours.

    Raises:
        ParameterError: n or dim below 1.
    """
    if n < 1 or dim < 1:
        raise ParameterError(f"need n >= 1 and dim >= 1, got n={n}, dim={dim}")
    rng = as_generator(seed)
    centres = rng.normal(size=(clusters, dim)) * spread
    return centres[rng.integers(0, clusters, size=n)] + rng.normal(size=(n, dim))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm ((n, d) float64; zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = vectors / np.where(norms == 0, 1.0, norms)
    return out


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(m, k) int64 row indices of the k largest cosine similarities, best first (a flat exact search)."""
    scores = unit_rows(queries) @ unit_rows(base).T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    out: np.ndarray = np.take_along_axis(top, order, axis=1)
    return out


def make_parties(
    base: np.ndarray, count: int, *, nlist: int | None = None, seed: int = 0, prefix: str = "party"
) -> tuple[list[Party], np.ndarray]:
    """Split (n, d) ``base`` into ``count`` contiguous shares with payload = global row number.

    Returns:
        the parties and the (count + 1,) offsets of their shares in ``base``.

    Raises:
        ParameterError: count outside 1..n.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(base):
        raise ParameterError(f"parties must be an int in 1..{len(base)}, got {count!r}")
    offsets = np.linspace(0, len(base), count + 1).astype(np.int64)
    parties = []
    for number in range(count):
        rows = range(int(offsets[number]), int(offsets[number + 1]))
        share = base[offsets[number] : offsets[number + 1]]
        lists = None if nlist is None else min(nlist, len(share))
        payloads = [str(row) for row in rows]
        parties.append(Party(f"{prefix}-{number}", share, nlist=lists, seed=seed, payloads=payloads))
    return parties, offsets


def fetch_ids(querier: Querier, result: SearchResult, parties: Sequence[Party]) -> list[int]:
    """Fetch the payloads of ``result``'s hits and read each as its global row (as :func:`make_parties` stores it).

    This is a fetch: each party learns which of its rows are among the hits, and the result's leakage
    report records it (use ``querier.fetch(..., pad_to=k)`` to hide them among dummies).

    Returns:
        the hits' global rows, best first, one per hit (so ``as_arrays(results, ids=...)`` lines up).

    Raises:
        ParameterError: a payload is not a row number written by :func:`make_parties` (parties built with
            other payloads, or none); the message names the hit.
        SecureComputeError: from :meth:`Querier.fetch` (a party's refusal or a bad reply).
    """
    ids = []
    for hit, payload in zip(result.hits, querier.fetch(result, parties), strict=True):
        text = payload.decode("ascii", errors="replace") if isinstance(payload, bytes) else ""
        if not (text.isascii() and text.isdigit()):
            shown = repr(payload[:24]) if isinstance(payload, bytes) else f"a {type(payload).__name__}"
            raise ParameterError(
                f"hit {hit.party!r}/{hit.handle}: payload {shown} is not a global row number; fetch_ids reads "
                "the payloads make_parties stores (use querier.fetch for others)"
            )
        ids.append(int(text))
    return ids


def recall_at_k(ids: Sequence[int] | np.ndarray, truth: np.ndarray) -> float:
    """|ids ∩ truth| / len(truth): the share of the exact neighbours found (no network, no side effect)."""
    return len({int(row) for row in ids} & {int(row) for row in truth}) / len(truth)
