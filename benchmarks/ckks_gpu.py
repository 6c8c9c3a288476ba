"""The CKKS engine on an accelerator: JAX == numpy word for word, then the per-op table and the einsum benchmark.

Usage: ``python3 benchmarks/ckks_gpu.py --out DIR [--cpu-check] [--budget SECONDS]``

Prepared for a session with the GPU device tool (one H100/H200, JAX preinstalled; the package is
imported from this checkout, nothing is installed).  Steps, each written to ``DIR/ckks_gpu.json`` as
soon as it ends (a run cut short still leaves what it finished):

1. Machine: JAX and jaxlib versions, platform (gpu/tpu/cpu), device name and kind, ``nvidia-smi``'s
   GPU name, driver and memory where that command exists (its failure is recorded, not fatal).
2. Bit-exactness on the device: one set of keys and inputs through ``Evaluator(backend="numpy")`` and
   ``Evaluator(backend="jax")``: add, multiply_plain, multiply, relinearize, rescale, mod_switch,
   rotate, hoisted rotate_many; every output's words and scale compared.  Chains: SEAL's 60/40-bit
   one (the JAX wide-mode NTT) and a 40/30-bit one (the fast mode), at N = 2^15 (2^13 in the CPU
   check).  Any difference exits with status 1 (JSON written first), before anything is timed.
3. Per-op table (``ckks_ops.measure_seal`` / ``measure_ours``, same code as benchmarks/ckks_ops.py):
   rotate, rotate x8, hoisted rotate x8, multiply+relinearise, rescale, encrypt, decrypt; SEAL
   (tenseal.sealapi, CPU), our numpy engine (CPU) and our JAX engine (device-resident: every op one
   jitted program, keys uploaded once, each timed op waits for its result with ``block_until_ready``;
   protocols/ckks.md section 10); medians (5
   repeats JAX and SEAL, 3 numpy; ``--no-numpy-column`` leaves numpy out) and ratios to SEAL.  Rings in priority order: N = 2^15 with SEAL's
   chain and with the 40/30-bit chain, then the same at 2^14.
4. The einsum benchmark's engine column (``_einsum_engines.run_engines``): ``seal`` vs ``cross-jax``
   at N = 2^15, 3 repeats, one row at a time in the order of ``EINSUM_PRIORITY`` (rotation-heavy
   rows first).  The JSON names the rows run and the rows left out.

Time guard (``--budget``, default 420 s): a ring or an einsum row starts only while the elapsed time
plus its estimate (the slowest seconds per unit of work so far times its work: N x primes for a ring,
one unit per einsum row) stays inside its share (the per-op table until ``PER_OP_SHARE`` of
the budget, the einsum until all of it); heaviest first, so the last one started rarely overruns and
the run ends near 7 minutes, under 8.  Estimate for an H200 host from the 2-core CPU numbers of
benchmarks/results/ckks_ops.json and einsum-engines.json (the key generation, encoding and numpy
column run on the host CPU whatever the device): imports, compiles and the two 2^15 bit-exact checks
about 60 s; a 2^15 per-op ring about 60-120 s (numpy's ~10 s per repeat and two sets of 8 Galois keys),
a 2^14 ring a third of that, so three or four rings fit; an einsum row at 2^15 about 10-60 s (key
generation and the first call dominate), so about 4-8 of the 23 rows fit, the heaviest ones.  A
longer budget runs more of them (the device tool stops any one command at 10 minutes).

``--cpu-check`` (automatic when JAX sees no GPU/TPU): N = 2^13, SEAL and both engines on the CPU,
three einsum rows at N = 2^14, for testing the script; it is labelled ``"cpu_check": true`` and is
not a GPU result.  SEAL columns and the ``seal`` einsum engine need ``tenseal``; without it they are
recorded as not run and the rest still runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # import securecompute from this checkout (no install on the device)
sys.path.insert(0, str(HERE))

from _common import machine_info, markdown_table, write_json  # noqa: E402

# N = 2^15 first; SEAL's chain (the einsum's, its 60-bit primes on the JAX wide mode) before the 40/30-bit one.
DEVICE_RINGS = [
    (32768, [60, 40, 40, 40, 40, 60]),
    (32768, [40, 30, 30, 30, 30, 40]),
    (16384, [60, 40, 40, 60]),
    (16384, [40, 30, 30, 40]),
]
CPU_RINGS = [(8192, [60, 40, 40, 60]), (8192, [40, 30, 30, 40])]
EXACT_STEPS = [1, 3, 8, 100]
# Einsum rows (id, operand pattern), most rotations first: the target of issue 14 is the whole set, so
# the rows that stress key switching come first when the budget cuts the list.
EINSUM_PRIORITY = [
    ("15", "ct x ct"),
    ("14", "ct x ct x ct"),
    ("13", "ct x ct x ct"),
    ("06", "ct x ct"),
    ("10", "ct x ct"),
    ("02", "ct"),
    ("07", "ct x ct"),
    ("04", "ct"),
    ("11", "ct x ct"),
    ("08", "ct x ct"),
    ("03", "ct"),
    ("05", "ct x ct"),
    ("07", "ct x pt"),
    ("05", "ct x pt"),
    ("08", "ct x pt"),
    ("06", "ct x pt"),
    ("12", "ct x ct x ct"),
    ("15", "ct x pt"),
    ("11", "ct x pt"),
    ("09", "ct x ct"),
    ("09", "ct x pt"),
    ("10", "ct x pt"),
    ("01", "ct"),
]
# The CPU check's einsum rows at N = 2^14 (2^13 cannot hold depth 3 at 128 bits): one of each kind
# (plain multiply, ciphertext multiply, rotation-and-sum), cheap enough for two loaded cores.
PER_OP_SHARE = 0.55  # of the budget: no per-op ring starts past it; the einsum rows get the rest
CPU_EINSUM_ROWS = [("05", "ct x pt"), ("09", "ct x ct"), ("02", "ct")]


class MismatchError(RuntimeError):
    """The JAX engine's words differ from the numpy engine's."""


def nvidia_smi() -> dict[str, str]:
    """nvidia-smi's GPU name, driver and memory (``{"nvidia_smi": ...}``), or why it could not say."""
    query = "--query-gpu=name,driver_version,memory.total"
    try:
        done = subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as error:  # no NVIDIA driver here: recorded, not fatal
        return {"nvidia_smi_error": f"{type(error).__name__}: {error}"}
    return {"nvidia_smi": done.stdout.strip()}


def accelerator_info(driver: dict[str, str] | None = None) -> dict[str, Any]:
    """JAX/jaxlib versions, the default platform and device, and ``driver`` (default: :func:`nvidia_smi`)."""
    import jax
    import jaxlib

    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "platform": device.platform,
        "device": str(device),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        **(nvidia_smi() if driver is None else driver),
    }


def check_bit_exact(n: int, bits: Sequence[int], allow_insecure: bool = False) -> dict[str, Any]:
    """Same keys and inputs through the numpy and the JAX evaluators; every op's words must be equal.

    Args:
        n: ring degree N.
        bits: prime bit sizes of the chain (first, middle..., special), as SEAL's ``CoeffModulus.Create``.
        allow_insecure: allow a chain over the 128-bit table (tiny N in tests only).

    Returns:
        ``{"n", "bits", "ops", "words_compared", "seconds", "bit_exact": True}``.

    Raises:
        MismatchError: the first op whose words or scale differ, named.
    """
    from securecompute.ckks import CKKSEncoder, CKKSParameters, Encryptor, Evaluator, KeyGenerator, RandomSource
    from securecompute.ckks.ciphertext import Ciphertext

    start = time.perf_counter()
    params = CKKSParameters.from_bit_sizes(n, list(bits), allow_insecure=allow_insecure)
    keygen = KeyGenerator(params, RandomSource(bytes(range(64))))  # fixed seed: a reproducible check, not keys
    steps = [step for step in EXACT_STEPS if step < n // 2]
    relin, galois = keygen.relin_key(), keygen.galois_keys(steps)
    reference = Evaluator(params, relin, galois)
    device = Evaluator(params, relin, galois, backend="jax")
    encoder, encryptor = CKKSEncoder(params), Encryptor(keygen.public_key(), RandomSource(bytes(64)))
    rng = np.random.default_rng(n)  # message values only
    scale = 2.0 ** bits[1]
    a = encryptor.encrypt(encoder.encode(rng.uniform(-1, 1, n // 2), scale))
    b = encryptor.encrypt(encoder.encode(rng.uniform(-1, 1, n // 2), scale))
    plain = encoder.encode(rng.uniform(-1, 1, n // 2), scale)
    ops: dict[str, Callable[[Any], list[Any]]] = {
        "add": lambda e: [e.add(a, b)],
        "multiply_plain": lambda e: [e.multiply_plain(a, plain)],
        "multiply": lambda e: [e.multiply(a, b)],
        "multiply_relinearize": lambda e: [e.relinearize(e.multiply(a, b))],
        "rescale": lambda e: [e.rescale(e.multiply_plain(a, plain))],
        "mod_switch": lambda e: [e.mod_switch(a)],
        "rotate": lambda e: [e.rotate(a, steps[1])],
        "rotate_many_hoisted": lambda e: e.rotate_many(a, steps),
    }
    compared = 0
    for name, op in ops.items():
        expected, got = op(reference), op(device)
        for index, (left, device_result) in enumerate(zip(expected, got, strict=True)):
            right = Ciphertext(np.asarray(device_result.data), device_result.scale)  # JAX's device array to host
            if left.scale != right.scale or left.data.shape != right.data.shape:
                raise MismatchError(f"{name}[{index}] N={n} {list(bits)}: scale or shape differs")
            if not np.array_equal(left.data, right.data):
                differing = int(np.count_nonzero(left.data != right.data))
                raise MismatchError(f"{name}[{index}] N={n} {list(bits)}: {differing} of {left.data.size} words differ")
            compared += left.data.size
    seconds = time.perf_counter() - start
    print(
        f"bit-exact: N={n} {list(bits)} JAX == numpy on {compared} words, {len(ops)} ops [{seconds:.1f} s]", flush=True
    )
    return {
        "n": n,
        "bits": list(bits),
        "ops": list(ops),
        "words_compared": compared,
        "seconds": seconds,
        "bit_exact": True,
    }


def _guarded(
    items: Sequence[Any], run: Callable[[Any], Any], began: float, until_s: float, work: Callable[[Any], float]
) -> tuple[list[Any], list[Any]]:
    """Run ``items`` in order while elapsed + the item's estimate fits ``until_s``; (results, items left out).

    The estimate is ``work(item)`` times the slowest seconds per unit of work seen so far (zero before
    the first item, which runs if any time is left).
    """
    results: list[Any] = []
    rate = 0.0
    for position, item in enumerate(items):
        if time.perf_counter() - began + rate * work(item) > until_s:
            return results, list(items[position:])
        start = time.perf_counter()
        results.append(run(item))
        rate = max(rate, (time.perf_counter() - start) / work(item))
    return results, []


def per_op_table(
    rings: Sequence[tuple[int, list[int]]], repeats: dict[str, int], began: float, until_s: float
) -> dict[str, Any]:
    """SEAL, numpy and JAX-on-device medians per op for each ring while the budget lasts; ratios to SEAL.

    ``repeats``: timed repeats per column ("jax", "numpy", "seal").
    """
    from ckks_ops import measure_ours, measure_seal

    rows: list[list[Any]] = []

    def ring(item: tuple[int, list[int]]) -> dict[str, Any]:
        n, bits = item
        seconds: dict[str, Any] = {"cross_jax_device": measure_ours(n, bits, repeats["jax"], backend="jax")}
        if repeats["numpy"]:  # 0: left out (--no-numpy-column); the 2-core figures are in ckks_ops.json
            seconds["cross_numpy"] = measure_ours(n, bits, repeats["numpy"])
        try:
            seconds["seal"] = measure_seal(n, bits, repeats["seal"])
        except ImportError as error:
            seconds["seal"] = None
            seal_note = f"not run: {error}"
        else:
            seal_note = "tenseal.sealapi (SEAL 4.3), CPU"
        entry: dict[str, Any] = {"n": n, "bits": bits, "seconds": seconds, "seal": seal_note, "ratio_to_seal": {}}
        for engine in [name for name in ("cross_jax_device", "cross_numpy") if name in seconds]:
            for op, value in seconds[engine].items():
                base = seconds["seal"]["rotate_x8" if op == "rotate_x8_hoisted" else op] if seconds["seal"] else None
                entry["ratio_to_seal"].setdefault(engine, {})[op] = value / base if base else None
                shown = [
                    f"{base * 1e3:.2f}" if base else "-",
                    f"{value * 1e3:.2f}",
                    f"{value / base:.2f}x" if base else "-",
                ]
                rows.append([n, "/".join(map(str, bits)), engine, op, *shown])
        print(f"per-op N={n} {bits}: done [{time.perf_counter() - began:.0f} s elapsed]", flush=True)
        return entry

    results, left_out = _guarded(rings, ring, began, until_s, lambda item: item[0] * len(item[1]))
    print(markdown_table(["N", "chain bits", "engine", "op", "SEAL ms", "ours ms", "ours / SEAL"], rows), flush=True)
    return {"repeats": repeats, "statistic": "median seconds per op", "results": results, "rings_left_out": left_out}


def einsum_engines(degree: int, wanted: Sequence[tuple[str, str]], began: float, until_s: float) -> dict[str, Any]:
    """``seal`` vs ``cross-jax`` per einsum row in priority order while the budget lasts (seal dropped if absent)."""
    try:  # tqdm, opt_einsum...: the device's preinstalled Python may lack one; the steps before still count
        from _einsum_cases import Settings, all_cases
        from _einsum_engines import print_engine_table, run_engines
    except ImportError as error:
        print(f"einsum benchmark not run: {error}", flush=True)
        return {"not_run": f"{type(error).__name__}: {error}"}
    try:
        import tenseal  # noqa: F401
    except ImportError as error:
        engines, seal_note = ["cross-jax"], f"seal engine not run: {error}"
    else:
        engines, seal_note = ["seal", "cross-jax"], "seal: SEAL 4.3 through tenseal.sealapi on the CPU"
    by_key = {(case.id, case.variant): case for case in all_cases()}
    order = [by_key[key] for key in wanted]
    settings = Settings.make(quick=False, repeats=3)
    contexts: dict[str, Any] = {}

    def row(case: Any) -> dict[str, Any]:
        rows, created = run_engines(engines, [case], settings, degree)
        contexts[f"{case.id} {case.variant}"] = created
        print(f"einsum {case.id} {case.variant}: done [{time.perf_counter() - began:.0f} s elapsed]", flush=True)
        return rows[0]

    rows, left_out = _guarded(order, row, began, until_s, lambda _: 1.0)
    if rows:
        print_engine_table(rows, engines)
    return {
        "engines": engines,
        "note": seal_note,
        "poly_modulus_degree": degree,
        "repeats": settings.repeats,
        "rows": rows,
        "rows_left_out": [f"{case.id} {case.variant} {case.expression}" for case in left_out],
        "contexts_create_s": contexts,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for ckks_gpu.json (e.g. $OUT on the device machine)")
    parser.add_argument("--cpu-check", action="store_true", help="N = 2^13 on the CPU (automatic without GPU/TPU)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; no ring or row starts past it")
    parser.add_argument(
        "--no-numpy-column",
        action="store_true",
        help="leave our numpy engine out of the per-op table (the host CPU's column; about 10 s a repeat at 2^15)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    driver = nvidia_smi()
    if "nvidia_smi" not in driver:  # no NVIDIA GPU: ckks_ops.py's CPU layout, one XLA thread (set before JAX
        # loads); never set beside a GPU, where a jaxlib that dropped one of these flags would abort.
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    accelerator = accelerator_info(driver)
    cpu_check = args.cpu_check or accelerator["platform"] not in ("gpu", "tpu")
    print(f"JAX {accelerator['jax']} on {accelerator['device']} ({accelerator['device_kind']}); cpu_check={cpu_check}")
    print(f"nvidia-smi: {accelerator.get('nvidia_smi') or accelerator.get('nvidia_smi_error')}", flush=True)
    out = Path(args.out) / ("ckks_gpu_cpu_check.json" if cpu_check else "ckks_gpu.json")
    data: dict[str, Any] = {
        "benchmark": "ckks_gpu",
        "description": (__doc__ or "").splitlines()[0],
        "cpu_check": cpu_check,
        "label": "CPU check of the script (not a GPU result)" if cpu_check else "JAX engine on the accelerator",
        "machine": machine_info(("numpy", "tenseal", "jax", "jaxlib", "securecompute")),
        "accelerator": accelerator,
        "budget_s": args.budget,
    }
    rings = CPU_RINGS if cpu_check else DEVICE_RINGS
    exact_n = rings[0][0]
    try:
        data["bit_exact"] = [check_bit_exact(exact_n, bits) for _, bits in rings[:2]]
    except MismatchError as error:
        data["bit_exact"] = {"bit_exact": False, "mismatch": str(error)}
        write_json(out, data)
        print(f"MISMATCH: {error}", flush=True)
        sys.exit(1)
    write_json(out, data)
    # The numpy column at 2^15 is the slowest (about 10 s per repeat of all ops): 3 repeats there.
    repeats = {"jax": 2, "numpy": 2, "seal": 2} if cpu_check else {"jax": 5, "numpy": 3, "seal": 5}
    if args.no_numpy_column:
        repeats["numpy"] = 0
    data["per_op"] = per_op_table(rings, repeats, began, PER_OP_SHARE * args.budget)
    write_json(out, data)
    degree, rows = (16384, CPU_EINSUM_ROWS) if cpu_check else (32768, EINSUM_PRIORITY)
    data["einsum"] = einsum_engines(degree, rows, began, args.budget)
    data["total_seconds"] = time.perf_counter() - began
    print(f"total {data['total_seconds']:.0f} s; wrote {write_json(out, data)}")


if __name__ == "__main__":
    main()
