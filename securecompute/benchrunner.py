"""Find and run the benchmark scripts in ``benchmarks/`` (``securecompute bench``).

Benchmarks are plain scripts in the repository, not part of the installed package: each compares
against a named baseline in the same run and writes JSON.  This module only locates them (in
``./benchmarks`` or ``$SECURECOMPUTE_BENCHMARKS``) and runs one in a child interpreter.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from securecompute.errors import ParameterError

__all__ = ["benchmarks_directory", "list_benchmarks", "recorded_result", "run_benchmark"]


def benchmarks_directory() -> Path:
    """The folder holding the benchmark scripts.

    Raises:
        ParameterError: no such folder here (run from the repository root or set
            SECURECOMPUTE_BENCHMARKS).
    """
    directory = Path(os.environ.get("SECURECOMPUTE_BENCHMARKS", "benchmarks"))
    if not directory.is_dir():
        raise ParameterError(
            f"benchmark folder {str(directory)!r} not found; run from the repository root "
            "or set SECURECOMPUTE_BENCHMARKS to the benchmarks/ folder"
        )
    return directory


def list_benchmarks() -> list[tuple[str, str]]:
    """(name, first docstring line) for every ``benchmarks/*.py`` script, sorted by name."""
    found = []
    for script in sorted(benchmarks_directory().glob("*.py")):
        if script.name.startswith("_"):
            continue
        docstring = ast.get_docstring(ast.parse(script.read_text())) or ""
        found.append((script.stem, docstring.strip().splitlines()[0] if docstring.strip() else ""))
    return found


def run_benchmark(name: str, *, quick: bool = False) -> int:
    """Run ``benchmarks/<name>.py`` in a child interpreter and return its exit status.

    Raises:
        ParameterError: no benchmark of that name.
    """
    names = [known for known, _ in list_benchmarks()]
    if name not in names:
        raise ParameterError(f"no benchmark named {name!r}; available: {', '.join(names) or 'none'}")
    command = [sys.executable, str(benchmarks_directory() / f"{name}.py")] + (["--quick"] if quick else [])
    return subprocess.run(command, check=False).returncode


def recorded_result(name: str, start: str | Path | None = None) -> Path | None:
    """The recorded ``benchmarks/results/<name>`` file, found from any working folder; None if not recorded.

    Looks in ``$SECURECOMPUTE_BENCHMARKS/results``, then in ``benchmarks/results`` of ``start`` (default: the
    working folder) and each folder above it, then beside the package's source (an editable install of the
    repository), so that notebooks read the same file from ``examples/``, the repository root or elsewhere.
    """
    here = (Path.cwd() if start is None else Path(start)).resolve()
    candidates = [folder / "benchmarks" / "results" / name for folder in (here, *here.parents)]
    candidates.append(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / name)
    if "SECURECOMPUTE_BENCHMARKS" in os.environ:
        candidates.insert(0, Path(os.environ["SECURECOMPUTE_BENCHMARKS"]) / "results" / name)
    return next((path for path in candidates if path.is_file()), None)
