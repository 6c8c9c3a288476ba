"""zkReLU end to end: honest proofs verify; cheating provers and replays fail; bad input is refused early."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from securecompute.errors import ParameterError
from securecompute.zk import Params, ReluProof, group, prove_relu, quantize, relu_reference, verify_relu
from securecompute.zk import relu as relu_module
from securecompute.zk.commit import BlindSource
from securecompute.zk.field import MODULUS, mle_eval
from securecompute.zk.proof import Shapes
from securecompute.zk.relu import Witness, build_witness, prove_from_witness
from securecompute.zk.sumcheck import ZkSumcheckProof
from tests.zk.conftest import random_inputs


def _cheat(pp: Params, witness: Witness) -> bool:
    return verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))


@pytest.mark.parametrize("n", [1, 3, 4, 16])
def test_honest_forward_proof_verifies(tiny_params: Params, n: int) -> None:
    assert verify_relu(tiny_params, prove_relu(tiny_params, random_inputs(tiny_params, n, seed=n), seed=n))


@pytest.mark.parametrize("n", [2, 5])
def test_honest_backward_proof_verifies(tiny_params: Params, n: int) -> None:
    pp = tiny_params
    proof = prove_relu(pp, random_inputs(pp, n, seed=n), random_inputs(pp, n, seed=n + 1), seed=n)
    assert proof.backward
    assert verify_relu(pp, proof)


def test_issue_format_forward_and_backward_verify(params: Params) -> None:
    z = quantize(np.random.default_rng(0).uniform(-0.5, 0.49, size=(4, 16)), params)
    grad = random_inputs(params, 64, seed=2).reshape(4, 16)
    assert verify_relu(params, prove_relu(params, z))
    assert verify_relu(params, prove_relu(params, z, grad))


def test_unseeded_proofs_differ_but_both_verify(tiny_params: Params) -> None:
    z = random_inputs(tiny_params, 4, seed=1)
    first, second = prove_relu(tiny_params, z), prove_relu(tiny_params, z)
    assert first.to_bytes() != second.to_bytes()
    assert verify_relu(tiny_params, first)
    assert verify_relu(tiny_params, second)


def test_seeded_proofs_are_reproducible(tiny_params: Params) -> None:
    z = random_inputs(tiny_params, 4, seed=1)
    assert prove_relu(tiny_params, z, seed=5).to_bytes() == prove_relu(tiny_params, z, seed=5).to_bytes()


def test_reference_is_round_half_up_relu(params: Params) -> None:
    z = random_inputs(params, 200, seed=8)
    grad = random_inputs(params, 200, seed=9)
    a, grad_z = relu_reference(z, params, grad)
    scale = 1 << params.frac_bits
    for zi, gi, ai, gzi in zip(z.tolist(), grad.tolist(), a.tolist(), grad_z.tolist(), strict=True):
        rounded = (2 * zi + scale) // (2 * scale)  # floor(z / 2^R + 1/2) in exact integers
        assert ai == (rounded if zi >= 0 else 0)
        assert gzi == ((2 * gi + scale) // (2 * scale) if zi >= 0 else 0)


# --- cheating provers ----------------------------------------------------------------------------


def test_one_wrong_output_fails(tiny_params: Params) -> None:
    witness = build_witness(tiny_params, random_inputs(tiny_params, 8, seed=1))
    witness.a[5] += 1
    assert not _cheat(tiny_params, witness)


def test_one_wrong_gradient_fails(tiny_params: Params) -> None:
    pp = tiny_params
    witness = build_witness(pp, random_inputs(pp, 8, seed=1), random_inputs(pp, 8, seed=2))
    assert witness.grad_z is not None
    witness.grad_z[3] -= 1
    assert not _cheat(pp, witness)


def _recomposes(pp: Params, witness: Witness) -> bool:
    """Relations 2-4 hold for every element (so only the booleanity check is left to catch a cheat)."""
    value_w, rescaled_w, _ = relu_module._bit_weights(pp)
    slots = 1 << pp.slot_vars
    for i, (z, a) in enumerate(zip(witness.z, witness.a, strict=True)):
        bits = witness.bits[i * slots : (i + 1) * slots]
        rescaled = sum(w * b for w, b in zip(rescaled_w, bits, strict=True))
        if sum(w * b for w, b in zip(value_w, bits, strict=True)) != z or a != (1 - bits[pp.bits - 1]) * rescaled:
            return False
    return True


def _bit_index(pp: Params, element: int, slot: int, block: int = 0, backward: bool = False) -> int:
    return ((element << int(backward)) + block) * (1 << pp.slot_vars) + slot


def test_non_binary_bit_with_consistent_recomposition_fails(tiny_params: Params) -> None:
    pp = tiny_params
    z = np.array([0b001000, 3, -7, 12])  # bit R+1 = 3 set in element 0
    witness = build_witness(pp, z)
    j = pp.frac_bits + 1
    assert witness.bits[_bit_index(pp, 0, j)] == 1
    # 2 * 2^(j-1) = 2^j: Z and rescale(Z) still recompose, only booleanity can catch it
    witness.bits[_bit_index(pp, 0, j)] = 0
    witness.bits[_bit_index(pp, 0, j - 1)] = 2
    assert _recomposes(pp, witness)
    assert not _cheat(pp, witness)


def test_wrong_sign_bit_passing_a_negative_value_fails(tiny_params: Params) -> None:
    pp = tiny_params
    z = np.array([-20, 5, 9, -1])
    witness = build_witness(pp, z)
    top = pp.bits - 1
    # clear the sign bit (+2^(B-1)) and take 2^(B-1) away through a non-binary bit B-2 (recompositions hold)
    witness.bits[_bit_index(pp, 0, top)] = 0
    witness.bits[_bit_index(pp, 0, top - 1)] -= 2
    witness.a[0] = int((-20 + (1 << (pp.frac_bits - 1))) >> pp.frac_bits)  # the negative value passes through
    assert _recomposes(pp, witness)
    assert not _cheat(pp, witness)


def test_plain_wrong_sign_bit_fails(tiny_params: Params) -> None:
    pp = tiny_params
    witness = build_witness(pp, np.array([-20, 5, 9, -1]))
    witness.bits[_bit_index(pp, 0, pp.bits - 1)] = 0
    assert not _cheat(pp, witness)


def test_truncation_instead_of_round_half_up_fails(params: Params) -> None:
    pp = params
    z = np.array([3 << (pp.frac_bits - 1), 5 << pp.frac_bits, -(1 << 20), 7])  # 1.5 * 2^R rounds up to 2
    witness = build_witness(pp, z)
    truncated = [max(int(value) >> pp.frac_bits, 0) for value in z]
    assert truncated[0] != witness.a[0]
    witness.a[: len(truncated)] = truncated
    assert not _cheat(pp, witness)


def test_proof_with_another_proofs_commitments_fails(tiny_params: Params) -> None:
    pp = tiny_params
    first = prove_relu(pp, random_inputs(pp, 4, seed=1), seed=1)
    second = prove_relu(pp, random_inputs(pp, 4, seed=2), seed=2)
    for name in ("z", "a", "bits"):
        swapped = dict(first.commitments)
        swapped[name] = second.commitments[name]
        assert not verify_relu(pp, dataclasses.replace(first, commitments=swapped))


def test_replay_under_other_parameters_fails(tiny_proof: ReluProof, tiny_params: Params) -> None:
    other = Params.setup(q_bits=4, frac_bits=2, max_log_n=5)
    assert not verify_relu(other, tiny_proof)
    forged = dataclasses.replace(tiny_proof, params_digest=other.digest(), max_log_n=5)
    assert not verify_relu(other, forged)
    assert not verify_relu(tiny_params, forged)


def _shift(point: object) -> object:
    """The point plus G_v: a commitment to (committed value + 1) under the same blind."""
    return point + group.generators(1).value  # type: ignore[operator]


@pytest.mark.parametrize("which", ["forward_sumcheck", "bits_sumcheck"])
def test_every_sumcheck_round_tampered_fails(tiny_backward_proof: ReluProof, tiny_params: Params, which: str) -> None:
    proof = tiny_backward_proof
    rounds: ZkSumcheckProof = getattr(proof, which)
    for index, message in enumerate(rounds.rounds):
        for position in range(len(message)):
            changed = list(message)
            changed[position] = _shift(changed[position])
            tampered = ZkSumcheckProof((*rounds.rounds[:index], tuple(changed), *rounds.rounds[index + 1 :]))
            assert not verify_relu(tiny_params, dataclasses.replace(proof, **{which: tampered}))


def test_tampered_claims_fail(tiny_backward_proof: ReluProof, tiny_params: Params) -> None:
    proof = tiny_backward_proof
    assert not verify_relu(tiny_params, dataclasses.replace(proof, claim_u=_shift(proof.claim_u)))
    assert not verify_relu(tiny_params, dataclasses.replace(proof, bits_at_rho=_shift(proof.bits_at_rho)))
    for index in range(len(proof.claims_r)):
        claims = list(proof.claims_r)
        claims[index] = _shift(claims[index])
        assert not verify_relu(tiny_params, dataclasses.replace(proof, claims_r=tuple(claims)))


def test_tampered_sigma_responses_fail(tiny_backward_proof: ReluProof, tiny_params: Params) -> None:
    proof = tiny_backward_proof
    for which in ("forward_product", "bits_product"):
        product = getattr(proof, which)
        for index in range(5):
            responses = list(product.responses)
            responses[index] = (responses[index] + 1) % MODULUS
            changed = dataclasses.replace(product, responses=tuple(responses))
            assert not verify_relu(tiny_params, dataclasses.replace(proof, **{which: changed}))
    for position, opening in enumerate(proof.openings):
        for field_name in ("blind_response", "value_response"):
            changed_opening = dataclasses.replace(opening, **{field_name: (getattr(opening, field_name) + 1) % MODULUS})
            openings = list(proof.openings)
            openings[position] = changed_opening
            assert not verify_relu(tiny_params, dataclasses.replace(proof, openings=tuple(openings)))


def test_structurally_wrong_proofs_return_false(tiny_proof: ReluProof, tiny_params: Params) -> None:
    assert not verify_relu(tiny_params, dataclasses.replace(tiny_proof, claims_r=tiny_proof.claims_r[:2]))
    assert not verify_relu(tiny_params, dataclasses.replace(tiny_proof, n=1 << 10))
    assert not verify_relu(tiny_params, dataclasses.replace(tiny_proof, backward=True))


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "grad", "match"),
    [
        (np.array([0.5, 1.0]), None, "integer"),
        (np.array([1 << 6]), None, "outside"),
        (np.array([-(1 << 5) - 1]), None, "outside"),
        (np.zeros(17, dtype=np.int64), None, "elements"),
        (np.zeros(0, dtype=np.int64), None, "elements"),
        (np.zeros(4, dtype=np.int64), np.zeros(5, dtype=np.int64), "shape"),
        (np.zeros(4, dtype=np.int64), np.array([99, 0, 0, 0]), "grad_a"),
    ],
)
def test_bad_input_is_refused_before_any_work(
    tiny_params: Params, monkeypatch: pytest.MonkeyPatch, z: np.ndarray, grad: np.ndarray | None, match: str
) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("committed before validating input")

    monkeypatch.setattr(relu_module, "commit", no_work)
    with pytest.raises(ParameterError, match=match):
        prove_relu(tiny_params, z, grad)


def test_bad_seed_and_params_are_refused(tiny_params: Params) -> None:
    with pytest.raises(ParameterError, match="seed"):
        prove_relu(tiny_params, np.zeros(2, dtype=np.int64), seed=-1)
    with pytest.raises(ParameterError, match="q_bits"):
        Params.setup(q_bits=1)
    with pytest.raises(ParameterError, match="62"):
        Params.setup(q_bits=40, frac_bits=24)
    with pytest.raises(ParameterError, match="max_log_n"):
        Params.setup(max_log_n=25)
    with pytest.raises(ParameterError, match="Params"):
        verify_relu(tiny_params, "proof")  # type: ignore[arg-type]


def test_quantize_scales_rounds_and_checks_range(params: Params) -> None:
    scale = 2.0 ** (2 * params.frac_bits)
    values = np.array([0.25, -0.25, 1.5 / scale, -0.5, 0.5 - 1 / scale])
    assert quantize(values, params).tolist() == [2**30, -(2**30), 2, -(2**31), 2**31 - 1]
    assert quantize(values, params).dtype == np.int64
    with pytest.raises(ParameterError, match="outside the range"):
        quantize([0.5], params)
    with pytest.raises(ParameterError, match="finite"):
        quantize([float("nan")], params)
    with pytest.raises(ParameterError, match="real numbers"):
        quantize(["x"], params)


@pytest.mark.parametrize("backward", [False, True])
def test_nonzero_padded_element_fails(tiny_params: Params, backward: bool) -> None:
    """A consistent 4-element witness claimed as n = 3: the padded 4th element must be zero (relation 5)."""
    pp = tiny_params
    z = np.array([5, -3, 7, 9])
    grad = np.array([1, 2, 3, 4]) if backward else None
    witness = build_witness(pp, z, grad)
    assert witness.a[3] != 0
    assert _cheat(pp, witness)  # as a 4-element proof it is honest
    witness.n = 3
    assert not _cheat(pp, witness)
    honest = build_witness(pp, z[:3], None if grad is None else grad[:3])
    assert _cheat(pp, honest)


def test_nonzero_padded_gradient_alone_fails(tiny_params: Params) -> None:
    """Only the gradient block of the padded element is nonzero (Z = A = 0 there): still caught."""
    pp = tiny_params
    witness = build_witness(pp, np.array([5, -3, 7, 0]), np.array([1, 2, 3, 8]))
    assert witness.z[3] == 0
    assert witness.grad_a is not None
    assert witness.grad_a[3] == 8
    witness.n = 3
    assert not _cheat(pp, witness)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16])
@pytest.mark.parametrize("backward", [False, True])
def test_recomposition_weight_at_rho_matches_the_table(tiny_params: Params, n: int, backward: bool) -> None:
    """The verifier's O(m) evaluation of h at rho equals the MLE of the prover's full table (test oracle)."""
    pp = tiny_params
    rng = np.random.default_rng(n)
    m = max(1, (n - 1).bit_length())

    def draw(count: int) -> list[int]:
        return [int(v) for v in rng.integers(1, 1 << 62, size=count)]

    alphas, alpha_pad, r = draw(5), draw(1)[0], draw(m)
    rho = draw(m + pp.slot_vars + int(backward))
    layout = Shapes.of(pp.slot_vars, n, 1, backward)
    table = relu_module._recomposition_table(pp, alphas, alpha_pad, backward, r, layout, n)
    expected = mle_eval(table, rho)
    assert relu_module._recomposition_at(pp, alphas, alpha_pad, backward, r, rho, layout, n) == expected


def test_quantize_is_exact_beyond_53_bits() -> None:
    """Q = 38, R = 24 (B = 62): 2**13 scales to 2**61 = max + 1, which a float64 range check let through."""
    pp = Params.setup(q_bits=38, frac_bits=24, max_log_n=4)
    with pytest.raises(ParameterError, match="outside the range"):
        quantize([2.0**13], pp)
    assert quantize([-(2.0**13)], pp).tolist() == [pp.min_value]
    below = float(np.nextafter(2.0**13, 0))
    assert quantize([below], pp).tolist() == [int(below * 2**48)]
    with pytest.raises(ParameterError):
        quantize([1e300], pp)


def test_quantize_rounds_half_up_exactly(params: Params) -> None:
    scale = 2.0 ** (2 * params.frac_bits)
    just_below_half = float(np.nextafter(0.5, 0))  # y + 0.5 in floating point would round this up to 1
    values = [just_below_half / scale, 0.5 / scale, -0.5 / scale, 1.5 / scale, -1.5 / scale]
    assert quantize(values, params).tolist() == [0, 1, 0, 2, -1]


def test_pinned_commitments(tiny_proof: ReluProof, tiny_params: Params) -> None:
    pp = tiny_params
    assert verify_relu(pp, tiny_proof, commitments=dict(tiny_proof.commitments))
    other = prove_relu(pp, random_inputs(pp, 4, seed=99), seed=11)
    assert verify_relu(pp, other)
    # a valid proof, but about other tensors than the ones the caller holds commitments to
    assert not verify_relu(pp, other, commitments=dict(tiny_proof.commitments))
    mixed = dict(tiny_proof.commitments) | {"a": other.commitments["a"]}
    assert not verify_relu(pp, tiny_proof, commitments=mixed)
    partial = {k: v for k, v in tiny_proof.commitments.items() if k != "bits"}
    assert not verify_relu(pp, tiny_proof, commitments=partial)
    with pytest.raises(ParameterError):
        verify_relu(pp, tiny_proof, commitments={"z": "not a commitment"})  # type: ignore[dict-item]


def test_notebook_badge_names_the_parameters(tiny_proof: ReluProof, tiny_params: Params) -> None:
    shown = tiny_proof._repr_html_()
    assert "verified" in shown
    assert tiny_params.digest().hex() in shown
    assert "not pinned by you" in shown
    assert f"Q={tiny_params.q_bits}, R={tiny_params.frac_bits}" in shown


def test_seeded_proofs_of_different_inputs_share_no_blinds(tiny_params: Params) -> None:
    pp = tiny_params
    first = prove_relu(pp, np.array([1, 2, 3, 4]), seed=5)
    second = prove_relu(pp, np.array([1, 2, 3, 5]), seed=5)
    again = prove_relu(pp, np.array([1, 2, 3, 4]), seed=5)
    assert again.to_bytes() == first.to_bytes()
    # the first rows commit to the same values (1, 2): with shared blinds they would be equal points
    first_rows = [group.encode_point(p) for p in first.commitments["z"].rows]
    second_rows = [group.encode_point(p) for p in second.commitments["z"].rows]
    assert first_rows[0] != second_rows[0]


def test_verifier_bugs_are_not_swallowed(tiny_proof: ReluProof, tiny_params: Params) -> None:
    """A programming error (here a TypeError from a broken proof object) propagates instead of reading as False."""
    broken = dataclasses.replace(tiny_proof, claims_r=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_relu(tiny_params, broken)
    # a non-point where a point belongs cannot come out of the parser: a caller bug, so it is not a False
    with pytest.raises(AttributeError):
        verify_relu(tiny_params, dataclasses.replace(tiny_proof, claim_u="not a point"))
