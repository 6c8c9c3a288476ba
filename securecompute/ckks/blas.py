"""One BLAS thread around the scheme's GEMMs, set by the library itself.

The kernels issue many small float64 GEMMs; multi-threaded OpenBLAS pays a large per-call
synchronisation cost on them (measured here: a 4-limb 60-bit NTT at N = 2^13 takes 20 ms with one
BLAS thread and 320-360 ms with two on a loaded 2-core machine).  Every public entry point of this
package runs under :func:`one_blas_thread`.  The BLAS thread count is process-wide, so entries are
counted: the first entrant (of any Python thread) limits BLAS to one thread and the last one out
restores it, which keeps concurrent callers (a thread pool running independent ciphertext ops) safe.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["one_blas_thread"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_state: dict[str, Any] = {"depth": 0, "controller": None, "limiter": None}


def _enter() -> None:
    with _lock:
        if _state["depth"] == 0:
            if _state["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _state["controller"] = ThreadpoolController()
            _state["limiter"] = _state["controller"].limit(limits=1, user_api="blas")
        _state["depth"] += 1


def _exit() -> None:
    with _lock:
        _state["depth"] -= 1
        if _state["depth"] == 0 and _state["limiter"] is not None:
            _state["limiter"].restore_original_limits()
            _state["limiter"] = None


def one_blas_thread(function: F) -> F:
    """Decorate ``function`` so that it runs with BLAS limited to one thread (re-entrant, thread-safe)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return function(*args, **kwargs)
        finally:
            _exit()

    return wrapper  # type: ignore[return-value]
