"""FRAG runs on the CKKS engine interface: any encrypting engine, never a simulation.

Searches on each engine are the ``backend``-parametrised tests of the other modules (conftest.ENGINES).
"""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import ParameterError
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.fhe.engines import engine_factory
from tests.frag.conftest import DIM, ENGINES, clustered, engines_of
from tests.frag.test_search import assert_exact_top_k


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
def test_a_setup_carrying_a_secret_key_is_refused(kind: str, backend: str) -> None:
    """A secret context, in a secret envelope or hidden in a public one, never reaches a party's store."""
    querier = Querier(dim=DIM, backend=backend)
    params = querier.params.ckks()
    holder = querier.context.holder
    secret = holder.secret_bytes()
    naming = {"engine": backend.encode(), "params": params.to_bytes(), "keys": secret}
    context = pack(kind, naming, holder.fingerprint)
    sections = {"params": querier.params.to_bytes(), "context": context, "nonce": bytes(32)}
    party = Party("careful", clustered(20, 3))
    reply = unpack(party.handle(pack(wire.SETUP, sections, holder.fingerprint)))
    assert reply.kind == wire.ERROR
    assert (b"SECRET" if kind == "fhe/secret-context" else secret[:4]) in b"".join(reply.sections.values())


@pytest.mark.parametrize(("backend", "refusal"), [("simulate", "does not encrypt"), ("sael", "sael")])
def test_a_querier_refuses_a_backend_that_does_not_encrypt(backend: str, refusal: str) -> None:
    with pytest.raises(ParameterError, match=refusal):
        Querier(dim=DIM, backend=backend)


def test_the_querier_key_lives_in_an_engine_context(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    assert querier.context.engine_name == backend
    assert querier.context.is_private
    assert not hasattr(querier, "kit")


def test_one_party_serves_queriers_on_both_engines(stores: list[np.ndarray], queries: np.ndarray) -> None:
    """A party's sessions follow each setup's engine: a seal and a cross querier, in turn, both get the oracle's top-k."""
    party = Party("shared", stores[2], nlist=4, seed=0, payloads=[f"shared-{row}" for row in range(len(stores[2]))])
    queriers = [Querier(dim=DIM, backend=name) for name in ENGINES]
    for query in queries[:2]:
        for querier in queriers:
            result = querier.search(query, [party], k=5, nprobe=4)  # every list probed: the full scan's rows
            assert not result.partial, result.failures
            assert_exact_top_k(querier, result, [party], [stores[2]], query)
    assert engines_of(party) == set(ENGINES)
