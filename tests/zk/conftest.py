"""Shared fixtures of the zkReLU tests: small parameters and a few honest proofs (built once)."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute.zk import Params, ReluProof, prove_relu


@pytest.fixture(scope="session")
def tiny_params() -> Params:
    """Q = 4, R = 2 (B = 6 bits, 8 slots), at most 2**4 elements: proofs of a few KiB."""
    return Params.setup(q_bits=4, frac_bits=2, max_log_n=4)


@pytest.fixture(scope="session")
def params() -> Params:
    """The issue's format, Q = R = 16, sized for tests (at most 2**8 elements)."""
    return Params.setup(q_bits=16, frac_bits=16, max_log_n=8)


def random_inputs(pp: Params, n: int, seed: int) -> np.ndarray:
    """n integers spread over the whole admissible range, including both ends."""
    values = np.random.default_rng(seed).integers(pp.min_value, pp.max_value + 1, size=n)
    values[: min(n, 2)] = [pp.min_value, pp.max_value][: min(n, 2)]
    return values


@pytest.fixture(scope="session")
def micro_params() -> Params:
    """The smallest format, Q = 2, R = 1 (B = 3 bits), at most 2 elements: the smallest possible proof."""
    return Params.setup(q_bits=2, frac_bits=1, max_log_n=1)


@pytest.fixture(scope="session")
def micro_proof(micro_params: Params) -> ReluProof:
    """A forward proof over 2 elements, one negative."""
    return prove_relu(micro_params, np.array([-3, 2]), seed=13)


@pytest.fixture(scope="session")
def tiny_proof(tiny_params: Params) -> ReluProof:
    """A forward proof over 4 elements."""
    return prove_relu(tiny_params, random_inputs(tiny_params, 4, seed=3), seed=11)


@pytest.fixture(scope="session")
def tiny_backward_proof(tiny_params: Params) -> ReluProof:
    """A forward-and-backward proof over 4 elements."""
    pp = tiny_params
    return prove_relu(pp, random_inputs(pp, 4, seed=4), random_inputs(pp, 4, seed=5), seed=12)
