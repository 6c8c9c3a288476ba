"""Per-op CKKS time: our numpy engine (securecompute.ckks on the cross GEMM kernels) beside SEAL, same run.

Operations at N = 2^14 and 2^15 (SEAL's chains, 60-bit first and special primes, 40-bit middle primes):
rotate (one key switch), rotate x8 (SEAL: eight ``rotate_vector`` calls; ours: eight single rotations and
one hoisted ``rotate_many`` of the same eight steps), multiply + relinearise, rescale, encrypt (public
key), decrypt (to the plaintext, no decoding).  Baseline: SEAL 4.3 through ``tenseal.sealapi`` with its
own keys; ours with keys from our generator for the same parameters.  BLAS is pinned to one thread by the
library itself; medians of ``--repeats`` runs.  Columns that cannot run here say why in the JSON:
OpenFHE (its wheel's extension imports only under CPython 3.10) and the JAX engine (not built yet).

    python benchmarks/ckks_ops.py [--quick] [--repeats R] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, median, time_repeats, write_json  # noqa: E402

RINGS = [(16384, [60, 40, 40, 60]), (32768, [60, 40, 40, 40, 40, 60])]
QUICK_RINGS = [(8192, [60, 40, 40, 60])]
STEPS = list(range(1, 9))
SCALE = 2.0**40
OPENFHE_NOTE = (
    "not run: the openfhe wheel on the package index (1.6.1.0.22.4) ships its extension for CPython 3.10 only "
    "('No module named openfhe.openfhe' under 3.11) and no Python 3.10 interpreter is installed here"
)
JAX_NOTE = "not run: the JAX array engine of securecompute.ckks is not built yet (numpy engine only)"


def measure_seal(n: int, bits: list[int], repeats: int) -> dict[str, float]:
    """Median seconds per op for SEAL with its own keys."""
    from tenseal import sealapi

    parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parameters.set_poly_modulus_degree(n)
    parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, bits))
    context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.TC128)
    keygen = sealapi.KeyGenerator(context)
    public, relin, galois = sealapi.PublicKey(), sealapi.RelinKeys(), sealapi.GaloisKeys()
    keygen.create_public_key(public)
    keygen.create_relin_keys(relin)
    tool = context.key_context_data().galois_tool()
    keygen.create_galois_keys([tool.get_elt_from_step(step) for step in STEPS], galois)
    encoder, evaluator = sealapi.CKKSEncoder(context), sealapi.Evaluator(context)
    encryptor = sealapi.Encryptor(context, public)
    secret_key = keygen.secret_key()
    decryptor = sealapi.Decryptor(context, secret_key)
    plain = sealapi.Plaintext()
    encoder.encode(list(np.linspace(-1, 1, n // 2)), SCALE, plain)
    cipher = sealapi.Ciphertext()
    encryptor.encrypt(plain, cipher)

    def rotate() -> None:
        evaluator.rotate_vector(cipher, 1, galois, sealapi.Ciphertext())

    def rotate8() -> None:
        for step in STEPS:
            evaluator.rotate_vector(cipher, step, galois, sealapi.Ciphertext())

    def multiply_relinearize() -> None:
        product = sealapi.Ciphertext()
        evaluator.multiply(cipher, cipher, product)
        evaluator.relinearize_inplace(product, relin)

    def rescale() -> None:
        evaluator.rescale_to_next(cipher, sealapi.Ciphertext())

    def encrypt() -> None:
        encryptor.encrypt(plain, sealapi.Ciphertext())

    def decrypt() -> None:
        decryptor.decrypt(cipher, sealapi.Plaintext())

    ops = {
        "rotate": rotate,
        "rotate_x8": rotate8,
        "multiply_relinearize": multiply_relinearize,
        "rescale": rescale,
        "encrypt": encrypt,
        "decrypt": decrypt,
    }
    return {name: median(time_repeats(op, repeats)[0]) for name, op in ops.items()}


def measure_ours(n: int, bits: list[int], repeats: int) -> dict[str, float]:
    """Median seconds per op for securecompute.ckks (numpy engine) with our own keys."""
    from securecompute.ckks import CKKSEncoder, CKKSParameters, Decryptor, Encryptor, Evaluator, KeyGenerator

    params = CKKSParameters.from_bit_sizes(n, bits)
    keygen = KeyGenerator(params)
    evaluator = Evaluator(params, keygen.relin_key(), keygen.galois_keys(STEPS))
    encryptor, decryptor = Encryptor(keygen.public_key()), Decryptor(keygen.secret_key)
    plain = CKKSEncoder(params).encode(np.linspace(-1, 1, n // 2), SCALE)
    cipher = encryptor.encrypt(plain)
    evaluator.rotate_many(cipher, STEPS)  # warm: NTT tables and the per-step hoisting constants

    ops = {
        "rotate": lambda: evaluator.rotate(cipher, 1),
        "rotate_x8": lambda: [evaluator.rotate(cipher, step) for step in STEPS],
        "rotate_x8_hoisted": lambda: evaluator.rotate_many(cipher, STEPS),
        "multiply_relinearize": lambda: evaluator.relinearize(evaluator.multiply(cipher, cipher)),
        "rescale": lambda: evaluator.rescale(cipher),
        "encrypt": lambda: encryptor.encrypt(plain),
        "decrypt": lambda: decryptor.decrypt(cipher),
    }
    return {name: median(time_repeats(op, repeats)[0]) for name, op in ops.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2^13 only, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per op (default 5)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ckks_ops.json)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    rings = QUICK_RINGS if args.quick else RINGS
    name = "ckks_ops-quick.json" if args.quick else "ckks_ops.json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / name
    info = machine_info()
    results: list[dict[str, Any]] = []
    rows = []
    for n, bits in rings:
        seal = measure_seal(n, bits, repeats)
        ours = measure_ours(n, bits, repeats)
        entry = {"n": n, "bits": bits, "seconds": {"seal": seal, "cross_numpy": ours}, "ratio_to_seal": {}}
        for op, seconds in ours.items():
            baseline = seal["rotate_x8" if op == "rotate_x8_hoisted" else op]
            entry["ratio_to_seal"][op] = seconds / baseline
            rows.append([n, len(bits) - 1, op, f"{baseline * 1e3:.2f}", f"{seconds * 1e3:.2f}", f"{seconds / baseline:.1f}x"])
        results.append(entry)
        print(f"N={n}: done", flush=True)
    data = {
        "benchmark": "ckks_ops",
        "description": __doc__.splitlines()[0],
        "machine": info,
        "repeats": repeats,
        "statistic": "median seconds per op",
        "columns": {"seal": "tenseal.sealapi (SEAL 4.3)", "cross_numpy": "securecompute.ckks, numpy GEMM kernels"},
        "openfhe": OPENFHE_NOTE,
        "cross_jax_cpu": JAX_NOTE,
        "results": results,
    }
    write_json(out, data)
    print(markdown_table(["N", "data primes", "op", "SEAL ms", "ours ms", "ours / SEAL"], rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
