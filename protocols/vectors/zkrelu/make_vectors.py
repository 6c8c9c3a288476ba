"""Write ``relu.json``: seeded zkReLU proofs for fixed inputs, and tampered variants that must fail.

Usage: ``python protocols/vectors/zkrelu/make_vectors.py`` (from the repository root).

Each vector holds the parameters (and, for a stack made with ``prove_relu_stack``, ``instances`` k, with ``z``,
``grad_a``, ``a`` and ``grad_z`` given per instance as lists of lists), the integer inputs, the blind seed, the expected outputs of
``relu_reference``, the proof bytes (hex), its parameter digest, and every Fiat-Shamir challenge the verifier
derives from it, in order (label and value as 64 hex digits, big-endian), so a re-implementation can locate the
first transcript step where it diverges.  The proof bytes are reproducible only with
the same blind stream (SHAKE256 of the seed and a hash of the witness, see ``BlindSource`` in
``securecompute/zk/commit.py`` and ``_witness_context`` in ``securecompute/zk/relu.py``); every implementation must
verify them.  ``tampered`` lists (section, byte offset, xor mask) changes that re-seal the envelope and
must be rejected (a CorruptPayloadError or a failed verification).  Seeded proofs are not zero knowledge.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from securecompute.zk import Params, prove_relu, prove_relu_stack, relu_reference
from securecompute.zk.relu import challenge_log

CASES = [
    {
        "name": "forward-q4-r2",
        "q_bits": 4,
        "frac_bits": 2,
        "max_log_n": 4,
        "z": [-32, 31, -3, 2, 5, -1, 0, 6],
        "grad_a": None,
        "seed": 1,
    },
    {
        "name": "backward-q4-r2",
        "q_bits": 4,
        "frac_bits": 2,
        "max_log_n": 4,
        "z": [7, -8, 2, -1, 30],
        "grad_a": [3, 3, -32, 31, 1],
        "seed": 2,
    },
    {
        "name": "forward-q16-r16",
        "q_bits": 16,
        "frac_bits": 16,
        "max_log_n": 8,
        "z": [-(2**31), 2**31 - 1, 98304, 32768, 32767, -32769, 0, 1],
        "grad_a": None,
        "seed": 3,
    },
    {
        "name": "stack3-backward-q4-r2",
        "q_bits": 4,
        "frac_bits": 2,
        "max_log_n": 5,
        "instances": 3,
        "z": [[-32, 31, -3], [2, 5, -1], [0, 6, -7]],
        "grad_a": [[1, -1, 3], [30, -32, 0], [5, 5, -5]],
        "seed": 4,
    },
]
TAMPERED = [
    ("claims", 0, 0x01),
    ("sc1", 5, 0x80),
    ("sc2", 100, 0x01),
    ("prod", 150, 0x01),
    ("open.bits", 100, 0x01),
    ("com.a", 7, 0x02),
]


def main() -> None:
    vectors = []
    for case in CASES:
        pp = Params.setup(case["q_bits"], case["frac_bits"], case["max_log_n"])
        z = np.array(case["z"], dtype=np.int64)
        grad = None if case["grad_a"] is None else np.array(case["grad_a"], dtype=np.int64)
        a, grad_z = relu_reference(z, pp, grad)  # elementwise: a stack's (k, n) arrays work as they are
        if "instances" in case:
            proof = prove_relu_stack(pp, list(z), None if grad is None else list(grad), seed=case["seed"])
        else:
            proof = prove_relu(pp, z, grad, seed=case["seed"])
        vectors.append(
            {
                **case,
                "params_digest": pp.digest().hex(),
                "a": a.tolist(),
                "grad_z": None if grad_z is None else grad_z.tolist(),
                "proof": proof.to_bytes().hex(),
                "challenges": [{"label": label, "value": f"{value:064x}"} for label, value in challenge_log(pp, proof)],
                "tampered": [{"section": s, "offset": o, "xor": x} for s, o, x in TAMPERED],
            }
        )
    path = Path(__file__).with_name("relu.json")
    document = {
        "format": "zkReLU proof version 1 (protocols/zkrelu.md), in the securecompute envelope (kind zk/relu)",
        "note": "seeded blinds: reproducible, NOT zero knowledge; tampered entries re-seal the envelope",
        "vectors": vectors,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {path} ({len(vectors)} vectors)")


if __name__ == "__main__":
    main()
