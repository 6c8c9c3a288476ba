"""BLAS threads are pinned inside the cross/ kernels and restored after; the setting can be overridden."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from securecompute import blas
from securecompute.blas import blas_threads, limited_blas_threads, single_blas_thread
from securecompute.errors import ParameterError


@pytest.fixture
def two_threads():  # type: ignore[no-untyped-def]
    """BLAS set to 2 threads around the test (as on a machine where OpenBLAS uses every core)."""
    libraries = blas._blas_libraries()
    before = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(2)
    yield
    for library, count in zip(libraries, before, strict=True):
        library.set_num_threads(count)


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
    for text in ("two", "\u00b2", "-1"):  # "\u00b2" (superscript two) passes str.isdigit
        monkeypatch.setenv("SECURECOMPUTE_BLAS_THREADS", text)
        with pytest.raises(ParameterError, match="SECURECOMPUTE_BLAS_THREADS="), limited_blas_threads():
            pass
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


class _FakeBlas:
    """A BLAS library's controller as threadpoolctl gives it: a thread count to get and set."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, threads: int) -> None:
        self.threads = threads


def test_overlapping_holds_in_two_threads_restore_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A enters, B enters, A leaves, B leaves: BLAS stays pinned until B leaves and is then restored.

    (BLAS's count is process-wide: per-thread save/restore would have B restore A's pinned 1 for good.)
    """
    library = _FakeBlas(4)
    monkeypatch.setattr(blas, "_libraries", [library])
    a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def first() -> None:
        with limited_blas_threads():
            a_inside.set()
            b_inside.wait(10)
        seen["after A left"] = library.threads
        a_left.set()

    def second() -> None:
        a_inside.wait(10)
        with limited_blas_threads():
            b_inside.set()
            a_left.wait(10)
            seen["B inside, A gone"] = library.threads

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == {"after A left": 1, "B inside, A gone": 1}
    assert library.threads == 4


def test_a_hold_sets_nothing_when_blas_already_has_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    library = _FakeBlas(1)
    monkeypatch.setattr(library, "set_num_threads", calls.append)
    monkeypatch.setattr(blas, "_libraries", [library])
    with limited_blas_threads():
        pass
    assert calls == []


def test_the_real_blas_stays_pinned_while_a_worker_holds_and_is_restored_after(two_threads) -> None:  # type: ignore[no-untyped-def]
    inside, leave = threading.Event(), threading.Event()
    counts: list[int] = []

    def worker() -> None:
        with limited_blas_threads():
            inside.set()
            leave.wait(10)

    with limited_blas_threads():
        thread = threading.Thread(target=worker)
        thread.start()
        inside.wait(10)
        counts.append(blas_threads())
        leave.set()
        thread.join(10)
        counts.append(blas_threads())  # the worker left first: the main thread's hold still pins
    assert counts == [1, 1]
    assert blas_threads() == 2


def test_a_library_that_refuses_leaves_the_others_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _FakeBlas(4), _FakeBlas(4)

    def refuse(threads: int) -> None:
        raise OSError("cannot set threads")

    monkeypatch.setattr(second, "set_num_threads", refuse)
    monkeypatch.setattr(blas, "_libraries", [first, second])
    with pytest.raises(OSError, match="cannot set"), limited_blas_threads():
        pass
    assert first.threads == 4
    monkeypatch.setattr(blas, "_libraries", [first])
    with limited_blas_threads():  # the failed hold left no count behind
        assert first.threads == 1
    assert first.threads == 4
