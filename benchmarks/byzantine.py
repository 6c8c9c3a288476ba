"""Byzantine-robust aggregation on digits: test accuracy of every aggregator under every attack, and aggregation seconds vs d and n.

Usage: ``python benchmarks/byzantine.py [--quick] [--seeds S] [--steps T] [--repeats R] [--out PATH]``

Accuracy grid (issue 6's protocol): :func:`securecompute.federated.simulation.run_byzantine` with
multinomial logistic regression on scikit-learn digits, n = 15 workers of which f = 3 are Byzantine,
Dirichlet(0.3) label skew, 200 steps, batch 32, worker momentum 0.9, the simulation's default server step
(lr = 0.5), seeds 0, 1, 2.  Every aggregator below runs under every attack below; a cell is the final test
accuracy, mean and sample standard deviation (ddof = 1) over the seeds, with the per-seed accuracies and the
seconds spent inside the aggregator.

* attacks: none (all 15 honest; the rules are still told f = 3), sign_flip, ipm epsilon = 0.1, ipm epsilon = 10,
  alie z = z_max (0.43 at n = 15, f = 3), alie z = 1.5, gaussian (sigma = 1), label_flip, mimic (worker 0),
  random_uniform (U[0, 1), the Flag paper's attack).
* aggregators, registry defaults unless named: mean, median, trimmed_mean, meamed, phocas, krum,
  multi_krum, geometric_median, centered_clipping (tau = 10, 3 iterations), bulyan, flag (m = 8, lam = 0, one
  IRLS step: the paper's code), flag with ``rescale=True`` (our documented deviation: output norm = median
  worker norm), and the NNM pre-aggregation composed with trimmed_mean, median, krum, geometric_median and
  flag.  The rules that take f get f = 3.

Targets (issue 6), checked and printed MET/MISS, nothing tuned to meet them:

* the best Flag variant (flag or flag+rescale, whichever has the highest mean accuracy averaged over all
  attacks; one variant for every attack) within 2 points of the best non-Flag rule on every attack (nnm+flag
  gets the same verdicts printed beside them, but is not a candidate: without rescaling its output norm stays
  near p/m, a larger step than the other rules take at the same lr);
* that variant first (>= every non-Flag rule) on random_uniform;
* Flag (paper defaults) aggregating 15 x 1e6 in under 1 s.

Timing: aggregation seconds of flag, median, krum and geometric_median on standard-normal (n, d) float64
arrays, median of R repeats (default 5; 3 with ``--quick``), for d = 1e4, 1e5, 1e6 at n = 15 and for
n = 15, 30, 60 at d = 1e5.  BLAS is pinned to one thread (``threadpoolctl``) for the grid and the timings, as
in ``ntt.py``: on this 2-core machine, with other processes busy, OpenBLAS's default two threads made a
60 x 1e5 Gram matrix ~100x slower (spin-waiting threads).  Each timing is repeated with the default thread
count and recorded beside it; the target uses the one-thread number.

``--quick`` runs the same grid with 2 seeds and 50 steps (accuracies are NOT comparable with the full run) and
writes ``benchmarks/results/byzantine-quick.json`` / ``byzantine-quick.png``; the full run writes
``byzantine.json`` and the heat map ``byzantine.png`` (mean accuracy by aggregator x attack, annotated).
Progress goes to stderr; the markdown table and the target verdicts to stdout.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
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

WORKERS = 15
BYZANTINE = 3
ALPHA = 0.3
STEPS = 200
BATCH = 32
MOMENTUM = 0.9
SEEDS = 3
QUICK_SEEDS = 2
QUICK_STEPS = 50

# (label, registry name, parameters)
ATTACKS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("none", "none", {}),
    ("sign_flip", "sign_flip", {}),
    ("ipm 0.1", "ipm", {"epsilon": 0.1}),
    ("ipm 10", "ipm", {"epsilon": 10.0}),
    ("alie z_max", "alie", {}),
    ("alie 1.5", "alie", {"z": 1.5}),
    ("gaussian", "gaussian", {}),
    ("label_flip", "label_flip", {}),
    ("mimic", "mimic", {}),
    ("random_uniform", "random_uniform", {}),
)

FLAG_VARIANTS = ("flag", "flag+rescale", "nnm+flag")
# The target's "best documented variant" is chosen among Flag itself (paper code and our rescaled variant).
# nnm+flag is reported beside them: without rescaling its output norm stays near p/m (NNM aligns the inputs),
# several times the other rules' step at the same lr, so its accuracy mixes robustness with step size.
TARGET_VARIANTS = ("flag", "flag+rescale")
AGGREGATORS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("mean", "mean", {}),
    ("median", "median", {}),
    ("trimmed_mean", "trimmed_mean", {}),
    ("meamed", "meamed", {}),
    ("phocas", "phocas", {}),
    ("krum", "krum", {}),
    ("multi_krum", "multi_krum", {}),
    ("geometric_median", "geometric_median", {}),
    ("centered_clipping", "centered_clipping", {}),
    ("bulyan", "bulyan", {}),
    ("nnm+trimmed_mean", "nnm+trimmed_mean", {}),
    ("nnm+median", "nnm+median", {}),
    ("nnm+krum", "nnm+krum", {}),
    ("nnm+geometric_median", "nnm+geometric_median", {}),
    ("flag", "flag", {}),
    ("flag+rescale", "flag", {"rescale": True}),
    ("nnm+flag", "nnm+flag", {}),
)

TIMED_RULES = ("flag", "median", "krum", "geometric_median")
DIMENSIONS = (10_000, 100_000, 1_000_000)
WORKER_COUNTS = (15, 30, 60)
TIMING_D = 100_000
TARGET_POINTS = 0.02
TARGET_FLAG_SECONDS = 1.0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_grid(seeds: int, steps: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Every aggregator under every attack over ``seeds`` seeds: {aggregator: {attack: cell}}."""
    from securecompute.errors import ParameterError
    from securecompute.federated.simulation import run_byzantine

    grid: dict[str, dict[str, dict[str, Any]]] = {}
    total = len(AGGREGATORS) * len(ATTACKS)
    done = 0
    started = time.perf_counter()
    for label, name, params in AGGREGATORS:
        grid[label] = {}
        for attack_label, attack, attack_params in ATTACKS:
            accuracies: list[float] = []
            aggregation: list[float] = []
            run_seconds: list[float] = []
            error = None
            for seed in range(seeds):
                try:
                    history = run_byzantine(
                        aggregator=name,
                        attack=attack,
                        workers=WORKERS,
                        byzantine=BYZANTINE,
                        steps=steps,
                        alpha=ALPHA,
                        seed=seed,
                        model="logreg",
                        batch_size=BATCH,
                        momentum=MOMENTUM,
                        aggregator_params=dict(params) or None,
                        attack_params=dict(attack_params) or None,
                    )
                except ParameterError as exc:  # a precondition the rule or attack refuses: record, go on
                    error = str(exc)
                    break
                accuracies.append(float(history.final_accuracy))
                aggregation.append(float(history.aggregation_seconds))
                run_seconds.append(float(history.seconds))
            cell: dict[str, Any] = {
                "aggregator": name,
                "aggregator_params": params,
                "attack": attack,
                "attack_params": attack_params,
                "accuracies": accuracies,
                "aggregation_seconds": aggregation,
                "aggregation_ms_per_step": 1e3 * statistics.fmean(aggregation) / steps if aggregation else None,
                "run_seconds": run_seconds,
            }
            if error is None:
                cell["mean"] = statistics.fmean(accuracies)
                cell["std"] = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
            else:
                cell["mean"] = cell["std"] = None
                cell["error"] = error
            grid[label][attack_label] = cell
            done += 1
            shown = "error" if error else f"{cell['mean']:.3f} +- {cell['std']:.3f}"
            elapsed = time.perf_counter() - started
            _log(f"[{done:3d}/{total}] {label:22s} {attack_label:15s} {shown}  ({elapsed:6.0f} s elapsed)")
    return grid


def run_timing(repeats: int, threads: str) -> list[dict[str, Any]]:
    """Aggregation seconds (median of ``repeats``) vs d at n = 15 and vs n at d = 1e5 (``threads`` labels rows)."""
    from securecompute.federated.aggregators import get_aggregator

    shapes = [(WORKERS, d) for d in DIMENSIONS] + [(n, TIMING_D) for n in WORKER_COUNTS if n != WORKERS]
    rows = []
    for n, d in shapes:
        updates = np.random.default_rng(0).standard_normal((n, d))
        for rule_name in TIMED_RULES:
            rule = get_aggregator(rule_name, f=BYZANTINE) if rule_name == "krum" else get_aggregator(rule_name)
            rule(updates)  # warm-up (allocations, BLAS start)
            times, _ = time_repeats(functools.partial(rule, updates), repeats)
            rows.append(
                {
                    "rule": rule_name,
                    "n": n,
                    "d": d,
                    "blas_threads": threads,
                    "seconds": times,
                    "median_seconds": median(times),
                }
            )
            _log(f"timing [{threads} BLAS threads] {rule_name:16s} n={n:3d} d={d:8d}: {median(times):.4f} s")
    return rows


def _best_flag_variant(grid: dict[str, dict[str, dict[str, Any]]]) -> str:
    def overall(label: str) -> float:
        means = [cell["mean"] for cell in grid[label].values() if cell["mean"] is not None]
        return statistics.fmean(means) if means else float("-inf")

    return max(TARGET_VARIANTS, key=overall)


def _targets(grid: dict[str, dict[str, dict[str, Any]]], timing: list[dict[str, Any]]) -> dict[str, Any]:
    baselines = [label for label, _, _ in AGGREGATORS if label not in FLAG_VARIANTS]
    best_variant = _best_flag_variant(grid)
    per_attack = []
    verdicts_for: dict[str, dict[str, bool]] = {}
    for attack_label, _, _ in ATTACKS:
        scored = [(grid[b][attack_label]["mean"], b) for b in baselines if grid[b][attack_label]["mean"] is not None]
        best_mean, best_label = max(scored)
        row: dict[str, Any] = {"attack": attack_label, "best_baseline": best_label, "best_baseline_mean": best_mean}
        for variant in FLAG_VARIANTS:
            value = grid[variant][attack_label]["mean"]
            row[variant] = {
                "mean": value,
                "gap_points": None if value is None else 100.0 * (value - best_mean),
                "within_2_points": value is not None and value >= best_mean - TARGET_POINTS,
                "first": value is not None and value >= best_mean,
            }
        per_attack.append(row)
    for variant in FLAG_VARIANTS:  # every variant's verdicts too, so the choice of variant hides nothing
        verdicts_for[variant] = {
            "within_2_points_every_attack": all(r[variant]["within_2_points"] for r in per_attack),
            "first_on_random_uniform": all(r[variant]["first"] for r in per_attack if r["attack"] == "random_uniform"),
        }
    flag_big = [
        r
        for r in timing
        if r["rule"] == "flag" and r["n"] == WORKERS and r["d"] == 1_000_000 and r["blas_threads"] == "1"
    ]
    flag_seconds = flag_big[0]["median_seconds"] if flag_big else None
    verdicts = [
        {
            "target": f"{best_variant} within {100 * TARGET_POINTS:.0f} points of the best baseline on every attack",
            "value": {r["attack"]: round(r[best_variant]["gap_points"], 1) for r in per_attack},
            "met": all(r[best_variant]["within_2_points"] for r in per_attack),
        },
        {
            "target": f"{best_variant} first on random_uniform",
            "value": {
                r["attack"]: f"{r[best_variant]['mean']:.3f} vs {r['best_baseline']} {r['best_baseline_mean']:.3f}"
                for r in per_attack
                if r["attack"] == "random_uniform"
            },
            "met": all(r[best_variant]["first"] for r in per_attack if r["attack"] == "random_uniform"),
        },
        {
            "target": f"flag (paper defaults) aggregates {WORKERS} x 1e6 in under {TARGET_FLAG_SECONDS} s (1 BLAS thread)",
            "value": None if flag_seconds is None else round(flag_seconds, 3),
            "met": flag_seconds is not None and flag_seconds < TARGET_FLAG_SECONDS,
        },
    ]
    return {
        "best_flag_variant": best_variant,
        "choice": "among flag and flag+rescale, the one with the highest mean accuracy averaged over all attacks",
        "per_attack": per_attack,
        "verdicts": verdicts,
        "per_variant": verdicts_for,
    }


def _accuracy_table(grid: dict[str, dict[str, dict[str, Any]]]) -> str:
    headers = ["aggregator", *[label for label, _, _ in ATTACKS]]
    rows = []
    for label, _, _ in AGGREGATORS:
        row = [label]
        for attack_label, _, _ in ATTACKS:
            cell = grid[label][attack_label]
            row.append("error" if cell["mean"] is None else f"{cell['mean']:.3f} ± {cell['std']:.3f}")
        rows.append(row)
    return markdown_table(headers, rows)


def _timing_table(timing: list[dict[str, Any]]) -> str:
    keys = sorted(
        {(r["blas_threads"], r["n"], r["d"]) for r in timing}, key=lambda s: (s[0] != "1", s[1] != WORKERS, s[1], s[2])
    )
    headers = ["BLAS threads", "n", "d", *[f"{rule} s" for rule in TIMED_RULES]]
    rows = []
    for threads, n, d in keys:
        found = {
            r["rule"]: r["median_seconds"]
            for r in timing
            if r["n"] == n and r["d"] == d and r["blas_threads"] == threads
        }
        rows.append([threads, n, f"{d:.0e}", *[f"{found[rule]:.4f}" for rule in TIMED_RULES]])
    return markdown_table(headers, rows)


def _heatmap(grid: dict[str, dict[str, dict[str, Any]]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [label for label, _, _ in AGGREGATORS]
    cols = [label for label, _, _ in ATTACKS]
    values = np.array(
        [[np.nan if grid[r][c]["mean"] is None else grid[r][c]["mean"] for c in cols] for r in rows], dtype=float
    )
    figure, axes = plt.subplots(figsize=(1.05 * len(cols) + 3.0, 0.45 * len(rows) + 2.0))
    image = axes.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(cols)), labels=cols, rotation=35, ha="right")
    axes.set_yticks(range(len(rows)), labels=rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            value = values[i, j]
            text = "err" if np.isnan(value) else f"{value:.2f}"
            colour = "black" if not np.isnan(value) and value > 0.6 else "white"
            axes.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    figure.colorbar(image, ax=axes, label="mean final test accuracy")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    reexec_without_openblas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SEEDS} seeds, {QUICK_STEPS} steps, 3 repeats")
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds per cell (default {SEEDS})")
    parser.add_argument("--steps", type=int, default=None, help=f"training steps per run (default {STEPS})")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per timing (default 5)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/byzantine.json)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else SEEDS)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    repeats = args.repeats or (3 if args.quick else 5)
    stem = "byzantine-quick" if args.quick else "byzantine"
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"{stem}.json"
    png = out.with_suffix(".png")

    from threadpoolctl import threadpool_limits

    from securecompute.progress import set_progress

    set_progress(False)  # one line per cell on stderr instead of a bar per run
    default_threads = machine_info(("numpy",))["blas"]
    with threadpool_limits(limits=1, user_api="blas"):
        info = machine_info(("numpy", "scikit-learn", "matplotlib", "securecompute"))  # reports num_threads = 1
    print(f"BLAS: {blas_summary(info)}; threads pinned to 1 (threadpoolctl); removed env: {info['removed_env']}")
    print(
        f"grid: {len(AGGREGATORS)} aggregators x {len(ATTACKS)} attacks x {seeds} seeds, {steps} steps, "
        f"n={WORKERS}, f={BYZANTINE}, Dirichlet {ALPHA}, batch {BATCH}, momentum {MOMENTUM}"
    )
    sys.stdout.flush()
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        grid = run_grid(seeds, steps)
    grid_seconds = time.perf_counter() - started
    started = time.perf_counter()
    load_before_timing = list(os.getloadavg())
    with threadpool_limits(limits=1, user_api="blas"):
        timing = run_timing(repeats, "1")
    default_count = max((lib.get("num_threads") or 1 for lib in default_threads if "error" not in lib), default=1)
    timing += run_timing(repeats, f"{default_count} (default)")
    timing_seconds = time.perf_counter() - started
    targets = _targets(grid, timing)
    title = (
        f"final test accuracy, mean of {seeds} seeds: logreg on digits, n={WORKERS}, f={BYZANTINE}, "
        f"Dirichlet {ALPHA}, {steps} steps" + (" (--quick)" if args.quick else "")
    )
    _heatmap(grid, png, title)
    data = {
        "benchmark": "byzantine",
        "description": __doc__.splitlines()[0],
        "machine": info,
        "quick": args.quick,
        "protocol": {
            "model": "logreg",
            "data": "scikit-learn digits (load_digits_split)",
            "workers": WORKERS,
            "byzantine": BYZANTINE,
            "alpha": ALPHA,
            "steps": steps,
            "batch_size": BATCH,
            "momentum": MOMENTUM,
            "lr": "run_byzantine default (0.5 for logreg)",
            "seeds": list(range(seeds)),
            "std": "sample standard deviation (ddof=1) over seeds",
        },
        "attacks": [{"label": a, "name": n, "params": p} for a, n, p in ATTACKS],
        "aggregators": [{"label": a, "name": n, "params": p} for a, n, p in AGGREGATORS],
        "grid": grid,
        "grid_seconds": grid_seconds,
        "timing": {
            "repeats": repeats,
            "data": "standard normal (n, d) float64, seed 0",
            "blas_threads": "each shape timed with BLAS pinned to 1 thread (the target's number) and again with "
            "OpenBLAS's default thread count; the default is unreliable when other processes load the cores "
            "(OpenBLAS threads spin-wait)",
            "default_blas": default_threads,
            "load_average_before": load_before_timing,
            "load_average_after": list(os.getloadavg()),
            "results": timing,
        },
        "timing_seconds": timing_seconds,
        "targets": targets,
        "heatmap": str(png),
    }
    print()
    print(_accuracy_table(grid))
    print()
    print(_timing_table(timing))
    print()
    print(f"best Flag variant (flag or flag+rescale, highest mean over all attacks): {targets['best_flag_variant']}")
    for row in targets["per_attack"]:
        gaps = ", ".join(f"{v} {row[v]['gap_points']:+.1f}" for v in FLAG_VARIANTS)
        print(f"  {row['attack']:15s} best baseline {row['best_baseline']} {row['best_baseline_mean']:.3f}; {gaps}")
    for verdict in targets["verdicts"]:
        print(f"{'MET ' if verdict['met'] else 'MISS'} {verdict['target']}: {verdict['value']}")
    for variant, flags in targets["per_variant"].items():
        print(f"  {variant}: " + ", ".join(f"{key} {'MET' if value else 'MISS'}" for key, value in flags.items()))
    print(f"grid {grid_seconds:.0f} s, timing {timing_seconds:.0f} s")
    print(f"wrote {write_json(out, data)} and {png}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
