"""G1 encoding and MSM, and Hyrax commitments with their zero-knowledge evaluation proof."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from securecompute.errors import DependencyMissingError
from securecompute.zk import group
from securecompute.zk.commit import BlindSource, EvaluationProof, commit, prove_evaluation, verify_evaluation
from securecompute.zk.field import MODULUS, mle_eval, to_field
from securecompute.zk.sigma import commit_scalar
from securecompute.zk.transcript import Transcript

BLS12_381_P = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab", 16
)


def test_point_encoding_round_trips_and_is_48_bytes() -> None:
    generators = group.generators(4)
    for point in [*generators.vector, generators.blind, generators.value, group.identity()]:
        data = group.encode_point(point)
        assert len(data) == 48
        assert group.points_equal(group.decode_point(data), point)


def test_point_outside_the_subgroup_is_refused() -> None:
    # x = 4 gives a curve point (x^3 + 4 is a square mod p) of the full curve, not of the r-order subgroup
    x = 4
    assert pow((x**3 + 4) % BLS12_381_P, (BLS12_381_P - 1) // 2, BLS12_381_P) == 1
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= 0x80  # compressed flag
    with pytest.raises(ValueError, match="invalid"):
        group.decode_point(bytes(data))


def test_malformed_point_encodings_are_refused() -> None:
    data = group.encode_point(group.generators(1).vector[0])
    with pytest.raises(ValueError, match="48 bytes"):
        group.decode_point(data[:47])
    with pytest.raises(ValueError, match="invalid"):
        group.decode_point(bytes([data[0] & 0x7F]) + data[1:])  # uncompressed flag on 48 bytes
    with pytest.raises(ValueError, match=r"invalid|canonical"):
        group.decode_point(b"\xc0" + b"\x00" * 46 + b"\x01")  # infinity flag with non-zero bits


def test_msm_matches_repeated_addition() -> None:
    generators = group.generators(3).vector
    scalars = [3, -2 % MODULUS, 0]
    expected = generators[0] + generators[0] + generators[0] - generators[1] - generators[1]
    assert group.points_equal(group.msm(generators, scalars), expected)


def test_generators_are_distinct_and_reproducible() -> None:
    generators = group.generators(8)
    first = generators.vector
    encoded = {group.encode_point(point) for point in [*first, generators.blind, generators.value]}
    assert len(encoded) == 10
    again = group.generators(8).vector
    assert [group.encode_point(p) for p in again] == [group.encode_point(p) for p in first]


def _random_table(num_vars: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(-1000, 1000) for _ in range(1 << num_vars)]


def _open(
    table: list[int], blinds_of_rows: list[int], point: list[int], blinds: BlindSource, generators: group.Generators
) -> tuple[object, EvaluationProof]:
    """Commit to the table's MLE value at ``point`` and prove it; returns the value commitment and the proof."""
    value = mle_eval(to_field(table), point)
    value_blind = blinds.scalar()
    proof = prove_evaluation(Transcript(b"t"), to_field(table), blinds_of_rows, point, value_blind, blinds, generators)
    return commit_scalar(value, value_blind, generators), proof


@pytest.mark.parametrize("num_vars", [1, 2, 5])
def test_evaluation_proof_round_trip(num_vars: int) -> None:
    generators = group.generators(8)
    table = _random_table(num_vars, num_vars)
    blinds = BlindSource(7)
    commitment, row_blinds = commit(table, num_vars, blinds, generators)
    point = [random.Random(1).randrange(MODULUS) for _ in range(num_vars)]
    value_commitment, proof = _open(table, row_blinds, point, blinds, generators)
    assert verify_evaluation(Transcript(b"t"), [(commitment, 1)], point, value_commitment, proof, generators)
    shifted = value_commitment + generators.value  # a commitment to value + 1 with the same blind
    assert not verify_evaluation(Transcript(b"t"), [(commitment, 1)], point, shifted, proof, generators)
    assert not verify_evaluation(Transcript(b"other"), [(commitment, 1)], point, value_commitment, proof, generators)
    assert not verify_evaluation(
        Transcript(b"t"), [(commitment, 1)], [*point[:-1], point[-1] + 1], value_commitment, proof, generators
    )


def test_evaluation_proof_for_another_table_fails() -> None:
    generators = group.generators(4)
    table = _random_table(3, 1)
    other = list(table)
    other[5] += 1
    blinds = BlindSource(3)
    commitment, _ = commit(table, 3, blinds, generators)
    _, other_blinds = commit(other, 3, blinds, generators)
    point = [11, 22, 33]
    value_commitment, proof = _open(other, other_blinds, point, blinds, generators)
    assert not verify_evaluation(Transcript(b"t"), [(commitment, 1)], point, value_commitment, proof, generators)


def test_batched_opening_of_two_commitments() -> None:
    generators = group.generators(4)
    first, second = _random_table(4, 1), _random_table(4, 2)
    blinds = BlindSource(5)
    com_first, blinds_first = commit(first, 4, blinds, generators)
    com_second, blinds_second = commit(second, 4, blinds, generators)
    weight, point = 987654321, [5, 6, 7, 8]
    combined = [(x + weight * y) % MODULUS for x, y in zip(first, second, strict=True)]
    combined_blinds = [(x + weight * y) % MODULUS for x, y in zip(blinds_first, blinds_second, strict=True)]
    value_commitment, proof = _open(combined, combined_blinds, point, blinds, generators)
    pairs = [(com_first, 1), (com_second, weight)]
    assert verify_evaluation(Transcript(b"t"), pairs, point, value_commitment, proof, generators)
    wrong = [(com_first, 1), (com_second, weight + 1)]
    assert not verify_evaluation(Transcript(b"t"), wrong, point, value_commitment, proof, generators)


def test_commitments_hide_equal_tables_behind_fresh_blinds() -> None:
    generators = group.generators(4)
    table = [0, 1] * 8
    first, _ = commit(table, 4, BlindSource(1), generators)
    second, _ = commit(table, 4, BlindSource(2), generators)
    assert all(not group.points_equal(a, b) for a, b in zip(first.rows, second.rows, strict=True))


def test_seeded_blinds_are_reproducible_and_unseeded_are_not() -> None:
    assert BlindSource(9).scalars(3) == BlindSource(9).scalars(3)
    assert BlindSource(None).scalar() != BlindSource(None).scalar()


def test_combination_evaluates_to_its_msm_and_merges_repeated_points() -> None:
    points = group.generators(3).vector
    combination = group.Combination([(points[0], 2), (points[1], 5)])
    combination.add(group.Combination([(points[0], 3), (points[2], 1)]), 4)
    assert len(combination.terms()) == 3
    assert group.points_equal(combination.evaluate(), group.msm(points, [14, 5, 4]))


def test_batch_check_fails_if_any_equation_fails() -> None:
    points = group.generators(2).vector
    good = group.Combination([(points[0], 1), (points[0], MODULUS - 1)])
    bad = group.Combination([(points[1], 1)])
    batch = group.BatchCheck()
    batch.require_zero(good)
    assert batch.verify()
    batch.require_zero(bad)
    assert not batch.verify()


def test_missing_library_raises_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "py_arkworks_bls12381", None)  # makes the import fail
    group.arkworks.cache_clear()
    try:
        with pytest.raises(DependencyMissingError, match="pip install py-arkworks-bls12381"):
            group.identity()
    finally:
        group.arkworks.cache_clear()


def test_importing_zk_does_not_load_the_curve_library() -> None:
    code = "import sys, securecompute.zk; print('py_arkworks_bls12381' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
