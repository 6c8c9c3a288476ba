"""Regenerate seal_ops.json: SEAL's own CKKS keys, inputs and evaluation results, as known-answer vectors.

Run from the repository root: ``python protocols/vectors/ckks/make_seal_vectors.py``.  SEAL (through
tenseal.sealapi) makes a CKKS context at N = 64 with the chain ``CoeffModulus.Create(64, [30, 20, 30])``
(two data primes, then the special prime; far below any security level, security check off: these are
arithmetic vectors, not keys anyone should use), its secret key, relinearisation key and the Galois
key for a left rotation by one slot, encodes and encrypts two vectors, and records SEAL's result of
every evaluation op.  Every array is SEAL's uint64 words: ciphertexts (size, limbs, N) in NTT form,
keys (components, 2, K, N).  Keys and encryption are random, so a rerun writes different (equally
valid) vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tenseal import sealapi

from securecompute.cross.seal_interop import ciphertext_limbs, seal_words

N = 64
BITS = [30, 20, 30]
SCALE = 2.0**18
STEP = 1


def _words(cipher: Any) -> list[Any]:
    return ciphertext_limbs(cipher).tolist()


def _key(components: list[Any]) -> list[Any]:
    return [_words(component.data()) for component in components]


def main() -> None:
    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parameters.set_poly_modulus_degree(N)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(N, BITS))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.NONE)
    keygen = sealapi.KeyGenerator(context)
    public, relin, galois = sealapi.PublicKey(), sealapi.RelinKeys(), sealapi.GaloisKeys()
    keygen.create_public_key(public)
    keygen.create_relin_keys(relin)
    element = context.key_context_data().galois_tool().get_elt_from_step(STEP)
    keygen.create_galois_keys([element], galois)
    encoder, evaluator = sealapi.CKKSEncoder(context), sealapi.Evaluator(context)
    encryptor = sealapi.Encryptor(context, public)
    rng = np.random.default_rng(2026)  # message values only; SEAL draws the keys and the noise
    values = [rng.uniform(-1, 1, N // 2).round(6).tolist() for _ in range(2)]
    plains, ciphers = [], []
    for vector in values:
        plain, cipher = sealapi.Plaintext(), sealapi.Ciphertext()
        encoder.encode(vector, SCALE, plain)
        encryptor.encrypt(plain, cipher)
        plains.append(plain)
        ciphers.append(cipher)
    a, b = ciphers
    results: dict[str, Any] = {}
    for name, op, args in [
        ("add", evaluator.add, (a, b)),
        ("multiply_plain", evaluator.multiply_plain, (a, plains[1])),
        ("multiply", evaluator.multiply, (a, b)),
        ("mod_switch_to_next", evaluator.mod_switch_to_next, (a,)),
        ("rescale_to_next", evaluator.rescale_to_next, (a,)),
        ("rotate", evaluator.rotate_vector, (a, STEP, galois)),
    ]:
        out = sealapi.Ciphertext()
        op(*args, out)
        results[name] = {"scale": out.scale, "data": _words(out)}
    product = sealapi.Ciphertext()
    evaluator.multiply(a, b, product)
    relinearized = sealapi.Ciphertext()
    evaluator.relinearize(product, relin, relinearized)
    results["relinearize"] = {"scale": relinearized.scale, "data": _words(relinearized)}
    secret_key = keygen.secret_key()  # keep the key alive while its data is read
    secret = secret_key.data()
    document = {
        "about": "SEAL 4.3 (tenseal.sealapi) CKKS at N=64: keys, two encryptions and SEAL's result of each "
        "evaluation op, uint64 words; ciphertexts (size, limb, coefficient) in NTT form; INSECURE toy parameters",
        "generator": "protocols/vectors/ckks/make_seal_vectors.py",
        "n": N,
        "moduli": [m.value() for m in context.key_context_data().parms().coeff_modulus()],
        "scale": SCALE,
        "step": STEP,
        "galois_element": element,
        "values": values,
        "secret_key": seal_words(secret, (len(BITS), N)).tolist(),
        "relin_key": _key(relin.key(2)),
        "galois_key": _key(galois.key(element)),
        "plaintexts": [seal_words(p, (len(BITS) - 1, N)).tolist() for p in plains],
        "inputs": [_words(a), _words(b)],
        "results": results,
    }
    out = Path(__file__).with_name("seal_ops.json")
    out.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
