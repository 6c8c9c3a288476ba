"""Planner cost-model weights measured per CKKS engine (rotation = 1.0), SEAL beside ours in one run.

Usage: ``python benchmarks/cross_cost_model.py [--degree N] [--repeats R] [--out PATH]``

For each engine (``seal``, ``cross``) one key holder at N (default 2^14) with the chain (60, 40, 40, 60),
then the median seconds over R repeats (default 7) of what :class:`securecompute.fhe.backend.CostModel`
weighs: ``rotate`` (one key-switched rotation), ``multiply`` (ct x ct with relinearisation and
rescale), ``multiply_plain`` (a pre-encoded plaintext, with its rescale) and the *diagonal*: the
marginal cost of one more term of ``dot_plain`` (pre-encoded plaintexts), ``(t(9 terms) - t(1 term)) / 8``.
The weights are those medians divided by the rotation's.  ``securecompute.fhe.engines.cross``
records the ``cross`` weights; ``seal``'s are printed beside them as the reference.  JSON to
benchmarks/results/cross_cost_model.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, median, reexec_without_openblas_overrides, time_repeats, write_json

from securecompute.fhe.engines import engine_factory
from securecompute.fhe.params import CKKSParameters

ENGINES = ("seal", "cross")
TERMS = 9


def measure(engine: str, params: CKKSParameters, repeats: int) -> dict[str, float]:
    """Median seconds of each weighed operation on ``engine``."""
    holder = engine_factory(engine).generate(params)
    holder.make_rotation_keys([1])
    rng = np.random.default_rng(0)
    ciphertexts = [holder.encrypt(rng.uniform(-1, 1, params.slots)) for _ in range(TERMS)]
    plains = [holder.encode(rng.uniform(-1, 1, params.slots), params.depth) for _ in range(TERMS)]
    x = ciphertexts[0]
    seconds = {
        "rotation": median(time_repeats(lambda: holder.rotate(x, 1), repeats)[0]),
        "ciphertext_multiply": median(time_repeats(lambda: holder.multiply(x, x), repeats)[0]),
        "plain_multiply": median(time_repeats(lambda: holder.multiply_plain(x, plains[0]), repeats)[0]),
    }
    one = median(time_repeats(lambda: holder.dot_plain(ciphertexts[:1], plains[:1]), repeats)[0])
    many = median(time_repeats(lambda: holder.dot_plain(ciphertexts, plains), repeats)[0])
    seconds["diagonal"] = max(many - one, 0.0) / (TERMS - 1)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    reexec_without_openblas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree", type=int, default=16384, help="N (default 16384)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per operation (default 7)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/cross_cost_model.json)")
    args = parser.parse_args(argv)
    params = CKKSParameters(args.degree, (60, 40, 40, 60), 40)
    results: dict[str, Any] = {}
    for engine in ENGINES:
        seconds = measure(engine, params, args.repeats)
        weights = {name: value / seconds["rotation"] for name, value in seconds.items()}
        results[engine] = {"seconds": seconds, "weights": weights}
    names = ["rotation", "diagonal", "ciphertext_multiply", "plain_multiply"]
    rows = [
        [name, *(f"{results[e]['seconds'][name] * 1e3:.1f} ms / {results[e]['weights'][name]:.2f}" for e in ENGINES)]
        for name in names
    ]
    print(f"N={args.degree}, chain (60, 40, 40, 60), median of {args.repeats}: seconds / weight (rotation = 1)\n")
    print(markdown_table(["operation", *ENGINES], rows))
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / "cross_cost_model.json"
    data = {
        "benchmark": "cross_cost_model",
        "machine": machine_info(),
        "parameters": {"poly_modulus_degree": args.degree, "bits": [60, 40, 40, 60], "repeats": args.repeats},
        "results": results,
    }
    print(f"wrote {write_json(out, data)}")


if __name__ == "__main__":
    main()
