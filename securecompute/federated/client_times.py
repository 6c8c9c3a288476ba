"""Client time models for the asynchronous simulator: deterministic F-X, exponential, user traces."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import FloatArray, check_int

__all__ = ["TimeModel", "client_times", "time_model"]


# ----------------------------------------------------------------------------------------------------------
# Client times

_SCENARIO = re.compile(r"^(exp-)?f?-?(\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class TimeModel:
    """Mean times tau_i and how one job's duration is drawn."""

    taus: FloatArray
    kind: str  # "fixed", "exp" or "trace"
    trace: tuple[tuple[float, ...], ...] = ()

    def draw(self, client: int, job: int, rng: np.random.Generator) -> float:
        if self.kind == "exp":
            return float(rng.exponential(self.taus[client]))
        if self.kind == "trace":
            durations = self.trace[client]
            return durations[job % len(durations)]
        return float(self.taus[client])


def client_times(times: str | Sequence[float] | Sequence[Sequence[float]], clients: int) -> FloatArray:
    """The mean job times tau_i of ``clients`` clients under the time model ``times`` (module docstring).

    Raises:
        ParameterError: an unknown scenario, X outside [0, 100), a time <= 0 or NaN, or the wrong length.
    """
    return time_model(times, check_int("clients", clients, 1)).taus.copy()


def time_model(times: str | Sequence[float] | Sequence[Sequence[float]], clients: int) -> TimeModel:
    if isinstance(times, str):
        match = _SCENARIO.match(times.strip().lower().replace("_", "-"))
        if match is None or not (times.strip().lower().startswith(("f", "exp-"))):
            raise ParameterError(f"unknown client times {times!r}; use 'F-X', 'exp-X' (0 <= X < 100) or a list")
        percent = float(match.group(2))
        if not 0 <= percent < 100:
            raise ParameterError(f"client times {times!r}: X must be in [0, 100), got {percent:g}")
        index = np.arange(clients, dtype=np.float64)
        taus = 1.0 - index * (percent / 100.0) / max(clients - 1, 1)
        return TimeModel(np.asarray(taus, dtype=np.float64), "exp" if match.group(1) else "fixed")
    try:
        items = list(times)
    except TypeError as error:
        raise ParameterError(f"client times must be 'F-X', 'exp-X' or a sequence, got {times!r}") from error
    if len(items) != clients:
        raise ParameterError(f"client times must give {clients} clients, got {len(items)}")
    if all(isinstance(item, (int, float, np.floating, np.integer)) for item in items):
        taus = np.asarray(items, dtype=np.float64)
        _check_durations(taus, "client times")
        return TimeModel(taus, "fixed")
    trace: list[tuple[float, ...]] = []
    for client, item in enumerate(items):
        try:
            durations = np.asarray(item, dtype=np.float64).ravel()
        except (TypeError, ValueError) as error:
            raise ParameterError(f"trace of client {client} must hold numbers, got {item!r}") from error
        if durations.size == 0:
            raise ParameterError(f"trace of client {client} is empty")
        _check_durations(durations, f"trace of client {client}")
        trace.append(tuple(float(value) for value in durations))
    taus = np.asarray([np.mean(durations) for durations in trace], dtype=np.float64)
    return TimeModel(taus, "trace", tuple(trace))


def _check_durations(values: FloatArray, what: str) -> None:
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ParameterError(f"{what} must be finite and > 0, got {values[bad][:5].tolist()}")
