"""Progress bars for long loops, shown only where a person is watching.

Library code wraps long loops (key generation, federated rounds, proofs over large tensors) in
:func:`progress`.  A bar appears when standard error is a terminal or the code runs in a Jupyter
kernel, unless :func:`set_progress` (the CLI's ``--quiet``/``--progress``) decides otherwise; in
tests and CI nothing is printed.  Bars come from ``tqdm.auto``, so notebooks get widgets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress", "progress_enabled", "set_progress"]

T = TypeVar("T")
_override: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Force bars on (True) or off (False), or return to detecting a watcher (None)."""
    global _override
    _override = enabled


def progress_enabled() -> bool:
    """True when bars should be drawn: forced on, or attached to a terminal or notebook."""
    if _override is not None:
        return _override
    return _in_notebook() or sys.stderr.isatty()


def progress(
    iterable: Iterable[T], *, desc: str | None = None, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Iterate over ``iterable``, drawing a tqdm bar when :func:`progress_enabled`."""
    if not progress_enabled():
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    instance = get_ipython() if get_ipython is not None else None
    return instance is not None and hasattr(instance, "kernel")
