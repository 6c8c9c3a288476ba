"""The prover's thread count: validated, and the split kernels and proofs are the same bit for bit at 1, 2 and 3 threads."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.zk import Params, field, limbs, prove_relu, threads
from securecompute.zk.field import MODULUS


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    yield
    threads.set_threads(None)


@pytest.mark.parametrize("bad", [0, -1, threads.MAX_THREADS + 1, "two", "", "1.5", True, 2.0])
def test_bad_thread_counts_are_refused(bad: object) -> None:
    with pytest.raises(ParameterError, match="thread count"):
        threads.set_threads(bad)  # type: ignore[arg-type]


def test_environment_variable_sets_the_count_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV_VAR, "3")
    threads.set_threads(None)
    assert threads.get_threads() == 3
    monkeypatch.setenv(threads.ENV_VAR, "many")
    threads.set_threads(None)
    with pytest.raises(ParameterError, match=threads.ENV_VAR):
        threads.get_threads()
    monkeypatch.delenv(threads.ENV_VAR)
    threads.set_threads(None)
    assert 1 <= threads.get_threads() <= threads.DEFAULT_CAP


def test_shares_cover_the_range_in_order() -> None:
    threads.set_threads(3)
    shares = threads.in_shares(3 * threads.MIN_SHARE + 5, lambda start, stop: (start, stop))
    assert shares[0][0] == 0
    assert shares[-1][1] == 3 * threads.MIN_SHARE + 5
    assert all(left[1] == right[0] for left, right in itertools.pairwise(shares))
    assert len(shares) == 3
    assert threads.in_shares(10, lambda start, stop: (start, stop)) == [(0, 10)]  # too small to split


@pytest.mark.parametrize("count", [2, 3])
def test_split_kernels_equal_python_ints(count: int) -> None:
    rng = random.Random(count)
    size = 4 * threads.MIN_SHARE  # pairs = 2 * MIN_SHARE: large enough to split
    a = [rng.randrange(MODULUS) for _ in range(size)]
    b = [rng.choice([0, 1, MODULUS - 1, rng.randrange(MODULUS)]) for _ in range(size)]
    suffix = [rng.randrange(MODULUS) for _ in range(size // 2)]
    c = rng.randrange(MODULUS)
    x, y, e = limbs.from_field(a), limbs.from_field(b), limbs.from_field(suffix)
    threads.set_threads(1)
    single = (limbs.fold(x, c), limbs.round_sums(limbs.ROUND_BOOLEANITY, e, x, y), limbs.outer(x[:3], x[: size // 2]))
    threads.set_threads(count)
    split = (limbs.fold(x, c), limbs.round_sums(limbs.ROUND_BOOLEANITY, e, x, y), limbs.outer(x[:3], x[: size // 2]))
    assert limbs.to_field(split[0]) == field.fold(a, c)
    assert np.array_equal(split[0], single[0])
    assert split[1] == single[1]
    assert np.array_equal(split[2], single[2])
    assert limbs.to_field(split[2][: size // 2]) == [a[0] * v % MODULUS for v in a[: size // 2]]


def test_relu_proofs_are_byte_identical_across_thread_counts() -> None:
    pp = Params.setup(16, 16, 13)
    z = np.random.default_rng(3).integers(pp.min_value, pp.max_value + 1, size=1 << 13)
    proofs = []
    for count in (1, 2):
        threads.set_threads(count)
        proofs.append(prove_relu(pp, z, seed=11).to_bytes())
    assert proofs[0] == proofs[1]
