"""Parameter choice, wire parsing of parameters, and the party's batch layout."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import CorruptPayloadError, ParameterError, ShapeError
from securecompute.federated.frag.index import StoreLayout, check_vectors, score_columns
from securecompute.federated.frag.params import FragParameters


def test_chain_follows_the_score_bound() -> None:
    assert FragParameters(50).ckks().poly_modulus_degree == 4096
    assert FragParameters(50).ckks().coeff_modulus_bits == (40, 29, 40)
    assert FragParameters(50, "l2", 9.0).ckks().poly_modulus_degree == 4096  # 3 * 81 * 4 < 2^10
    assert FragParameters(50, "l2", 10.0).ckks().poly_modulus_degree == 8192
    assert FragParameters(50, "l2", 2.0).columns == 51
    assert FragParameters(50).columns == 50
    with pytest.raises(ParameterError, match="beyond what the supported CKKS chains hold"):
        FragParameters(50, "ip", 1000.0)


@pytest.mark.parametrize(
    "arguments", [(0,), (True,), (50, "hamming"), (50, "cosine", 2.0), (50, "ip", 0.0), (50, "l2", float("nan"))]
)
def test_bad_parameters_are_refused(arguments: tuple[object, ...]) -> None:
    with pytest.raises(ParameterError):
        FragParameters(*arguments)  # type: ignore[arg-type]


def test_parameters_round_trip_and_refuse_bad_bytes() -> None:
    params = FragParameters(7, "l2", 3.5)
    assert FragParameters.from_bytes(params.to_bytes()) == params
    for bad in (b'{"dim":7}', b'{"dim":0,"metric":"l2","max_norm":1.0}', b"[1]", b"\xff"):
        with pytest.raises(CorruptPayloadError):
            FragParameters.from_bytes(bad)


def test_l2_columns_give_norm_minus_twice_the_inner_product() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 5)) / 4
    query = rng.normal(size=5) / 4
    columns = score_columns(vectors, FragParameters(5, "l2", 2.0))
    expected = (vectors**2).sum(axis=1) - 2 * vectors @ query
    np.testing.assert_allclose(columns @ np.append(query, 1.0), expected)
    with pytest.raises(ShapeError, match="d=5"):
        score_columns(vectors, FragParameters(6, "l2", 2.0))
    with pytest.raises(ParameterError, match="zero vectors"):
        score_columns(np.zeros((2, 5)), FragParameters(5))


def test_layout_places_every_row_once_and_finds_lists() -> None:
    rng = np.random.default_rng(1)
    assignment = rng.integers(0, 7, size=300)
    assignment[:90] = 3  # one list longer than a batch
    layout = StoreLayout(assignment, 7, 64)
    rows = np.concatenate([batch.rows for batch in layout.batches])
    assert sorted(rows.tolist()) == list(range(300))
    assert all(0 < len(batch.rows) <= 64 for batch in layout.batches)
    for index in range(7):
        held = np.concatenate([layout.batches[b].rows for b in layout.batches_for([index])])
        assert set(np.flatnonzero(assignment == index)) <= set(held.tolist())
    assert layout.batches_for(None) == list(range(len(layout.batches)))


def test_check_vectors_refuses_strings() -> None:
    with pytest.raises(ParameterError, match="real numbers"):
        check_vectors(np.array([["a", "b"]]), "s")
