"""FRAG's published "multiplicative caching" falls to one chosen plaintext; the Enc(0) pool does not.

The attack and its control are written against SEAL's plaintext and ciphertext objects
(``caching_attack`` works through ``tenseal.sealapi``), so they run on ``seal``, the engine whose
key material they reach into; the freshness of pooled encryptions is checked on every engine.
"""

from __future__ import annotations

import numpy as np

from securecompute.federated.frag import Querier
from securecompute.federated.frag.caching_attack import run_caching_attack, run_pool_control


def test_one_chosen_plaintext_decrypts_another_cached_encryption_without_the_key() -> None:
    querier = Querier(dim=4)
    outcome = run_caching_attack(querier.context, seed=3)
    np.testing.assert_allclose(outcome.owner_decryption, outcome.secret, atol=1e-3)  # a working ciphertext
    assert outcome.exact_polynomial  # the victim's plaintext polynomial, word for word
    assert outcome.max_error < 1e-3  # decoded with the public encoder only
    assert np.abs(outcome.secret).max() > 0.9  # a real secret, not a trivial one


def test_pooled_encryptions_of_one_value_are_fresh_each_time(backend: str) -> None:
    querier = Querier(dim=4, backend=backend)
    querier.fill_pool(2)
    engine = querier.context.holder
    first, second = querier.pool.encrypt_constant(0.5), querier.pool.encrypt_constant(0.5)
    assert engine.ciphertext_to_bytes(first) != engine.ciphertext_to_bytes(second)
    np.testing.assert_allclose(engine.decrypt(first) - engine.decrypt(second), 0.0, atol=1e-4)


def test_the_same_recovery_algebra_fails_on_pooled_encryptions() -> None:
    querier = Querier(dim=4)
    querier.fill_pool(2)
    secret, stolen = run_pool_control(querier.context, querier.pool, seed=3)
    assert np.abs(stolen - secret).min() > 1.0  # not one slot near the secret: the attacker decodes garbage
    assert querier.pool.issued == 2  # two genuine pooled ciphertexts were attacked
