"""Fixtures of the FRAG tests: seeded clustered data, its exact oracle, parties and a querier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag import outsourced as outsourced_module
from securecompute.federated.frag import querier as querier_module
from securecompute.federated.frag.outsourced import StorageHost
from securecompute.federated.frag.params import secret_context

DIM = 16
ENGINES = ("seal", "cross")
"""The encrypting CKKS engines every engine-dependent FRAG test runs on (``protocols/frag.md``, Engines)."""


def clustered(n: int, seed: int, dim: int = DIM, clusters: int = 12) -> np.ndarray:
    """(n, dim) float64: a seeded Gaussian mixture (clusters give IVF something to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)) * 3.0
    labels = rng.integers(0, clusters, size=n)
    return centres[labels] + rng.normal(size=(n, dim))


def exact_top(
    stores: list[np.ndarray], query: np.ndarray, k: int, metric: str = "cosine"
) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The exact top-k over all stores: [(store index, row)], their scores, and every score (numpy oracle)."""
    rows = np.vstack(stores)
    owners = np.concatenate([[(s, r) for r in range(len(store))] for s, store in enumerate(stores)])
    if metric == "cosine":
        scores = (rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
        order = np.argsort(-scores, kind="stable")
    elif metric == "ip":
        scores = rows @ query
        order = np.argsort(-scores, kind="stable")
    else:
        scores = ((rows - query) ** 2).sum(axis=1)
        order = np.argsort(scores, kind="stable")
    best = order[:k]
    return [(int(owners[i][0]), int(owners[i][1])) for i in best], scores[best], scores


def engines_of(*holders: object) -> set[str]:
    """The CKKS engines behind queriers and owners (their keys), parties (their sessions) and storage hosts."""
    names: set[str] = set()
    for holder in holders:
        if isinstance(holder, Party):
            names |= {session.engine.name for session in holder._sessions.values()}
        elif isinstance(holder, StorageHost):
            names.add(holder._engine.name)
        else:  # a Querier or an OutsourcedOwner
            names.add(holder._context.engine_name)  # type: ignore[attr-defined]
    return names


@pytest.fixture(scope="session")
def stores() -> list[np.ndarray]:
    """Three parties' stores of unequal sizes (one spans two 2048-slot batches)."""
    return [clustered(2500, 1), clustered(900, 2), clustered(400, 3)]


@pytest.fixture(scope="session")
def queries() -> np.ndarray:
    """(5, DIM) queries near the data."""
    return clustered(5, 99)


@pytest.fixture
def parties(stores: list[np.ndarray]) -> list[Party]:
    """Party a with IVF (16 lists), b with IVF (8 lists), c full scan only; payloads name the row."""
    return [
        Party("a", stores[0], nlist=16, seed=0, payloads=[f"a-{row}" for row in range(len(stores[0]))]),
        Party("b", stores[1], nlist=8, seed=0, payloads=[f"b-{row}" for row in range(len(stores[1]))]),
        Party("c", stores[2], payloads=[f"c-{row}" for row in range(len(stores[2]))]),
    ]


@pytest.fixture(scope="session", params=ENGINES)
def backend(request: pytest.FixtureRequest) -> str:
    """The querier's CKKS engine: each test that takes it runs once on ``seal`` and once on ``cross``."""
    return str(request.param)


@pytest.fixture
def querier(backend: str) -> Querier:
    """A cosine querier on ``backend``."""
    made = Querier(dim=DIM, backend=backend)
    assert engines_of(made) == {backend}
    return made


@pytest.fixture(autouse=True)
def engines_used(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The engines of every key made (querier, owner) and every public context loaded (party, host) in the test.

    In a test that takes ``backend``, each of them must be that engine: a ``cross`` case never runs on
    ``seal`` through a default somewhere.  (Objects of module-scoped fixtures are made before this fixture
    starts; those fixtures check their engine themselves.)
    """
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    used: list[str] = []

    def recorded(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            context = function(*args)
            used.append(context.engine_name)
            return context

        return call

    monkeypatch.setattr(querier_module, "secret_context", recorded(secret_context))
    monkeypatch.setattr(outsourced_module, "secret_context", recorded(secret_context))
    monkeypatch.setattr(wire, "load_public_context", recorded(wire.load_public_context))
    yield used
    if backend is not None:
        assert set(used) <= {backend}, f"a {backend!r} test made or loaded keys on {sorted(set(used))}"
