"""A guard for the JAX engine's device-residency tests: no host <-> device copy while it is held.

``jax.transfer_guard("disallow")`` refuses implicit host -> device copies and ``int()`` / ``bool()`` of
device values, but on the CPU backend numpy's conversions of a ``jax.Array`` (``np.asarray``,
``np.array``) are zero-copy views that the guard never sees; on a GPU they would be device -> host
copies.  So the guard also makes numpy's array constructors refuse a ``jax.Array`` while it is held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

CONVERSIONS = ("asarray", "array", "ascontiguousarray", "asanyarray")


@contextmanager
def host_copies_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside: any implicit transfer (JAX's guard) or numpy conversion of a ``jax.Array`` raises."""
    import jax

    def refusing(name: str, convert: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(value, jax.Array):
                raise AssertionError(f"np.{name} of a device array {value.shape}: a host copy")
            return convert(value, *args, **kwargs)

        return guarded

    with monkeypatch.context() as patch:
        for name in CONVERSIONS:
            patch.setattr(np, name, refusing(name, getattr(np, name)))
        with jax.transfer_guard("disallow"):
            yield
