"""BLAS threads pinned around the library's own small GEMMs, so users get the fast path by default.

The kernels of :mod:`securecompute.cross` run many small float64 GEMMs (64 x 64 to 512 x 512).
Multi-threaded OpenBLAS splits each one across cores and, on a busy machine, waits for them: on two
shared cores that costs 100-500x per small product (8 ms instead of 16 us per NTT limb, measured in
issue #16).  :func:`single_blas_thread` limits BLAS to one thread for the duration of a public entry
point (through ``threadpoolctl``'s controllers of OpenBLAS, MKL and BLIS) and restores the caller's
setting on exit.  ``SECURECOMPUTE_BLAS_THREADS`` overrides the count (``0`` leaves BLAS alone).
:func:`blas_threads` reports what BLAS currently uses, for printing beside timings.

BLAS's thread count is one setting for the whole process, so the pin is one process-wide hold: the
first entry point to start (in any thread) records the setting and limits it, nested and concurrent
ones only count themselves in, and the last to finish restores the recorded setting.  (Per-thread
save/restore would let two overlapping threads leave BLAS pinned for good.)  While a kernel runs,
other threads' BLAS calls also run on the pinned count.  An entry costs a lock and, outside a hold,
a few microseconds of get/set calls into the BLAS library.  (Observed with numpy's OpenBLAS 0.3.31:
once the main thread has set the count, calls from other threads no longer change it, so a hold that
only worker threads take leaves BLAS as it was, and one they end last cannot restore it there.)
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import numpy  # noqa: F401 - loads numpy's BLAS before threadpoolctl looks for libraries

from securecompute.errors import ParameterError

__all__ = ["blas_threads", "limited_blas_threads", "single_blas_thread"]

P = ParamSpec("P")
R = TypeVar("R")

ENVIRONMENT_VARIABLE = "SECURECOMPUTE_BLAS_THREADS"
"""Threads BLAS may use inside the kernels (default 1; 0 = do not touch BLAS's setting)."""

_lock = threading.Lock()
_holders = 0
"""Entry points inside a hold right now, over all threads (guarded by ``_lock``)."""
_recorded: list[tuple[Any, int]] = []
"""Each BLAS library the current hold changed, with the thread count to restore (guarded by ``_lock``)."""
_libraries: list[Any] | None = None
_scan_lock = threading.Lock()


def blas_threads() -> int:
    """Threads the loaded BLAS libraries use right now (the largest, when several are loaded; 1 if none)."""
    counts = [count for count in (library.get_num_threads() for library in _blas_libraries()) if count is not None]
    return max(counts, default=1)


@contextmanager
def limited_blas_threads(threads: int | None = None) -> Iterator[None]:
    """Limit BLAS to ``threads`` (default: ``SECURECOMPUTE_BLAS_THREADS`` or 1) inside the block.

    Blocks that start while another is active (nested in one thread, or in other threads) join its
    hold and keep its limit; the caller's setting comes back when the last block ends.

    Raises:
        ParameterError: ``SECURECOMPUTE_BLAS_THREADS`` is not a whole number >= 0.
    """
    wanted = _configured_threads() if threads is None else threads
    if wanted <= 0:
        yield
        return
    _hold(wanted)
    try:
        yield
    finally:
        _release()


def _hold(wanted: int) -> None:
    global _holders
    with _lock:
        if _holders == 0:
            _recorded.clear()
            try:
                for library in _blas_libraries():
                    current = library.get_num_threads()
                    if current is not None and current != wanted:
                        library.set_num_threads(wanted)
                        _recorded.append((library, current))
            except BaseException:  # a library that refuses: undo the others, hold nothing
                for library, count in _recorded:
                    library.set_num_threads(count)
                _recorded.clear()
                raise
        _holders += 1


def _release() -> None:
    global _holders
    with _lock:
        _holders -= 1
        if _holders == 0:
            for library, count in _recorded:
                library.set_num_threads(count)
            _recorded.clear()


def single_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``function`` under :func:`limited_blas_threads` (its small GEMMs on one thread)."""

    @functools.wraps(function)
    def pinned(*args: P.args, **kwargs: P.kwargs) -> R:
        with limited_blas_threads():
            return function(*args, **kwargs)

    return pinned


def _configured_threads() -> int:
    text = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip()
    if not (text.isascii() and text.isdigit()):
        raise ParameterError(f"{ENVIRONMENT_VARIABLE}={text!r} is invalid; accepted: a whole number >= 0")
    return int(text)


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS libraries, found once per process (a scan takes ms).

    numpy is imported first (at the top of this module), so its BLAS is loaded before the scan.
    """
    global _libraries
    with _scan_lock:  # its own lock: _hold calls this while holding _lock
        if _libraries is None:
            from threadpoolctl import ThreadpoolController

            _libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        return _libraries
