"""How many threads the zk prover's limb kernels use, and the splitter that hands each thread a share of rows.

The numba kernels of :mod:`securecompute.zk.limbs` are compiled with ``nogil=True``, so plain Python threads run
them in parallel.  A kernel over ``n`` independent rows (a fold, a Kronecker product, a sumcheck round's sums over
the pairs of the hypercube) is cut into contiguous shares, one per thread; outputs go to disjoint rows of one
array, and round sums are exact limb-wise integer sums added afterwards, so the result (and every proof) is bit for
bit the same for any thread count.  The MSMs are left alone: the arkworks binding holds the GIL (measured: 64 MSMs
of 256 points took as long on 2 threads as on one).

Choose the count with the environment variable ``SECURECOMPUTE_ZK_THREADS`` (read on first use) or
:func:`set_threads`; the default is the machine's core count capped at 2, what ``benchmarks/zkmlp.py`` measured
(protocols/zkmlp.md section 10).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from securecompute.errors import ParameterError

__all__ = ["ENV_VAR", "MAX_THREADS", "get_threads", "in_shares", "set_threads"]

ENV_VAR = "SECURECOMPUTE_ZK_THREADS"
MAX_THREADS = 64
DEFAULT_CAP = 2
MIN_SHARE = 4096
"""Fewest units of work (rows times ``weight``) per thread; below it the kernel runs on the calling thread,
since a thread hand-off costs tens of microseconds and small tables are most of the calls."""

_Result = TypeVar("_Result")
_lock = threading.Lock()
_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _parse(value: object, source: str) -> int:
    """An integer thread count in 1..MAX_THREADS from an int or a decimal string, else ParameterError."""
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()) or not 1 <= int(text) <= MAX_THREADS:
        raise ParameterError(
            f"{source} = {value!r}: the zk prover's thread count must be an integer in 1..{MAX_THREADS}"
        )
    return int(text)


def set_threads(count: int | None) -> None:
    """Use ``count`` threads (1..64) from now on; ``None`` goes back to the environment variable or the default."""
    global _threads, _pool, _pool_size
    chosen = None if count is None else _parse(count, "threads")
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool, _pool_size = None, 0
        _threads = chosen


def get_threads() -> int:
    """The thread count in force: :func:`set_threads`, else ``$SECURECOMPUTE_ZK_THREADS``, else min(cores, 2)."""
    global _threads
    with _lock:
        if _threads is None:
            configured = os.environ.get(ENV_VAR)
            _threads = _parse(configured, ENV_VAR) if configured else max(1, min(DEFAULT_CAP, _usable_cores()))
        return _threads


def _usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one, as on Linux; else all)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _executor(count: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != count:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool, _pool_size = ThreadPoolExecutor(max_workers=count, thread_name_prefix="zk-prover"), count
        return _pool


def in_shares(count: int, work: Callable[[int, int], _Result], weight: int = 1) -> list[_Result]:
    """``work(start, stop)`` over contiguous shares of ``range(count)``, in parallel; the results in share order.

    ``work`` must touch only its own rows (a nogil kernel).  One share (``work(0, count)`` on this thread) when one
    thread is configured or ``count * weight`` is below ``2 * MIN_SHARE``.
    """
    threads = min(get_threads(), max(1, count * max(weight, 1) // MIN_SHARE))
    if threads <= 1:
        return [work(0, count)]
    bounds = [count * k // threads for k in range(threads + 1)]
    pool = _executor(get_threads() - 1)
    futures = [pool.submit(work, bounds[k], bounds[k + 1]) for k in range(1, threads)]
    first = work(bounds[0], bounds[1])  # the calling thread takes the first share
    return [first, *(future.result() for future in futures)]
