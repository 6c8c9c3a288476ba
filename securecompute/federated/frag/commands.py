"""``securecompute frag``: encrypted k-NN over several parties on seeded data, and the demo-tour step.

Heavy imports (TenSEAL, scikit-learn) happen inside the handlers, so that listing the CLI stays light.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from securecompute.errors import ParameterError

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["register_commands", "tour_step"]

TOUR_N = 12288
"""Vectors in the demo tour's federation (three parties, a few seconds in all)."""

MAX_DATA_VALUES = 100_000_000
"""Largest (n + queries) x d of the CLI's synthetic data (800 MB of float64), refused before any allocation."""

TOUR_NPROBES = (1, 2, 4, 8)
"""The nprobe values of the tour's recall curve (16 lists of 256 vectors per party)."""


def register_commands(commands: Any) -> None:
    """Add ``securecompute frag`` to the CLI's subparsers."""
    frag = commands.add_parser(
        "frag",
        help="encrypted k-NN across distrusting vector stores",
        description="Encrypted nearest-neighbour search over several parties on seeded synthetic data "
        "(d=50, cosine): full scan, and IVF when --nprobe is given. "
        "Example: securecompute frag --parties 3 --n 10000 --nlist 32 --nprobe 8",
    )
    frag.add_argument("--parties", type=int, default=3, help="number of vector stores (default: %(default)s)")
    frag.add_argument("--n", type=int, default=10000, help="vectors over all parties (default: %(default)s)")
    frag.add_argument("--dim", type=int, default=50, help="vector dimension d (default: %(default)s)")
    frag.add_argument("--k", type=int, default=10, help="neighbours per query (default: %(default)s)")
    frag.add_argument("--nprobe", type=int, default=None, help="IVF lists probed per party (default: full scan only)")
    frag.add_argument(
        "--nlist", type=int, default=None, help="IVF lists per party (default: n/parties/1536, at least 4)"
    )
    frag.add_argument("--pad", type=int, default=0, help="dummy lists added to each probe (default: %(default)s)")
    frag.add_argument("--queries", type=int, default=5, help="queries to run (default: %(default)s)")
    frag.add_argument(
        "--backend",
        default="seal",
        help="CKKS engine of the querier's key: seal or cross (any encrypting engine; default: %(default)s)",
    )
    frag.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data and k-means (default: %(default)s); keys, "
        "handles and dummy lists always use OS randomness",
    )
    frag.set_defaults(handler=_run_frag)


def check_options(options: argparse.Namespace) -> list[str]:
    """Check the flags before any setup; return warnings for settings that work but do less than asked.

    Raises:
        ParameterError: a flag out of range, named as on the command line.
    """
    from securecompute.federated.frag.index import default_nlist
    from securecompute.federated.frag.params import MAX_DIM

    minimums = {"parties": 1, "n": 1, "dim": 1, "k": 1, "queries": 1, "pad": 0, "seed": 0, "nprobe": 1, "nlist": 1}
    for name, least in minimums.items():
        value = getattr(options, name)
        if value is not None and value < least:
            raise ParameterError(f"--{name} {value} is invalid; accepted: {least} or more")
    from securecompute.fhe.engines import engine_names

    if options.backend not in engine_names():
        raise ParameterError(
            f"--backend {options.backend!r} is invalid; accepted: a registered engine that encrypts "
            f"(registered: {', '.join(engine_names())}; FRAG is tested on seal and cross)"
        )
    if options.n < options.parties:
        raise ParameterError(f"--n {options.n} must be at least --parties {options.parties}")
    if options.dim > MAX_DIM:
        raise ParameterError(f"--dim {options.dim} is invalid; accepted: 1 to {MAX_DIM} (FRAG's largest d)")
    if (options.n + options.queries) * options.dim > MAX_DATA_VALUES:
        raise ParameterError(
            f"--n {options.n} + --queries {options.queries} vectors of --dim {options.dim} are "
            f"{(options.n + options.queries) * options.dim:,} values; accepted: at most {MAX_DATA_VALUES:,} "
            f"({MAX_DATA_VALUES * 8 >> 20:,} MiB of float64 synthetic data)"
        )
    rows = options.n // options.parties
    if options.nlist is not None and options.nlist > rows:
        raise ParameterError(f"--nlist {options.nlist} exceeds the {rows} vectors of each party; accepted: 1 to {rows}")
    warnings = []
    if options.k > options.n:
        warnings.append(f"--k {options.k} exceeds --n {options.n}: each query returns at most {options.n} neighbours")
    if options.nprobe is None:
        if options.nlist is not None or options.pad:
            warnings.append("--nlist and --pad apply to IVF only; without --nprobe every query is a full scan")
    else:
        lists = options.nlist if options.nlist is not None else default_nlist(rows)
        if options.nprobe >= lists:
            warnings.append(
                f"--nprobe {options.nprobe} >= nlist {lists}: IVF probes every list (a full scan with extra "
                f"leakage); give a larger --nlist, e.g. --nlist {max(4 * options.nprobe, 16)}"
            )
        if options.nprobe + options.pad > lists:
            warnings.append(f"--nprobe {options.nprobe} + --pad {options.pad} exceeds nlist {lists}: padding is capped")
    return warnings


def _run_frag(options: argparse.Namespace) -> int:
    for warning in check_options(options):
        print(f"securecompute frag: warning: {warning}", file=sys.stderr)
    for line in run_frag(
        parties=options.parties,
        n=options.n,
        dim=options.dim,
        k=options.k,
        nprobe=options.nprobe,
        nlist=options.nlist,
        pad=options.pad,
        queries=options.queries,
        seed=options.seed,
        backend=options.backend,
    ):
        print(line)
    return 0


def run_frag(
    *,
    parties: int,
    n: int,
    dim: int,
    k: int,
    nprobe: int | None,
    nlist: int | None,
    pad: int,
    queries: int,
    seed: int,
    backend: str = "seal",
) -> list[str]:
    """Run the CLI's experiment on the CKKS engine ``backend`` and return its one-line outcomes.

    The outcomes: recall, seconds, bytes, leakage.

    Raises:
        ParameterError: ``backend`` is unknown or does not encrypt (before any data or setup).
    """
    from securecompute.federated.frag.index import default_nlist
    from securecompute.federated.frag.querier import Querier
    from securecompute.federated.frag.workload import (
        exact_top_k,
        fetch_ids,
        make_parties,
        recall_at_k,
        synthetic_vectors,
    )

    querier = Querier(dim=dim, backend=backend)  # refuses an engine that does not encrypt, before any work
    data = synthetic_vectors(n + queries, dim, seed)
    base, held_out = data[:n], data[n:]
    truth = exact_top_k(base, held_out, min(k, n))
    lists = (nlist if nlist is not None else default_nlist(n // parties)) if nprobe is not None else None
    stores, _ = make_parties(base, parties, nlist=lists, seed=seed)
    modes: list[int | None] = [None] + ([nprobe] if nprobe is not None else [])
    # offline: each query then costs encode + add per column, for each party (one encryption per party)
    querier.fill_pool(queries * querier.params.columns * parties * len(modes))
    querier.connect(stores)  # setup (public context, k-means, encoding the store) is not timed per query
    chain = querier.context.params
    lines = [
        f"frag: {parties} parties, {n} vectors, d={dim}, {querier.params.metric}, k={k}, {queries} queries, "
        f"key N={chain.poly_modulus_degree} ({'/'.join(map(str, chain.coeff_modulus_bits))} bits, {querier.context.engine_name})"
    ]
    for probes in modes:
        results, recalls, wall = [], [], 0.0
        for query, expected in zip(held_out, truth, strict=True):  # fetch (for recall) before handles expire
            started = time.perf_counter()
            results.append(querier.search(query, stores, k=min(k, n), nprobe=probes, pad_probes=pad))
            wall += (time.perf_counter() - started) / queries
            recalls.append(recall_at_k(fetch_ids(querier, results[-1], stores), expected))
        recall = sum(recalls) / queries
        party_s = sum(max(r.stats.party_seconds.values()) for r in results) / queries
        querier_s = sum(r.stats.querier_seconds for r in results) / queries
        up = sum(r.stats.bytes_up for r in results) / queries / 1e6
        down = sum(r.stats.bytes_down for r in results) / queries / 1e6
        partial = sum(r.partial or r.incomplete for r in results)
        label = "full scan" if probes is None else f"IVF nlist={lists} nprobe={probes} pad={pad}"
        lines.append(
            f"frag: {label}: recall@{k} {recall:.3f} vs exact, per query: slowest party {party_s:.3f} s, "
            f"querier {querier_s:.3f} s, wall {wall:.3f} s, up {up:.2f} MB, down {down:.2f} MB, "
            f"partial or short results {partial}/{queries}"
        )
        entry = next(iter(results[-1].leakage.parties.values()))
        lines.append(f"frag: leakage ({label}): {entry.party} learned: {entry.to_party()}")
    lines.append(f"frag: query encryption used {querier.pool.issued} pooled Enc(0) ciphertexts, each once")
    return lines


def tour_step(report: TourReport, *, n: int = TOUR_N, nprobes: tuple[int, ...] = TOUR_NPROBES) -> None:
    """Three parties, full scan and IVF against the exact oracle, a tampered reply, the Enc(0) pool.

    ``n`` (default :data:`TOUR_N`) is the federation's size and ``nprobes`` the points of the recall curve
    (4 among them for the IVF row); tests pass small ones.
    """
    import numpy as np

    from securecompute.federated.frag.index import default_nlist
    from securecompute.federated.frag.querier import Querier
    from securecompute.federated.frag.workload import (
        exact_top_k,
        fetch_ids,
        make_parties,
        recall_at_k,
        synthetic_vectors,
    )

    data = synthetic_vectors(n + 3, 50, 0, spread=0.6)  # overlapping clusters: IVF has neighbours to miss
    base, held_out = data[:n], data[n:]
    truth = exact_top_k(base, held_out, 10)
    lists = max(16, default_nlist(n // 3))  # 256 vectors per list: 8 lists per 2048-slot batch, 2 batches
    parties, _ = make_parties(base, 3, nlist=lists, seed=0)
    querier = Querier(dim=50)
    curve: dict[int, tuple[float, float]] = {}
    for nprobe in (None, *nprobes):
        started = time.perf_counter()
        results = [querier.search(query, parties, k=10, nprobe=nprobe) for query in held_out]
        seconds = (time.perf_counter() - started) / len(held_out)
        found = [fetch_ids(querier, r, parties) for r in results]
        recall = float(np.mean([recall_at_k(ids, t) for ids, t in zip(found, truth, strict=True)]))
        if nprobe is not None:
            curve[nprobe] = (recall, float(np.mean([r.leakage.scores_revealed_to_querier for r in results])))
        if nprobe not in (None, 4):
            continue
        label = "full scan" if nprobe is None else f"IVF {lists} lists, nprobe 4"
        report.add(
            "frag",
            f"encrypted 10-NN, 3 parties x {n // 3} vectors, {label}",
            f"recall@10 {recall:.2f}",
            f"{seconds:.2f} s/query, "
            f"up {results[0].stats.bytes_up / 1e6:.1f} MB, down {results[0].stats.bytes_down / 1e6:.2f} MB, "
            f"querier saw {results[0].leakage.scores_revealed_to_querier} scores",
        )
    _recall_figure(report, curve, lists)
    _tamper_row(report, parties, held_out[0])
    _pool_row(report, querier)


def _recall_figure(report: TourReport, curve: dict[int, tuple[float, float]], lists: int) -> None:
    """Recall@10 against nprobe, each point labelled with the scores the querier decrypted."""
    from securecompute.plotting import new_figure, save_figure

    probes = sorted(curve)
    figure, axis = new_figure(figsize=(5.5, 3.6))
    axis.plot(probes, [curve[p][0] for p in probes], marker="o")
    for probe in probes:
        axis.annotate(f"{curve[probe][1]:.0f}", (probe, curve[probe][0]), textcoords="offset points", xytext=(0, -14),
                      ha="center", fontsize=8)  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_xlim(min(probes) / 1.5, max(probes) * 1.5)
    axis.set_ylim(0.0, 1.08)
    axis.set_xlabel(f"nprobe (lists scanned per party, of {lists})")
    axis.set_ylabel("recall@10 vs exact search")
    axis.set_title("FRAG: IVF recall against nprobe (labels: scores decrypted)", fontsize=10)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, report.figure_path("frag_recall.png", "FRAG recall@10 against nprobe, 3 parties, encrypted"))


def _tamper_row(report: TourReport, parties: list[Any], query: Any) -> None:
    """A reply frame altered in transit: that party is flagged, the result is partial, the others answer."""
    from securecompute.federated.frag.querier import Querier
    from securecompute.federated.frag.transport import LocalTransport

    class Tampering(LocalTransport):
        """Flips one bit of the last party's reply after the setup."""

        calls = 0

        def exchange(self, requests: Any, sender: bytes | None = None) -> list[bytes | Exception]:
            replies = super().exchange(requests, sender)
            self.calls += 1
            if self.calls > 1 and isinstance(replies[-1], bytes):
                flipped = bytearray(replies[-1])
                flipped[len(flipped) // 2] ^= 1
                replies[-1] = bytes(flipped)
            return replies

    result = Querier(dim=50, executor=Tampering()).search(query, parties, k=10)
    reasons = "; ".join(f"{name}: {reason.split(':')[0]}" for name, reason in result.failures.items())
    report.add(
        "frag",
        "a reply frame altered in transit",
        "partial result" if result.partial else "NOT DETECTED",
        f"{reasons}; {len(result.hits)} hits from the other parties",
    )


def _pool_row(report: TourReport, querier: Any) -> None:
    """Fresh encryption (fresh Enc(0) + constant) against pooled Enc(0) + constant, 50 values, end to end too."""
    timing = querier.encryption_timing(count=50, rounds=3)
    report.add(
        "frag",
        "query encryption from an Enc(0) pool (each used once)",
        f"{timing['speedup_vs_scalar']:.0f}x faster online",
        f"50 ciphertexts: fresh {1e3 * timing['fresh_scalar_seconds']:.1f} ms, pooled "
        f"{1e3 * timing['pooled_seconds']:.2f} ms (pool made offline); with serialisation "
        f"{timing['speedup_serialised']:.1f}x",
    )
