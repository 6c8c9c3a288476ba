"""FRAG runs on the CKKS engine interface: any encrypting engine, never a simulation."""

from __future__ import annotations

from securecompute.encoding import pack, unpack
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.fhe.engines import engine_factory
from tests.frag.conftest import DIM, clustered


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


def test_the_querier_key_lives_in_an_engine_context() -> None:
    querier = Querier(dim=DIM)
    assert querier.context.engine_name == "seal"
    assert querier.context.is_private
    assert not hasattr(querier, "kit")
