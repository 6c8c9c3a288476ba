"""The sumcheck protocol with Fiat-Shamir, in the clear and with committed (hiding) round messages.

Claim: ``sum_{x in {0,1}^v} f(T_1(x), ..., T_k(x)) = claim`` for tables ``T_j`` of length ``2**v``
and a polynomial ``f`` of total degree ``d``.  Round ``i`` (variables fixed low to high, as in
:func:`securecompute.zk.field.fold`) sends the round polynomial ``s_i`` of degree ``<= d`` as its
values at ``0, 2, 3, ..., d``; ``s_i(1)`` is implied as ``claim_i - s_i(0)``, which is the usual
``s_i(0) + s_i(1) = claim_i`` check written so that a wrong sum can only show up as a wrong final value.
The verifier draws ``c_i`` and sets ``claim_{i+1} = s_i(c_i)``.  After ``v`` rounds the caller checks
``f(T_1(c), ..., T_k(c)) == claim_v`` against evaluations it trusts.  A cheating prover survives with
probability at most ``d v / r`` (Schwartz-Zippel per round), plus the Fiat-Shamir loss in the
random-oracle model.

Zero-knowledge variant (:func:`prove_sumcheck_zk`): every round value is sent as a Pedersen
commitment ``Com(s_i(k), b_ik)`` with a fresh blind, and the claim is a commitment too.  Since the
verifier's work above is *linear* in the round values (``s_i(1) = claim - s_i(0)``, then Lagrange
interpolation at ``c_i``), it runs unchanged on commitments: ``Com(claim_{i+1}) = sum_k L_k(c_i) Com(s_i(k))``.
The messages are uniformly random group elements, so they reveal nothing; the final commitment is
checked by the caller with a sigma protocol (a product proof) and commitment openings, as in Hyrax.

``combine`` receives the tables at one value of the current variable (whole lists, one per table, of
length ``2**(v - i - 1)``) and returns ``sum_x f(...)`` mod r; whole lists keep the interpreter fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from securecompute.zk import limbs
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS, eq_table, fold, fold_bits, interpolate_eval, lagrange_coefficients
from securecompute.zk.group import Combination, Generators, Point
from securecompute.zk.sigma import commit_scalar
from securecompute.zk.transcript import Transcript

__all__ = [
    "Combine",
    "CombineEq",
    "FirstRound",
    "SumcheckProof",
    "ZkSumcheckProof",
    "prove_eq_sumcheck_limbs",
    "prove_eq_sumcheck_zk",
    "prove_sumcheck",
    "prove_sumcheck_zk",
    "verify_sumcheck",
    "verify_sumcheck_zk",
]

Combine = Callable[[Sequence[list[int]]], int]
"""Sum over the remaining cube of ``f`` applied to the tables' values (one list per table)."""


@dataclass(frozen=True)
class SumcheckProof:
    """Round messages in the clear: ``rounds[i] = (s_i(0), s_i(2), ..., s_i(d))``."""

    rounds: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ZkSumcheckProof:
    """Committed round messages: ``rounds[i] = (Com(s_i(0)), Com(s_i(2)), ..., Com(s_i(d)))``."""

    rounds: tuple[tuple[Point, ...], ...]


def _run_rounds(
    tables: Sequence[Sequence[int]],
    combine: Combine,
    degree: int,
    send: Callable[[tuple[int, ...]], int],
) -> tuple[list[tuple[int, ...]], list[int], list[int]]:
    """The prover's rounds; ``send`` delivers one round's values and returns the verifier's challenge."""
    p = MODULUS
    current = [list(table) for table in tables]
    num_vars = len(current[0]).bit_length() - 1
    messages: list[tuple[int, ...]] = []
    challenges: list[int] = []
    for _ in range(num_vars):
        lows = [table[0::2] for table in current]
        highs = [table[1::2] for table in current]
        evaluations = [combine(lows) % p]
        steps = [[high - low for low, high in zip(lo, hi, strict=True)] for lo, hi in zip(lows, highs, strict=True)]
        at_x = highs
        for _ in range(2, degree + 1):
            # T(x + 1) = T(x) + (T(1) - T(0)) on each pair; values stay unreduced (small overshoot)
            at_x = [
                [value + step for value, step in zip(at, st, strict=True)] for at, st in zip(at_x, steps, strict=True)
            ]
            evaluations.append(combine(at_x) % p)
        message = tuple(evaluations)
        challenge = send(message)
        messages.append(message)
        challenges.append(challenge)
        current = [fold(table, challenge) for table in current]
    return messages, challenges, [table[0] % p for table in current]


def prove_sumcheck(
    transcript: Transcript, label: bytes, tables: Sequence[Sequence[int]], combine: Combine, degree: int
) -> tuple[SumcheckProof, list[int], list[int]]:
    """Prover in the clear (tables of length ``2**v``, ``combine`` of degree ``degree >= 1``).

    Not used by zkReLU (which sends only committed rounds): kept as the test oracle of the round arithmetic
    that :func:`prove_sumcheck_zk` shares (``_run_rounds``), with :func:`verify_sumcheck` checking completeness
    and per-round tamper rejection in the clear (``tests/zk/test_sumcheck.py``).

    Returns:
        the proof, the challenges (the evaluation point, ``v`` elements) and the tables' final values.
    """

    def send(message: tuple[int, ...]) -> int:
        transcript.append_scalars(label + b"/round", message)
        return transcript.challenge(label + b"/c")

    messages, challenges, finals = _run_rounds(tables, combine, degree, send)
    return SumcheckProof(tuple(messages)), challenges, finals


def verify_sumcheck(
    transcript: Transcript, label: bytes, proof: SumcheckProof, num_vars: int, degree: int, claim: int
) -> tuple[bool, list[int], int]:
    """Replay ``proof`` against ``claim``: ``(shape_ok, challenges, final_claim)``; the caller checks the final claim.

    Not used by zkReLU: the in-the-clear verifier is a test oracle (see :func:`prove_sumcheck`); the protocol's
    verifier is :func:`verify_sumcheck_zk`, which performs the same update on commitments.
    """
    if len(proof.rounds) != num_vars or any(len(message) != degree for message in proof.rounds):
        return False, [], 0
    challenges: list[int] = []
    for message in proof.rounds:
        transcript.append_scalars(label + b"/round", message)
        challenge = transcript.challenge(label + b"/c")
        claim = interpolate_eval([message[0], (claim - message[0]) % MODULUS, *message[1:]], challenge)
        challenges.append(challenge)
    return True, challenges, claim


class _CommittedRounds:
    """The prover's side of committed rounds: commits each round's values and tracks the claim's opening."""

    def __init__(
        self,
        transcript: Transcript,
        label: bytes,
        degree: int,
        claim: tuple[int, int],
        blinds: BlindSource,
        generators: Generators,
    ) -> None:
        self._transcript, self._label, self._degree = transcript, label, degree
        self._blinds, self._generators = blinds, generators
        self.value, self.blind = claim[0] % MODULUS, claim[1] % MODULUS
        self.commitments: list[tuple[Point, ...]] = []

    def send(self, message: tuple[int, ...]) -> int:
        """Commit to ``message``, absorb it, draw the challenge and move the claim's opening to ``s(c)``."""
        p = MODULUS
        round_blinds = self._blinds.scalars(len(message))
        points = tuple(commit_scalar(v, b, self._generators) for v, b in zip(message, round_blinds, strict=True))
        self._transcript.append_points(self._label + b"/round", points)
        challenge = self._transcript.challenge(self._label + b"/c")
        coefficients = lagrange_coefficients(self._degree + 1, challenge)
        values = [message[0], self.value - message[0], *message[1:]]
        blinds = [round_blinds[0], self.blind - round_blinds[0], *round_blinds[1:]]
        self.value = sum(c * v for c, v in zip(coefficients, values, strict=True)) % p
        self.blind = sum(c * b for c, b in zip(coefficients, blinds, strict=True)) % p
        self.commitments.append(points)
        return challenge


def prove_sumcheck_zk(
    transcript: Transcript,
    label: bytes,
    tables: Sequence[Sequence[int]],
    combine: Combine,
    degree: int,
    claim: tuple[int, int],
    blinds: BlindSource,
    generators: Generators,
) -> tuple[ZkSumcheckProof, list[int], list[int], tuple[int, int]]:
    """Prover with committed rounds; ``claim`` is the (value, blind) of the commitment the verifier holds.

    zkReLU and the linear layers use :func:`prove_eq_sumcheck_limbs`; this generic prover (eq table materialised)
    is kept as the test oracle that the split provers must match message for message (``tests/zk/test_sumcheck.py``,
    ``tests/zk/test_limbs.py``).

    Returns:
        the proof, the challenges, the tables' final values, and the (value, blind) opening of the final
        claim commitment that the verifier will compute.
    """
    rounds = _CommittedRounds(transcript, label, degree, claim, blinds, generators)
    _, challenges, finals = _run_rounds(tables, combine, degree, rounds.send)
    return ZkSumcheckProof(tuple(rounds.commitments)), challenges, finals, (rounds.value, rounds.blind)


CombineEq = Callable[[Sequence[list[int]], list[int]], tuple[int, int]]
"""``(tables at X, E) -> (sum_x E(x) inner(T_X(x)), sum_x outer(T_X(x)))`` for an eq-factored sumcheck."""

FirstRound = Callable[[Sequence[Sequence[int]], list[int]], tuple[list[int], list[int]] | None]
"""An optional shortcut for round 1: ``(tables, E) -> (inner sums, outer sums)`` at X = 0, 2, ..., d, or None."""


def prove_eq_sumcheck_zk(
    transcript: Transcript,
    label: bytes,
    eq_point: Sequence[int],
    tables: Sequence[Sequence[int]],
    combine: CombineEq,
    degree: int,
    claim: tuple[int, int],
    blinds: BlindSource,
    generators: Generators,
    first_round: FirstRound | None = None,
) -> tuple[ZkSumcheckProof, list[int], list[int], tuple[int, int]]:
    """Committed-round prover for ``sum_x eq(eq_point, x) inner(T(x)) + outer(T(x))`` (messages as in :func:`prove_sumcheck_zk`).

    Python-int reference of :func:`prove_eq_sumcheck_limbs` (tests compare their messages).

    The eq factor is never materialised at full size (Gruen's split): in round j,
    ``s_j(X) = P_j eq(w_j, X) sum_x' E_j(x') inner(T(X, x')) + sum_x' outer(T(X, x'))`` with
    ``P_j = prod_{i<j} eq(w_i, c_i)`` and ``E_j = eq(w_{>j}, .)``, and ``E_{j+1}`` is the pairwise sum of
    ``E_j``.  ``inner`` must have degree ``<= degree - 1`` and ``outer`` degree ``<= degree``.  The messages
    are the same as for the unsplit sum, so the verifier is :func:`verify_sumcheck_zk`.

    Returns:
        as :func:`prove_sumcheck_zk` (the final values are those of ``tables``, without the eq factor).
    """
    p = MODULUS
    rounds = _CommittedRounds(transcript, label, degree, claim, blinds, generators)
    current = [list(table) for table in tables]
    suffix = eq_table(eq_point[1:])
    binary = [min(table) >= 0 and max(table) <= 1 for table in current]
    prefix = 1
    challenges: list[int] = []
    points = [0, *range(2, degree + 1)]
    for index, coordinate in enumerate(eq_point):
        shortcut = first_round(current, suffix) if index == 0 and first_round is not None else None
        if shortcut is not None:
            inner, outer = shortcut
        else:
            inner, outer = _eq_round_sums(current, suffix, combine, degree)
        message = tuple(
            (prefix * ((1 - coordinate) * (1 - x) + coordinate * x) * inner_sum + outer_sum) % p
            for x, inner_sum, outer_sum in zip(points, inner, outer, strict=True)
        )
        challenge = rounds.send(message)
        challenges.append(challenge)
        prefix = prefix * ((1 - coordinate) * (1 - challenge) + coordinate * challenge) % p
        if index == 0:
            current = [
                fold_bits(table, challenge) if is_binary else fold(table, challenge)
                for table, is_binary in zip(current, binary, strict=True)
            ]
        else:
            current = [fold(table, challenge) for table in current]
        if index + 1 < len(eq_point):
            suffix = [(low + high) % p for low, high in zip(suffix[0::2], suffix[1::2], strict=True)]
    finals = [table[0] % p for table in current]
    return ZkSumcheckProof(tuple(rounds.commitments)), challenges, finals, (rounds.value, rounds.blind)


def prove_eq_sumcheck_limbs(
    transcript: Transcript,
    label: bytes,
    eq_point: Sequence[int] | None,
    tables: tuple[np.ndarray, np.ndarray],
    kind: int,
    claim: tuple[int, int],
    blinds: BlindSource,
    generators: Generators,
) -> tuple[ZkSumcheckProof, list[int], list[int], tuple[int, int]]:
    """:func:`prove_eq_sumcheck_zk` on Montgomery limb tables (:mod:`securecompute.zk.limbs`): the same messages.

    ``kind`` selects the summand (:func:`securecompute.zk.limbs.round_sums`): ``ROUND_MASKED``
    (``eq(w, x) (1 - T_0) T_1``, degree 3), ``ROUND_BOOLEANITY`` (``eq(w, x) T_1 (T_1 - 1) + T_0 T_1``, degree 3)
    or ``ROUND_PRODUCT`` (``T_0 T_1`` without eq, degree 2, ``eq_point`` None).  The eq factor is split as in
    :func:`prove_eq_sumcheck_zk`.

    Returns:
        as :func:`prove_eq_sumcheck_zk`.
    """
    p = MODULUS
    degree = 2 if kind == limbs.ROUND_PRODUCT else 3
    rounds = _CommittedRounds(transcript, label, degree, claim, blinds, generators)
    first, second = tables
    num_vars = first.shape[0].bit_length() - 1
    point = [] if eq_point is None else list(eq_point)
    suffix = limbs.eq_table(point[1:]) if point else None
    prefix = 1
    challenges: list[int] = []
    nodes = [0, *range(2, degree + 1)]
    # round 1 of booleanity on 0/1 advice needs additions only (the rounds after it see folded values)
    flags = limbs.binary_flags(second) if kind == limbs.ROUND_BOOLEANITY and num_vars else None
    for index in range(num_vars):
        if index == 0 and flags is not None and suffix is not None:
            inner, outer = limbs.binary_booleanity_sums(suffix, first, flags)
        else:
            inner, outer = limbs.round_sums(kind, suffix, first, second)
        if point:
            coordinate = point[index]
            message = tuple(
                (prefix * ((1 - coordinate) * (1 - x) + coordinate * x) * inner[k] + outer[k]) % p
                for k, x in enumerate(nodes)
            )
        else:
            message = tuple(outer[k] for k in range(degree))
        challenge = rounds.send(message)
        challenges.append(challenge)
        if point:
            coordinate = point[index]
            prefix = prefix * ((1 - coordinate) * (1 - challenge) + coordinate * challenge) % p
            if index + 1 < num_vars and suffix is not None:
                suffix = limbs.pair_sums(suffix)
        first, second = limbs.fold(first, challenge), limbs.fold(second, challenge)
    finals = [limbs.to_field(first)[0], limbs.to_field(second)[0]]
    return ZkSumcheckProof(tuple(rounds.commitments)), challenges, finals, (rounds.value, rounds.blind)


def _eq_round_sums(
    tables: Sequence[list[int]], suffix: list[int], combine: CombineEq, degree: int
) -> tuple[list[int], list[int]]:
    """Inner and outer sums of one eq-factored round at X = 0, 2, ..., degree."""
    lows = [table[0::2] for table in tables]
    highs = [table[1::2] for table in tables]
    inner, outer = combine(lows, suffix)
    inners, outers = [inner], [outer]
    steps = [[high - low for low, high in zip(lo, hi, strict=True)] for lo, hi in zip(lows, highs, strict=True)]
    at_x = highs
    for _ in range(2, degree + 1):
        at_x = [[value + step for value, step in zip(at, st, strict=True)] for at, st in zip(at_x, steps, strict=True)]
        inner, outer = combine(at_x, suffix)
        inners.append(inner)
        outers.append(outer)
    return inners, outers


def verify_sumcheck_zk(
    transcript: Transcript,
    label: bytes,
    proof: ZkSumcheckProof,
    num_vars: int,
    degree: int,
    claim: Point | Combination,
) -> tuple[bool, list[int], Combination]:
    """Replay committed rounds from the claim commitment: ``(shape_ok, challenges, final_claim_commitment)``.

    The final claim is returned as a symbolic combination of the claim and the round commitments
    (no group operation happens here); the caller checks it, e.g. in a :class:`~securecompute.zk.group.BatchCheck`.
    """
    current = Combination.of(claim)
    if len(proof.rounds) != num_vars or any(len(message) != degree for message in proof.rounds):
        return False, [], current
    challenges: list[int] = []
    for message in proof.rounds:
        transcript.append_points(label + b"/round", message)
        challenge = transcript.challenge(label + b"/c")
        coefficients = lagrange_coefficients(degree + 1, challenge)
        # Com(s(1)) = claim - Com(s(0)); Com(s(c)) = sum_k L_k(c) Com(s(k))
        first, second = coefficients[0], coefficients[1]
        current = Combination.linear([(current, second)])
        current.add_point(message[0], first - second)
        for point, coefficient in zip(message[1:], coefficients[2:], strict=True):
            current.add_point(point, coefficient)
        challenges.append(challenge)
    return True, challenges, current
