"""Known-answer vectors in protocols/vectors/zkmlp/mlp.json: outputs, reproducible proofs, tamper rejection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError
from securecompute.zk import MlpModel, MlpProof, Params, commit_model, mlp_reference, prove_mlp, verify_mlp

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
