"""BLAS threads are pinned inside the cross/ kernels and restored after; the setting can be overridden."""

from __future__ import annotations

import numpy as np
import pytest

from securecompute import blas
from securecompute.blas import blas_threads, limited_blas_threads, single_blas_thread
from securecompute.errors import ParameterError


@pytest.fixture
def two_threads():  # type: ignore[no-untyped-def]
    """BLAS set to 2 threads around the test (as on a machine where OpenBLAS uses every core)."""
    controller = blas._threadpool_controller()
    with controller.limit(limits=2, user_api="blas"):
        yield


def test_the_limit_holds_inside_and_is_restored_after(two_threads) -> None:  # type: ignore[no-untyped-def]
    assert blas_threads() == 2
    with limited_blas_threads():
        assert blas_threads() == 1
        with limited_blas_threads(3):  # nested: the outer limit stays, at no cost
            assert blas_threads() == 1
    assert blas_threads() == 2


def test_kernels_run_their_gemms_on_one_thread(two_threads, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import securecompute.cross.ntt as ntt_module
    from securecompute.cross import NTT, find_ntt_primes

    seen: list[int] = []
    original = ntt_module._reduce

    def spy(*args: object) -> None:
        seen.append(blas_threads())
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ntt_module, "_reduce", spy)
    moduli = find_ntt_primes(30, 64, 2)
    ntt = NTT(64, moduli)
    values = np.random.default_rng(0).integers(0, min(moduli), (2, 64))
    assert np.array_equal(ntt.inverse(ntt.forward(values)), values)
    assert seen
    assert set(seen) == {1}
    assert blas_threads() == 2


def test_the_environment_can_leave_blas_alone(two_threads, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SECURECOMPUTE_BLAS_THREADS", "0")
    with limited_blas_threads():
        assert blas_threads() == 2
    monkeypatch.setenv("SECURECOMPUTE_BLAS_THREADS", "two")
    with pytest.raises(ParameterError, match="SECURECOMPUTE_BLAS_THREADS='two'"), limited_blas_threads():
        pass


def test_the_decorator_keeps_the_name_and_the_result() -> None:
    @single_blas_thread
    def product(a: np.ndarray) -> np.ndarray:
        """A docstring."""
        return a @ a

    assert product.__name__ == "product"
    assert product.__doc__ == "A docstring."
    assert np.array_equal(product(np.eye(3)), np.eye(3))
