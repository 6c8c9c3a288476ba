"""Regenerate ntt_seal.json: SEAL's own NTT of real ciphertext limbs, as known-answer vectors.

Run from the repository root: ``python protocols/vectors/cross/make_seal_vectors.py``.  Each vector is
a fresh BFV ciphertext's first polynomial in coefficient form and the same polynomial after SEAL's
``Evaluator.transform_to_ntt`` (bit-reversed evaluation order), for every RNS limb.  The parameters
are far below any security level (security check off): these are arithmetic vectors, not keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tenseal import sealapi

CASES = [
    # (name, n, coefficient moduli: the last one is SEAL's special prime and is dropped from data limbs)
    ("n16-q97", 16, [97, 193], 5),
    ("n16-30bit", 16, "30,30,30", 257),
    ("n64-30bit", 64, "30,30", 257),
    ("n1024-30bit", 1024, "30,30,30", 257),
]


def _limbs(ciphertext: sealapi.Ciphertext) -> np.ndarray:
    array = ciphertext.dyn_array()
    values = np.fromiter((array.at(i) for i in range(array.size())), dtype=np.uint64, count=array.size())
    shape = (ciphertext.size(), ciphertext.coeff_modulus_size(), ciphertext.poly_modulus_degree())
    return values.astype(np.int64).reshape(shape)


def _vector(name: str, n: int, moduli: list[int] | str, plain: int) -> dict[str, object]:
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
    parameters.set_poly_modulus_degree(n)
    if isinstance(moduli, str):
        parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, [int(b) for b in moduli.split(",")]))
    else:
        parameters.set_coeff_modulus([sealapi.Modulus(q) for q in moduli])
    parameters.set_plain_modulus(sealapi.Modulus(plain))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.NONE)
    if not context.parameters_set():
        raise SystemExit(f"{name}: SEAL refused the parameters: {context.parameters_error_message()}")
    keys = sealapi.KeyGenerator(context)
    public = sealapi.PublicKey()
    keys.create_public_key(public)
    ciphertext = sealapi.Ciphertext()
    sealapi.Encryptor(context, public).encrypt(sealapi.Plaintext("3x^5 + 1"), ciphertext)
    in_ntt = sealapi.Ciphertext()
    sealapi.Evaluator(context).transform_to_ntt(ciphertext, in_ntt)
    data_moduli = [m.value() for m in context.first_context_data().parms().coeff_modulus()]
    return {
        "name": name,
        "n": n,
        "moduli": data_moduli,
        "coefficients": _limbs(ciphertext)[0].tolist(),
        "ntt_bit_reversed": _limbs(in_ntt)[0].tolist(),
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
