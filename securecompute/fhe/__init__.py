"""Encrypted einsum on CKKS (EinHops-style), on any registered CKKS engine (SEAL, simulated slot vectors).

    ctx = CKKSContext.create(depth=3)       # backend="seal" (default) or "simulate"
    x = ctx.encrypt(a)
    y = einsum("bik,bkj->bij", x, b)        # any mix of EncryptedTensor and arrays
    ctx.decrypt(y)
    print(plan_einsum("bik,bkj->bij", x, b).explain())

The public names load on first use, so that importing a submodule (the CLI imports
``securecompute.fhe.commands`` to list its subcommand) does not load TenSEAL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securecompute.fhe.context import CKKSContext, EvaluationContext
    from securecompute.fhe.frontend import einsum, plan_einsum
    from securecompute.fhe.params import CKKSParameters
    from securecompute.fhe.plan import EinsumPlan
    from securecompute.fhe.prepare import PreparedPlan, prepare
    from securecompute.fhe.tensor import EncryptedTensor

__all__ = [
    "CKKSContext",
    "CKKSParameters",
    "EinsumPlan",
    "EncryptedTensor",
    "EvaluationContext",
    "PreparedPlan",
    "einsum",
    "plan_einsum",
    "prepare",
]

_HOMES = {
    "CKKSContext": "securecompute.fhe.context",
    "EvaluationContext": "securecompute.fhe.context",
    "einsum": "securecompute.fhe.frontend",
    "plan_einsum": "securecompute.fhe.frontend",
    "CKKSParameters": "securecompute.fhe.params",
    "EinsumPlan": "securecompute.fhe.plan",
    "EncryptedTensor": "securecompute.fhe.tensor",
    "PreparedPlan": "securecompute.fhe.prepare",
    "prepare": "securecompute.fhe.prepare",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'securecompute.fhe' has no attribute {name!r}")
