"""Stacked proofs (FAC4DNN): k ReLU instances in one proof; size grows with log k beyond the commitments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk import Params, ReluProof, prove_relu, prove_relu_stack, verify_relu, verify_relu_stack
from securecompute.zk import relu as relu_module
from securecompute.zk.commit import BlindSource, Commitment
from securecompute.zk.field import mle_eval
from securecompute.zk.proof import KIND, Shapes
from securecompute.zk.relu import build_stack_witness, prove_from_witness
from tests.zk.conftest import random_inputs


@pytest.fixture(scope="module")
def stack_params() -> Params:
    """Q = 4, R = 2, at most 2**5 stacked elements."""
    return Params.setup(q_bits=4, frac_bits=2, max_log_n=5)


def _instances(pp: Params, k: int, n: int, seed: int) -> list[np.ndarray]:
    return [random_inputs(pp, n, seed=seed + index) for index in range(k)]


@pytest.mark.parametrize(("k", "n"), [(1, 4), (2, 3), (3, 4), (4, 5)])
def test_honest_stack_verifies_after_a_round_trip(stack_params: Params, k: int, n: int) -> None:
    pp = stack_params
    proof = prove_relu_stack(pp, _instances(pp, k, n, seed=k), seed=k)
    loaded = ReluProof.from_bytes(proof.to_bytes())
    assert loaded.to_bytes() == proof.to_bytes()
    assert loaded.instances == k
    assert verify_relu_stack(pp, loaded, k)
    assert not verify_relu_stack(pp, loaded, k + 1)


def test_honest_backward_stack_verifies(stack_params: Params) -> None:
    pp = stack_params
    zs, grads = _instances(pp, 3, 4, seed=1), _instances(pp, 3, 4, seed=9)
    assert verify_relu_stack(pp, prove_relu_stack(pp, zs, grads, seed=2), 3)


def test_one_instance_stack_is_a_plain_proof(stack_params: Params) -> None:
    pp = stack_params
    z = random_inputs(pp, 4, seed=3)
    assert prove_relu_stack(pp, [z], seed=4).to_bytes() == prove_relu(pp, z, seed=4).to_bytes()


@pytest.mark.parametrize("backward", [False, True])
def test_one_bad_instance_fails(stack_params: Params, backward: bool) -> None:
    pp = stack_params
    zs = _instances(pp, 3, 4, seed=5)
    grads = _instances(pp, 3, 4, seed=15) if backward else None
    witness = build_stack_witness(pp, zs, grads)
    assert verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))
    # instance 1, element 2: one wrong output (or gradient)
    index = 1 * 4 + 2
    table = witness.grad_z if backward else witness.a
    assert table is not None
    table[index] += 1
    assert not verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))


def test_nonzero_padding_instance_fails(stack_params: Params) -> None:
    """4 consistent instances claimed as k = 3: the padded 4th instance must be zero."""
    pp = stack_params
    zs = _instances(pp, 4, 4, seed=6)
    zs[3] = np.array([9, 9, 9, 9])
    witness = build_stack_witness(pp, zs)
    assert verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))
    witness.instances = 3
    assert not verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))


def _swap_instances(proof: ReluProof, first: int, second: int) -> ReluProof:
    per = {name: len(c.rows) >> proof.shapes.kappa for name, c in proof.commitments.items()}
    swapped = {}
    for name, commitment in proof.commitments.items():
        blocks = [commitment.rows[i * per[name] : (i + 1) * per[name]] for i in range(1 << proof.shapes.kappa)]
        blocks[first], blocks[second] = blocks[second], blocks[first]
        swapped[name] = Commitment(commitment.num_vars, tuple(p for block in blocks for p in block), commitment.columns)
    return dataclasses.replace(proof, commitments=swapped)


def test_reordering_instances_fails(stack_params: Params) -> None:
    pp = stack_params
    zs = _instances(pp, 2, 4, seed=7)
    proof = prove_relu_stack(pp, zs, seed=8)
    assert verify_relu_stack(pp, proof, 2)
    # the same commitments in the other order: the proof is not about that stack
    assert not verify_relu_stack(pp, _swap_instances(proof, 0, 1), 2)
    # pinning each instance's commitments: the right order verifies, the other does not
    own = [proof.instance_commitments(0), proof.instance_commitments(1)]
    assert verify_relu_stack(pp, proof, 2, commitments=own)
    assert not verify_relu_stack(pp, proof, 2, commitments=own[::-1])
    assert not verify_relu_stack(pp, proof, 2, commitments=own[:1])
    # a proof of the reordered inputs has other commitments
    reordered = prove_relu_stack(pp, zs[::-1], seed=8)
    assert verify_relu_stack(pp, reordered, 2)
    assert not verify_relu_stack(pp, reordered, 2, commitments=own)


def test_instance_commitments_have_one_instance_shape(stack_params: Params) -> None:
    pp = stack_params
    stack = prove_relu_stack(pp, _instances(pp, 4, 4, seed=2), _instances(pp, 4, 4, seed=3), seed=1)
    single = prove_relu(pp, random_inputs(pp, 4, seed=2), random_inputs(pp, 4, seed=3), seed=1)
    for index in range(4):
        part = stack.instance_commitments(index)
        assert list(part) == list(single.commitments)
        for name, commitment in part.items():
            assert commitment.num_vars == single.commitments[name].num_vars
            assert len(commitment.rows) == len(single.commitments[name].rows)
    with pytest.raises(ParameterError):
        stack.instance_commitments(4)


def test_proof_size_grows_with_log_k(stack_params: Params) -> None:
    """Beyond the commitments (per-instance data, linear in k), each doubling of k adds exactly one round to each
    sumcheck (2 x 3 points = 288 bytes); the first stack also adds the meta key "instances"."""
    pp = stack_params
    sizes = {}
    for k in (1, 2, 4, 8):
        proof = prove_relu_stack(pp, _instances(pp, k, 4, seed=k), seed=1)
        sizes[k] = (proof.size_bytes - proof.commitment_bytes, proof.commitment_bytes)
    round_bytes = 2 * 3 * 48
    meta_key = len(',"instances":2')
    assert sizes[2][0] - sizes[1][0] == round_bytes + meta_key
    assert sizes[4][0] - sizes[2][0] == round_bytes
    assert sizes[8][0] - sizes[4][0] == round_bytes
    assert [sizes[k][1] for k in (1, 2, 4, 8)] == [k * sizes[1][1] for k in (1, 2, 4, 8)]


def test_bad_stacks_are_refused(stack_params: Params) -> None:
    pp = stack_params
    with pytest.raises(ParameterError, match="same number"):
        prove_relu_stack(pp, [random_inputs(pp, 4, 1), random_inputs(pp, 3, 2)])
    with pytest.raises(ParameterError, match="exceed"):
        prove_relu_stack(pp, _instances(pp, 5, 8, seed=1))  # 8 x 8 > 2**5
    with pytest.raises(ParameterError, match="non-empty"):
        prove_relu_stack(pp, [])
    with pytest.raises(ParameterError, match="grads"):
        prove_relu_stack(pp, _instances(pp, 2, 4, seed=1), _instances(pp, 3, 4, seed=1))


@pytest.mark.parametrize("meta_instances", [b"1", b"0", b"64", b"true"])
def test_parser_refuses_bad_instance_counts(stack_params: Params, meta_instances: bytes) -> None:
    proof = prove_relu_stack(stack_params, _instances(stack_params, 2, 4, seed=1), seed=1)
    envelope = unpack(proof.to_bytes())
    sections = dict(envelope.sections)
    sections["meta"] = sections["meta"].replace(b'"instances":2', b'"instances":' + meta_instances)
    with pytest.raises(CorruptPayloadError):
        ReluProof.from_bytes(pack(KIND, sections, fingerprint=envelope.fingerprint))


@pytest.mark.parametrize(("n", "k"), [(1, 2), (3, 3), (4, 2), (5, 4), (2, 7)])
@pytest.mark.parametrize("backward", [False, True])
def test_stacked_recomposition_weight_matches_the_table(n: int, k: int, backward: bool) -> None:
    """The verifier's evaluation of h at rho (padding of elements and instances) equals the table's MLE (oracle)."""
    pp = Params.setup(q_bits=4, frac_bits=2, max_log_n=8)
    rng = np.random.default_rng(n * 10 + k)

    def draw(count: int) -> list[int]:
        return [int(v) for v in rng.integers(1, 1 << 62, size=count)]

    layout = Shapes.of(pp.slot_vars, n, k, backward)
    alphas, alpha_pad, r = draw(5), draw(1)[0], draw(layout.total)
    rho = draw(layout.bit_vars)
    table = relu_module._recomposition_table(pp, alphas, alpha_pad, backward, r, layout, n, k)
    expected = mle_eval(table, rho)
    assert relu_module._recomposition_at(pp, alphas, alpha_pad, backward, r, rho, layout, n, k) == expected


@pytest.mark.parametrize("backward", [False, True])
def test_nonzero_padded_element_inside_a_real_instance_fails(stack_params: Params, backward: bool) -> None:
    """Two consistent 4-element instances claimed with n = 3: each instance's 4th element must be zero."""
    pp = stack_params
    zs = [np.array([5, -3, 7, 6]), np.array([-2, 4, 1, 3])]
    grads = [np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])] if backward else None
    witness = build_stack_witness(pp, zs, grads)
    assert verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))  # honest with n = 4
    witness.n = 3
    assert not verify_relu(pp, prove_from_witness(pp, witness, BlindSource(1)))


def test_a_pinned_n_must_match_the_proof(stack_params: Params) -> None:
    pp = stack_params
    single = prove_relu(pp, random_inputs(pp, 3, seed=11), seed=11)
    assert verify_relu(pp, single, n=3)
    assert not verify_relu(pp, single, n=4)
    stack = prove_relu_stack(pp, _instances(pp, 2, 3, seed=12), seed=12)
    assert verify_relu_stack(pp, stack, 2, n=3)
    assert verify_relu_stack(pp, stack, np.int64(2), n=3)
    assert not verify_relu_stack(pp, stack, 2, n=4)
    with pytest.raises(ParameterError, match="n must be"):
        verify_relu(pp, single, n=0)
