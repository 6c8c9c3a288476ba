"""One SGD step in zero knowledge: honest steps verify and chain; wrong gradients, updates and masks fail."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk import MlpModel, Params, commit_model, quantize_input, train
from securecompute.zk.model import CommittedModel
from securecompute.zk.model_io import owner_from_bytes, owner_to_bytes
from securecompute.zk.relu import verify_relu
from securecompute.zk.train import prove_from_tensors, prove_train_step, train_step_reference, verify_train_step
from securecompute.zk.train_proof import TrainStepProof
from securecompute.zk.witness import Witness, build_witness


@pytest.fixture(scope="module")
def pp() -> Params:
    return Params.setup(q_bits=16, frac_bits=6, max_log_n=8)


@pytest.fixture(scope="module")
def owner(pp: Params) -> CommittedModel:
    rng = np.random.default_rng(1)
    dims = (6, 4, 3)
    layers = [(rng.normal(0, 0.5, (d, e)), rng.normal(0, 0.1, e)) for d, e in itertools.pairwise(dims)]
    return commit_model(pp, MlpModel.quantize(pp, layers), seed=2)


@pytest.fixture(scope="module")
def batch(pp: Params) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return quantize_input(rng.uniform(0, 1, (3, 6)), pp), rng.integers(-40, 40, (3, 3))


@pytest.fixture(scope="module")
def step(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray]
) -> tuple[TrainStepProof, CommittedModel]:
    return prove_train_step(pp, owner, *batch, seed=4)


def test_reference_equals_hand_backpropagation(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    x, g = batch
    ref = train_step_reference(pp, owner.model, x, g)
    w1, w2 = (w.astype(object) for w in owner.model.weights)
    half = 1 << (pp.frac_bits - 1)

    def rescale(v: int) -> int:
        return (v + half) >> pp.frac_bits

    z1 = x.astype(object) @ w1 + owner.model.biases[0]
    a1 = np.vectorize(lambda v: rescale(v) if v >= 0 else 0, otypes=[object])(z1)
    g_a1 = g.astype(object) @ w2.T
    g_z1 = np.where(z1 >= 0, np.vectorize(rescale, otypes=[object])(g_a1), 0)
    g_w2, g_w1 = a1.T @ g.astype(object), x.astype(object).T @ g_z1
    assert ref["grad_z"][0].tolist() == g_z1.tolist()
    assert ref["grad_w"][1].tolist() == g_w2.tolist()
    assert ref["grad_w"][0].tolist() == g_w1.tolist()
    new = [w - np.vectorize(rescale, otypes=[object])(gw) for w, gw in ((w1, g_w1), (w2, g_w2))]
    assert [w.tolist() for w in ref["new_weights"]] == [w.tolist() for w in new]


def test_honest_step_verifies_and_its_bytes_round_trip(
    pp: Params, owner: CommittedModel, step: tuple[TrainStepProof, CommittedModel]
) -> None:
    proof, _ = step
    assert verify_train_step(pp, proof, weight_commitments=owner.commitment, rows=3)
    loaded = TrainStepProof.from_bytes(proof.to_bytes())
    assert loaded.to_bytes() == proof.to_bytes()
    assert verify_train_step(pp, loaded, weight_commitments=owner.commitment, input_commitment=proof.input)


def test_updated_model_opens_the_updated_commitment_and_proves_the_next_step(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray], step: tuple[TrainStepProof, CommittedModel]
) -> None:
    proof, updated = step
    ref = train_step_reference(pp, owner.model, *batch)
    assert [w.tolist() for w in updated.model.weights] == [w.tolist() for w in ref["new_weights"]]
    _, recommitted = owner_from_bytes(owner_to_bytes(pp, updated))  # recommits W' with the derived blinds
    assert recommitted.commitment.same_as(updated.commitment)
    assert updated.commitment.same_as(dataclasses.replace(owner.commitment, weights=proof.updated_weights))
    second, _ = prove_train_step(pp, updated, *batch, seed=5)
    assert verify_train_step(pp, second, weight_commitments=updated.commitment)
    assert not verify_train_step(pp, second, weight_commitments=owner.commitment)


def _cheat(pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray], change: str) -> TrainStepProof:
    x, g = batch
    tensors = {name: [t.copy() for t in values] for name, values in train_step_reference(pp, owner.model, x, g).items()}
    if change == "weight gradient":
        tensors["grad_w"][1][0, 0] += 1
        tensors["update"][1] = ((tensors["grad_w"][1] + (1 << (pp.frac_bits - 1))) >> pp.frac_bits).astype(np.int64)
    elif change == "update truncated":
        tensors["update"][0] = tensors["grad_w"][0] >> pp.frac_bits
    elif change == "another learning rate":
        tensors["update"][1] = 2 * tensors["update"][1]
    elif change == "mask ignored":
        rescaled = (tensors["grad_a"][0] + (1 << (pp.frac_bits - 1))) >> pp.frac_bits
        assert (rescaled != tensors["grad_z"][0]).any()
        tensors["grad_z"][0] = rescaled
        tensors["grad_w"][0] = x.T @ rescaled
        tensors["update"][0] = (tensors["grad_w"][0] + (1 << (pp.frac_bits - 1))) >> pp.frac_bits
    elif change == "backward product":
        tensors["grad_a"][0][1, 1] += 1
        z = tensors["z"][0]
        tensors["grad_z"][0] = np.where(z >= 0, (tensors["grad_a"][0] + (1 << (pp.frac_bits - 1))) >> pp.frac_bits, 0)
        tensors["grad_w"][0] = x.T @ tensors["grad_z"][0]
        tensors["update"][0] = (tensors["grad_w"][0] + (1 << (pp.frac_bits - 1))) >> pp.frac_bits
    return prove_from_tensors(pp, owner, x, g, tensors, seed=6)[0]


@pytest.mark.parametrize(
    "change", ["weight gradient", "update truncated", "another learning rate", "mask ignored", "backward product"]
)
def test_cheating_steps_fail(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray], change: str
) -> None:
    assert not verify_train_step(pp, _cheat(pp, owner, batch, change))


def test_another_models_step_fails_against_the_pinned_commitment(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    weights = [w.copy() for w in owner.model.weights]
    weights[0][2, 2] += 1
    other = commit_model(pp, MlpModel.from_integers(pp, weights, list(owner.model.biases)))
    proof, _ = prove_train_step(pp, other, *batch)
    assert verify_train_step(pp, proof)
    assert not verify_train_step(pp, proof, weight_commitments=owner.commitment)


def test_bad_gradient_shape_is_refused(pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ParameterError, match="grad_logits"):
        prove_train_step(pp, owner, batch[0], np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ParameterError, match="q_bits"):
        prove_train_step(pp, owner, batch[0], np.full((3, 3), 1 << 20, dtype=np.int64))


def test_an_update_that_leaves_the_weight_range_is_refused(pp: Params) -> None:
    # W = max_value, U = rescale(1 * (-5 * 2**R)) = -5: W' = max_value + 5 would not load as a model again
    top = MlpModel.from_integers(pp, [np.array([[pp.max_value, 0], [0, 0]])], [np.zeros(2, dtype=np.int64)])
    with pytest.raises(ParameterError, match="W'1"):
        prove_train_step(pp, top, np.array([[1, 0]]), np.array([[-5 << pp.frac_bits, 0]]))
    _, updated = prove_train_step(pp, top, np.array([[1, 0]]), np.array([[5 << pp.frac_bits, 0]]))
    assert int(updated.model.weights[0][0, 0]) == pp.max_value - 5


def test_section_byte_changes_are_detected(pp: Params, step: tuple[TrainStepProof, CommittedModel]) -> None:
    data = step[0].to_bytes()
    envelope = unpack(data)
    rng = np.random.default_rng(1)
    for name, body in envelope.sections.items():
        for offset in rng.choice(len(body), size=min(len(body), 4), replace=False).tolist():
            sections = dict(envelope.sections)
            changed = bytearray(sections[name])
            changed[offset] ^= int(rng.choice([0x01, 0x80, 0xFF]))
            sections[name] = bytes(changed)
            try:
                proof = TrainStepProof.from_bytes(pack(envelope.kind, sections, fingerprint=envelope.fingerprint))
            except CorruptPayloadError:
                continue
            assert not verify_train_step(pp, proof), (name, offset)


def _rescaled(pp: Params, values: np.ndarray) -> np.ndarray:
    return ((values + (1 << (pp.frac_bits - 1))) >> pp.frac_bits).astype(np.int64)


def _copy(tensors: dict[str, list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    return {key: [t.copy() for t in values] for key, values in tensors.items()}


def _downstream(pp: Params, x: np.ndarray, tensors: dict[str, list[np.ndarray]]) -> None:
    """Recompute G_W and U from G_Z and the activations (the weight-gradient relations then hold)."""
    inputs = [x, *tensors["a"]]
    tensors["grad_w"] = [i.T @ gz for i, gz in zip(inputs, tensors["grad_z"], strict=True)]
    tensors["update"] = [_rescaled(pp, gw) for gw in tensors["grad_w"]]


@pytest.mark.parametrize(
    ("proofs", "name"),
    [
        ("rescale", "grad_z"),
        ("rescale", "grad_a"),
        ("relu", "grad_z"),
        ("relu", "grad_a"),
        ("relu", "a"),
        ("relu", "z"),
    ],
)
def test_zkrelu_proofs_over_other_commitments_fail(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray], proofs: str, name: str
) -> None:
    # A false step whose linear proofs all hold over its commitments, with the zkReLU proofs (``relu`` of the hidden
    # layer or ``rescale`` of layer 2's update) taken from a seeded step over other tensors that share every
    # commitment of that zkReLU proof but ``name`` (a seeded prover's blinds depend only on the model, the batch and
    # the output gradient).  Only the verifier's equality check on ``name`` stands between it and a false update.
    x, g = batch
    honest = train_step_reference(pp, owner.model, x, g)
    cheat, donor = _copy(honest), honest
    bump = 3 << pp.frac_bits  # changes a rescaled value
    if (proofs, name) == ("rescale", "grad_z"):  # U_2 doubled
        cheat["update"][1] = 2 * cheat["update"][1]
    elif proofs == "rescale":  # U_2 = rescale(another G_W2) while the committed G_W2 is right
        donor = _copy(honest)
        donor["grad_w"][1][0, 0] += bump
        donor["update"][1] = _rescaled(pp, donor["grad_w"][1])
        cheat["update"][1] = donor["update"][1]
    elif name == "grad_z":  # G_Z1 without the ReLU mask
        cheat["grad_z"][0] = _rescaled(pp, cheat["grad_a"][0])
        _downstream(pp, x, cheat)
    elif name == "grad_a":  # G_Z1 from another G_A1 while the committed G_A1 is right
        donor = _copy(honest)
        donor["grad_a"][0] += bump
        donor["grad_z"][0] = np.where(donor["z"][0] >= 0, _rescaled(pp, donor["grad_a"][0]), 0)
        _downstream(pp, x, donor)
        cheat["grad_z"][0] = donor["grad_z"][0]
        _downstream(pp, x, cheat)
    else:  # A_1 = ReLU(rescale(another Z_1)) while the committed Z_1 is right (the mask is unchanged)
        shifted = cheat["z"][0].copy()
        shifted[shifted >= 0] += bump
        cheat["a"][0] = np.maximum(_rescaled(pp, shifted), 0)
        cheat["z"][1] = cheat["a"][0] @ owner.model.weights[1] + owner.model.biases[1][None, :]
        _downstream(pp, x, cheat)
        if name == "z":
            donor = _copy(cheat)
            donor["z"][0] = shifted
    false_step = prove_from_tensors(pp, owner, x, g, cheat, seed=7)[0]
    assert not verify_train_step(pp, false_step)
    other = prove_from_tensors(pp, owner, x, g, donor, seed=7)[0]
    index = 1 if proofs == "rescale" else 0
    own, theirs = getattr(false_step, proofs)[index].commitments, getattr(other, proofs)[index].commitments
    assert [key for key in own if key != "bits" and own[key] != theirs[key]] == [name]
    assert verify_relu(pp, getattr(other, proofs)[index])
    assert not verify_train_step(pp, dataclasses.replace(false_step, **{proofs: getattr(other, proofs)}))


def test_an_update_masked_by_a_nonzero_z_fails(
    pp: Params, owner: CommittedModel, batch: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rescale proof of U_2 run over a negative z where the prover wants no update: 1[z >= 0] rescale(G_W) is 0
    # there and a = ReLU(rescale(z)) is still the zero table, so only the verifier's pin of z to the zero
    # commitment rejects this update (U_2[3, 1] dropped, everything else honest).
    x, g = batch
    tensors = _copy(train_step_reference(pp, owner.model, x, g))
    assert tensors["update"][1][3, 1] != 0
    tensors["update"][1][3, 1] = 0
    size = 1 << (2 + 2)  # layer 2's padded 4 x 4 table (entry [3, 1] is index 13)
    masked_z = np.zeros(size, dtype=np.int64)
    masked_z[13] = -(1 << pp.frac_bits)
    original = train.prove_from_witness

    def masking_prover(pp_: Params, witness: Witness, blinds: Any, shared: Any = None) -> Any:
        if shared is not None and witness.n == size and not any(witness.z):  # the rescale proof of layer 2
            witness = build_witness(pp_, masked_z, np.asarray(witness.grad_a, dtype=np.int64))
            shared = {name: value for name, value in shared.items() if name != "z"}  # z committed afresh
        return original(pp_, witness, blinds, shared)

    monkeypatch.setattr(train, "prove_from_witness", masking_prover)
    false_step = prove_from_tensors(pp, owner, x, g, tensors, seed=9)[0]
    assert verify_relu(pp, false_step.rescale[1])
    assert not verify_train_step(pp, false_step)
