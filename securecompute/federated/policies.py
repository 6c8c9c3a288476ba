"""When an asynchronous server aggregates, and with which weights: FedAvg, async, FedFix, FedBuff.

Each policy is a small class with one interface (``weights(taus, p)`` gives d_i, ``ready(...)`` says when
to aggregate); the update is theta <- theta + eta_g * sum_i omega_i(n) * Delta_i with
omega_i(n) = d_i * 1[i returns at step n] (Fraboni et al., JMLR 2023).  Used by
:mod:`securecompute.federated.fedfix`.
"""

from __future__ import annotations

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import FloatArray, check_int, check_positive

__all__ = ["EPS", "POLICIES", "AsyncIdentical", "AsyncWeighted", "FedAvg", "FedBuff", "FedFix", "Policy", "get_policy"]

EPS = 1e-9
"""Tolerance of the virtual clock (a return at tick + 1e-9 still makes the tick)."""


# ----------------------------------------------------------------------------------------------------------
# Policies


class Policy:
    """When the server aggregates and with which weights d_i; subclasses set the class attributes.

    Attributes:
        name: registry name.
        on_every_return: aggregate at each return (async).
        restart_on_return: a returning client gets the current model at once, before any aggregation (fedbuff).
        period: aggregate at t = n * period (fedfix), else None.
    """

    name = "policy"
    on_every_return = False
    restart_on_return = False
    period: float | None = None

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        """The aggregation weights d_i from the mean client times tau_i and the importances p_i."""
        raise NotImplementedError

    def ready(self, buffered: int, in_flight: int) -> bool:
        """Aggregate now, after a return, with ``buffered`` updates waiting and ``in_flight`` jobs running?"""
        return self.on_every_return

    def describe(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FedAvg(Policy):
    """Synchronous FedAvg: a round ends when every client has returned; d_i = p_i."""

    name = "fedavg"

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        return p.copy()

    def ready(self, buffered: int, in_flight: int) -> bool:
        return in_flight == 0


class AsyncWeighted(Policy):
    """Asynchronous FedAvg, aggregating each return with d_i = (sum_j 1/tau_j) * tau_i * p_i."""

    name = "async"
    on_every_return = True

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        return np.asarray(float(np.sum(1.0 / taus)) * taus * p, dtype=np.float64)


class AsyncIdentical(Policy):
    """Asynchronous FedAvg with identical weights d_i = 1 (its surrogate optimum favours fast clients)."""

    name = "async_identical"
    on_every_return = True

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        return np.ones_like(p)


class FedFix(Policy):
    """FedFix-dt: aggregate every ``dt`` whatever returned, d_i = ceil(tau_i / dt) * p_i."""

    name = "fedfix"

    def __init__(self, dt: float = 0.2) -> None:
        self.dt = check_positive("dt", dt)
        self.period = self.dt

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        return np.asarray(np.ceil(taus / self.dt - EPS) * p, dtype=np.float64)

    def describe(self) -> str:
        return f"fedfix(dt={self.dt:g})"

    def __repr__(self) -> str:
        return f"FedFix(dt={self.dt!r})"


class FedBuff(Policy):
    """FedBuff-c: aggregate after c buffered updates, d_i = 1 / c; clients restart at once on return."""

    name = "fedbuff"
    restart_on_return = True

    def __init__(self, c: int = 5) -> None:
        self.c = check_int("c", c, 1)

    def weights(self, taus: FloatArray, p: FloatArray) -> FloatArray:
        return np.full_like(p, 1.0 / self.c)

    def ready(self, buffered: int, in_flight: int) -> bool:
        return buffered >= self.c

    def describe(self) -> str:
        return f"fedbuff(c={self.c})"

    def __repr__(self) -> str:
        return f"FedBuff(c={self.c!r})"


POLICIES: dict[str, type[Policy]] = {
    "fedavg": FedAvg,
    "async": AsyncWeighted,
    "async_identical": AsyncIdentical,
    "fedfix": FedFix,
    "fedbuff": FedBuff,
}
"""Registry: policy name -> class."""


def get_policy(name: str, dt: float | None = None, c: int | None = None) -> Policy:
    """The policy called ``name``; ``dt`` (fedfix, default 0.2) and ``c`` (fedbuff, default 5).

    ``dt`` and ``c`` are checked whenever they are given (dt > 0, c >= 1) and ignored by the other policies.

    Raises:
        ParameterError: unknown name, dt <= 0 or not finite, c < 1 or not an integer.
    """
    if dt is not None:
        check_positive("dt", dt)
    if c is not None:
        check_int("c", c, 1)
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in POLICIES:
        raise ParameterError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    if key == "fedfix":
        return FedFix(0.2 if dt is None else dt)
    if key == "fedbuff":
        return FedBuff(5 if c is None else c)
    return POLICIES[key]()
