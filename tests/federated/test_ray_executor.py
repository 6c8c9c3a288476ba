"""RayExecutor: same runs as LocalExecutor bit for bit, order kept, Ray's lifetime, missing-Ray error."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pytest

from securecompute.errors import DependencyMissingError, ParameterError
from securecompute.federated.executors import LocalExecutor, RayExecutor
from securecompute.federated.fedfix import simulate_async
from securecompute.federated.simulation import run_byzantine


@pytest.mark.ray
def test_map_keeps_the_order_of_the_items_and_leaves_a_cluster_it_did_not_start(ray_cluster: Any) -> None:
    with RayExecutor(num_actors=2) as pool:
        assert not pool.owns_ray
        results = pool.map(lambda x: (x * x, os.getpid()), range(7))
        assert [value for value, _ in results] == [x * x for x in range(7)]
        assert len({pid for _, pid in results} - {os.getpid()}) == 2  # both actors, none in this process
        assert pool.map(abs, []) == []
        assert pool.map(abs, [-3]) == [3]  # fewer items than actors
        with pytest.raises(ZeroDivisionError):
            pool.map(lambda x: 1 // x, [1, 0])
    assert ray_cluster.is_initialized()
    with pytest.raises(ParameterError, match="closed"):
        pool.map(abs, [1])
    pool.close()  # twice: nothing happens


@pytest.mark.ray
def test_run_byzantine_on_ray_equals_local_bit_for_bit(ray_cluster: Any) -> None:
    settings: dict[str, Any] = {"aggregator": "flag", "attack": "alie", "steps": 20, "eval_every": 5, "seed": 3}
    local = run_byzantine(**settings, executor=LocalExecutor())
    with RayExecutor(num_actors=2) as pool:
        remote = run_byzantine(**settings, executor=pool)
    assert remote.settings["executor"] == "RayExecutor"
    assert remote.steps == local.steps
    assert remote.accuracy == local.accuracy
    assert remote.loss == local.loss
    assert remote.dropped == local.dropped


@pytest.mark.ray
def test_simulate_async_on_ray_equals_local_bit_for_bit(ray_cluster: Any) -> None:
    settings: dict[str, Any] = {
        "policy": "fedbuff",
        "c": 3,
        "clients": 6,
        "horizon": 3.0,
        "seed": 1,
        "crash": 0.1,
        "downtime": 0.5,
        "outages": [(2, 0.5, 1.5)],
    }
    local = simulate_async(**settings)
    with RayExecutor(num_actors=2) as pool:
        remote = simulate_async(**settings, executor=pool)
    assert np.array_equal(remote.params, local.params)
    assert remote.loss == local.loss
    assert remote.aggregations == local.aggregations


@pytest.mark.ray
def test_submitted_jobs_run_on_the_actors_while_the_caller_goes_on(ray_cluster: Any) -> None:
    with RayExecutor(num_actors=2) as pool:
        jobs = [pool.submit(lambda x: (x * x, os.getpid()), x) for x in range(5)]
        results = [job.result() for job in reversed(jobs)][::-1]  # waited for in any order
        assert [value for value, _ in results] == [x * x for x in range(5)]
        assert len({pid for _, pid in results} - {os.getpid()}) == 2
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda x: 1 // x, 0).result()
    with pytest.raises(ParameterError, match="closed"):
        pool.submit(abs, 1)


def test_local_submit_computes_once_when_the_result_is_asked_for() -> None:
    calls: list[int] = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    job = LocalExecutor().submit(square, 7)
    assert calls == []
    assert job.result() == 49
    assert job.result() == 49
    assert calls == [7]


def test_missing_ray_raises_dependency_missing_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(DependencyMissingError, match=r"securecompute\[ray\]"):
        RayExecutor()
    with pytest.raises(ParameterError, match="num_actors"):
        RayExecutor(num_actors=0)
