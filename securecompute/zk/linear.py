"""A linear layer ``Z = X W + 1_rows b`` over hiding Hyrax commitments (Thaler's matrix-product sumcheck).

Shapes (padded with zeros to powers of two): X is ``2**a x 2**k`` (batch rows, input features), W is
``2**k x 2**c``, b has ``2**c`` entries, Z is ``2**a x 2**c``; every table is flattened row-major, so
column variables are the low MLE variables (``X[i, y]`` is entry ``i 2**k + y``, point ``(y, i)``).  The
bias is added to the first ``rows`` (real) batch rows only, so the padded rows of Z are zero.

For ``r1`` in F^a and ``r2`` in F^c drawn by the verifier, the MLE identity

    Z(r2, r1) - below(r1, rows) b(r2) = sum_{y in {0,1}^k} X(y, r1) W(r2, y),
    below(r1, rows) = sum_{i < rows} eq(r1, i)

holds for all points exactly when ``Z = X W + 1_rows b`` (both sides are multilinear in (r1, r2)), so a
wrong Z survives with probability at most ``(a + c)/r``.  Protocol (transcript order; all values hidden
in Pedersen commitments, as in zkReLU):

1. draw ``r1`` (a values, label ``linear/r1``), ``r2`` (c values, ``linear/r2``);
2. commit ``v_z = Z(r2, r1)`` and ``v_b = b(r2)`` (absorbed under ``linear/claims``);
3. a committed degree-2 sumcheck (k rounds, label ``linear/sc``) of ``X(y, r1) W(r2, y)`` from the
   claim commitment ``C_vz - below C_vb`` (linear, computed by the verifier) ending at ``y = s``;
4. commit ``x* = X(s, r1)``, ``w* = W(r2, s)`` (``linear/finals``) and prove ``final = x* w*`` (product
   proof ``linear/prod``);
5. four Hyrax evaluation proofs: Z at ``(r2, r1)`` against ``C_vz``, b at ``r2`` against ``C_vb``, X at
   ``(s, r1)`` against ``C_x*``, W at ``(r2, s)`` against ``C_w*``.

Soundness error: ``2k/r`` (sumcheck) ``+ (a + c)/r`` (the random point) ``+ 5/r`` (sigma protocols), in the
random-oracle model, with binding under discrete log.  Only the integer relation is proved here; the
fixed-point rescale of Z is proved by the zkReLU proof that takes the *same* commitment to Z as input
(:mod:`securecompute.zk.mlp`).  Hand-written: the protocol is the point of this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from securecompute.zk import limbs
from securecompute.zk.commit import BlindSource, Commitment, EvaluationProof, prove_evaluation, verify_evaluation
from securecompute.zk.field import MODULUS
from securecompute.zk.group import BatchCheck, Combination, Generators, Point
from securecompute.zk.sigma import ProductProof, commit_scalar, prove_product, verify_product
from securecompute.zk.sumcheck import ZkSumcheckProof, prove_eq_sumcheck_limbs, verify_sumcheck_zk
from securecompute.zk.transcript import Transcript

__all__ = ["LinearProof", "LinearShape", "below_sum", "prove_linear", "verify_linear"]


@dataclass(frozen=True)
class LinearShape:
    """``rows`` real batch rows; ``a``, ``k``, ``c`` padded variables of the batch, input and output dimensions."""

    rows: int
    a: int
    k: int
    c: int
    x_transposed: bool = False
    """X is given by the commitment of its transpose (a ``2**k x 2**a`` table, e.g. ``A^T`` in ``G_W = A^T G_Z``)."""
    w_transposed: bool = False
    """W is given by the commitment of its transpose (a ``2**c x 2**k`` table, e.g. ``W^T`` in ``G_A = G_Z W^T``)."""

    def x_point(self, s: Sequence[int], r1: Sequence[int]) -> list[int]:
        """Where the committed X table is opened: ``(s, r1)``, or ``(r1, s)`` for a transposed one."""
        return [*r1, *s] if self.x_transposed else [*s, *r1]

    def w_point(self, s: Sequence[int], r2: Sequence[int]) -> list[int]:
        """Where the committed W table is opened: ``(r2, s)``, or ``(s, r2)`` for a transposed one."""
        return [*s, *r2] if self.w_transposed else [*r2, *s]

    @property
    def x_vars(self) -> int:
        return self.a + self.k

    @property
    def w_vars(self) -> int:
        return self.k + self.c

    @property
    def z_vars(self) -> int:
        return self.a + self.c


@dataclass(frozen=True)
class LinearProof:
    """Claims ``v_z, v_b, x*, w*`` (points), the committed sumcheck, the product proof and four openings (Z, b, X, W)."""

    claims: tuple[Point, Point, Point, Point]
    sumcheck: ZkSumcheckProof
    product: ProductProof
    openings: tuple[EvaluationProof, EvaluationProof, EvaluationProof, EvaluationProof]


@dataclass(frozen=True)
class Opened:
    """A committed table as the prover holds it: padded int64 values (flattened) and the row blinds."""

    values: np.ndarray
    blinds: list[int]


def below_sum(point: Sequence[int], count: int) -> int:
    """``sum_{0 <= i < count} eq(point, i)`` in O(len(point)) (little-endian index bits).

    Walks count's bits from the top: where bit t is 1, the indices that agree with count above t and have
    bit t = 0 contribute ``prefix (1 - p_t)`` (the lower variables sum to 1).
    """
    p = MODULUS
    if count >= 1 << len(point):
        return 1
    total, prefix = 0, 1
    for t in reversed(range(len(point))):
        if (count >> t) & 1:
            total = (total + prefix * (1 - point[t])) % p
            prefix = prefix * point[t] % p
        else:
            prefix = prefix * (1 - point[t]) % p
    return total


def prove_linear(
    transcript: Transcript,
    shape: LinearShape,
    x: Opened,
    w: Opened,
    b: Opened,
    z: Opened,
    blinds: BlindSource,
    generators: Generators,
) -> LinearProof:
    """Prove ``Z = X W + 1_rows b`` for committed tables (the caller has absorbed their commitments).

    Args:
        shape: the padded shape; ``x.values`` has ``2**(a + k)`` entries, ``w.values`` ``2**(k + c)``,
            ``b.values`` ``2**c`` and ``z.values`` ``2**(a + c)`` (row-major, zero padded).
        x, w, b, z: the tables and the row blinds of their commitments.
    """
    p = MODULUS
    a, k, c = shape.a, shape.k, shape.c
    r1 = transcript.challenges(b"linear/r1", a)
    r2 = transcript.challenges(b"linear/r2", c)
    z_limbs = limbs.from_ints(z.values)
    v_z = limbs.mle(z_limbs, [*r2, *r1])
    v_b = limbs.mle(limbs.from_ints(b.values), r2)
    (vz_blind, vb_blind) = blinds.scalars(2)
    claim_points = [commit_scalar(v_z, vz_blind, generators), commit_scalar(v_b, vb_blind, generators)]
    transcript.append_points(b"linear/claims", claim_points)
    below = below_sum(r1, shape.rows)
    claim = ((v_z - below * v_b) % p, (vz_blind - below * vb_blind) % p)
    # X(y, r1) and W(y, r2): fold the variables fixed to r1 (resp. r2) after bringing them to the low end
    x_rows_low = x.values if shape.x_transposed else x.values.reshape(1 << a, 1 << k).T
    x_partial = _fold_all(limbs.from_ints(np.ascontiguousarray(x_rows_low).ravel()), r1)
    w_cols_low = w.values.reshape(1 << c, 1 << k).T if shape.w_transposed else w.values
    w_partial = _fold_all(limbs.from_ints(np.ascontiguousarray(w_cols_low).ravel()), r2)
    sumcheck, s, finals, final_claim = prove_eq_sumcheck_limbs(
        transcript, b"linear/sc", None, (x_partial, w_partial), limbs.ROUND_PRODUCT, claim, blinds, generators
    )
    x_star, w_star = finals
    xs_blind, ws_blind = blinds.scalars(2)
    final_points = [commit_scalar(x_star, xs_blind, generators), commit_scalar(w_star, ws_blind, generators)]
    transcript.append_points(b"linear/finals", final_points)
    product = prove_product(
        transcript, b"linear/prod", (x_star, xs_blind), (w_star, ws_blind), final_claim[1], blinds, generators
    )
    openings = (
        prove_evaluation(transcript, _ints(z.values), z.blinds, [*r2, *r1], vz_blind, blinds, generators),
        prove_evaluation(transcript, _ints(b.values), b.blinds, r2, vb_blind, blinds, generators),
        prove_evaluation(transcript, _ints(x.values), x.blinds, shape.x_point(s, r1), xs_blind, blinds, generators),
        prove_evaluation(transcript, _ints(w.values), w.blinds, shape.w_point(s, r2), ws_blind, blinds, generators),
    )
    return LinearProof(
        (claim_points[0], claim_points[1], final_points[0], final_points[1]), sumcheck, product, openings
    )


def verify_linear(
    transcript: Transcript,
    shape: LinearShape,
    proof: LinearProof,
    x: Commitment,
    w: Commitment,
    b: Commitment,
    z: Commitment,
    generators: Generators,
    checks: BatchCheck,
) -> bool:
    """Replay :func:`prove_linear`; group equations go to ``checks`` (the caller verifies the batch).

    Returns False on a shape mismatch; True means only that the deferred equations were recorded.
    """
    a, k, c = shape.a, shape.k, shape.c
    for commitment, num_vars in ((x, shape.x_vars), (w, shape.w_vars), (b, c), (z, shape.z_vars)):
        if commitment.num_vars != num_vars:
            return False
    r1 = transcript.challenges(b"linear/r1", a)
    r2 = transcript.challenges(b"linear/r2", c)
    vz_c, vb_c, xs_c, ws_c = proof.claims
    transcript.append_points(b"linear/claims", [vz_c, vb_c])
    below = below_sum(r1, shape.rows)
    claim = Combination([(vz_c, 1), (vb_c, MODULUS - below)])
    ok, s, final = verify_sumcheck_zk(transcript, b"linear/sc", proof.sumcheck, k, 2, claim)
    if not ok:
        return False
    transcript.append_points(b"linear/finals", [xs_c, ws_c])
    verify_product(transcript, b"linear/prod", xs_c, ws_c, final, proof.product, generators, checks)
    open_z, open_b, open_x, open_w = proof.openings
    return (
        verify_evaluation(transcript, [(z, 1)], [*r2, *r1], vz_c, open_z, generators, checks)
        and verify_evaluation(transcript, [(b, 1)], r2, vb_c, open_b, generators, checks)
        and verify_evaluation(transcript, [(x, 1)], shape.x_point(s, r1), xs_c, open_x, generators, checks)
        and verify_evaluation(transcript, [(w, 1)], shape.w_point(s, r2), ws_c, open_w, generators, checks)
    )


def _fold_all(table: np.ndarray, point: Sequence[int]) -> np.ndarray:
    """Fix the lowest ``len(point)`` variables of a limb table to ``point``."""
    for coordinate in point:
        table = limbs.fold(table, coordinate)
    return table


def _ints(values: np.ndarray) -> list[int]:
    return [int(value) for value in values.tolist()]
