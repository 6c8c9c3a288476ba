"""FRAG runs on the CKKS engine interface: any encrypting engine, never a simulation."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import ParameterError
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.fhe.engines import engine_factory
from tests.frag.conftest import DIM, clustered, exact_top
from tests.frag.test_search import TOLERANCE, assert_exact_top_k, located


def test_a_setup_carrying_a_simulated_context_is_refused() -> None:
    querier = Querier(dim=DIM)
    params = querier.params.ckks()
    simulated = engine_factory("simulate").generate(params)
    naming = {"engine": b"simulate", "params": params.to_bytes(), "keys": simulated.public_bytes()}
    context = pack("fhe/public-context", naming, simulated.fingerprint)
    sections = {"params": querier.params.to_bytes(), "context": context, "nonce": bytes(32)}
    reply = unpack(Party("careful", clustered(20, 3)).handle(pack(wire.SETUP, sections, simulated.fingerprint)))
    assert reply.kind == wire.ERROR
    assert b"does not encrypt" in b"".join(reply.sections.values())


@pytest.mark.parametrize("kind", ["fhe/public-context", "fhe/secret-context"])
def test_a_setup_carrying_a_cross_secret_key_is_refused(kind: str) -> None:
    """A cross secret context, in a secret envelope or hidden in a public one, never reaches a party's store."""
    querier = Querier(dim=DIM, backend="cross")
    params = querier.params.ckks()
    holder = querier.context.holder
    naming = {"engine": b"cross", "params": params.to_bytes(), "keys": holder.secret_bytes()}
    context = pack(kind, naming, holder.fingerprint)
    sections = {"params": querier.params.to_bytes(), "context": context, "nonce": bytes(32)}
    party = Party("careful", clustered(20, 3))
    reply = unpack(party.handle(pack(wire.SETUP, sections, holder.fingerprint)))
    assert reply.kind == wire.ERROR
    assert (b"SECRET" if kind == "fhe/secret-context" else b"SCXS") in b"".join(reply.sections.values())


@pytest.mark.parametrize(("backend", "refusal"), [("simulate", "does not encrypt"), ("sael", "sael")])
def test_a_querier_refuses_a_backend_that_does_not_encrypt(backend: str, refusal: str) -> None:
    with pytest.raises(ParameterError, match=refusal):
        Querier(dim=DIM, backend=backend)


def test_the_querier_key_lives_in_an_engine_context() -> None:
    querier = Querier(dim=DIM)
    assert querier.context.engine_name == "seal"
    assert querier.context.is_private
    assert not hasattr(querier, "kit")


def test_search_end_to_end_on_the_cross_engine(stores: list[np.ndarray], queries: np.ndarray) -> None:
    """Full scan and IVF over three parties on ``cross``: the numpy oracle's top-k, payloads fetched."""
    querier = Querier(dim=DIM, backend="cross")
    assert querier.context.engine_name == "cross"
    parties = [
        Party("a", stores[0], nlist=16, seed=0, payloads=[f"a-{row}" for row in range(len(stores[0]))]),
        Party("b", stores[1], payloads=[f"b-{row}" for row in range(len(stores[1]))]),
        Party("c", stores[2], payloads=[f"c-{row}" for row in range(len(stores[2]))]),
    ]
    full = querier.search(queries[0], parties, k=10)
    assert not full.partial
    assert_exact_top_k(querier, full, parties, stores, queries[0])
    probed = querier.search(queries[0], parties, k=10, nprobe=16)  # every list probed: the full scan's rows
    np.testing.assert_allclose([h.score for h in probed.hits], [h.score for h in full.hits], atol=TOLERANCE)
    assert sorted(located(querier, probed, parties)) == sorted(located(querier, full, parties))
    assert probed.leakage.parties["a"].mode == "ivf"


def test_l2_on_the_cross_engine_matches_the_oracle(stores: list[np.ndarray], queries: np.ndarray) -> None:
    scaled = [store / 25.0 for store in stores]
    parties = [Party(name, store) for name, store in zip("xyz", scaled, strict=True)]
    querier = Querier(dim=DIM, metric="l2", max_norm=1.0, backend="cross")
    result = querier.search(queries[1] / 25.0, parties, k=8)
    _, best_scores, _ = exact_top(scaled, queries[1] / 25.0, 8, "l2")
    np.testing.assert_allclose([hit.score for hit in result.hits], best_scores, atol=5e-4)
