"""Known-answer vectors in protocols/vectors/zkmlp/mlp.json: outputs, reproducible proofs, tamper rejection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError
from securecompute.zk import (
    MlpModel,
    MlpProof,
    Params,
    TrainStepProof,
    commit_model,
    mlp_reference,
    prove_mlp,
    prove_train_step,
    train_step_reference,
    verify_mlp,
    verify_train_step,
)

VECTORS = Path(__file__).parents[2] / "protocols" / "vectors" / "zkmlp" / "mlp.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())["vectors"]


def _setup(case: dict[str, Any]) -> tuple[Params, MlpModel, np.ndarray]:
    pp = Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])
    model = MlpModel.from_integers(
        pp,
        [np.array(w, dtype=np.int64) for w in case["weights"]],
        [np.array(b, dtype=np.int64) for b in case["biases"]],
    )
    return pp, model, np.array(case["x"], dtype=np.int64)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_outputs_match_a_hand_loop(case: dict[str, Any]) -> None:
    pp, model, x = _setup(case)
    zs, activations = mlp_reference(pp, model, x)
    assert [z.tolist() for z in zs] == case["z"]
    assert [a.tolist() for a in activations] == case["a"]
    # the same integers by plain loops: z = sum_i a_i w_ij + b_j; a = max(0, (z + 2^(R-1)) >> R)
    current = case["x"]
    for index, (w, b) in enumerate(zip(case["weights"], case["biases"], strict=True)):
        z = [[sum(row[i] * w[i][j] for i in range(len(w))) + b[j] for j in range(len(b))] for row in current]
        assert z == case["z"][index]
        half = 1 << (case["frac_bits"] - 1)
        current = [[max(0, (v + half) >> case["frac_bits"]) for v in row] for row in z]
        if index < len(case["a"]):
            assert current == case["a"][index]
    assert pp.digest().hex() == case["params_digest"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_proof_verifies_and_reproduces(case: dict[str, Any]) -> None:
    pp, model, x = _setup(case)
    owner = commit_model(pp, model, seed=case["model_seed"])
    data = bytes.fromhex(case["proof"])
    assert verify_mlp(pp, MlpProof.from_bytes(data), weight_commitments=owner.commitment, rows=x.shape[0])
    assert prove_mlp(pp, owner, x, seed=case["seed"]).to_bytes() == data


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_tampered_variants_are_rejected(case: dict[str, Any]) -> None:
    pp = Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])
    envelope = unpack(bytes.fromhex(case["proof"]))
    for change in case["tampered"]:
        sections = dict(envelope.sections)
        body = bytearray(sections[change["section"]])
        body[change["offset"]] ^= change["xor"]
        sections[change["section"]] = bytes(body)
        forged = pack(envelope.kind, sections, fingerprint=envelope.fingerprint)
        try:
            proof = MlpProof.from_bytes(forged)
        except CorruptPayloadError:
            continue
        assert not verify_mlp(pp, proof), change


TRAIN = json.loads((VECTORS.parent / "train.json").read_text())["vectors"]


@pytest.mark.parametrize("case", TRAIN, ids=[case["name"] for case in TRAIN])
def test_training_vector_tensors_reproduce_and_tampering_fails(case: dict[str, Any]) -> None:
    pp, model, x = _setup(case)
    grad = np.array(case["grad_logits"], dtype=np.int64)
    tensors = train_step_reference(pp, model, x, grad)
    for name in ("grad_z", "grad_a", "grad_w", "update", "new_weights"):
        assert [t.tolist() for t in tensors[name]] == case[name], name
    assert any(any(row) for update in case["update"] for row in update)  # the step changes some weight
    owner = commit_model(pp, model, seed=case["model_seed"])
    data = bytes.fromhex(case["proof"])
    assert verify_train_step(pp, TrainStepProof.from_bytes(data), weight_commitments=owner.commitment)
    assert prove_train_step(pp, owner, x, grad, seed=case["seed"])[0].to_bytes() == data
    envelope = unpack(data)
    for change in case["tampered"]:
        sections = dict(envelope.sections)
        body = bytearray(sections[change["section"]])
        body[change["offset"]] ^= change["xor"]
        sections[change["section"]] = bytes(body)
        try:
            proof = TrainStepProof.from_bytes(pack(envelope.kind, sections, fingerprint=envelope.fingerprint))
        except CorruptPayloadError:
            continue
        assert not verify_train_step(pp, proof), change
