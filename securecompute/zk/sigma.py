"""Committed scalars and the sigma protocol for a product of committed scalars (Hyrax, Wahby et al. 2018).

A scalar ``x`` is committed as ``Com(x, r) = x G_v + r H`` (perfectly hiding, binding under DLOG).
Linear relations between committed scalars are checked on the commitments themselves; a product
needs this proof.  Given ``X = Com(x, r_x)``, ``Y = Com(y, r_y)``, ``Z = Com(z, r_z)`` with ``z = x y``:

    prover: b1..b5 <- F;  alpha = Com(b1, b2),  beta = Com(b3, b4),  delta = b3 X + b5 H
    challenge c
    prover: z1 = b1 + c x, z2 = b2 + c r_x, z3 = b3 + c y, z4 = b4 + c r_y, z5 = b5 + c (r_z - r_x y)
    verifier: alpha + c X == Com(z1, z2),  beta + c Y == Com(z3, z4),  delta + c Z == z3 X + z5 H

Special soundness: two transcripts with different ``c`` give openings ``x, y`` of X, Y and show that
``Z - y X`` is a multiple of H, i.e. Z commits to ``x y``.  Perfect HVZK: the responses are uniform and
the first messages are determined by them.  Hand-written: it is part of the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from securecompute.zk import group
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS
from securecompute.zk.group import BatchCheck, Combination, Generators, Point
from securecompute.zk.transcript import Transcript

__all__ = ["ProductProof", "commit_scalar", "prove_product", "verify_product"]


def commit_scalar(value: int, blind: int, generators: Generators) -> Point:
    """``value G_v + blind H`` (fixed-base tables: both generators are always the same)."""
    return group.fixed_base_mul(generators.value, value) + group.fixed_base_mul(generators.blind, blind)


@dataclass(frozen=True)
class ProductProof:
    """First messages ``alpha``, ``beta``, ``delta`` and responses ``z1..z5``."""

    alpha: Point
    beta: Point
    delta: Point
    responses: tuple[int, int, int, int, int]


def prove_product(
    transcript: Transcript,
    label: bytes,
    x: tuple[int, int],
    y: tuple[int, int],
    z_blind: int,
    blinds: BlindSource,
    generators: Generators,
) -> ProductProof:
    """Prove that the commitment with blind ``z_blind`` holds ``x[0] * y[0]``; ``x``, ``y`` are (value, blind).

    The caller has absorbed the three commitments.
    """
    p = MODULUS
    (x_value, x_blind), (y_value, y_blind) = x, y
    b1, b2, b3, b4, b5 = blinds.scalars(5)
    x_commitment = commit_scalar(x_value, x_blind, generators)
    alpha = commit_scalar(b1, b2, generators)
    beta = commit_scalar(b3, b4, generators)
    delta = group.msm([x_commitment, generators.blind], [b3, b5])
    transcript.append_points(label + b"/first", [alpha, beta, delta])
    c = transcript.challenge(label + b"/c")
    responses = (
        (b1 + c * x_value) % p,
        (b2 + c * x_blind) % p,
        (b3 + c * y_value) % p,
        (b4 + c * y_blind) % p,
        (b5 + c * (z_blind - x_blind * y_value)) % p,
    )
    return ProductProof(alpha, beta, delta, responses)


def verify_product(
    transcript: Transcript,
    label: bytes,
    x_commitment: Point | Combination,
    y_commitment: Point | Combination,
    z_commitment: Point | Combination,
    proof: ProductProof,
    generators: Generators,
    checks: BatchCheck | None = None,
) -> bool:
    """Check that ``z_commitment`` commits to the product of what the other two commit to.

    With ``checks`` the three equations are recorded there for the caller's batch; otherwise checked now.
    """
    p = MODULUS
    transcript.append_points(label + b"/first", [proof.alpha, proof.beta, proof.delta])
    c = transcript.challenge(label + b"/c")
    z1, z2, z3, z4, z5 = proof.responses
    x, y, z = (Combination.of(value) for value in (x_commitment, y_commitment, z_commitment))
    batch = BatchCheck() if checks is None else checks
    # alpha + c X - Com(z1, z2);  beta + c Y - Com(z3, z4);  delta + c Z - z3 X - z5 H
    first = Combination([(proof.alpha, 1), (generators.value, p - z1), (generators.blind, p - z2)]).add(x, c)
    second = Combination([(proof.beta, 1), (generators.value, p - z3), (generators.blind, p - z4)]).add(y, c)
    third = Combination([(proof.delta, 1), (generators.blind, p - z5)]).add(z, c).add(x, p - z3)
    for equation in (first, second, third):
        batch.require_zero(equation)
    return batch.verify() if checks is None else True
