"""securecompute: privacy-preserving computation in one package.

Five capabilities share one CLI and one way of handling keys, errors, bytes and progress:
encrypted einsum on CKKS, matmul-engine HE arithmetic, federated encrypted nearest-neighbour
search, fault-tolerant federated learning and zero-knowledge ReLU proofs.  Importing this package
is cheap: the heavy parts (TenSEAL, Ray, JAX) load only when first used.
"""

from __future__ import annotations

import logging
from typing import Any

from securecompute.errors import SecureComputeError

__all__ = ["CKKSContext", "SecureComputeError", "__version__", "einsum"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY_ATTRIBUTES = {
    "einsum": ("securecompute.fhe", "einsum"),
    "CKKSContext": ("securecompute.fhe", "CKKSContext"),
}


def __getattr__(name: str) -> Any:
    """Load public names that live in heavy subpackages on first access."""
    if name in _LAZY_ATTRIBUTES:
        import importlib

        module_name, attribute = _LAZY_ATTRIBUTES[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'securecompute' has no attribute {name!r}")
