"""Sumcheck: an honest prover convinces, and a tampered round is caught at the final check."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from securecompute.zk import group
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS, eq_table, mle_eval
from securecompute.zk.sigma import commit_scalar
from securecompute.zk.sumcheck import (
    SumcheckProof,
    ZkSumcheckProof,
    prove_eq_sumcheck_zk,
    prove_sumcheck,
    prove_sumcheck_zk,
    verify_sumcheck,
    verify_sumcheck_zk,
)
from securecompute.zk.transcript import Transcript


def _triple(columns: Sequence[list[int]]) -> int:
    a, b, c = columns
    return sum(x * y * z for x, y, z in zip(a, b, c, strict=True)) % MODULUS


def _tables(num_vars: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(MODULUS) for _ in range(1 << num_vars)] for _ in range(3)]


def _run(num_vars: int, seed: int, tamper: tuple[int, int] | None = None) -> bool:
    tables = _tables(num_vars, seed)
    claim = _triple(tables)
    proof, challenges, finals = prove_sumcheck(Transcript(b"t"), b"sc", tables, _triple, 3)
    assert finals == [mle_eval(table, challenges) for table in tables]
    if tamper is not None:
        rounds = [list(message) for message in proof.rounds]
        rounds[tamper[0]][tamper[1]] = (rounds[tamper[0]][tamper[1]] + 1) % MODULUS
        proof = SumcheckProof(tuple(tuple(message) for message in rounds))
    ok, point, final = verify_sumcheck(Transcript(b"t"), b"sc", proof, num_vars, 3, claim)
    if not ok:
        return False
    # the caller's final check, from evaluations it trusts
    values = [mle_eval(table, point) for table in tables]
    return final == values[0] * values[1] * values[2] % MODULUS


@pytest.mark.parametrize("num_vars", [1, 3, 6])
def test_honest_sumcheck_verifies(num_vars: int) -> None:
    assert _run(num_vars, seed=num_vars)


@pytest.mark.parametrize("round_index", [0, 1, 2, 3])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_tampered_round_fails(round_index: int, position: int) -> None:
    assert not _run(4, seed=9, tamper=(round_index, position))


def test_wrong_claim_fails() -> None:
    tables = _tables(3, 2)
    proof, _, _ = prove_sumcheck(Transcript(b"t"), b"sc", tables, _triple, 3)
    ok, point, final = verify_sumcheck(Transcript(b"t"), b"sc", proof, 3, 3, (_triple(tables) + 1) % MODULUS)
    values = [mle_eval(table, point) for table in tables]
    assert ok
    assert final != values[0] * values[1] * values[2] % MODULUS


def test_wrong_shape_is_refused() -> None:
    tables = _tables(3, 2)
    proof, _, _ = prove_sumcheck(Transcript(b"t"), b"sc", tables, _triple, 3)
    assert not verify_sumcheck(Transcript(b"t"), b"sc", proof, 4, 3, 0)[0]
    assert not verify_sumcheck(Transcript(b"t"), b"sc", proof, 3, 2, 0)[0]


# --- committed (zero-knowledge) rounds ----------------------------------------------------------


def _run_zk(num_vars: int, seed: int, tamper: tuple[int, int] | None = None) -> bool:
    generators = group.generators(1)
    blinds = BlindSource(seed)
    tables = _tables(num_vars, seed)
    claim = _triple(tables)
    claim_blind = blinds.scalar()
    proof, _, finals, (final_value, final_blind) = prove_sumcheck_zk(
        Transcript(b"t"), b"sc", tables, _triple, 3, (claim, claim_blind), blinds, generators
    )
    assert final_value == finals[0] * finals[1] * finals[2] % MODULUS
    if tamper is not None:
        rounds = [list(message) for message in proof.rounds]
        rounds[tamper[0]][tamper[1]] = rounds[tamper[0]][tamper[1]] + generators.value
        proof = ZkSumcheckProof(tuple(tuple(message) for message in rounds))
    claim_commitment = commit_scalar(claim, claim_blind, generators)
    ok, point, final = verify_sumcheck_zk(Transcript(b"t"), b"sc", proof, num_vars, 3, claim_commitment)
    assert ok
    # the final commitment must open to f at the point (here the test knows the tables and the blind)
    values = [mle_eval(table, point) for table in tables]
    expected = commit_scalar(values[0] * values[1] * values[2], final_blind, generators)
    return group.points_equal(final.evaluate(), expected)


@pytest.mark.parametrize("num_vars", [1, 4])
def test_committed_sumcheck_tracks_the_final_claim(num_vars: int) -> None:
    assert _run_zk(num_vars, seed=num_vars)


@pytest.mark.parametrize("round_index", [0, 2])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_committed_sumcheck_with_a_shifted_round_commitment_fails(round_index: int, position: int) -> None:
    assert not _run_zk(3, seed=5, tamper=(round_index, position))


def test_committed_round_messages_are_fresh_random_points() -> None:
    # the same tables proved twice with different blinds share no round commitment
    generators = group.generators(1)
    tables = _tables(3, 1)
    proofs = [
        prove_sumcheck_zk(
            Transcript(b"t"), b"sc", tables, _triple, 3, (_triple(tables), 0), BlindSource(s), generators
        )[0]
        for s in (1, 2)
    ]
    first = {group.encode_point(p) for message in proofs[0].rounds for p in message}
    second = {group.encode_point(p) for message in proofs[1].rounds for p in message}
    assert not first & second


def _eq_triple(columns: Sequence[list[int]], suffix: list[int]) -> tuple[int, int]:
    a, b = columns
    return sum(e * x * y for e, x, y in zip(suffix, a, b, strict=True)) % MODULUS, 0


@pytest.mark.parametrize("num_vars", [1, 2, 5])
def test_eq_split_prover_sends_the_same_rounds_as_the_plain_one(num_vars: int) -> None:
    # sum_x eq(w, x) a(x) b(x) proved with the eq table materialised and with Gruen's split: same messages
    generators = group.generators(1)
    rng = random.Random(num_vars)
    w = [rng.randrange(MODULUS) for _ in range(num_vars)]
    a, b = ([rng.randrange(MODULUS) for _ in range(1 << num_vars)] for _ in range(2))
    tables = [eq_table(w), a, b]
    claim = (_triple(tables), 77)
    plain = prove_sumcheck_zk(Transcript(b"t"), b"sc", tables, _triple, 3, claim, BlindSource(4), generators)
    split = prove_eq_sumcheck_zk(Transcript(b"t"), b"sc", w, [a, b], _eq_triple, 3, claim, BlindSource(4), generators)
    assert [[group.encode_point(p) for p in m] for m in plain[0].rounds] == [
        [group.encode_point(p) for p in m] for m in split[0].rounds
    ]
    assert plain[1] == split[1]
    assert plain[3] == split[3]


def test_booleanity_first_round_shortcut_matches_the_generic_round() -> None:
    from securecompute.zk.relu import _booleanity, _booleanity_first_round
    from securecompute.zk.sumcheck import _eq_round_sums

    rng = random.Random(3)
    h = [rng.randrange(MODULUS) for _ in range(64)]
    bits = [rng.randrange(2) for _ in range(64)]
    suffix = eq_table([rng.randrange(MODULUS) for _ in range(5)])
    shortcut = _booleanity_first_round([h, bits], suffix)
    assert shortcut == _eq_round_sums([h, bits], suffix, _booleanity, 3)
    assert _booleanity_first_round([h, [*bits[:-1], 2]], suffix) is None
