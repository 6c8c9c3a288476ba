"""What the review could not reach: a Ray worker that dies mid-job, and FedFix's accounting under Ray.

Few and short (one shared local cluster, marked ``ray``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from securecompute.errors import ProtocolError
from securecompute.federated.executors import RayExecutor
from securecompute.federated.fedfix import simulate_async


def _die_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)  # the worker process dies mid-job, as a killed machine would
    return x * x


@pytest.mark.ray
def test_a_worker_that_dies_mid_job_is_a_named_error_not_a_hang(ray_cluster: Any) -> None:
    with RayExecutor(num_actors=2) as pool:
        with pytest.raises(ProtocolError, match="worker died"):
            pool.map(_die_on_three, range(6))
        with pytest.raises(ProtocolError, match="worker died"):
            pool.submit(_die_on_three, 3).result()
    with RayExecutor(num_actors=2) as fresh:  # a new executor works again
        assert fresh.map(_die_on_three, [1, 2]) == [1, 4]


class Counting:
    """A RayExecutor that counts the jobs it starts and the results the simulation collects."""

    def __init__(self, pool: RayExecutor) -> None:
        self.pool, self.submitted, self.collected = pool, 0, 0

    def map(self, fn: Any, items: Any) -> list[Any]:
        return self.pool.map(fn, items)

    def submit(self, fn: Any, item: Any) -> Any:
        self.submitted += 1
        pending = self.pool.submit(fn, item)
        outer = self

        class Collected:
            def result(self) -> Any:
                outer.collected += 1
                return pending.result()

        return Collected()


@pytest.mark.ray
def test_fedfix_with_crashes_and_outages_under_ray_loses_and_repeats_no_update(ray_cluster: Any) -> None:
    """Every applied update is one returned job of its client, applied once; crashed jobs are never applied."""
    settings: dict[str, Any] = {
        "policy": "fedfix",
        "clients": 6,
        "horizon": 4.0,
        "seed": 2,
        "crash": 0.2,
        "downtime": 0.5,
        "outages": [(1, 0.5, 2.0), (4, 1.0, 3.0)],
    }
    local = simulate_async(**settings)
    with RayExecutor(num_actors=2) as pool:
        counting = Counting(pool)
        history = simulate_async(**settings, executor=counting)
    applied = [client for _, clients in history.aggregations for client in clients]
    assert history.lost > 0  # the crashes happened
    assert len(applied) == len(history.staleness) == sum(history.participation)
    for client in range(settings["clients"]):
        assert applied.count(client) == history.participation[client] <= history.returns[client]
    # returns count crashed jobs too (never sent to a worker); every other returned job was collected once
    assert counting.collected == sum(history.returns) - history.lost
    assert sum(history.participation) <= counting.collected <= counting.submitted
    assert np.array_equal(history.params, local.params)  # the same run as in-process, bit for bit
    assert history.aggregations == local.aggregations
