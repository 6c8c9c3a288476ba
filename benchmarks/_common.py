"""Helpers shared by the benchmark scripts: clean BLAS environment, machine facts, timing, JSON, tables."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_REEXEC_MARK = "SECURECOMPUTE_BENCH_REEXEC"


def reexec_without_openblas_overrides() -> None:
    """Restart this script with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the environment.

    Those variables pin OpenBLAS to a kernel chosen elsewhere; a benchmark should measure the kernel
    OpenBLAS picks for this CPU.  They only take effect when OpenBLAS loads, hence the re-exec.
    Call it first thing in ``main()``.  The removed names are remembered (see :func:`removed_overrides`).
    """
    present = [name for name in OPENBLAS_OVERRIDES if name in os.environ]
    if not present or os.environ.get(_REEXEC_MARK):
        return
    env = {key: value for key, value in os.environ.items() if key not in present}
    env[_REEXEC_MARK] = ",".join(present)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def removed_overrides() -> list[str]:
    """Environment variables :func:`reexec_without_openblas_overrides` removed (empty if none)."""
    return [name for name in os.environ.get(_REEXEC_MARK, "").split(",") if name]


def blas_info() -> list[dict[str, Any]]:
    """The BLAS/OpenMP libraries loaded in this process and the kernel each uses (via threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed (pip install -e '.[bench]')"}]
    import numpy  # noqa: F401  (load numpy's BLAS so that threadpoolctl sees it)

    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
    return [{key: info.get(key) for key in keys if key in info} for info in threadpool_info()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(packages: Sequence[str] = ("numpy", "tenseal", "securecompute")) -> dict[str, Any]:
    """CPU, core counts, OS, Python, package versions, BLAS kernel and the date (UTC)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "blas": blas_info(),
        "removed_env": removed_overrides(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def blas_summary(info: dict[str, Any]) -> str:
    """One line naming the BLAS libraries and kernels of :func:`machine_info`."""
    parts = []
    for lib in info.get("blas", []):
        if "error" in lib:
            parts.append(lib["error"])
        else:
            parts.append(f"{lib.get('internal_api')} {lib.get('version')} kernel={lib.get('architecture')}")
    return "; ".join(parts) or "no BLAS library loaded"


def time_repeats(function: Callable[[], T], repeats: int) -> tuple[list[float], T]:
    """Call ``function`` ``repeats`` times; wall seconds of each call and the last result."""
    times = []
    result: Any = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, creating the folder; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    temporary.replace(target)
    return target


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-markdown table, columns padded so that it also reads well as plain text."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
