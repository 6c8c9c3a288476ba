"""End-to-end FRAG search on real CKKS against an exact numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.frag import Party, Querier, SearchResult
from securecompute.federated.frag.transport import LocalTransport
from tests.frag.conftest import DIM, clustered, exact_top

TOLERANCE = 1e-4  # CKKS error at N=4096, scale 2^29 is about 1e-5 for unit vectors


def located(querier: Querier, result: SearchResult, parties: list[Party]) -> list[tuple[int, int]]:
    """(store index, row) of each hit, read from the fetched payloads "a-17" etc."""
    names = [party.name for party in parties]
    out = []
    for payload in querier.fetch(result, parties):
        assert isinstance(payload, bytes)
        name, row = payload.decode().split("-")
        out.append((names.index(name), int(row)))
    return out


def assert_exact_top_k(
    querier: Querier,
    result: SearchResult,
    parties: list[Party],
    stores: list[np.ndarray],
    query: np.ndarray,
    metric: str = "cosine",
    tolerance: float = TOLERANCE,
) -> None:
    """Hits are the exact top-k up to CKKS precision: true scores match and none is worse than the k-th."""
    k = result.k
    expected, best_scores, _ = exact_top(stores, query, k, metric)
    got = located(querier, result, parties)
    offsets = np.cumsum([0] + [len(store) for store in stores])
    _, _, every = exact_top(stores, query, 1, metric)
    true_scores = np.array([every[offsets[store] + row] for store, row in got])
    decrypted = np.array([hit.score for hit in result.hits])
    np.testing.assert_allclose(decrypted, true_scores, atol=tolerance * max(1.0, float(np.abs(true_scores).max())))
    kth = best_scores[-1]
    if metric == "l2":
        assert (true_scores <= kth + tolerance * max(1.0, abs(kth))).all()
    else:
        assert (true_scores >= kth - tolerance).all()
    separated = [i for i in range(k) if abs(best_scores[i] - kth) > 10 * tolerance * max(1.0, abs(kth))]
    assert {expected[i] for i in separated} <= set(got)  # away from ties at the k-th score: exactly the oracle's


def test_full_scan_returns_the_exact_top_k_over_three_parties(
    querier: Querier, parties: list[Party], stores: list[np.ndarray], queries: np.ndarray
) -> None:
    for query in queries[:3]:
        result = querier.search(query, parties, k=10)
        assert not result.partial
        assert len(result.hits) == 10
        assert_exact_top_k(querier, result, parties, stores, query)
        assert result.leakage.scores_revealed_to_querier == sum(len(store) for store in stores)
        assert not result.leakage.probe_ids_revealed


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_l2_and_inner_product_match_the_oracle(
    metric: str, stores: list[np.ndarray], queries: np.ndarray, backend: str
) -> None:
    scale = 1.0 / 25.0  # the data's norms stay below 1 after this scaling
    scaled = [store * scale for store in stores]
    parties = [Party(name, store) for name, store in zip("xyz", scaled, strict=True)]
    querier = Querier(dim=DIM, backend=backend, metric=metric, max_norm=1.0)  # type: ignore[arg-type]
    query = queries[0] * scale
    result = querier.search(query, parties, k=8)
    _, best_scores, _ = exact_top(scaled, query, 8, metric)
    np.testing.assert_allclose([hit.score for hit in result.hits], best_scores, atol=5e-4)


def test_l2_with_large_norms_picks_the_larger_ring(stores: list[np.ndarray], queries: np.ndarray, backend: str) -> None:
    norm = float(max(np.linalg.norm(store, axis=1).max() for store in stores))
    querier = Querier(dim=DIM, backend=backend, metric="l2", max_norm=norm)
    assert querier.params.ckks().poly_modulus_degree == 8192
    parties = [Party(name, store) for name, store in zip("xyz", stores, strict=True)]
    result = querier.search(queries[1], parties, k=5)
    _, best_scores, _ = exact_top(stores, queries[1], 5, "l2")
    np.testing.assert_allclose([hit.score for hit in result.hits], best_scores, rtol=1e-5, atol=1e-3)


def test_ivf_probing_every_list_equals_full_scan(querier: Querier, parties: list[Party], queries: np.ndarray) -> None:
    full = querier.search(queries[0], parties, k=10)
    probed = querier.search(queries[0], parties, k=10, nprobe=16)
    # Two encryptions of the query: scores agree to CKKS precision and the same rows come back.
    np.testing.assert_allclose([h.score for h in probed.hits], [h.score for h in full.hits], atol=TOLERANCE)
    assert sorted(located(querier, probed, parties)) == sorted(located(querier, full, parties))
    assert probed.leakage.parties["a"].mode == "ivf"
    assert probed.leakage.parties["c"].mode == "full scan"  # no index: nprobe does not apply
    assert probed.leakage.parties["b"].real_lists == 8  # nprobe capped at nlist


def test_ivf_recall_on_clustered_data_and_fewer_candidates(backend: str) -> None:
    stores = [clustered(6000, 5, clusters=40), clustered(3000, 6, clusters=40)]
    parties = [
        Party(name, store, nlist=nlist, seed=0, payloads=[f"{name}-{row}" for row in range(len(store))])
        for name, store, nlist in (("p", stores[0], 32), ("q", stores[1], 16))
    ]
    querier = Querier(dim=DIM, backend=backend)
    recalls = []
    for query in clustered(6, 7, clusters=40):
        result = querier.search(query, parties, k=10, nprobe=6)
        expected, _, _ = exact_top(stores, query, 10)
        recalls.append(len(set(expected) & set(located(querier, result, parties))) / 10)
        assert result.leakage.scores_revealed_to_querier < 9000  # fewer candidates than a full scan
        assert result.leakage.parties["p"].real_lists == 6
    assert np.mean(recalls) >= 0.8


def test_padded_probes_add_dummy_lists_and_say_so(querier: Querier, parties: list[Party], queries: np.ndarray) -> None:
    result = querier.search(queries[2], parties, k=5, nprobe=2, pad_probes=3)
    entry = result.leakage.parties["a"]
    assert (entry.real_lists, entry.dummy_lists, entry.probed_lists, entry.nlist) == (2, 3, 5, 16)
    assert "hidden among 3 uniform dummies" in entry.to_party()
    assert result.leakage.probe_ids_revealed
    plain = querier.search(queries[2], parties, k=5, nprobe=2)
    assert plain.leakage.parties["a"].dummy_lists == 0
    assert "no padding" in plain.leakage.parties["a"].to_party()


def test_search_batch_answers_each_row(querier: Querier, parties: list[Party], queries: np.ndarray) -> None:
    results = querier.search_batch(queries[:3], parties, k=4)
    assert len(results) == 3
    for query, result in zip(queries[:3], results, strict=True):
        single = querier.search(query, parties, k=4)
        np.testing.assert_allclose([h.score for h in result.hits], [h.score for h in single.hits], atol=TOLERANCE)


class _Counting(LocalTransport):
    """The in-process transport, counting exchanges and the requests each party got in each."""

    def __init__(self) -> None:
        self.exchanges: list[list[str]] = []

    def exchange(self, requests, sender=None):  # type: ignore[no-untyped-def]
        self.exchanges.append([party.name for party, _ in requests])
        return super().exchange(requests, sender)


def test_a_batch_costs_the_exchanges_of_one_search(stores: list[np.ndarray], queries: np.ndarray) -> None:
    """Every query's first round in one exchange, every IVF probe in one more, every fetch in one: same answers."""
    parties = [
        Party("a", stores[0], nlist=16, seed=0, payloads=[f"a-{row}" for row in range(len(stores[0]))]),
        Party("c", stores[2], payloads=[f"c-{row}" for row in range(len(stores[2]))]),
    ]
    transport = _Counting()
    querier = Querier(dim=DIM, executor=transport)
    batch = querier.search_batch(queries[:4], parties, k=5, nprobe=16)  # all lists: the exact top-5
    # setup; the 4 queries to both parties, in query order; the 4 probes to the IVF party
    assert transport.exchanges == [["a", "c"], ["a", "c"] * 4, ["a"] * 4]
    for query, result in zip(queries[:4], batch, strict=True):
        assert not result.partial
        assert_exact_top_k(querier, result, parties, [stores[0], stores[2]], query)
    searched = len(transport.exchanges)
    transport.exchanges.clear()
    payloads = querier.fetch_batch(batch, parties)
    assert len(transport.exchanges) == 1
    assert payloads == [querier.fetch(result, parties) for result in batch]
    assert len(transport.exchanges) == 1 + 4  # each single fetch: one exchange
    assert searched == 3 + 4  # setup, queries, probes, then the oracle's 4 fetches


def test_more_queries_than_a_batch_go_in_batches_within_the_partys_pending_bound(stores: list[np.ndarray]) -> None:
    """10 IVF queries: 8, then 2, each batch's probes in one exchange; a party keeps only 8 queries pending."""
    party = Party("b", stores[1], nlist=8, seed=0)
    transport = _Counting()
    querier = Querier(dim=DIM, executor=transport)
    queries = clustered(10, 98)
    results = querier.search_batch(queries, [party], k=3, nprobe=8)  # all 8 lists: the exact top 3
    assert transport.exchanges == [["b"], ["b"] * 8, ["b"] * 8, ["b"] * 2, ["b"] * 2]
    for query, result in zip(queries, results, strict=True):  # each query's own answer, in order
        assert not result.partial
        _, best, _ = exact_top([stores[1]], query, 3)
        np.testing.assert_allclose([hit.score for hit in result.hits], best, atol=TOLERANCE)
    with pytest.raises(ParameterError, match="1 to 8 results"):
        querier.fetch_batch(results[:9], [party])
    with pytest.raises(ParameterError, match="1 to 8 results"):
        querier.fetch_batch([], [party])


def test_handles_are_fresh_per_query_and_payloads_default_to_vectors(stores: list[np.ndarray], backend: str) -> None:
    party = Party("solo", stores[2])
    querier = Querier(dim=DIM, backend=backend)
    query = stores[2][7]
    first, second = querier.search(query, [party], k=1), querier.search(query, [party], k=1)
    assert first.hits[0].handle != second.hits[0].handle
    (vector,) = querier.fetch(first, [party])
    np.testing.assert_array_equal(vector, stores[2][7])
    assert first.hits[0].score == pytest.approx(1.0, abs=TOLERANCE)


def test_stats_count_bytes_and_ciphertexts(querier: Querier, parties: list[Party], queries: np.ndarray) -> None:
    result = querier.search(queries[0], parties, k=3)
    stats = result.stats
    assert stats.per_party["a"].ciphertexts_up == DIM
    assert stats.per_party["a"].ciphertexts_down == 2  # 2500 rows in 2048-slot batches
    assert stats.per_party["c"].ciphertexts_down == 1
    assert stats.bytes_up > DIM * 3 * 50_000
    assert stats.bytes_down > 3 * 30_000
    assert all(seconds > 0 for seconds in stats.party_seconds.values())
    assert stats.encryption == "fresh"
    assert 0 < stats.encrypt_seconds <= stats.querier_seconds
