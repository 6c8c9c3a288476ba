"""Encrypted einsum on the 15 EinHops benchmarks versus TenSEAL's public API and one-ciphertext-per-element CKKS.

Usage: ``python benchmarks/einsum.py [--quick] [--repeats R] [--out PATH] [--engines seal,cross [--degree N]]``

Parameters: CKKS with N = 2^15 (16384 slots), scale 2^40, coefficient chain (60, 40 x depth, 60);
depth 3 for the two-operand and single-operand expressions and depth 4 for the three-operand ones.
One securecompute context per depth is shared by all expressions of that depth, so Galois keys
accumulate; each plan's missing keys are made (and timed, "keygen") before its einsum is timed.

For each expression: all operands encrypted, and for two-operand expressions also the first
encrypted and the second plain.  Measured for securecompute: depth, rotations, distinct rotation
steps, Galois key bytes (``plan.key_bytes``, uncompressed, and "serialised": the measured compressed
size of one key times the number of steps), and the median wall time of the ``einsum`` call over R
repeats (the plan is built and cached beforehand and timed separately), with the max abs error of
the decryption against ``numpy.einsum``.

Prepared plans (issue #13): ``einsum`` encodes a plan's plaintext diagonals and masks once per
engine, at the level where each is used (``securecompute.fhe.prepare``).  The first call after
planning ("first call": encodes and runs) is timed apart; the repeats then run on the prepared
plan.  Same-run baseline: the same plan executed unprepared (every plaintext encoded on every call,
as before the change), ``execute_plan`` without a prepared plan, timed over the same repeats, interleaved with the prepared runs.  The unprepared time
excludes the front end (plan lookup, level checks) that the prepared ``einsum`` time includes.

Baselines, same run, same machine, same N, scale and depth (TenSEAL contexts use n_threads=2):

* TenSEAL CKKSVector (public API, one ciphertext per operand, the operand flattened row-major as
  securecompute encrypts it): ``sum``, ``dot``, ``mul`` and ``enc_matmul_plain`` where they express
  the expression, otherwise the general public-API route: every operand expanded to the joint index
  space by ``matmul`` with a 0/1 matrix, multiplied, and reduced by ``matmul`` (or ``sum``); one
  encrypted operand (plain operands folded in) is one ``matmul`` by the einsum's linear map.
  ``matmul`` walks one diagonal per input element: a diagonal holding a nonzero entry costs an
  encoding, a plaintext multiplication and a rotation (made of power-of-two rotations); an all-zero
  one costs about an encoding.  Routes estimated over the budget are not run: their time is
  extrapolated ("~") as nonzero diagonals x seconds per diagonal of a timed dense calibration
  ``matmul`` at the same level, plus zero diagonals x seconds each from a timed identity ``matmul``
  (checked against real runs at 128-1024 rows: within -5% to +30%, low for long inputs because
  later diagonals rotate further).  Routes that need the client to encrypt the matrix column-major
  (``enc_matmul_plain`` for ``ij->i`` and ``ik,k->i``) are reported separately as "client layout".
* TenSEAL CKKSTensor (public API, one ciphertext per element): each pairwise contraction (in the
  order with the fewest index combinations) as reshape + broadcast + mul + sum over axes, run on a
  slice of the operands (label sizes halved until each contraction has at most ``tensor_cap`` index
  combinations) and scaled linearly to the full sizes ("~").  A final reversal of the axes uses
  ``transpose()``; any other final permutation is done after decryption, since with one ciphertext
  per element it is only bookkeeping.
* naive per element: every scalar its own ciphertext (CKKSVector of length 1); each output element
  is the sum over its reduction indices of products of operand elements: (k-1) multiplications per
  term, one addition per term but the first, no rotation.  Timed on the first output elements for a
  few seconds and extrapolated from the per-multiplication and per-addition times ("~"), unless the
  whole run (with encryption) would fit in the budget.

Every baseline result that is computed is decrypted and checked against numpy (TenSEAL can return
wrong results silently; errors are reported, never hidden).  Speed-up = baseline / ours.

``--variants "ct x pt"`` runs only the rows of those operand patterns (comma-separated; JSON to
einsum-ctpt.json unless --quick or --out).
``--quick``: one repeat, and smaller baseline budgets (calibration matmuls of 32 rows, CKKSTensor
slices of at most 32 index combinations, 1 s of per-element sampling, real runs only under 5 s);
all 15 expressions are still run.  JSON goes to benchmarks/results/einsum.json (einsum-quick.json
with --quick) unless --out is given.

``--engines seal,cross``: the engine column instead (``_einsum_engines.py``): every case on each
named CKKS engine in one run, the prepared einsum timed per engine, ratios to the first engine;
``--degree`` sets N for that mode (default 2^15); ``--quick`` means one timed repeat there.  JSON to
einsum-engines.json unless --out is given.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    blas_summary,
    machine_info,
    markdown_table,
    median,
    reexec_without_openblas_overrides,
    time_repeats,
    write_json,
)
from _einsum_cases import (
    LATENCY_TARGETS,
    POLY_MODULUS_DEGREE,
    SCALE_BITS,
    SPEEDUP_TARGET,
    TENSEAL_THREADS,
    Case,
    Settings,
    all_cases,
    max_error,
)
from _einsum_elementwise import run_naive, run_tensor
from _einsum_engines import print_engine_table, run_engines
from _einsum_vector import TensealVectorBaseline, tenseal_context
from tqdm import tqdm

from securecompute.fhe import CKKSContext, einsum, plan_einsum
from securecompute.fhe.execute import execute_plan


# ----------------------------------------------------------------------------- securecompute
def serialised_key_bytes(ctx: CKKSContext) -> float:
    """Measured compressed size of one Galois key (the mean over two steps) in this context."""
    return (len(ctx.rotation_keys([1, 2])) - len(ctx.rotation_keys([]))) / 2


def run_ours(
    case: Case, arrays: list[np.ndarray], ctx: CKKSContext, settings: Settings, key_size: float
) -> dict[str, Any]:
    operands = [ctx.encrypt(a) if enc else a for a, enc in zip(arrays, case.encrypted, strict=True)]
    start = time.perf_counter()
    plan = plan_einsum(case.expression, *operands)
    plan_s = time.perf_counter() - start
    missing = len(plan.rotation_steps - ctx.rotation_steps)
    start = time.perf_counter()
    ctx.ensure_rotation_steps(plan.rotation_steps)
    keygen_s = time.perf_counter() - start
    start = time.perf_counter()
    einsum(case.expression, *operands)  # encodes the plan's plaintexts once, then runs
    first_call_s = time.perf_counter() - start
    inputs = {k: operand.chunks for k, operand in enumerate(operands) if k in plan.leaf_registers}
    times, unprepared = [], []
    for _ in range(settings.repeats):  # interleaved, so that load on the shared machine hits both alike
        [seconds], result = time_repeats(lambda: einsum(case.expression, *operands), 1)
        times.append(seconds)
        [seconds], _ = time_repeats(lambda: execute_plan(plan, inputs, ctx.backend, show_progress=False), 1)
        unprepared.append(seconds)
    expected = np.einsum(case.expression, *arrays)
    return {
        "depth": plan.depth,
        "rotations": plan.rotations,
        "rotation_steps": len(plan.rotation_steps),
        "key_bytes": plan.key_bytes,
        "key_bytes_serialised": round(key_size * len(plan.rotation_steps)),
        "keys_generated": missing,
        "keygen_s": keygen_s,
        "plan_s": plan_s,
        "plaintext_multiplications": plan.plaintext_multiplications,
        "ciphertext_multiplications": plan.ciphertext_multiplications,
        "input_ciphertexts": plan.input_ciphertexts,
        "output_ciphertexts": plan.ciphertexts,
        "latencies_s": times,
        "median_s": median(times),
        "first_call_s": first_call_s,
        "unprepared_latencies_s": unprepared,
        "unprepared_median_s": median(unprepared),
        "prepared_speedup": median(unprepared) / median(times) if median(times) > 0 else None,
        "max_abs_error": max_error(ctx.decrypt(result), expected),
        "explain": plan.explain(),
    }


# ----------------------------------------------------------------------------- report
def best(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = [r for r in records if r.get("seconds") is not None]
    return min(usable, key=lambda r: r["seconds"]) if usable else None


def show(record: dict[str, Any] | None) -> str:
    if record is None or record.get("seconds") is None:
        return "n/a"
    mark = {"measured": "", "extrapolated": "~"}[record["status"]]
    return f"{mark}{_seconds(record['seconds'])}"


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    if value >= 0.001:
        return f"{value:.3f}"
    return f"{value:.1e}"


def speedup(record: dict[str, Any] | None, ours: float) -> dict[str, Any] | None:
    if record is None or record.get("seconds") is None:
        return None
    ratio = record["seconds"] / ours if ours > 0 else math.inf
    return {"ratio": ratio, "status": record["status"]}


def show_speedup(value: dict[str, Any] | None) -> str:
    if value is None:
        return "n/a"
    if value["ratio"] == 0:
        return "- (no work)"
    mark = {"measured": "", "extrapolated": "~"}[value["status"]]
    ratio = value["ratio"]
    return f"{mark}{ratio:.3g}x" if math.isfinite(ratio) else "inf"


def evaluate_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    limit = LATENCY_TARGETS.get((row["id"], row["variant"]))
    ours = row["ours"]["median_s"]
    if limit is not None:
        targets.append({"target": f"under {limit} s", "value": ours, "met": ours < limit})
    tenseal = row["speedup"]["tenseal_best"]
    if tenseal is not None:
        met = tenseal["ratio"] >= SPEEDUP_TARGET
        targets.append(
            {
                "target": f">= {SPEEDUP_TARGET:g}x vs best TenSEAL public API",
                "value": tenseal["ratio"],
                "met": met,
                "basis": tenseal["status"],
            }
        )
    return targets


def print_tables(rows: list[dict[str, Any]]) -> None:
    ours_rows, compare_rows = [], []
    for row in rows:
        ours = row["ours"]
        shapes = ", ".join("x".join(map(str, s)) for s in row["shapes"])
        ours_rows.append(
            [
                row["id"],
                row["expression"],
                shapes,
                row["variant"],
                ours["depth"],
                ours["rotations"],
                ours["rotation_steps"],
                f"{ours['key_bytes'] / 2**20:.0f}/{ours['key_bytes_serialised'] / 2**20:.0f}",
                f"{ours['keygen_s']:.2f}",
                _seconds(ours["median_s"]),
                f"{ours['max_abs_error']:.1e}",
            ]
        )
        vector_same = best([r for r in row["tenseal_vector"] if r["layout"] == "same"])
        vector_client = best([r for r in row["tenseal_vector"] if r["layout"] == "client"])
        naive = row["naive"]
        tensor = row["tenseal_tensor"]
        targets = row["targets"]
        compare_rows.append(
            [
                row["id"],
                row["expression"],
                row["variant"],
                _seconds(ours["median_s"]),
                f"{show(vector_same)} {vector_same['method'] if vector_same else ''}".strip(),
                show(vector_client),
                show(tensor),
                show(naive),
                show_speedup(row["speedup"]["tenseal_best"]),
                show_speedup(row["speedup"]["naive"]),
                ", ".join(("met" if t["met"] else "MISSED") + f" ({t['target']})" for t in targets) or "-",
            ]
        )
    print("\nsecurecompute einsum (keys MiB: planned uncompressed / measured serialised)\n")
    print(
        markdown_table(
            [
                "#",
                "expression",
                "shapes",
                "operands",
                "depth",
                "rot",
                "steps",
                "keys MiB",
                "keygen s",
                "ours s",
                "max err",
            ],
            ours_rows,
        )
    )
    print("\nprepared plans: plaintexts encoded once per engine (same run; speed-up = unprepared / prepared)\n")
    print(
        markdown_table(
            ["#", "expression", "operands", "pt mults", "first call s", "prepared s", "unprepared s", "speed-up"],
            [
                [
                    row["id"],
                    row["expression"],
                    row["variant"],
                    row["ours"]["plaintext_multiplications"],
                    _seconds(row["ours"]["first_call_s"]),
                    _seconds(row["ours"]["median_s"]),
                    _seconds(row["ours"]["unprepared_median_s"]),
                    f"{row['ours']['prepared_speedup']:.2f}x" if row["ours"]["prepared_speedup"] else "-",
                ]
                for row in rows
            ],
        )
    )
    print("\nbaselines (s; ~ extrapolated; speed-up = baseline / ours)\n")
    print(
        markdown_table(
            [
                "#",
                "expression",
                "operands",
                "ours",
                "TenSEAL vector (same layout)",
                "TenSEAL vector (client layout)",
                "TenSEAL CKKSTensor",
                "naive per element",
                "speed-up vs TenSEAL",
                "speed-up vs naive",
                "targets",
            ],
            compare_rows,
        )
    )
    errors = [
        f"{row['id']} {row['variant']} {name}: {rec['method']} max abs error {rec['max_abs_error']:.3g}"
        for row in rows
        for name, recs in (
            ("TenSEAL vector", row["tenseal_vector"]),
            ("CKKSTensor", [row["tenseal_tensor"]]),
            ("naive", [row["naive"]]),
        )
        for rec in recs
        if rec.get("max_abs_error") is not None and rec["max_abs_error"] > 1e-2
    ]
    if errors:
        print("\nbaseline results with large errors (TenSEAL returned wrong values):")
        print("\n".join("  " + line for line in errors))


def main(argv: Sequence[str] | None = None) -> None:
    reexec_without_openblas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="one repeat and small baseline budgets (all 15 expressions)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats of each einsum (default 3; 1 with --quick)"
    )
    parser.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/einsum.json, einsum-quick.json with --quick)"
    )
    parser.add_argument(
        "--variants", default=None, help='only these operand patterns, comma-separated (e.g. "ct x pt")'
    )
    parser.add_argument(
        "--engines", default=None, help='compare CKKS engines instead of baselines, comma-separated (e.g. "seal,cross")'
    )
    parser.add_argument("--degree", type=int, default=POLY_MODULUS_DEGREE, help="N for --engines (default 32768)")
    args = parser.parse_args(argv)
    settings = Settings.make(args.quick, args.repeats)
    if args.engines:
        compare_engines(args, settings)
        return
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).resolve().parent
        / "results"
        / ("einsum-quick.json" if args.quick else "einsum-ctpt.json" if args.variants else "einsum.json")
    )
    wall_start = time.perf_counter()
    machine = machine_info()
    print(
        f"einsum benchmark: N={POLY_MODULUS_DEGREE}, scale 2^{SCALE_BITS}, repeats {settings.repeats}, quick={settings.quick}"
    )
    print(f"machine: {machine['cpu_model']}, {machine['cpus_usable']} usable CPUs; BLAS: {blas_summary(machine)}")
    if machine["removed_env"]:
        print(f"removed from the environment for this run: {', '.join(machine['removed_env'])}")

    cases = all_cases()
    if args.variants:
        wanted = {variant.strip() for variant in args.variants.split(",")}
        cases = [case for case in cases if case.variant in wanted]
    rows: list[dict[str, Any]] = []
    contexts_info: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    bar = tqdm(total=len(cases), desc="einsum benchmark", unit="case", file=sys.stderr, dynamic_ncols=True)
    for depth in (3, 4):
        group = [case for case in cases if case.depth == depth]
        if not group:
            continue
        bar.set_postfix_str(f"depth {depth}: keys and contexts")
        start = time.perf_counter()
        ours_ctx = CKKSContext.create(depth=depth, poly_modulus_degree=POLY_MODULUS_DEGREE, scale_bits=SCALE_BITS)
        ours_create_s = time.perf_counter() - start
        key_size = serialised_key_bytes(ours_ctx)
        tenseal_ctx, tenseal_galois_s = tenseal_context(depth)
        contexts_info[f"depth_{depth}"] = {
            "coeff_modulus_bits": [60, *([SCALE_BITS] * depth), 60],
            "securecompute_create_s": ours_create_s,
            "securecompute_galois_key_bytes_uncompressed": ours_ctx.galois_key_bytes(),
            "securecompute_galois_key_bytes_serialised": key_size,
            "tenseal_n_threads": TENSEAL_THREADS,
            "tenseal_default_galois_keygen_s": tenseal_galois_s,
        }
        vector = TensealVectorBaseline(tenseal_ctx, settings)
        for case in group:
            bar.set_postfix_str(f"{case.id} {case.expression} {case.variant}")
            rng = np.random.default_rng(int(case.id) * 10 + sum(case.encrypted))
            arrays = [rng.uniform(-1.0, 1.0, shape) for shape in case.shapes]
            row: dict[str, Any] = {
                "id": case.id,
                "expression": case.expression,
                "shapes": case.shapes,
                "variant": case.variant,
                "context_depth": depth,
            }
            bar.set_postfix_str(f"{case.id} {case.variant}: securecompute")
            row["ours"] = run_ours(case, arrays, ours_ctx, settings, key_size)
            bar.set_postfix_str(f"{case.id} {case.variant}: TenSEAL CKKSVector")
            row["tenseal_vector"] = vector.run(case, arrays)
            bar.set_postfix_str(f"{case.id} {case.variant}: TenSEAL CKKSTensor")
            row["tenseal_tensor"] = run_tensor(case, arrays, tenseal_ctx, settings)
            gc.collect()
            bar.set_postfix_str(f"{case.id} {case.variant}: naive per element")
            row["naive"] = run_naive(case, arrays, tenseal_ctx, settings)
            gc.collect()
            ours_s = row["ours"]["median_s"]
            vector_same = best([r for r in row["tenseal_vector"] if r["layout"] == "same"])
            tenseal_all = best([*row["tenseal_vector"], row["tenseal_tensor"]])
            row["speedup"] = {
                "tenseal_vector_same_layout": speedup(vector_same, ours_s),
                "tenseal_vector_any_layout": speedup(best(row["tenseal_vector"]), ours_s),
                "tenseal_tensor": speedup(row["tenseal_tensor"], ours_s),
                "tenseal_best": speedup(tenseal_all, ours_s),
                "tenseal_best_method": tenseal_all["method"] if tenseal_all else None,
                "naive": speedup(row["naive"], ours_s),
            }
            row["targets"] = evaluate_targets(row)
            rows.append(row)
            bar.update(1)
        calibration[f"depth_{depth}"] = list(vector.calibration.values())
        del ours_ctx, tenseal_ctx, vector
        gc.collect()
    bar.close()
    rows.sort(key=lambda r: (r["id"], r["variant"] != "ct x ct" and r["variant"] != "ct x ct x ct", r["variant"]))
    total_s = time.perf_counter() - wall_start
    print_tables(rows)
    missed = [f"{r['id']} {r['variant']}: {t['target']}" for r in rows for t in r["targets"] if not t["met"]]
    print(f"\ntargets missed: {len(missed)}" + "".join(f"\n  {m}" for m in missed))
    print(f"\ntotal wall time {total_s:.0f} s")
    data = {
        "benchmark": "einsum",
        "machine": machine,
        "parameters": {
            "poly_modulus_degree": POLY_MODULUS_DEGREE,
            "scale_bits": SCALE_BITS,
            "repeats": settings.repeats,
            "settings": settings.__dict__,
            "variants": args.variants,
            "tenseal_n_threads": TENSEAL_THREADS,
            "contexts": contexts_info,
            "targets": {
                "latency_s": {f"{k[0]} {k[1]}": v for k, v in LATENCY_TARGETS.items()},
                "speedup_vs_tenseal": SPEEDUP_TARGET,
            },
        },
        "calibration": calibration,
        "rows": rows,
        "total_wall_s": total_s,
        "load_average_end": list(os.getloadavg()),
    }
    print(f"wrote {write_json(out, data)}")


def compare_engines(args: argparse.Namespace, settings: Settings) -> None:
    """The ``--engines`` mode: every case on each engine, one run, JSON and a table with ratios."""
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    # --quick only sets one repeat here (no baselines to shrink), recorded in the JSON: one file name.
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / "einsum-engines.json"
    machine = machine_info()
    print(f"einsum engines {engines}: N={args.degree}, scale 2^{SCALE_BITS}, repeats {settings.repeats}")
    print(f"machine: {machine['cpu_model']}, {machine['cpus_usable']} usable CPUs; BLAS: {blas_summary(machine)}")
    cases = all_cases()
    if args.variants:
        wanted = {variant.strip() for variant in args.variants.split(",")}
        cases = [case for case in cases if case.variant in wanted]
    start = time.perf_counter()
    rows, contexts = run_engines(engines, cases, settings, args.degree)
    total_s = time.perf_counter() - start
    print_engine_table(rows, engines)
    print(f"\ntotal wall time {total_s:.0f} s")
    data = {
        "benchmark": "einsum-engines",
        "machine": machine,
        "parameters": {
            "engines": engines,
            "poly_modulus_degree": args.degree,
            "scale_bits": SCALE_BITS,
            "repeats": settings.repeats,
            "variants": args.variants,
            "contexts": contexts,
        },
        "rows": rows,
        "total_wall_s": total_s,
        "load_average_end": list(os.getloadavg()),
    }
    print(f"wrote {write_json(out, data)}")


if __name__ == "__main__":
    main()
