"""Party options (score noise, re-randomisation) and the CKKS kit additions FRAG relies on."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.frag import Party, Querier
from securecompute.fhe.hazmat import seal_kit
from tests.frag.conftest import DIM, clustered


def scores_by_row(querier: Querier, party: Party, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Decrypted scores of every row (k = n), ordered by row, with the exact cosine scores and the report."""
    result = querier.search(query, [party], k=party.size)
    rows = np.array([int(item.decode()) for item in querier.fetch(result, [party])])  # type: ignore[union-attr]
    decrypted = np.empty(party.size)
    decrypted[rows] = [hit.score for hit in result.hits]
    unit = party.vectors / np.linalg.norm(party.vectors, axis=1, keepdims=True)
    return decrypted, unit @ (query / np.linalg.norm(query)), result.leakage.parties[party.name].to_querier()


def test_score_noise_perturbs_every_score_and_is_reported(backend: str) -> None:
    vectors = clustered(400, 31)
    payloads = [str(row) for row in range(400)]
    noisy = Party("noisy", vectors, payloads=payloads, score_noise=0.05)
    decrypted, exact, words = scores_by_row(Querier(dim=DIM, backend=backend), noisy, clustered(1, 32)[0])
    assert 0.04 < float(np.std(decrypted - exact)) < 0.06
    assert "noise of standard deviation 0.05" in words


def test_rerandomised_outputs_decrypt_to_the_same_scores(backend: str) -> None:
    vectors = clustered(300, 33)
    party = Party("fresh", vectors, payloads=[str(row) for row in range(300)], rerandomize=True, nlist=3, seed=0)
    decrypted, exact, words = scores_by_row(Querier(dim=DIM, backend=backend), party, clustered(1, 34)[0])
    np.testing.assert_allclose(decrypted, exact, atol=1e-4)
    assert "reveal them exactly" in words
    ivf = Querier(dim=DIM, backend=backend).search(clustered(1, 34)[0], [party], k=3, nprobe=1)
    assert not ivf.partial


def test_bad_noise_is_refused() -> None:
    with pytest.raises(ParameterError, match="score_noise"):
        Party("x", clustered(5, 1), score_noise=-1.0)


def test_pre_encoded_multipliers_and_add_scalar_match_the_array_path(backend: str) -> None:
    querier = Querier(dim=DIM, backend=backend)
    engine = querier.context.holder
    rng = np.random.default_rng(0)
    columns = [rng.uniform(-1, 1, size=engine.slots) for _ in range(3)]
    query = [engine.encrypt(np.full(engine.slots, value)) for value in (0.2, -0.4, 0.7)]
    encoded = [engine.encode(column, engine.params.depth) for column in columns]
    expected = 0.2 * columns[0] - 0.4 * columns[1] + 0.7 * columns[2]
    np.testing.assert_allclose(engine.decrypt(engine.dot_plain(query, encoded)), expected, atol=1e-4)
    np.testing.assert_allclose(engine.decrypt(engine.dot_plain(query, columns)), expected, atol=1e-4)
    np.testing.assert_allclose(engine.decrypt(engine.add_scalar(engine.zeros(1), -0.3)), -0.3, atol=5e-5)
    with pytest.raises(ParameterError, match="another level"):
        engine.dot_plain([query[0]], [_wrong_scale(querier, columns[0])])
    with pytest.raises(ParameterError, match="finite"):
        engine.add_scalar(query[0], float("nan"))
    with pytest.raises(ParameterError, match="level in 1"):
        engine.encode(columns[0], 0)


def _wrong_scale(querier: Querier, column: np.ndarray) -> object:
    """A multiplier encoded at the wrong scale for level 1 (the scale of another prime), on the querier's engine."""
    engine = querier.context.holder
    encoder: object = seal_kit(querier.context) if querier.context.engine_name == "seal" else engine
    return encoder._encode(column, 1, 2.0**30)  # type: ignore[attr-defined]
