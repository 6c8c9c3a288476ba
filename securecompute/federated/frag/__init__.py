"""Federated encrypted nearest-neighbour search (FRAG, issue #5), with one key per querier.

    from securecompute.federated.frag import Querier, Party
    parties = [Party("clinic-a", vectors_a, nlist=64, seed=0), Party("clinic-b", vectors_b)]
    querier = Querier(dim=50)
    res = querier.search(q, parties, k=10, nprobe=8)   # nprobe=None: full scan
    res.hits, res.leakage, res.stats, res.partial, res.incomplete
    payloads = querier.fetch(res, parties, pad_to=10)   # padded: each party sees 10 rows, not its hits

Modules: :mod:`.params` (metric, norm bound, CKKS chain), :mod:`.index` (a party's batches and IVF),
:mod:`.messages` (the wire envelopes), :mod:`.channels` (authenticated channels, fresh keys per setup),
:mod:`.party`, :mod:`.querier`, :mod:`.pool` (the Enc(0) pool), :mod:`.transport` (in-process, or Ray as
a single-trust-domain simulation), :mod:`.result` (hits, leakage, stats),
:mod:`.outsourced` (an owner's encrypted store at an untrusted host, ciphertext x ciphertext),
:mod:`.caching_attack` (the break of FRAG's published caching), :mod:`.workload` (seeded data, oracle,
recall) and :mod:`.commands` (``securecompute frag``).  The protocol, what each participant learns and why FRAG's
published "multiplicative caching" is insecure: ``protocols/frag.md``.

Names load on first use so that the CLI can list ``frag`` without loading TenSEAL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securecompute.federated.frag.outsourced import OutsourcedOwner, StorageHost
    from securecompute.federated.frag.params import FragParameters
    from securecompute.federated.frag.party import Party
    from securecompute.federated.frag.pool import ZeroPool
    from securecompute.federated.frag.querier import Querier
    from securecompute.federated.frag.result import Hit, HitArrays, LeakageReport, SearchResult, SearchStats, as_arrays

__all__ = [
    "FragParameters",
    "Hit",
    "HitArrays",
    "LeakageReport",
    "OutsourcedOwner",
    "Party",
    "Querier",
    "SearchResult",
    "SearchStats",
    "StorageHost",
    "ZeroPool",
    "as_arrays",
]

_HOMES = {
    "FragParameters": "securecompute.federated.frag.params",
    "OutsourcedOwner": "securecompute.federated.frag.outsourced",
    "StorageHost": "securecompute.federated.frag.outsourced",
    "Party": "securecompute.federated.frag.party",
    "ZeroPool": "securecompute.federated.frag.pool",
    "Querier": "securecompute.federated.frag.querier",
    "Hit": "securecompute.federated.frag.result",
    "HitArrays": "securecompute.federated.frag.result",
    "as_arrays": "securecompute.federated.frag.result",
    "LeakageReport": "securecompute.federated.frag.result",
    "SearchResult": "securecompute.federated.frag.result",
    "SearchStats": "securecompute.federated.frag.result",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'securecompute.federated.frag' has no attribute {name!r}")
