"""BLAS threads pinned around the library's own small GEMMs, so users get the fast path by default.

The kernels of :mod:`securecompute.cross` run many small float64 GEMMs (64 x 64 to 512 x 512).
Multi-threaded OpenBLAS splits each one across cores and, on a busy machine, waits for them: on two
shared cores that costs 100-500x per small product (8 ms instead of 16 us per NTT limb, measured in
issue #16).  :func:`single_blas_thread` limits BLAS to one thread for the duration of a public entry
point (through ``threadpoolctl``, which knows OpenBLAS, MKL and BLIS) and restores the caller's setting
on exit; nested entry points pay for the switch once.  ``SECURECOMPUTE_BLAS_THREADS`` overrides the
count (``0`` leaves BLAS alone).  :func:`blas_threads` reports what BLAS currently uses, for printing
beside timings.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from securecompute.errors import ParameterError

__all__ = ["blas_threads", "limited_blas_threads", "single_blas_thread"]

P = ParamSpec("P")
R = TypeVar("R")

ENVIRONMENT_VARIABLE = "SECURECOMPUTE_BLAS_THREADS"
"""Threads BLAS may use inside the kernels (default 1; 0 = do not touch BLAS's setting)."""

_inside = threading.local()
_controller_lock = threading.Lock()
_controller: Any = None


def blas_threads() -> int:
    """Threads the loaded BLAS libraries use right now (the largest, when several are loaded; 1 if none)."""
    counts = [int(info["num_threads"]) for info in _threadpool_controller().info() if info.get("user_api") == "blas"]
    return max(counts, default=1)


@contextmanager
def limited_blas_threads(threads: int | None = None) -> Iterator[None]:
    """Limit BLAS to ``threads`` (default: ``SECURECOMPUTE_BLAS_THREADS`` or 1) inside the block.

    Nested blocks (one entry point calling another) keep the outermost limit and cost nothing.
    """
    if getattr(_inside, "active", False):
        yield
        return
    wanted = _configured_threads() if threads is None else threads
    if wanted <= 0:
        yield
        return
    _inside.active = True
    try:
        with _threadpool_controller().limit(limits=wanted, user_api="blas"):
            yield
    finally:
        _inside.active = False


def single_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``function`` under :func:`limited_blas_threads` (its small GEMMs on one thread)."""

    @functools.wraps(function)
    def pinned(*args: P.args, **kwargs: P.kwargs) -> R:
        with limited_blas_threads():
            return function(*args, **kwargs)

    return pinned


def _configured_threads() -> int:
    text = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip()
    if not text.isdigit():
        raise ParameterError(f"{ENVIRONMENT_VARIABLE}={text!r} is invalid; accepted: a whole number >= 0")
    return int(text)


def _threadpool_controller() -> Any:
    """One ``ThreadpoolController`` per process: building one scans the loaded libraries (milliseconds)."""
    global _controller
    with _controller_lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller
