"""The registry of CKKS engines, by name.

    from securecompute.fhe.engines import engine_factory, engine_names
    holder = engine_factory("seal").generate(params)     # a CKKSKeyHolder
    evaluator = holder.public()                           # a CKKSEngine

Built in: ``seal`` (Microsoft SEAL through ``tenseal.sealapi``: real encryption), ``cross`` (this
project's RNS-CKKS, :mod:`securecompute.ckks`, on the GEMM kernels of :mod:`securecompute.cross`;
numpy array engine) and ``simulate`` (numpy slot vectors with level accounting: no encryption, no
security).  Another engine registers a
factory with :func:`register_engine` (its module is imported only when first asked for), and the
conformance suite ``tests/fhe/test_backend_conformance.py`` then runs it through the same laws.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from securecompute.errors import ParameterError

if TYPE_CHECKING:
    from securecompute.fhe.backend import EngineFactory

__all__ = ["engine_factory", "engine_names", "register_engine"]

# name -> "module:attribute" of its factory, imported lazily so that listing engines loads none.
_LAZY: dict[str, str] = {
    "cross": "securecompute.fhe.engines.cross:FACTORY",
    "cross-jax": "securecompute.fhe.engines.cross:JAX_FACTORY",
    "seal": "securecompute.fhe.engines.seal:FACTORY",
    "simulate": "securecompute.fhe.engines.simulate:FACTORY",
}
_LOADED: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory | str) -> None:
    """Register ``factory`` (or a lazy ``"module:attribute"`` path to it) under ``name``.

    Raises:
        ParameterError: the name is taken or not lower-case ASCII letters, digits and dashes.
    """
    if not isinstance(name, str) or not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
        raise ParameterError(f"engine name {name!r} must be lower-case letters, digits and dashes")
    if name != name.lower() or name in _LAZY or name in _LOADED:
        raise ParameterError(f"engine name {name!r} is taken or not lower-case; registered: {engine_names()}")
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        if not module or not attribute or ":" in attribute:
            raise ParameterError(f"engine factory path {factory!r} must read 'module:attribute'")
        _LAZY[name] = factory
    else:
        _LOADED[name] = _named(factory, name)


def engine_names() -> list[str]:
    """Names of every registered engine, sorted."""
    return sorted({*_LAZY, *_LOADED})


def engine_factory(name: str) -> EngineFactory:
    """The factory registered as ``name``.

    Raises:
        ParameterError: no engine of that name; the message lists the registered ones.
    """
    if name in _LOADED:
        return _LOADED[name]
    if not isinstance(name, str) or name not in _LAZY:
        raise ParameterError(f"unknown CKKS engine {name!r}; registered: {', '.join(engine_names())}")
    module, attribute = _LAZY[name].split(":")
    try:
        factory: EngineFactory = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ParameterError(f"CKKS engine {name!r} cannot be loaded from {_LAZY[name]!r}: {exc}") from None
    _LOADED[name] = _named(factory, name)
    return factory


def _named(factory: EngineFactory, name: str) -> EngineFactory:
    """``factory`` if it calls itself ``name`` (envelopes name engines by it); ParameterError otherwise."""
    if getattr(factory, "name", None) != name:
        raise ParameterError(f"engine factory registered as {name!r} calls itself {getattr(factory, 'name', None)!r}")
    return factory
