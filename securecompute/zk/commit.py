"""Hiding Hyrax row commitments and a zero-knowledge proof of one MLE evaluation against a committed value.

A table of ``2**v`` field elements is laid out as a matrix with ``2**col_vars`` columns (the low
``col_vars = ceil(v/2)`` MLE variables) and ``2**(v - col_vars)`` rows (the high variables).  Row
``i`` is committed as a Pedersen vector commitment ``C_i = sum_j M[i, j] G_j + rho_i H`` with a fresh
uniform blind ``rho_i``, so the commitment is perfectly hiding and computationally binding (DLOG in
G1).  The blind term ``rho_i H`` is added separately so that rows of bits or small integers keep a
cheap small-scalar MSM.

Evaluation at ``p = (p_lo, p_hi)``: ``MLE(p) = <t, a>`` with ``t = sum_i eq(p_hi)_i M[i]`` and
``a = eq(p_lo)``.  The verifier forms ``C* = sum_i eq(p_hi)_i C_i``, a commitment to ``t`` with blind
``rho* = sum_i eq(p_hi)_i rho_i``.  The value itself stays hidden in a scalar commitment
``C_y = y G_v + r_y H``, and the prover runs Hyrax's proof of a dot product (sigma protocol, made
non-interactive with the transcript):

    prover: d <- F^cols, r_d, r_b <- F;  delta = <d, G> + r_d H,  beta = <d, a> G_v + r_b H
    challenge c
    prover: z = c t + d,  z_d = c rho* + r_d,  z_b = c r_y + r_b
    verifier: <z, G> + z_d H == c C* + delta   and   <z, a> G_v + z_b H == c C_y + beta

It is special-sound (two accepting transcripts with different ``c`` give openings of ``C*`` and
``C_y`` with ``<t, a> = y``) and perfect honest-verifier zero knowledge (``z, z_d, z_b`` are uniform
and ``delta, beta`` are determined by them and c).  Several commitments of the same shape open at
one point with one proof through a random linear combination (the verifier weights their rows).
Hand-written: the protocol is the point of this package.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np

from securecompute.zk import group
from securecompute.zk.field import MODULUS, eq_table
from securecompute.zk.group import BatchCheck, Combination, Generators, Point
from securecompute.zk.transcript import Transcript

__all__ = [
    "BlindSource",
    "Commitment",
    "EvaluationProof",
    "column_vars",
    "commit",
    "prove_evaluation",
    "verify_evaluation",
]


def column_vars(num_vars: int) -> int:
    """MLE variables that index columns: ``ceil(num_vars / 2)``."""
    return (num_vars + 1) // 2


class BlindSource:
    """Uniform field elements for blinds and sigma-protocol nonces.

    ``seed=None`` draws from :mod:`secrets` (use this for real proofs).  An int seed gives a
    deterministic SHAKE256 stream, for tests and known-answer vectors only.  Warning: a proof made with
    a known seed is not zero knowledge (anyone with the seed and the statement can recompute every blind
    and so open every commitment), and two proofs made with the same seed and the same ``context`` reuse
    every blind, which leaks the difference of their witnesses.  :func:`securecompute.zk.prove_relu`
    therefore passes a hash of the parameters, the statement and the whole witness as ``context``, so
    that the same seed over different inputs gives unrelated streams; a seeded proof is still never
    hiding against whoever can guess the inputs and knows the seed.
    """

    def __init__(self, seed: int | None = None, context: bytes = b"") -> None:
        self._seed = seed
        self._counter = 0
        self._prefix = b""
        if seed is not None:
            context_digest = hashlib.blake2b(context, digest_size=32).digest()
            self._prefix = b"securecompute/zkrelu/v1/blinds" + seed.to_bytes(32, "big") + context_digest

    def scalar(self) -> int:
        """One element of F_r (from 64 bytes, bias below 2**-256)."""
        if self._seed is None:
            return secrets.randbelow(MODULUS)
        material = self._prefix + self._counter.to_bytes(8, "big")
        self._counter += 1
        return int.from_bytes(hashlib.shake_256(material).digest(64), "little") % MODULUS

    def scalars(self, count: int) -> list[int]:
        """``count`` independent elements."""
        return [self.scalar() for _ in range(count)]


@dataclass(frozen=True)
class Commitment:
    """Hyrax commitment of a ``2**num_vars`` table: one G1 point per row (``2**(num_vars - col_vars)``).

    ``columns`` is the number of column variables, by default ``ceil(num_vars / 2)``; a stack of tables
    (:func:`securecompute.zk.prove_relu_stack`) keeps the column count of one instance, so that its rows are the
    instances' own rows one after the other.
    """

    num_vars: int
    rows: tuple[Point, ...]
    columns: int | None = None

    @property
    def col_vars(self) -> int:
        """Column variables: :attr:`columns`, or ``ceil(num_vars / 2)`` if None."""
        return column_vars(self.num_vars) if self.columns is None else self.columns

    @property
    def size_bytes(self) -> int:
        """Compressed size: 48 bytes per row."""
        return len(self.rows) * group.POINT_BYTES


def commit(
    values: Sequence[int], num_vars: int, blinds: BlindSource, generators: Generators, col_vars: int | None = None
) -> tuple[Commitment, list[int]]:
    """Commit to ``values`` (``2**num_vars`` signed ints or field elements) with fresh row blinds.

    A table of bits is committed with precomputed subset sums of 8 generators at a time (one addition
    per non-zero byte of a row, :func:`securecompute.zk.group.subset_sums`).  Tables with
    negative entries are committed as ``sum_j (x_j + o) G_j - o sum_j G_j`` with ``o = -min(values)``, the
    same point as with ``x mod r``, so that rows of small signed integers stay small-scalar MSMs.

    Returns:
        the commitment and the row blinds (the prover's secret, ``2**(num_vars - col_vars)`` ints).

    Raises:
        ValueError: ``len(values) != 2**num_vars`` or too few generators.
    """
    if len(values) != 1 << num_vars:
        raise ValueError(f"a {num_vars}-variable table has {1 << num_vars} entries, got {len(values)}")
    if col_vars is not None and not 0 <= col_vars <= num_vars:
        raise ValueError(f"col_vars {col_vars} outside 0..{num_vars}")
    columns = 1 << (column_vars(num_vars) if col_vars is None else col_vars)
    if len(generators.vector) < columns:
        raise ValueError(f"commitment needs {columns} generators, parameters provide {len(generators.vector)}")
    bases = generators.vector[:columns]
    row_blinds = blinds.scalars(len(values) // columns)
    # negative entries: commit x + offset >= 0 (a small-scalar MSM) and subtract offset * sum_j G_j once per row
    offset = max(0, -min(values))
    offset_point = group.mul(group.add_all(bases), offset) if offset else None
    rows = []
    windows = group.subset_sums(tuple(bases)) if min(values) >= 0 and max(values) <= 1 else ()
    for index, blind in enumerate(row_blinds):
        row = values[index * columns : (index + 1) * columns]
        low, high = min(row), max(row)
        if windows:
            packed = np.packbits(np.array(row, dtype=np.uint8), bitorder="little").tolist()
            point = group.add_all([table[byte] for table, byte in zip(windows, packed, strict=True) if byte])
        elif low >= 0 and high <= 1:
            point = group.add_all([base for base, bit in zip(bases, row, strict=True) if bit])
        elif low >= 0:
            point = group.msm(bases, row)
        else:
            point = group.msm(bases, [value + offset for value in row]) - offset_point
        rows.append(point + group.fixed_base_mul(generators.blind, blind))
    return Commitment(num_vars, tuple(rows), col_vars), row_blinds


@dataclass(frozen=True)
class EvaluationProof:
    """Hyrax proof of a dot product: points ``delta``, ``beta``; responses ``z`` (one per column), ``z_d``, ``z_b``."""

    delta: Point
    beta: Point
    response: tuple[int, ...]
    blind_response: int
    value_response: int


def prove_evaluation(
    transcript: Transcript,
    table: Sequence[int],
    row_blinds: Sequence[int],
    point: Sequence[int],
    value_blind: int,
    blinds: BlindSource,
    generators: Generators,
    col_vars: int | None = None,
) -> EvaluationProof:
    """Prove that the committed ``table`` (combined if batched) has, at ``point``, the value committed with ``value_blind``.

    The caller has absorbed the value commitment; this absorbs ``delta`` and ``beta`` and draws ``c``.
    ``col_vars`` must be the commitment's (default ``ceil(len(point) / 2)``).
    """
    p = MODULUS
    col_count = column_vars(len(point)) if col_vars is None else col_vars
    columns = 1 << col_count
    row_weights = eq_table(point[col_count:])
    column_weights = eq_table(point[:col_count])
    combined = _combine_rows(table, row_weights, columns)
    combined_blind = sum(w * b for w, b in zip(row_weights, row_blinds, strict=True)) % p
    nonce = blinds.scalars(columns)
    nonce_blind, nonce_value_blind = blinds.scalar(), blinds.scalar()
    delta = group.msm([*generators.vector[:columns], generators.blind], [*nonce, nonce_blind])
    nonce_dot = sum(d * y for d, y in zip(nonce, column_weights, strict=True)) % p
    beta = group.fixed_base_mul(generators.value, nonce_dot) + group.fixed_base_mul(generators.blind, nonce_value_blind)
    transcript.append_points(b"open/delta-beta", [delta, beta])
    challenge = transcript.challenge(b"open/c")
    response = tuple((challenge * t + d) % p for t, d in zip(combined, nonce, strict=True))
    return EvaluationProof(
        delta,
        beta,
        response,
        (challenge * combined_blind + nonce_blind) % p,
        (challenge * value_blind + nonce_value_blind) % p,
    )


def verify_evaluation(
    transcript: Transcript,
    weighted_commitments: Sequence[tuple[Commitment, int]],
    point: Sequence[int],
    value_commitment: Point | Combination,
    proof: EvaluationProof,
    generators: Generators,
    checks: BatchCheck | None = None,
) -> bool:
    """Check that ``value_commitment`` commits to ``sum_k w_k MLE(table_k)(point)`` for the weighted commitments.

    With ``checks``, the two group equations are only recorded there (the caller verifies the batch) and
    the return value covers the shape checks; without, they are checked now.  Any shape mismatch
    returns False.
    """
    p = MODULUS
    if not weighted_commitments:
        return False
    col_count = weighted_commitments[0][0].col_vars
    columns = 1 << col_count
    if not 0 <= col_count <= len(point) or len(proof.response) != columns or len(generators.vector) < columns:
        return False
    row_weights = eq_table(point[col_count:])
    column_weights = eq_table(point[:col_count])
    transcript.append_points(b"open/delta-beta", [proof.delta, proof.beta])
    challenge = transcript.challenge(b"open/c")
    dot = sum(z * y for z, y in zip(proof.response, column_weights, strict=True)) % p
    # <z, a> G_v + z_b H - c C_y - beta == identity
    value_check = Combination([(generators.value, dot), (generators.blind, proof.value_response), (proof.beta, p - 1)])
    value_check.add(Combination.of(value_commitment), p - challenge)
    # <z, G> + z_d H - c sum_k w_k sum_i eq_i C_{k,i} - delta == identity
    row_check = Combination(zip(generators.vector[:columns], proof.response, strict=True))
    row_check.add_point(generators.blind, proof.blind_response).add_point(proof.delta, p - 1)
    for commitment, weight in weighted_commitments:
        if (
            commitment.num_vars != len(point)
            or commitment.col_vars != col_count
            or len(commitment.rows) != len(row_weights)
        ):
            return False
        for row, row_weight in zip(commitment.rows, row_weights, strict=True):
            row_check.add_point(row, -challenge * weight * row_weight)
    batch = BatchCheck() if checks is None else checks
    batch.require_zero(value_check)
    batch.require_zero(row_check)
    return batch.verify() if checks is None else True


def _combine_rows(table: Sequence[int], row_weights: list[int], columns: int) -> list[int]:
    """``t = sum_i row_weights[i] * row_i`` mod r; a 0/1 table only adds the weights of the rows with a one."""
    p = MODULUS
    if min(table) >= 0 and max(table) <= 1:
        matrix = np.asarray(table, dtype=np.bool_).reshape(len(row_weights), columns)
        return [sum(compress(row_weights, column)) % p for column in matrix.T.tolist()]
    combined = [0] * columns
    for row_index, weight in enumerate(row_weights):
        row = table[row_index * columns : (row_index + 1) * columns]
        combined = [(total + weight * value) % p for total, value in zip(combined, row, strict=True)]
    return combined
