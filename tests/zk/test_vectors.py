"""Known-answer vectors in protocols/vectors/zkrelu/relu.json: outputs, reproducible proofs, tamper rejection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError
from securecompute.zk import Params, ReluProof, prove_relu, prove_relu_stack, relu_reference, verify_relu
from securecompute.zk.relu import challenge_log

VECTORS = Path(__file__).parents[2] / "protocols" / "vectors" / "zkrelu" / "relu.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())["vectors"]


def _params(case: dict[str, Any]) -> Params:
    return Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])


def _inputs(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    grad = case["grad_a"]
    return np.array(case["z"], dtype=np.int64), None if grad is None else np.array(grad, dtype=np.int64)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_outputs_and_digest(case: dict[str, Any]) -> None:
    pp = _params(case)
    z, grad = _inputs(case)
    a, grad_z = relu_reference(z, pp, grad)
    assert a.tolist() == case["a"]
    assert (None if grad_z is None else grad_z.tolist()) == case["grad_z"]
    assert pp.digest().hex() == case["params_digest"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_proof_verifies_and_reproduces(case: dict[str, Any]) -> None:
    pp = _params(case)
    data = bytes.fromhex(case["proof"])
    loaded = ReluProof.from_bytes(data)
    assert verify_relu(pp, loaded)
    z, grad = _inputs(case)
    if "instances" in case:
        assert loaded.instances == case["instances"]
        remade = prove_relu_stack(pp, list(z), None if grad is None else list(grad), seed=case["seed"])
    else:
        remade = prove_relu(pp, z, grad, seed=case["seed"])
    assert remade.to_bytes() == data


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_tampered_variants_are_rejected(case: dict[str, Any]) -> None:
    pp = _params(case)
    envelope = unpack(bytes.fromhex(case["proof"]))
    for change in case["tampered"]:
        sections = dict(envelope.sections)
        body = bytearray(sections[change["section"]])
        body[change["offset"]] ^= change["xor"]
        sections[change["section"]] = bytes(body)
        forged = pack(envelope.kind, sections, fingerprint=envelope.fingerprint)
        try:
            proof = ReluProof.from_bytes(forged)
        except CorruptPayloadError:
            continue
        assert not verify_relu(pp, proof), change


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector_challenges(case: dict[str, Any]) -> None:
    proof = ReluProof.from_bytes(bytes.fromhex(case["proof"]))
    expected = [(entry["label"], int(entry["value"], 16)) for entry in case["challenges"]]
    assert challenge_log(_params(case), proof) == expected
    labels = [label for label, _ in expected]
    assert labels[0] == "relu/u"
    assert "relu/alpha-pad" in labels
    assert labels[-1] == "open/c"
