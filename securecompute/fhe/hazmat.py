"""HAZMAT: the raw SEAL kit under a ``seal`` context.  You almost certainly want the engine instead.

Everything a protocol needs is on the engine interface (:mod:`securecompute.fhe.backend`): FRAG and
the einsum use only that.  This module is the one door to the SEAL objects underneath, for work that
is about SEAL itself: FRAG's caching-attack demonstration (it computes on SEAL's NTT-form
polynomials to break a broken scheme) and tests that check SEAL internals.  Code using it works with
the ``seal`` engine only, sees secret-key material, and bypasses the checks of the engine layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from securecompute.errors import ParameterError

if TYPE_CHECKING:
    from securecompute.fhe.context import EvaluationContext
    from securecompute.fhe.seal import SealPublicKit, SealSecretKit

__all__ = ["seal_kit"]


def seal_kit(context: EvaluationContext) -> SealPublicKit | SealSecretKit:
    """The SEAL kit (secret kit for a :class:`~securecompute.fhe.context.CKKSContext`) under ``context``.

    Raises:
        ParameterError: the context does not run on the ``seal`` engine.
    """
    from securecompute.fhe.engines.seal import SealEvaluator

    engine = context.backend
    if not isinstance(engine, SealEvaluator):
        raise ParameterError(f"seal_kit needs a context on the 'seal' engine, not {engine.name!r}")
    return engine.seal_kit
