"""The einsum benchmark's engine column: the same plans on several CKKS engines in one run.

For each engine (``seal``, ``cross``, ...) and each context depth, one context of that engine; for
every case, the plan's missing rotation keys are made (timed, "keygen"), the first call encodes and
runs, then the prepared einsum is timed over the repeats, engines interleaved per repeat so that
load on the shared machine hits all alike.  The decryption is checked against ``numpy.einsum``.
Ratio = engine median / the first engine's median (the baseline, ``seal`` by default).  TenSEAL's
baselines are not run in this mode (the main benchmark runs them).
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import numpy as np
from _common import markdown_table, median, time_repeats
from _einsum_cases import SCALE_BITS, Case, Settings, max_error
from tqdm import tqdm

from securecompute.fhe import CKKSContext, einsum, plan_einsum

__all__ = ["print_engine_table", "run_engines"]


def _prepare(case: Case, arrays: list[np.ndarray], ctx: CKKSContext) -> tuple[list[Any], dict[str, Any]]:
    """Encrypt, plan, make keys, first call; returns the operands and the record so far."""
    operands = [ctx.encrypt(a) if enc else a for a, enc in zip(arrays, case.encrypted, strict=True)]
    plan = plan_einsum(case.expression, *operands)
    start = time.perf_counter()
    ctx.ensure_rotation_steps(plan.rotation_steps)
    keygen_s = time.perf_counter() - start
    start = time.perf_counter()
    einsum(case.expression, *operands)
    first_call_s = time.perf_counter() - start
    record = {
        "depth": plan.depth,
        "rotations": plan.rotations,
        "rotation_steps": len(plan.rotation_steps),
        "plaintext_multiplications": plan.plaintext_multiplications,
        "ciphertext_multiplications": plan.ciphertext_multiplications,
        "keygen_s": keygen_s,
        "first_call_s": first_call_s,
        "latencies_s": [],
    }
    return operands, record


def finished(result: Any) -> Any:
    """``result`` after its ciphertexts are computed: the cross-jax engine returns device arrays before the
    device is done (JAX is asynchronous), so a timing must wait for them; SEAL and numpy are synchronous."""
    for chunk in getattr(result, "chunks", []):
        data = getattr(chunk, "data", None)
        if hasattr(data, "block_until_ready"):
            data.block_until_ready()
    return result


def run_engines(
    engines: list[str], cases: list[Case], settings: Settings, degree: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per case, ``engines`` -> record, ``ratio`` -> engine / first engine) and context timings."""
    rows: list[dict[str, Any]] = []
    contexts: dict[str, Any] = {}
    bar = tqdm(total=len(cases) * len(engines), desc="einsum engines", unit="run", file=sys.stderr, dynamic_ncols=True)
    for depth in (3, 4):
        group = [case for case in cases if case.depth == depth]
        if not group:
            continue
        ctxs: dict[str, CKKSContext] = {}
        for engine in engines:
            bar.set_postfix_str(f"depth {depth}: {engine} keys")
            start = time.perf_counter()
            ctxs[engine] = CKKSContext.create(
                depth=depth, poly_modulus_degree=degree, scale_bits=SCALE_BITS, backend=engine
            )
            contexts[f"{engine}_depth_{depth}_create_s"] = time.perf_counter() - start
        for case in group:
            rng = np.random.default_rng(int(case.id) * 10 + sum(case.encrypted))
            arrays = [rng.uniform(-1.0, 1.0, shape) for shape in case.shapes]
            expected = np.einsum(case.expression, *arrays)
            prepared: dict[str, tuple[list[Any], dict[str, Any]]] = {}
            for engine in engines:
                bar.set_postfix_str(f"{case.id} {case.variant}: {engine}")
                prepared[engine] = _prepare(case, arrays, ctxs[engine])
                bar.update(1)
            results: dict[str, Any] = {}
            for _ in range(settings.repeats):
                for engine in engines:
                    operands, record = prepared[engine]
                    [seconds], results[engine] = time_repeats(
                        lambda e=case.expression, o=operands: finished(einsum(e, *o)), 1
                    )
                    record["latencies_s"].append(seconds)
            records = {}
            for engine in engines:
                record = prepared[engine][1]
                record["median_s"] = median(record["latencies_s"])
                record["max_abs_error"] = max_error(ctxs[engine].decrypt(results[engine]), expected)
                records[engine] = record
            base = records[engines[0]]["median_s"]
            rows.append(
                {
                    "id": case.id,
                    "expression": case.expression,
                    "shapes": case.shapes,
                    "variant": case.variant,
                    "context_depth": depth,
                    "engines": records,
                    "ratio": {e: (r["median_s"] / base if base > 0 else None) for e, r in records.items()},
                }
            )
            gc.collect()
        del ctxs
        gc.collect()
    bar.close()
    rows.sort(key=lambda r: (r["id"], r["variant"]))
    return rows, contexts


def print_engine_table(rows: list[dict[str, Any]], engines: list[str]) -> None:
    """One markdown table: per engine the prepared median, keygen and error; ratios to the first engine."""
    headers = ["#", "expression", "operands", "rot (per engine where plans differ)"]
    for engine in engines:
        headers += [f"{engine} s", f"{engine} keygen s", f"{engine} err"]
    headers += [f"{engine} / {engines[0]}" for engine in engines[1:]]
    table = []
    for row in rows:
        rotations = "/".join(dict.fromkeys(str(row["engines"][e]["rotations"]) for e in engines))
        line: list[Any] = [row["id"], row["expression"], row["variant"], rotations]
        for engine in engines:
            record = row["engines"][engine]
            line += [f"{record['median_s']:.3f}", f"{record['keygen_s']:.2f}", f"{record['max_abs_error']:.1e}"]
        line += [_ratio(row["ratio"][engine]) for engine in engines[1:]]
        table.append(line)
    totals = ["", "total", "", sum(r["engines"][engines[0]]["rotations"] for r in rows)]
    sums = {e: sum(r["engines"][e]["median_s"] for r in rows) for e in engines}
    for engine in engines:
        totals += [f"{sums[engine]:.2f}", f"{sum(r['engines'][engine]['keygen_s'] for r in rows):.1f}", ""]
    totals += [_ratio(sums[engine] / sums[engines[0]] if sums[engines[0]] else None) for engine in engines[1:]]
    table.append(totals)
    print(f"\nengines (prepared einsum, median s; ratio = engine / {engines[0]})\n")
    print(markdown_table(headers, table))


def _ratio(value: float | None) -> str:
    return f"{value:.1f}x" if value is not None else "-"
