"""Fixtures of the federated tests: one local Ray cluster per test session (tests marked ``ray``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Ray 2.60 turns token authentication on by default for a new local cluster (it writes a token file
# and logs "Set RAY_AUTH_MODE=disabled to opt out"); a throwaway test cluster needs neither that nor
# usage-stats reporting.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """Start ``ray.init(num_cpus=2)`` once for the session (or reuse a running one); shut it down at the end.

    Skips when Ray is not installed (extra ``[ray]``).  Ray costs ~4-9 s to start and ~1 GB of memory, so
    every Ray test shares this one cluster.
    """
    ray = pytest.importorskip("ray", reason="needs the optional extra [ray]")
    if ray.is_initialized():  # started by someone else: use it, leave it running
        yield ray
        return
    saved = {name: os.environ.get(name) for name in RAY_ENV}
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
