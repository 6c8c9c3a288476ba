"""A party's local store: validated vectors, the metric's score columns, IVF lists and slot batches.

Everything here is plaintext and stays with the party.  The store is cut into *batches* of at most
``slots`` rows; batch b's rows are the slots of the one score ciphertext the party returns for it.
With an IVF index (k-means on the party's own vectors, scikit-learn's ``KMeans``), whole lists are
packed into batches greedily in list order (a list longer than a batch gets batches of its own), so
scanning a set of probed lists means scanning the batches that hold them; rows of other lists that
share those batches are scored too (more candidates, never fewer).  Without an index the whole store
is one list, packed densely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated.frag.params import FragParameters

__all__ = [
    "ROWS_PER_LIST",
    "Batch",
    "IVFIndex",
    "StoreLayout",
    "check_query",
    "check_vectors",
    "default_nlist",
    "score_columns",
]

ROWS_PER_LIST = 1536
"""Target rows per IVF list for :func:`default_nlist`: three quarters of a 2048-slot batch (N = 4096)."""


def default_nlist(rows: int) -> int:
    """The one nlist rule used by the CLI, the benchmark and the spec: ``max(4, rows // 1536)``, at most ``rows``."""
    return min(rows, max(4, rows // ROWS_PER_LIST))


def check_query(query: object, params: FragParameters) -> np.ndarray:
    """``query`` as a (d,) float64 vector ready to encrypt: unit-normalised under cosine.

    Raises:
        ShapeError: not of shape (d,).
        ParameterError: not real, NaN/inf, the zero vector under cosine, or a norm above max_norm.
    """
    vector = np.asarray(query)
    if vector.ndim != 1 or vector.shape[0] != params.dim:
        raise ShapeError(f"query must have shape ({params.dim},), got {vector.shape}")
    if vector.dtype.kind not in "biuf":
        raise ParameterError(f"query must be real numbers, got dtype {vector.dtype}")
    vector = vector.astype(np.float64)
    if not np.isfinite(vector).all():
        raise ParameterError("query holds NaN or infinity")
    norm = float(np.linalg.norm(vector))
    if params.metric == "cosine":
        if norm == 0:
            raise ParameterError("a cosine query cannot be the zero vector")
        unit: np.ndarray = vector / norm
        return unit
    if norm > params.max_norm * (1 + 1e-9):
        raise ParameterError(f"query norm {norm:.4g} exceeds max_norm {params.max_norm}")
    return vector


def check_vectors(vectors: object, name: str) -> np.ndarray:
    """Return ``vectors`` as a new (n, d) float64 array after checking shape and values.

    Raises:
        ShapeError: not 2-D, or no rows, or no columns.
        ParameterError: NaN or infinite entries, or a non-numeric dtype.
    """
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise ShapeError(f"{name}: vectors must be a 2-D (n, d) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ShapeError(f"{name}: the store is empty (shape {array.shape}); give at least one vector of d >= 1")
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"{name}: vectors must be real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise ParameterError(f"{name}: {int(bad.sum())} vector(s) hold NaN or infinity (first row {int(bad.argmax())})")
    return array


def score_columns(vectors: np.ndarray, params: FragParameters) -> np.ndarray:
    """The (n, columns) float64 matrix whose row x gives the score ``sum_j query_j * row_j``.

    cosine: x / ||x||; ip: x; l2: [-2 x, ||x||^2] against the query extended by a 1.

    Raises:
        ShapeError: d differs from ``params.dim``.
        ParameterError: a zero vector under cosine, or a norm above ``params.max_norm`` otherwise.
    """
    if vectors.shape[1] != params.dim:
        raise ShapeError(f"stored vectors have d={vectors.shape[1]}, but the querier searches d={params.dim}")
    norms = np.linalg.norm(vectors, axis=1)
    if params.metric == "cosine":
        if (norms == 0).any():
            raise ParameterError(f"cosine search cannot use zero vectors (row {int((norms == 0).argmax())})")
        unit: np.ndarray = vectors / norms[:, None]
        return unit
    if norms.max() > params.max_norm * (1 + 1e-9):
        raise ParameterError(
            f"a stored vector has norm {norms.max():.4g} (row {int(norms.argmax())}), above the querier's "
            f"max_norm {params.max_norm}; the encrypted scores would overflow"
        )
    if params.metric == "ip":
        return vectors.copy()
    return np.hstack([-2.0 * vectors, (norms**2)[:, None]])


@dataclass(frozen=True)
class IVFIndex:
    """k-means lists over a party's vectors.

    Attributes:
        centroids: (nlist, d) float64 (unit norm under cosine).
        assignment: (n,) int64, the list of each row.
    """

    centroids: np.ndarray
    assignment: np.ndarray

    @classmethod
    def build(cls, vectors: np.ndarray, nlist: int, seed: int | None, spherical: bool) -> IVFIndex:
        """k-means with ``nlist`` lists on (n, d) ``vectors`` (unit rows when ``spherical``).

        Raises:
            ParameterError: nlist outside 1..n.
        """
        from sklearn.cluster import KMeans

        if isinstance(nlist, bool) or not isinstance(nlist, int) or not 1 <= nlist <= len(vectors):
            raise ParameterError(f"nlist must be an int in 1..{len(vectors)} (the store size), got {nlist!r}")
        model = KMeans(n_clusters=nlist, n_init=1, random_state=seed, max_iter=50).fit(vectors)
        centroids = np.asarray(model.cluster_centers_, dtype=np.float64)
        if spherical:
            lengths = np.linalg.norm(centroids, axis=1, keepdims=True)
            centroids = centroids / np.where(lengths == 0, 1.0, lengths)
        return cls(centroids, np.asarray(model.labels_, dtype=np.int64))

    @property
    def nlist(self) -> int:
        """The number of lists (centroids)."""
        return int(self.centroids.shape[0])


@dataclass(frozen=True)
class Batch:
    """Rows packed into one ciphertext's slots.

    Attributes:
        rows: (m,) int64 store row of each slot, m <= slots.
        lists: the IVF lists whose rows sit in this batch.
    """

    rows: np.ndarray
    lists: frozenset[int]


class StoreLayout:
    """The batches of a store and which batches hold which list."""

    def __init__(self, assignment: np.ndarray, nlist: int, slots: int) -> None:
        """Pack rows (list of each row in ``assignment``, (n,) int64) into batches of ``slots`` rows."""
        self.slots = slots
        self.nlist = nlist
        members = [np.flatnonzero(assignment == index) for index in range(nlist)]
        self.list_sizes = [len(rows) for rows in members]
        batches: list[Batch] = []
        open_rows: list[np.ndarray] = []
        open_lists: set[int] = set()
        open_count = 0
        for index, rows in enumerate(members):
            if len(rows) == 0:
                continue
            if open_count + len(rows) > slots and open_count:
                batches.append(Batch(np.concatenate(open_rows), frozenset(open_lists)))
                open_rows, open_lists, open_count = [], set(), 0
            for start in range(0, len(rows), slots):
                piece = rows[start : start + slots]
                if len(piece) == slots:
                    batches.append(Batch(piece, frozenset({index})))
                else:
                    open_rows.append(piece)
                    open_lists.add(index)
                    open_count += len(piece)
        if open_count:
            batches.append(Batch(np.concatenate(open_rows), frozenset(open_lists)))
        self.batches = batches

    def batches_for(self, lists: list[int] | None) -> list[int]:
        """Indices of the batches holding any of ``lists`` (None: every batch), ascending."""
        if lists is None:
            return list(range(len(self.batches)))
        wanted = set(lists)
        return [number for number, batch in enumerate(self.batches) if batch.lists & wanted]
