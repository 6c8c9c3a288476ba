"""Write ``mlp.json`` (seeded whole-MLP inference proofs) and ``train.json`` (a seeded training-step proof).

Usage: ``python protocols/vectors/zkmlp/make_vectors.py`` (from the repository root).

Each vector holds the parameters, the integer model (weights at scale 2^R, biases at 2^(2R)), the integer input
batch, the seeds (``model_seed`` for the owner's commitment blinds, ``seed`` for the proof's), the expected
pre-activations of every layer and activations of every hidden layer (``mlp_reference``), the parameter digest,
the proof bytes (hex) and ``tampered`` (section, byte offset, xor mask) changes that re-seal the envelope and must
be rejected (a CorruptPayloadError or a failed verification).  The bytes are reproducible only with the same blind
streams (``commit_model`` and ``_context`` in ``securecompute/zk/{model,mlp}.py``); every implementation must verify
them.  Seeded proofs are not zero knowledge.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from securecompute.encoding import unpack
from securecompute.zk import (
    MlpModel,
    Params,
    commit_model,
    mlp_reference,
    prove_mlp,
    prove_train_step,
    train_step_reference,
)

CASES = [
    {
        "name": "two-layer-q8-r2-rows3",
        "q_bits": 8,
        "frac_bits": 2,
        "max_log_n": 6,
        "weights": [[[1, -2, 3], [0, 4, -1], [2, 2, -3], [-4, 1, 0]], [[3, -1], [-2, 2], [1, 1]]],
        "biases": [[5, -7, 0], [2, -3]],
        "x": [[1, 2, 3, 0], [-1, 0, 2, 3], [3, 3, -2, 1]],
        "model_seed": 1,
        "seed": 2,
    },
    {
        "name": "three-layer-q10-r3-rows1",
        "q_bits": 10,
        "frac_bits": 3,
        "max_log_n": 6,
        "weights": [[[2, -1], [1, 3]], [[-2, 4, 1], [3, 0, -1]], [[1], [-2], [5]]],
        "biases": [[9, -4], [0, 12, -30], [7]],
        "x": [[5, -3]],
        "model_seed": 3,
        "seed": 4,
    },
]


TRAIN_CASE = {
    "name": "train-two-layer-q8-r2-rows3",
    "q_bits": 8,
    "frac_bits": 2,
    "max_log_n": 6,
    "weights": CASES[0]["weights"],
    "biases": CASES[0]["biases"],
    "x": CASES[0]["x"],
    "grad_logits": [[3, -2], [0, 5], [-4, 1]],
    "model_seed": 5,
    "seed": 6,
}


def _tampered(data: bytes) -> list[dict]:
    sections = unpack(data).sections
    return [
        {"section": name, "offset": offset, "xor": mask}
        for name, body in sections.items()
        for offset, mask in ((0, 0x01), (len(body) // 2, 0x80), (len(body) - 1, 0xFF))
    ]


def build_train(case: dict) -> dict:
    pp = Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])
    model = MlpModel.from_integers(
        pp,
        [np.array(w, dtype=np.int64) for w in case["weights"]],
        [np.array(b, dtype=np.int64) for b in case["biases"]],
    )
    x, grad = np.array(case["x"], dtype=np.int64), np.array(case["grad_logits"], dtype=np.int64)
    tensors = train_step_reference(pp, model, x, grad)
    proof, _ = prove_train_step(pp, commit_model(pp, model, seed=case["model_seed"]), x, grad, seed=case["seed"])
    data = proof.to_bytes()
    expected = {name: [t.tolist() for t in values] for name, values in tensors.items()}
    return {**case, "params_digest": pp.digest().hex(), **expected, "proof": data.hex(), "tampered": _tampered(data)}


def build(case: dict) -> dict:
    pp = Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])
    model = MlpModel.from_integers(
        pp,
        [np.array(w, dtype=np.int64) for w in case["weights"]],
        [np.array(b, dtype=np.int64) for b in case["biases"]],
    )
    x = np.array(case["x"], dtype=np.int64)
    zs, activations = mlp_reference(pp, model, x)
    owner = commit_model(pp, model, seed=case["model_seed"])
    proof = prove_mlp(pp, owner, x, seed=case["seed"])
    data = proof.to_bytes()
    tampered = _tampered(data)
    return {
        **case,
        "params_digest": pp.digest().hex(),
        "z": [z.tolist() for z in zs],
        "a": [a.tolist() for a in activations],
        "proof": data.hex(),
        "tampered": tampered,
    }


def main() -> None:
    vectors = [build(case) for case in CASES]
    out = Path(__file__).with_name("mlp.json")
    note = "zkMLP known-answer vectors (protocols/zkmlp.md); written by make_vectors.py"
    out.write_text(json.dumps({"format": 1, "note": note, "vectors": vectors}, indent=1) + "\n")
    print(f"wrote {out} ({len(vectors)} vectors)")
    train = Path(__file__).with_name("train.json")
    note = "zk training-step known-answer vector (protocols/zkmlp.md section 8); written by make_vectors.py"
    train.write_text(json.dumps({"format": 1, "note": note, "vectors": [build_train(TRAIN_CASE)]}, indent=1) + "\n")
    print(f"wrote {train}")


if __name__ == "__main__":
    main()
