"""Per-op CKKS time: our numpy engine (securecompute.ckks on the cross GEMM kernels) beside SEAL, same run.

Operations at N = 2^14 and 2^15 (SEAL's chains, 60-bit first and special primes, 40-bit middle primes):
rotate (one key switch), rotate x8 (SEAL: eight ``rotate_vector`` calls; ours: eight single rotations and
one hoisted ``rotate_many`` of the same eight steps), multiply + relinearise, rescale, encrypt (public
key), decrypt (to the plaintext, no decoding).  Baseline: SEAL 4.3 through ``tenseal.sealapi`` with its
own keys; ours with keys from our generator for the same parameters, on the numpy engine and the JAX engine
on the CPU.  BLAS is pinned to one thread by the library itself; medians
of ``--repeats`` runs; the largest slot error after each op is recorded too.  OpenFHE cannot run here (its
wheel's extension imports only under CPython 3.10): the JSON says so.

    python benchmarks/ckks_ops.py [--quick] [--repeats R] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, median, time_repeats, write_json

# SEAL's usual chains (60-bit outer primes: the wide GEMM mode), then chains of primes of at most 40 bits
# (the fast mode of the JAX NTT).
RINGS = [
    (16384, [60, 40, 40, 60]),
    (32768, [60, 40, 40, 40, 40, 60]),
    (16384, [40, 30, 30, 40]),
    (32768, [40, 30, 30, 30, 30, 40]),
]
QUICK_RINGS = [(8192, [60, 40, 40, 60]), (8192, [40, 30, 30, 40])]
STEPS = list(range(1, 9))
SCALE = 2.0**40
OPENFHE_NOTE = (
    "not run: the openfhe wheel on the package index (1.6.1.0.22.4) ships its extension for CPython 3.10 only "
    "('No module named openfhe.openfhe' under 3.11) and no Python 3.10 interpreter is installed here"
)
JAX_NOTE = (
    "backend='jax' on the CPU with one XLA thread: every op one jitted program on device-resident uint64 arrays "
    "(NTTs: cross's JaxNTT for fast-mode chains, cross.jax_wide.JaxWideNTT for 48..60-bit primes; exact uint64 "
    "Barrett and Shoup products; keys uploaded once); each timed op waits for its result (block_until_ready)"
)


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


def measure_ours(n: int, bits: list[int], repeats: int, backend: str = "numpy") -> dict[str, float]:
    """Median seconds per op for securecompute.ckks on ``backend`` with our own keys."""
    from securecompute.ckks import CKKSEncoder, CKKSParameters, Decryptor, Encryptor, Evaluator, KeyGenerator

    params = CKKSParameters.from_bit_sizes(n, bits)
    keygen = KeyGenerator(params)
    evaluator = Evaluator(params, keygen.relin_key(), keygen.galois_keys(STEPS), backend=backend)
    encryptor, decryptor = Encryptor(keygen.public_key()), Decryptor(keygen.secret_key)
    plain = CKKSEncoder(params).encode(np.linspace(-1, 1, n // 2), SCALE)
    cipher = encryptor.encrypt(plain)
    cipher = evaluator.on_engine(cipher)  # JAX: the ciphertext lives on the device between ops (uploaded once)

    def blocking(op: Any) -> Any:
        """``op`` followed by a wait for its ciphertexts (the JAX engine returns before the device is done)."""

        def run() -> Any:
            result = op()
            evaluator.block_until_ready(result)
            return result

        return run

    ops = {
        "rotate": lambda: evaluator.rotate(cipher, 1),
        "rotate_x8": lambda: [evaluator.rotate(cipher, step) for step in STEPS],
        "rotate_x8_hoisted": lambda: evaluator.rotate_many(cipher, STEPS),
        "multiply_relinearize": lambda: evaluator.relinearize(evaluator.multiply(cipher, cipher)),
        "rescale": lambda: evaluator.rescale(cipher),
    }
    for op in ops.values():  # warm: NTT tables, JIT, the per-step hoisting constants, key uploads
        blocking(op)()
    if backend == "numpy":  # encryption and decryption have no JAX path
        ops["encrypt"] = lambda: encryptor.encrypt(plain)
        ops["decrypt"] = lambda: decryptor.decrypt(cipher)
    return {name: median(time_repeats(blocking(op), repeats)[0]) for name, op in ops.items()}


def measure_precision() -> dict[str, float]:
    """Largest slot error after each op, N = 2^13, chain (60, 40, 40, 60), scale 2^40, 4096 values in [-1, 1]."""
    from securecompute.ckks import CKKSEncoder, CKKSParameters, Decryptor, Encryptor, Evaluator, KeyGenerator

    params = CKKSParameters.from_bit_sizes(8192, [60, 40, 40, 60])
    keygen = KeyGenerator(params)
    encoder, encryptor, decryptor = CKKSEncoder(params), Encryptor(keygen.public_key()), Decryptor(keygen.secret_key)
    evaluator = Evaluator(params, keygen.relin_key(), keygen.galois_keys([1, 5]))
    rng = np.random.default_rng(0)  # message values only
    a, b = rng.uniform(-1, 1, 4096), rng.uniform(-1, 1, 4096)
    left, right = encryptor.encrypt(encoder.encode(a, SCALE)), encryptor.encrypt(encoder.encode(b, SCALE))

    def error(cipher: Any, expected: np.ndarray) -> float:
        return float(np.max(np.abs(encoder.decode(decryptor.decrypt(cipher)).real - expected)))

    product = evaluator.rescale(evaluator.relinearize(evaluator.multiply(left, right)))
    return {
        "encode_decode": float(np.max(np.abs(encoder.decode(encoder.encode(a, SCALE)).real - a))),
        "fresh_encryption": error(left, a),
        "add": error(evaluator.add(left, right), a + b),
        "multiply_plain_rescale": error(
            evaluator.rescale(evaluator.multiply_plain(left, encoder.encode(b, SCALE))), a * b
        ),
        "multiply_relinearize_rescale": error(product, a * b),
        "rotate": error(evaluator.rotate(left, 1), np.roll(a, -1)),
        "rotate_hoisted": error(evaluator.rotate_many(left, [5])[0], np.roll(a, -5)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2^13 only, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per op (default 5)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ckks_ops.json)")
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    repeats = args.repeats or (3 if args.quick else 5)
    rings = QUICK_RINGS if args.quick else RINGS
    name = "ckks_ops-quick.json" if args.quick else "ckks_ops.json"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / name
    info = machine_info()
    results: list[dict[str, Any]] = []
    rows = []
    for n, bits in rings:
        seal = measure_seal(n, bits, repeats)
        engines = {"cross_numpy": measure_ours(n, bits, repeats)}
        engines["cross_jax_cpu"] = measure_ours(n, bits, repeats, backend="jax")
        entry: dict[str, Any] = {"n": n, "bits": bits, "seconds": {"seal": seal, **engines}, "ratio_to_seal": {}}
        for engine, ours in engines.items():
            entry["ratio_to_seal"][engine] = {}
            for op, seconds in ours.items():
                baseline = seal["rotate_x8" if op == "rotate_x8_hoisted" else op]
                entry["ratio_to_seal"][engine][op] = seconds / baseline
                ratio = f"{seconds / baseline:.1f}x"
                rows.append(
                    [n, "/".join(map(str, bits)), engine, op, f"{baseline * 1e3:.2f}", f"{seconds * 1e3:.2f}", ratio]
                )
        results.append(entry)
        print(f"N={n} {bits}: done", flush=True)
    data = {
        "benchmark": "ckks_ops",
        "description": __doc__.splitlines()[0],
        "machine": info,
        "repeats": repeats,
        "statistic": "median seconds per op",
        "columns": {
            "seal": "tenseal.sealapi (SEAL 4.3)",
            "cross_numpy": "securecompute.ckks, numpy GEMM kernels",
            "cross_jax_cpu": JAX_NOTE,
        },
        "precision": measure_precision(),
        "openfhe": OPENFHE_NOTE,
        "results": results,
    }
    write_json(out, data)
    print(markdown_table(["N", "chain bits", "engine", "op", "SEAL ms", "ours ms", "ours / SEAL"], rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
