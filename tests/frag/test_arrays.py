"""The faiss-shaped view of a batch of FRAG results: (D, I) plus party and handle arrays."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated.frag import Querier, as_arrays
from securecompute.federated.frag.workload import exact_top_k, fetch_ids, make_parties, synthetic_vectors, unit_rows
from tests.frag.conftest import engines_of


@pytest.fixture(scope="module")
def batch(backend: str):  # type: ignore[no-untyped-def]
    data = synthetic_vectors(303, 16, seed=5)
    base, queries = data[:300], data[300:]
    parties, _ = make_parties(base, 2, seed=0)
    querier = Querier(dim=16, backend=backend)
    results = querier.search_batch(queries, parties, k=5)
    assert engines_of(querier, *parties) == {backend}
    return base, queries, parties, querier, results


def test_arrays_match_the_exact_oracle(batch) -> None:  # type: ignore[no-untyped-def]
    base, queries, parties, querier, results = batch
    ids = [fetch_ids(querier, result, parties) for result in results]
    D, I = as_arrays(results, ids=ids)  # noqa: E741, N806 - faiss's names
    truth = exact_top_k(base, queries, 5)
    np.testing.assert_array_equal(I, truth)
    expected = np.take_along_axis(unit_rows(queries) @ unit_rows(base).T, truth, axis=1)
    np.testing.assert_allclose(D, expected, atol=1e-4)  # CKKS error, unit vectors


def test_party_and_handle_arrays_name_each_hit(batch) -> None:  # type: ignore[no-untyped-def]
    *_, results = batch
    arrays = as_arrays(results)
    assert arrays.D.shape == arrays.I.shape == arrays.party.shape == arrays.handle.shape == (3, 5)
    assert (arrays.I == -1).all()  # no ids given: a party reveals none without a fetch
    for row, result in enumerate(results):
        assert [arrays.party_names[p] for p in arrays.party[row]] == [hit.party for hit in result.hits]
        assert arrays.handle[row].tolist() == [hit.handle for hit in result.hits]


def test_short_results_are_padded_like_faiss(batch) -> None:  # type: ignore[no-untyped-def]
    *_, results = batch
    arrays = as_arrays(results, k=7)
    assert np.isnan(arrays.D[:, 5:]).all()
    assert (arrays.party[:, 5:] == -1).all()
    assert (arrays.handle[:, 5:] == 0).all()
    assert not np.isnan(arrays.D[:, :5]).any()


def test_bad_arguments_are_refused(batch) -> None:  # type: ignore[no-untyped-def]
    *_, results = batch
    with pytest.raises(ShapeError, match="at least one"):
        as_arrays([])
    with pytest.raises(ParameterError, match="k must be"):
        as_arrays(results, k=0)
    with pytest.raises(ShapeError, match=r"ids\[0\] holds 1 ids"):
        as_arrays(results, ids=[[1], [], []])


def test_fetch_ids_refuses_payloads_that_are_no_row_numbers() -> None:
    from securecompute.federated.frag import Party

    vectors = synthetic_vectors(41, 16, seed=1)
    querier = Querier(dim=16)
    for payloads, shown in (([f"record {i}" for i in range(40)], "b'record "), (None, "a ndarray")):
        party = Party("clinic", vectors[:40], payloads=payloads)
        result = querier.search(vectors[40], [party], k=3)
        with pytest.raises(ParameterError, match=f"hit 'clinic'/[0-9]+: payload {shown}"):
            fetch_ids(querier, result, [party])
