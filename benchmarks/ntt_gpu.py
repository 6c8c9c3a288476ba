"""JAX-backend GEMM NTT on an accelerator: bit-exact check against the numpy backend, then limb-NTTs per second.

Usage: ``python3 benchmarks/ntt_gpu.py [--quick] [--no-64k] [--out PATH]``

Prepared for a session with the GPU device tool (one H100/H200, JAX preinstalled, nothing installed
by this script; the package is imported from this checkout, so no ``pip install`` is needed).  Steps:

1. Print the JAX version, backend and device; the run stops if that device is a TPU (no native float64).
2. Exactness at n = 2^14 (30-bit NTT primes from :func:`securecompute.cross.primes.find_ntt_primes`):
   the JAX backend's forward and inverse, both orders, on a (4, 3, n) batch against the numpy backend,
   then the whole timed (1024, 1, n) batch forward and back against numpy, and an all-(q-1) input.
   Any mismatch exits with status 1 before anything is timed.
3. Throughput: ``forward_device`` / ``inverse_device`` on device-resident int64 arrays (no host
   transfer, no input check: the kernel itself), bit-reversed order, one 30-bit limb, batch 1024, at
   n = 2^14, then 2^12 and 2^16 (``--no-64k`` skips 2^16).  After a compile-and-warm-up call, each of
   ``--rounds`` rounds (default 5) queues ``--iterations`` calls (default 20) and waits once; the
   best round gives limb-NTTs per second (batch * limbs * iterations / seconds) and microseconds per
   limb-NTT; the median round is recorded too.  A slice of each size's output is checked against numpy.
4. Reports n = 2^14 forward against the issue's reference points: TensorFHE 913K NTT/s (A100) and
   CROSS 793K NTT/s (TPU v6e), and the issue's target of 1,000,000 limb-NTTs/s.
5. The fraction of the float64 GEMM peak: each size's GEMM FLOPs per limb-NTT (``2 n (D_l R + D_r C)``
   for its two digit GEMMs, R x C = n) times its rate, against float64 matmuls timed in the same run:
   an 8192^3 square one (the device's f64 peak as JAX reaches it) and the NTT's own first-GEMM shape.
   The machine block records JAX, jaxlib, the device and ``nvidia-smi``'s GPU name, driver and memory.

Writes ``benchmarks/results/ntt_gpu.json`` (``ntt_gpu-quick.json`` with ``--quick``; ``--out`` to
choose, e.g. ``$OUT/ntt_gpu.json`` on the device machine).  Runtime on an H100: well under 4 minutes
(compiles dominate).  ``--quick`` runs on a CPU: n = 2^10 and 2^12, batch 16, for testing the script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # import securecompute from this checkout (the device machine has no install)

sys.path.insert(0, str(ROOT / "benchmarks"))
from ckks_gpu import accelerator_info  # noqa: E402

from securecompute.cross.jax_backend import JaxNTT, import_jax  # noqa: E402
from securecompute.cross.ntt import NTT  # noqa: E402
from securecompute.cross.primes import find_ntt_primes  # noqa: E402

PRIME_BITS = 30
CHECK_N = 1 << 14
REFERENCES = {
    "TensorFHE (A100), NTT/s at 2^14": 913_000,
    "CROSS (TPU v6e), NTT/s at 2^14": 793_000,
}
TARGET = 1_000_000  # issue 4: over 1M limb-NTTs/s at n = 2^14, batch 1024


def _residues(moduli: Sequence[int], n: int, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, q, size=(batch, n)) for q in moduli], axis=-2)


def _fail(message: str) -> None:
    print(f"MISMATCH: {message}", flush=True)
    sys.exit(1)


def check_exact(n: int, batch: int) -> dict[str, Any]:
    """JAX backend vs numpy backend at ``n``: both orders and directions; the full ``batch`` x 1 limb."""
    start = time.perf_counter()
    moduli = find_ntt_primes(PRIME_BITS, n, 3)
    reference, device = NTT(n, moduli), NTT(n, moduli, backend="jax")
    data = _residues(moduli, n, 4, seed=1)
    compared = 0
    for order in ("bit_reversed", "natural"):
        expected = reference.forward(data, order=order)
        if not np.array_equal(device.forward(data, order=order), expected):
            _fail(f"forward n={n} order={order} (4, 3, n)")
        if not np.array_equal(device.inverse(expected, order=order), reference.inverse(expected, order=order)):
            _fail(f"inverse n={n} order={order} (4, 3, n)")
        compared += 2 * data.size
    extreme = np.broadcast_to(np.array(moduli, dtype=np.int64).reshape(3, 1) - 1, (3, n)).copy()
    if not np.array_equal(device.forward(extreme), reference.forward(extreme)):
        _fail(f"forward n={n} all (q-1) input")
    compared += extreme.size
    single = NTT(n, moduli[:1])
    backend = JaxNTT(single)
    big = _residues(moduli[:1], n, batch, seed=2)
    on_device = backend.to_device(big)
    evaluated = backend.forward_device(on_device)
    expected_big = single.forward(big)
    if not np.array_equal(np.asarray(evaluated), expected_big):
        _fail(f"forward n={n} ({batch}, 1, n) device-resident")
    if not np.array_equal(np.asarray(backend.inverse_device(evaluated)), big):
        _fail(f"inverse round trip n={n} ({batch}, 1, n) device-resident")
    compared += 2 * big.size
    seconds = time.perf_counter() - start
    print(
        f"exact: n={n} JAX == numpy on {compared} values (forward/inverse, both orders, batch {batch}) [{seconds:.1f} s]"
    )
    return {"n": n, "moduli": moduli, "batch": batch, "values_compared": compared, "bit_exact": True}


def gemm_flops_per_ntt(ntt: NTT, direction: str) -> int:
    """Floating-point operations of one limb-NTT's two digit GEMMs: ``2 n (D_l R + D_r C)``.

    Step 1 multiplies the (R, D_l R) folded left matrix by the digits of every column, step 3 the
    digits of every row by the (D_r C, C) right matrix; elementwise twiddles and reductions not counted.
    """
    stages = ntt._stages_for(direction, "bit_reversed")
    return 2 * ntt.n * (stages.left.plan.digits * ntt.rows + stages.right.plan.digits * ntt.cols)


def gemm_rate(jax: Any, shape_left: tuple[int, ...], shape_right: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """Float64 matmul FLOP/s (best of ``rounds`` x 5 calls) for ``left @ right`` of the given shapes."""
    jnp = jax.numpy
    with jax.enable_x64(True):
        left = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, shape_left))
        right = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, shape_right))
        product = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
        product(left, right).block_until_ready()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(5):
                out = product(left, right)
            out.block_until_ready()
            times.append((time.perf_counter() - start) / 5)
    flops = 2 * int(np.prod(shape_left)) * shape_right[-1]
    return {
        "left": list(shape_left),
        "right": list(shape_right),
        "flops": flops,
        "tflops_best": flops / min(times) / 1e12,
    }


def measure(n: int, batch: int, rounds: int, iterations: int) -> dict[str, Any]:
    """Limb-NTTs per second of the device-resident forward and inverse at ``n``, one limb, ``batch``."""
    moduli = find_ntt_primes(PRIME_BITS, n, 1)
    reference = NTT(n, moduli)
    backend = JaxNTT(reference)
    data = _residues(moduli, n, batch, seed=n)
    on_device = backend.to_device(data)
    entry: dict[str, Any] = {"n": n, "batch": batch, "limbs": 1, "modulus": moduli[0], "order": "bit_reversed"}
    entry["rows_cols"] = [reference.rows, reference.cols]
    for direction in ("forward", "inverse"):
        run = backend.forward_device if direction == "forward" else backend.inverse_device
        start = time.perf_counter()
        out = run(on_device)
        out.block_until_ready()
        compile_s = time.perf_counter() - start
        head = np.asarray(out[:8])
        expected = reference.forward(data[:8]) if direction == "forward" else reference.inverse(data[:8])
        if not np.array_equal(head, expected):
            _fail(f"{direction} n={n} timed output vs numpy (first 8 of the batch)")
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                out = run(on_device)
            out.block_until_ready()
            times.append(time.perf_counter() - start)
        transforms = batch * iterations
        best, middle = min(times), statistics.median(times)
        entry[direction] = {
            "compile_and_first_call_s": round(compile_s, 3),
            "round_seconds": [round(t, 6) for t in times],
            "iterations_per_round": iterations,
            "limb_ntts_per_s_best": transforms / best,
            "limb_ntts_per_s_median": transforms / middle,
            "us_per_limb_ntt_best": best / transforms * 1e6,
            "gemm_flops_per_ntt": gemm_flops_per_ntt(reference, direction),
            "gemm_tflops_best": gemm_flops_per_ntt(reference, direction) * transforms / best / 1e12,
        }
        print(
            f"n={n:6d} batch={batch} {direction:7s}: {transforms / best:12,.0f} limb-NTTs/s "
            f"({best / transforms * 1e6:.3f} us each; median round {transforms / middle:,.0f}/s; "
            f"compile+first {compile_s:.2f} s)",
            flush=True,
        )
    return entry


def compare(headline: dict[str, Any], peaks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The n = 2^14 forward rate against the reference points and the target, and its share of each f64 GEMM peak.

    Prints one line per comparison; returns ``{name: {"reference", "ratio"[, "met"]}}`` plus
    ``"fraction_of_f64_gemm_peak": {peak name: fraction}``.
    """
    rate = headline["forward"]["limb_ntts_per_s_best"]
    comparison: dict[str, Any] = {
        name: {"reference": value, "ratio": rate / value} for name, value in REFERENCES.items()
    }
    comparison["target_1M_per_s"] = {"reference": TARGET, "ratio": rate / TARGET, "met": rate > TARGET}
    print(f"n=2^14 forward: {rate:,.0f} limb-NTTs/s")
    for name, item in comparison.items():
        print(f"  vs {name}: {item['ratio']:.2f}x")
    gemm = headline["forward"]["gemm_tflops_best"]
    fractions = {name: gemm / peak["tflops_best"] for name, peak in peaks.items()}
    print(f"  GEMM rate inside the NTT: {gemm:.2f} TFLOP/s", flush=True)
    for name, fraction in fractions.items():
        print(f"  share of the float64 GEMM peak ({name}): {fraction:.0%}", flush=True)
    comparison["fraction_of_f64_gemm_peak"] = fractions
    return comparison


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized: n = 2^10 and 2^12, batch 16")
    parser.add_argument("--no-64k", action="store_true", help="skip n = 2^16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=None, help="calls per round (default 20; 3 with --quick)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ntt_gpu.json)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    jax = import_jax()
    device = jax.devices()[0]
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, device {device} ({device.device_kind})", flush=True)
    if device.platform != "gpu" and not args.quick:
        print("no GPU here: running the CPU-sized --quick check (the full sizes are for an accelerator)", flush=True)
        args.quick = True
    if args.quick:
        check_n, batch, sizes, iterations = 1 << 12, 16, [1 << 10, 1 << 12], args.iterations or 3
    else:
        check_n, batch, iterations = CHECK_N, 1024, args.iterations or 20
        sizes = [1 << 14, 1 << 12, 1 << 15] + ([] if args.no_64k else [1 << 16])
    exactness = check_exact(check_n, batch)
    results = [measure(n, batch, args.rounds, iterations) for n in sizes]
    square = 1024 if args.quick else 8192
    peaks = {
        "square": gemm_rate(jax, (square, square), (square, square), args.rounds),
        "ntt_step1_shape": gemm_rate(
            jax,
            (results[0]["rows_cols"][0], 2 * results[0]["rows_cols"][0]),
            (2 * results[0]["rows_cols"][0], batch * results[0]["rows_cols"][1]),
            args.rounds,
        ),
    }
    for name, peak in peaks.items():
        print(f"float64 GEMM {name} {peak['left']} @ {peak['right']}: {peak['tflops_best']:.2f} TFLOP/s", flush=True)
    headline = next((r for r in results if r["n"] == 1 << 14), None)
    comparison = compare(headline, peaks) if headline is not None else {}
    total = time.perf_counter() - began
    data = {
        "benchmark": "ntt_gpu",
        "description": (__doc__ or "").splitlines()[0],
        "machine": {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (device Python may be < 3.11)
            **accelerator_info(),  # JAX, jaxlib, the device and nvidia-smi's GPU, driver and memory
            "os": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "quick": args.quick,
        "method": "device-resident int64 (B, 1, n) arrays, forward_device/inverse_device, best of rounds",
        "exactness": exactness,
        "results": results,
        "float64_gemm": peaks,
        "comparison_n_2_14_forward": comparison,
        "total_seconds": round(total, 1),
    }
    out = (
        Path(args.out)
        if args.out
        else ROOT / "benchmarks" / "results" / ("ntt_gpu-quick.json" if args.quick else "ntt_gpu.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"total {total:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
