"""One way of taking randomness: a seed, a numpy Generator, or None for fresh OS entropy."""

from __future__ import annotations

import secrets

import numpy as np

from securecompute.errors import ParameterError

__all__ = ["Seed", "as_generator"]

Seed = int | np.random.Generator | None


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a numpy Generator: ``seed`` itself, one seeded with the int, or one from ``secrets``.

    Raises:
        ParameterError: ``seed`` is a negative int or of another type.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(secrets.randbits(128))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ParameterError(f"seed must be a non-negative int, a numpy.random.Generator or None, got {seed!r}")
