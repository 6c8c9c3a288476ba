"""Whole-MLP inference proofs: honest batches of any depth verify; cheating provers and pinned mismatches fail."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk import Params
from securecompute.zk.field import MODULUS, eq_table
from securecompute.zk.linear import below_sum
from securecompute.zk.mlp import prove_from_tensors, prove_mlp, verify_mlp
from securecompute.zk.mlp_proof import MlpProof
from securecompute.zk.model import CommittedModel, MlpModel, commit_model, mlp_reference, quantize_input
from securecompute.zk.relu import verify_relu
from securecompute.zk.witness import relu_reference


@pytest.fixture(scope="module")
def pp() -> Params:
    """Q = 16, R = 6 (B = 22 bits), tables up to 2**8 entries."""
    return Params.setup(q_bits=16, frac_bits=6, max_log_n=8)


def _model(pp: Params, dims: tuple[int, ...], seed: int) -> MlpModel:
    rng = np.random.default_rng(seed)
    layers = [
        (rng.normal(0, 0.5, (d_in, d_out)), rng.normal(0, 0.2, d_out)) for d_in, d_out in itertools.pairwise(dims)
    ]
    return MlpModel.quantize(pp, layers)


@pytest.fixture(scope="module")
def committed(pp: Params) -> CommittedModel:
    return commit_model(pp, _model(pp, (8, 4, 3), seed=1), seed=2)


@pytest.fixture(scope="module")
def batch(pp: Params) -> np.ndarray:
    return quantize_input(np.random.default_rng(3).uniform(0, 1, (3, 8)), pp)


@pytest.fixture(scope="module")
def proof(pp: Params, committed: CommittedModel, batch: np.ndarray) -> MlpProof:
    return prove_mlp(pp, committed, batch, seed=4)


def _oracle(pp: Params, model: MlpModel, x: np.ndarray) -> list[np.ndarray]:
    """Plain integer forward pass, written independently: Python-int matmul, shift-based rescale, ReLU."""
    current = [[int(v) for v in row] for row in x]
    outputs = []
    for index, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        z = [
            [sum(row[i] * int(w[i, j]) for i in range(w.shape[0])) + int(b[j]) for j in range(w.shape[1])]
            for row in current
        ]
        outputs.append(np.array(z, dtype=np.int64))
        if index + 1 < model.depth:
            half = 1 << (pp.frac_bits - 1)
            current = [[(v + half) >> pp.frac_bits if v >= 0 else 0 for v in row] for row in z]
    return outputs


def test_reference_matches_an_independent_integer_forward_pass(pp: Params, batch: np.ndarray) -> None:
    model = _model(pp, (8, 5, 4, 3), seed=7)
    zs, activations = mlp_reference(pp, model, batch)
    assert [z.tolist() for z in zs] == [z.tolist() for z in _oracle(pp, model, batch)]
    assert len(activations) == 2


def test_below_sum_equals_the_brute_force_sum() -> None:
    point = [5, MODULUS - 3, 11]
    table = eq_table(point)
    for count in range(9):
        assert below_sum(point, count) == sum(table[:count]) % MODULUS


def test_honest_proof_verifies_with_pinned_commitments_and_after_bytes(
    pp: Params, committed: CommittedModel, proof: MlpProof
) -> None:
    assert verify_mlp(pp, proof)
    loaded = MlpProof.from_bytes(proof.to_bytes())
    assert verify_mlp(
        pp,
        loaded,
        weight_commitments=committed.commitment,
        input_commitment=proof.input,
        output_commitment=proof.output,
        rows=3,
    )
    assert loaded.to_bytes() == proof.to_bytes()


@pytest.mark.parametrize("dims", [(4, 3), (6, 5, 4, 2)])
def test_any_depth_and_a_batch_of_one_verify(pp: Params, dims: tuple[int, ...]) -> None:
    model = commit_model(pp, _model(pp, dims, seed=len(dims)))
    for rows in (1, 2):
        x = quantize_input(np.random.default_rng(rows).uniform(0, 1, (rows, dims[0])), pp)
        proof = prove_mlp(pp, model, x)
        assert verify_mlp(pp, MlpProof.from_bytes(proof.to_bytes()), weight_commitments=model.commitment)


def test_seeded_proofs_reproduce(pp: Params, committed: CommittedModel, batch: np.ndarray, proof: MlpProof) -> None:
    assert prove_mlp(pp, committed, batch, seed=4).to_bytes() == proof.to_bytes()


def test_other_weights_pinned_fail(pp: Params, committed: CommittedModel, proof: MlpProof) -> None:
    weights = [w.copy() for w in committed.model.weights]
    weights[1][0, 0] += 1
    other = commit_model(pp, MlpModel.from_integers(pp, weights, list(committed.model.biases)), seed=2)
    assert not verify_mlp(pp, proof, weight_commitments=other.commitment)


def test_a_model_with_a_missing_bias_commitment_verifies_false(
    pp: Params, committed: CommittedModel, proof: MlpProof
) -> None:
    # a hand-built proof object: False, not a ValueError from comparing it with the pinned commitment
    short = dataclasses.replace(proof, model=dataclasses.replace(proof.model, biases=proof.model.biases[:1]))
    assert not verify_mlp(pp, short, weight_commitments=committed.commitment)
    assert not committed.commitment.same_as(short.model)
    assert not short.model.same_as(committed.commitment)


def test_a_weight_changed_after_commitment_fails(pp: Params, committed: CommittedModel, batch: np.ndarray) -> None:
    # the prover computes layer 2 with a changed weight but keeps the published commitment
    weights = [w.copy() for w in committed.model.weights]
    weights[1][2, 1] += 3
    changed = MlpModel.from_integers(pp, weights, list(committed.model.biases))
    tables = list(committed.weight_tables)
    tables[1] = commit_model(pp, changed, seed=2).weight_tables[1]
    cheat = dataclasses.replace(committed, model=changed, weight_tables=tuple(tables))
    proof = prove_mlp(pp, cheat, batch, seed=5)
    assert not verify_mlp(pp, proof, weight_commitments=committed.commitment)
    assert not verify_mlp(pp, proof)


def test_wrong_product_fails(pp: Params, committed: CommittedModel, batch: np.ndarray) -> None:
    zs, activations = mlp_reference(pp, committed.model, batch)
    for layer in (0, 1):
        wrong = [z.copy() for z in zs]
        wrong[layer][1, 2] += 1
        acts = list(activations)
        if layer == 0:
            acts[0] = relu_reference(wrong[0], pp)[0]  # consistent downstream: only this product is wrong
            wrong[1] = acts[0] @ committed.model.weights[1] + committed.model.biases[1][None, :]
        proof = prove_from_tensors(pp, committed, batch, wrong, acts, seed=6)
        assert not verify_mlp(pp, proof)


def test_wrong_rescale_fails(pp: Params, committed: CommittedModel, batch: np.ndarray) -> None:
    zs, activations = mlp_reference(pp, committed.model, batch)
    truncated = np.maximum(zs[0] >> pp.frac_bits, 0)  # truncation instead of round half up
    assert (truncated != activations[0]).any()
    zs_next = zs[1] + (truncated - activations[0]) @ committed.model.weights[1]  # next layer consistent with it
    proof = prove_from_tensors(pp, committed, batch, [zs[0], zs_next], [truncated], seed=7)
    assert not verify_mlp(pp, proof)


def test_a_skipped_layer_fails(pp: Params, batch: np.ndarray) -> None:
    deep = commit_model(pp, _model(pp, (8, 4, 4, 3), seed=9), seed=1)
    model = deep.model
    skipped = MlpModel.from_integers(pp, [model.weights[0], model.weights[2]], [model.biases[0], model.biases[2]])
    proof = prove_mlp(pp, skipped, batch, seed=3)
    assert verify_mlp(pp, proof)
    assert not verify_mlp(pp, proof, weight_commitments=deep.commitment)
    honest = prove_mlp(pp, deep, batch, seed=3)
    cut = dataclasses.replace(
        honest,
        pre_activations=honest.pre_activations[:1] + honest.pre_activations[2:],
        activations=honest.activations[:1],
        linear=honest.linear[:1] + honest.linear[2:],
        relu=honest.relu[:1],
    )
    assert not verify_mlp(pp, cut)


def test_swapped_activation_commitment_fails(pp: Params, committed: CommittedModel, batch: np.ndarray) -> None:
    first = prove_mlp(pp, committed, batch, seed=1)
    second = prove_mlp(pp, committed, batch, seed=2)
    mixed = dataclasses.replace(first, activations=second.activations)
    assert not verify_mlp(pp, mixed)
    assert not verify_mlp(pp, first, output_commitment=second.output)
    assert not verify_mlp(pp, first, input_commitment=second.input)
    assert not verify_mlp(pp, first, rows=4)


def test_bad_inputs_are_refused_before_proving(pp: Params, committed: CommittedModel) -> None:
    with pytest.raises(ParameterError, match="features"):
        prove_mlp(pp, committed, np.zeros((2, 7), dtype=np.int64))
    with pytest.raises(ParameterError, match="integer"):
        prove_mlp(pp, committed, np.zeros((2, 8)))
    with pytest.raises(ParameterError, match="q_bits"):
        prove_mlp(pp, committed, np.full((2, 8), pp.max_value, dtype=np.int64))
    with pytest.raises(ParameterError, match="layers"):
        MlpModel.quantize(pp, [])
    with pytest.raises(ParameterError):
        verify_mlp(pp, "proof")  # type: ignore[arg-type]


def _reseal(data: bytes, section: str, offset: int, mask: int) -> bytes:
    envelope = unpack(data)
    sections = dict(envelope.sections)
    body = bytearray(sections[section])
    body[offset % len(body)] ^= mask
    sections[section] = bytes(body)
    return pack(envelope.kind, sections, fingerprint=envelope.fingerprint)


def test_section_byte_changes_are_detected(pp: Params, proof: MlpProof) -> None:
    data = proof.to_bytes()
    envelope = unpack(data)
    rng = np.random.default_rng(0)
    for name, body in envelope.sections.items():
        for offset in rng.choice(len(body), size=min(len(body), 12), replace=False).tolist():
            forged = _reseal(data, name, offset, int(rng.choice([0x01, 0x80, 0xFF])))
            try:
                loaded = MlpProof.from_bytes(forged)
            except CorruptPayloadError:
                continue
            assert not verify_mlp(pp, loaded), (name, offset)


@pytest.mark.parametrize(
    "meta",
    [
        b'{"dims":[8,4,3],"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":0}',
        b'{"dims":[8,4,3],"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":1000}',
        b'{"dims":[8,100000,3],"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":3}',
        b'{"dims":[8],"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":3}',
        b'{"dims":[8,4,3],"extra":1,"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":3}',
        b'{"dims":[8,4.0,3],"frac_bits":6,"max_log_n":8,"q_bits":16,"rows":3}',
    ],
)
def test_bad_meta_is_refused(proof: MlpProof, meta: bytes) -> None:
    envelope = unpack(proof.to_bytes())
    sections = dict(envelope.sections)
    sections["meta"] = meta
    with pytest.raises(CorruptPayloadError):
        MlpProof.from_bytes(pack(envelope.kind, sections, fingerprint=envelope.fingerprint))


def test_relu_proofs_over_other_commitments_fail(pp: Params, committed: CommittedModel, batch: np.ndarray) -> None:
    # A cheating prover keeps the linear proofs over its committed Z_1, A_1 and attaches a valid zkReLU proof over
    # another pair that shares one of them (a seeded prover's blinds depend only on the model and the input, so the
    # shared table has the same commitment).  The verifier must check that the zkReLU proof's z AND a are Z_1 and A_1.
    zs, activations = mlp_reference(pp, committed.model, batch)
    w2, b2 = committed.model.weights[1], committed.model.biases[1][None, :]
    shifted = zs[0].copy()
    shifted[0, 1] = abs(int(shifted[0, 1])) + (5 << pp.frac_bits)  # a positive entry: its activation changes
    wrong_a = relu_reference(shifted, pp)[0]
    assert (wrong_a != activations[0]).any()
    consistent = [zs[0], wrong_a @ w2 + b2]  # Z_1 = X W_1 + b_1 and Z_2 = A_1 W_2 + b_2 both hold
    cheat = prove_from_tensors(pp, committed, batch, consistent, [wrong_a], seed=8)
    assert not verify_mlp(pp, cheat)  # its own zkReLU proof is over (Z_1, wrong A_1): false
    # a: a valid proof over (Z_1, the true A_1), sharing Z_1's commitment
    honest = prove_from_tensors(pp, committed, batch, [zs[0], zs[1]], activations, seed=8)
    assert honest.pre_activations[0] == cheat.pre_activations[0]
    assert honest.activations != cheat.activations
    assert verify_relu(pp, honest.relu[0])
    assert not verify_mlp(pp, dataclasses.replace(cheat, relu=honest.relu))
    # z: a valid proof over (another Z, the wrong A_1), sharing A_1's commitment
    other = prove_from_tensors(pp, committed, batch, [shifted, consistent[1]], [wrong_a], seed=8)
    assert other.activations == cheat.activations
    assert other.pre_activations[0] != cheat.pre_activations[0]
    assert verify_relu(pp, other.relu[0])
    assert not verify_mlp(pp, dataclasses.replace(cheat, relu=other.relu))
