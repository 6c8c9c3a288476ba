"""Regenerate ntt_seal.json: SEAL's own NTT of real ciphertext limbs, as known-answer vectors.

Run from the repository root: ``python protocols/vectors/cross/make_seal_vectors.py``.  Each vector is
a fresh BFV ciphertext's first polynomial in coefficient form and the same polynomial after SEAL's
``Evaluator.transform_to_ntt`` (bit-reversed evaluation order), for every RNS limb.  The parameters
are far below any security level (security check off): these are arithmetic vectors, not keys.
Encryption is randomised, so a rerun writes different (equally valid) vectors; the worked example
in protocols/cross.md quotes the committed ``n16-q97`` vector.
"""

from __future__ import annotations

import json
from pathlib import Path

from securecompute.cross.seal_interop import bfv_ntt_pair

CASES = [
    # (name, n, keyword arguments: SEAL's last coefficient prime is its special prime, not a data limb)
    ("n16-q97", 16, {"moduli": [97, 193], "plain_modulus": 5}),
    ("n16-30bit", 16, {"limb_bits": [30, 30, 30]}),
    ("n64-30bit", 64, {"limb_bits": [30, 30]}),
    ("n1024-30bit", 1024, {"limb_bits": [30, 30, 30]}),
]


def _vector(name: str, n: int, options: dict[str, object]) -> dict[str, object]:
    pair = bfv_ntt_pair(n, **options)  # type: ignore[arg-type]
    return {
        "name": name,
        "n": n,
        "moduli": pair.moduli,
        "coefficients": pair.coefficients[0].tolist(),
        "ntt_bit_reversed": pair.ntt[0].tolist(),
    }


def main() -> None:
    vectors = [_vector(*case) for case in CASES]
    out = Path(__file__).with_name("ntt_seal.json")
    document = {
        "about": "SEAL 4.x (through tenseal.sealapi) negacyclic NTT of BFV ciphertext limbs; "
        "shape (limb, coefficient); output in SEAL's bit-reversed evaluation order",
        "generator": "protocols/vectors/cross/make_seal_vectors.py",
        "vectors": vectors,
    }
    out.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({len(vectors)} vectors)")


if __name__ == "__main__":
    main()
