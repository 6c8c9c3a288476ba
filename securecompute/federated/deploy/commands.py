"""``securecompute deploy frag|robust|fedfix``: protocols on a real local Flower deployment, against in-process.

``frag`` brings up a SuperLink and ``--nodes`` SuperNodes on loopback (each with its party host), runs FRAG
searches on seeded synthetic data as a Flower run, prints recall (against the exact search and the
in-process protocol on the same data), the bytes that went through the SuperLink per query against
the protocol's own bytes in-process, the latency of each exchange, and stops every process.
``robust`` trains with ``RobustStrategy`` on the deployment, the last node Byzantine, and prints each
round's accuracy beside its in-process twin and beside a plain mean under the same attack.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import check_int, check_positive

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["register_commands", "run_frag_deployment", "tour_step"]


def register_commands(commands: Any) -> None:
    """Add ``securecompute deploy`` to the CLI's subparsers."""
    deploy = commands.add_parser(
        "deploy",
        help="run a protocol on a local Flower deployment (SuperLink + SuperNodes)",
        description="Start flower-superlink and N flower-supernode processes on loopback (insecure: loopback "
        "only; any local account can submit runs to it, so use a single-user machine), run the protocol as a "
        "Flower app, print what it measured, stop every process. "
        "Example: securecompute deploy frag --nodes 3",
    )
    protocols = deploy.add_subparsers(dest="protocol", metavar="PROTOCOL", title="protocols")
    protocols.required = True
    frag = protocols.add_parser("frag", help="FRAG encrypted k-NN, one party per SuperNode")
    frag.add_argument("--nodes", type=int, default=3, help="SuperNodes, one party each (default: %(default)s)")
    frag.add_argument("--n", type=int, default=3000, help="vectors over all parties (default: %(default)s)")
    frag.add_argument("--dim", type=int, default=50, help="vector dimension d (default: %(default)s)")
    frag.add_argument("--k", type=int, default=10, help="neighbours per query (default: %(default)s)")
    frag.add_argument("--queries", type=int, default=2, help="queries in the run (default: %(default)s)")
    frag.add_argument("--nprobe", type=int, default=None, help="IVF lists probed per party (default: full scan)")
    frag.add_argument("--timeout", type=float, default=60.0, help="seconds per exchange (default: %(default)s)")
    frag.add_argument("--seed", type=int, default=0, help="seed of the data (default: %(default)s)")
    frag.add_argument("--workdir", default=None, help="keep logs and files here (default: a temporary folder)")
    _add_tls_flags(frag)
    frag.set_defaults(handler=_run)
    robust = protocols.add_parser("robust", help="RobustStrategy training with one Byzantine client per run")
    robust.add_argument("--nodes", type=int, default=3, help="SuperNodes, one client each (default: %(default)s)")
    robust.add_argument("--rounds", type=int, default=3, help="training rounds (default: %(default)s)")
    robust.add_argument("--aggregator", default="median", help="robust rule by name (default: %(default)s)")
    robust.add_argument("--workdir", default=None, help="keep logs and files here (default: a temporary folder)")
    _add_tls_flags(robust)
    robust.set_defaults(handler=_run_robust)
    fedfix = protocols.add_parser("fedfix", help="FedFix (or fedavg/fedbuff/async) on a real clock vs its twin")
    fedfix.add_argument("--nodes", type=int, default=3, help="SuperNodes, one client each (default: %(default)s)")
    fedfix.add_argument("--policy", default="fedfix", help="fedfix, fedavg, fedbuff, async, async_identical")
    fedfix.add_argument("--times", default="F-50", help="client times F-X (default: %(default)s)")
    fedfix.add_argument(
        "--unit", type=float, default=10.0, help="seconds of compute per unit of tau_i (default: %(default)s)"
    )
    fedfix.add_argument("--dt", type=float, default=5.0, help="FedFix period, seconds (default: %(default)s)")
    fedfix.add_argument("--c", type=int, default=2, help="FedBuff buffer size (default: %(default)s)")
    fedfix.add_argument(
        "--transport", type=float, default=4.5, help="assumed transport delay in the weights, s (default: %(default)s)"
    )
    fedfix.add_argument("--horizon", type=float, default=60.0, help="seconds of wall time (default: %(default)s)")
    fedfix.add_argument("--alpha", type=float, default=None, help="Dirichlet label skew (default: IID)")
    fedfix.add_argument("--plot", default=None, help="write the accuracy-vs-time curves to this PNG")
    fedfix.add_argument("--workdir", default=None, help="keep logs and files here (default: a temporary folder)")
    _add_tls_flags(fedfix)
    fedfix.set_defaults(handler=_run_fedfix)


def _add_tls_flags(parser: Any) -> None:
    """``--tls-dir`` and ``--node-auth`` (``protocols/deploy.md`` §6)."""
    parser.add_argument(
        "--tls-dir",
        default=None,
        help="run the SuperLink with TLS: the CA certificate, server certificate and key in this folder "
        "(ca.crt, server.pem, server.key), made there for 127.0.0.1 and localhost if it has none",
    )
    parser.add_argument(
        "--node-auth", action="store_true", help="SuperNode authentication: register each node's key (needs --tls-dir)"
    )


def _check_tls_flags(options: argparse.Namespace) -> None:
    """Refuse a bad ``--tls-dir``/``--node-auth`` before anything runs (the folder's files are made now)."""
    from securecompute.federated.deploy.tls import tls_option

    tls_option(options.tls_dir, options.node_auth)


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so that a terminated command still stops its processes."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _run(options: argparse.Namespace) -> int:
    _stop_on_sigterm()
    for name in ("nodes", "n", "dim", "k", "queries"):
        if getattr(options, name) < 1:
            raise ParameterError(f"--{name} must be >= 1, got {getattr(options, name)}")
    if options.n < options.nodes:
        raise ParameterError(f"--n {options.n} must be at least --nodes {options.nodes}")
    check_positive("--timeout", options.timeout)
    check_int("--seed", options.seed, 0)
    if options.nprobe is not None:
        check_int("--nprobe", options.nprobe, 1)
    _check_tls_flags(options)
    run_frag_deployment(
        nodes=options.nodes,
        n=options.n,
        dim=options.dim,
        k=options.k,
        queries=options.queries,
        nprobe=options.nprobe,
        timeout=options.timeout,
        seed=options.seed,
        workdir=options.workdir,
        say=lambda line: print(line, flush=True),
        tls_dir=options.tls_dir,
        node_auth=options.node_auth,
    )
    return 0


def _run_robust(options: argparse.Namespace) -> int:
    _stop_on_sigterm()
    if options.nodes < 3 or options.rounds < 1:
        raise ParameterError(f"--nodes must be >= 3 and --rounds >= 1, got {options.nodes} and {options.rounds}")
    _check_tls_flags(options)
    run_robust_deployment(
        nodes=options.nodes,
        rounds=options.rounds,
        aggregator=options.aggregator,
        workdir=options.workdir,
        say=lambda line: print(line, flush=True),
        tls_dir=options.tls_dir,
        node_auth=options.node_auth,
    )
    return 0


def _run_fedfix(options: argparse.Namespace) -> int:
    from securecompute.federated.deploy.realclock import run_fedfix_deployment

    _stop_on_sigterm()
    _check_tls_flags(options)
    run_fedfix_deployment(
        nodes=options.nodes, policy=options.policy, times=options.times, unit=options.unit, dt=options.dt,
        c=options.c, horizon=options.horizon, transport=options.transport, alpha=options.alpha, plot=options.plot,
        workdir=options.workdir, tls_dir=options.tls_dir, node_auth=options.node_auth,
        say=lambda line: print(line, flush=True),
    )  # fmt: skip
    return 0


def run_robust_deployment(
    *,
    nodes: int,
    rounds: int,
    aggregator: str,
    workdir: str | None,
    say: Callable[[str], None],
    tls_dir: str | None = None,
    node_auth: bool = False,
) -> dict[str, Any]:
    """Train on the deployment with the last node Byzantine; compare with the in-process twins; ``say`` lines.

    ``tls_dir``, ``node_auth``: TLS and SuperNode authentication, as for :func:`run_frag_deployment`.

    Returns:
        per-round accuracy (deployed, robust twin, plain-mean twin), seconds, the final weights (d,) as a
        list, and the deployment's process marker.

    Raises:
        ParameterError: an unknown aggregator (checked before any process starts).
        DeploymentError: the run failed.
    """
    import json

    from securecompute.federated.aggregators import get_aggregator
    from securecompute.federated.deploy import training
    from securecompute.federated.deploy.processes import LocalDeployment, NodeSpec
    from securecompute.federated.deploy.project import TRAIN_PYPROJECT, write_app_project
    from securecompute.federated.deploy.tls import tls_option

    tls = tls_option(tls_dir, node_auth)
    get_aggregator(aggregator)
    steps, lr, seed = 5, 0.5, 0
    byzantine = {nodes - 1}
    _, robust_twin = training.twin(rounds, nodes, byzantine, aggregator, steps=steps, lr=lr, seed=seed)
    _, mean_twin = training.twin(rounds, nodes, byzantine, "mean", steps=steps, lr=lr, seed=seed)
    say(f"deploy robust: {nodes} clients (1 Byzantine: scaled sign flip), {aggregator}, {rounds} rounds, digits")
    specs = [NodeSpec(f"client-{i}", {"partition": i, "byzantine": i in byzantine}) for i in range(nodes)]
    with tempfile.TemporaryDirectory(prefix="securecompute-deploy-") as scratch:
        folder = Path(workdir) if workdir else Path(scratch)
        with LocalDeployment(specs, folder, tls=tls, node_auth=node_auth) as deployment:
            say(f"deployment: SuperLink {deployment.address}, {nodes} SuperNodes up")
            app = write_app_project(folder / "train-app", TRAIN_PYPROJECT)
            out = folder / "train.json"
            config: dict[str, str | int | float | bool] = {"out": str(out), "rounds": rounds, "nodes": nodes}
            config.update(aggregator=aggregator, steps=steps, lr=lr, seed=seed)
            deployment.wait_for_file(out, deployment.run_app(app, config), timeout=120.0 * rounds + 60)
            result = json.loads(out.read_text())
    for number, (deployed, twin, mean, seconds) in enumerate(
        zip(result["accuracy"], robust_twin, mean_twin, result["seconds"], strict=True), start=1
    ):
        say(
            f"round {number}: accuracy {deployed:.3f} deployed, {twin:.3f} in-process twin, "
            f"{mean:.3f} with a plain mean; {seconds:.1f} s since start"
        )
    say("stopped every process")
    return {
        "accuracy": result["accuracy"],
        "params": result["params"],
        "twin": robust_twin,
        "mean": mean_twin,
        "seconds": result["seconds"],
        "marker": deployment.marker,
    }


def run_frag_deployment(
    *,
    nodes: int,
    n: int,
    dim: int,
    k: int,
    queries: int,
    nprobe: int | None,
    timeout: float,
    seed: int,
    workdir: str | None,
    say: Callable[[str], None],
    tls_dir: str | None = None,
    node_auth: bool = False,
) -> dict[str, Any]:
    """Run the in-process baseline and the deployment on the same data; ``say`` each outcome line.

    ``tls_dir``: run the SuperLink with TLS, using the files in that folder or making them there
    (:mod:`.tls`); ``node_auth``: SuperNode authentication (needs ``tls_dir``).

    Returns:
        the measurements as printed (recalls, bytes per search, seconds), and per query the global rows
        found (deployed, in-process, exact top-k) and the hit scores (deployed, in-process).
    """
    from securecompute.federated.deploy.federation import FragFederation
    from securecompute.federated.deploy.tls import tls_option
    from securecompute.federated.frag.workload import exact_top_k, synthetic_vectors

    tls = tls_option(tls_dir, node_auth)  # a bad folder is refused before any work
    data = synthetic_vectors(n + queries, dim, seed)
    base, held_out = data[:n], data[n:]
    k = min(k, n)
    truth = exact_top_k(base, held_out, k)
    offsets = np.linspace(0, n, nodes + 1).astype(np.int64)
    stores = {f"party-{i}": base[offsets[i] : offsets[i + 1]] for i in range(nodes)}
    lists = max(1, (n // nodes) // 256) if nprobe is not None else None
    baseline = _in_process(stores, held_out, truth, k, nprobe, lists, seed, offsets)
    say(
        f"deploy frag: {nodes} parties, {n} vectors, d={dim}, k={k}, {queries} queries, "
        f"{'full scan' if nprobe is None else f'IVF nlist={lists} nprobe={nprobe}'}"
    )
    say(
        f"in-process: recall@{k} {baseline['recall']:.3f}, {baseline['seconds']:.3f} s and "
        f"{baseline['bytes'] / 1e6:.3f} MB of envelopes per search"
    )
    rows = {row.tobytes(): index for index, row in enumerate(base)}
    with tempfile.TemporaryDirectory(prefix="securecompute-deploy-") as scratch:
        folder = Path(workdir) if workdir else Path(scratch)
        started = time.monotonic()
        federation = FragFederation(stores, folder, nlist=lists, seed=seed, tls=tls, node_auth=node_auth)
        try:
            federation.begin()
            run = federation.submit(held_out, k=k, nprobe=nprobe, timeout=timeout)  # starts while the nodes register
            federation.finish()
            up = time.monotonic() - started
            mode = "insecure" if tls is None else "TLS" + (" + node authentication" if node_auth else "")
            say(f"deployment: SuperLink {federation.deployment.address} ({mode}), {nodes} SuperNodes up in {up:.1f} s")
            result = federation.wait(run, 600.0)
        finally:  # also on Ctrl-C and on failure
            stopping = time.monotonic()
            federation.stop_uninterrupted()
        down = time.monotonic() - stopping
    recalls, found_rows = [], []
    for deployed, expected in zip(result["queries"], truth, strict=True):
        found = {rows.get(np.asarray(vector, dtype=np.float64).tobytes(), -1) for vector in deployed.get("fetched", [])}
        found_rows.append(sorted(found))
        recalls.append(len(found & {int(row) for row in expected}) / len(expected))
    exchanges = result["exchanges"]
    # a batch of queries shares its search exchanges: count each exchange once
    searched = sorted({index for entry in result["queries"] for index in range(*entry["search_exchanges"])})
    through = sum(exchanges[index]["bytes_up"] + exchanges[index]["bytes_down"] for index in searched) / queries
    seconds = [exchanges[index]["seconds"] for index in searched]
    fetch_seconds = [entry.get("fetch_seconds", 0.0) for entry in result["queries"]]
    partial = sum(bool(entry["partial"]) for entry in result["queries"])
    outcome = {
        "recall": float(np.mean(recalls)),
        "recall_in_process": baseline["recall"],
        "rows": found_rows,
        "rows_in_process": baseline["rows"],
        "scores": [[hit[2] for hit in entry["hits"]] for entry in result["queries"]],
        "scores_in_process": baseline["scores"],
        "exact": [sorted(int(row) for row in expected) for expected in truth],
        "search_bytes_per_query": through,
        "search_bytes_per_query_in_process": baseline["bytes"],
        # the deployed querier's own count of its envelopes (SEAL's compressed ciphertexts vary in size
        # from one encryption to the next, so only this count is comparable byte for byte with the relay's)
        "search_envelope_bytes_per_query": sum(
            up + down for entry in result["queries"] for up, down in entry["bytes"].values()
        )
        / queries,
        "setup_bytes": exchanges[0]["bytes_up"] + exchanges[0]["bytes_down"],
        "round_trips": len(exchanges),
        "setup_seconds": result["setup_seconds"],
        "exchange_seconds_median": statistics.median(seconds),
        "search_seconds": float(np.mean([entry["seconds"] for entry in result["queries"]])),
        "search_seconds_in_process": baseline["seconds"],
        "fetch_seconds": float(np.mean(fetch_seconds)),
        "run_seconds": result["wall_seconds"],
        "startup_seconds": up,
        "stop_seconds": down,
        "partial": partial,
        "marker": federation.marker,
    }
    say(
        f"deployed: recall@{k} {outcome['recall']:.3f} (in-process {baseline['recall']:.3f}); {partial} partial results"
    )
    say(
        f"through the SuperLink per search: {through / 1e6:.3f} MB (FRAG envelopes in-process "
        f"{baseline['bytes'] / 1e6:.3f} MB, ratio {through / baseline['bytes']:.4f}); setup "
        f"{outcome['setup_bytes'] / 1e6:.3f} MB once"
    )
    say(
        f"latency per search: {outcome['search_seconds']:.1f} s deployed ({len(seconds)} exchanges for {queries} "
        f"queries, median {outcome['exchange_seconds_median']:.1f} s each) vs {baseline['seconds']:.3f} s in-process; "
        f"setup {outcome['setup_seconds']:.1f} s, fetch {outcome['fetch_seconds']:.1f} s, "
        f"run {outcome['run_seconds']:.1f} s from submission; {len(exchanges)} Flower round trips in all"
    )
    say(f"stopped every process in {down:.1f} s")
    return outcome


def _in_process(
    stores: dict[str, np.ndarray],
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    nprobe: int | None,
    nlist: int | None,
    seed: int,
    offsets: np.ndarray,
) -> dict[str, Any]:
    """The same protocol with the parties in this process: recall, seconds and bytes per query, rows, scores."""
    from securecompute.federated.frag.party import Party
    from securecompute.federated.frag.querier import Querier

    parties = [
        Party(name, vectors, nlist=nlist, seed=seed, payloads=[str(offsets[i] + r) for r in range(len(vectors))])
        for i, (name, vectors) in enumerate(stores.items())
    ]
    querier = Querier(queries.shape[1])
    querier.connect(parties)
    recalls, seconds, sizes, found_rows, scores = [], [], [], [], []
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        result = querier.search(query, parties, k=k, nprobe=nprobe)
        seconds.append(time.perf_counter() - started)
        sizes.append(result.stats.bytes_up + result.stats.bytes_down)  # the search's envelopes, both ways
        found = {int(item.decode()) for item in querier.fetch(result, parties) if isinstance(item, bytes)}
        found_rows.append(sorted(found))
        scores.append([hit.score for hit in result.hits])
        recalls.append(len(found & {int(row) for row in expected}) / len(expected))
    return {
        "recall": float(np.mean(recalls)),
        "seconds": float(np.mean(seconds)),
        "bytes": float(np.mean(sizes)),
        "rows": found_rows,
        "scores": scores,
    }


TOUR_BUDGET = 60.0
"""Seconds the demo tour's deployment step may take in all before it is stopped and reported as timed out."""


def tour_step(report: TourReport, *, budget: float = TOUR_BUDGET) -> None:
    """FRAG on a real Flower deployment: 3 party hosts, 3 SuperNodes, a SuperLink, one encrypted 5-NN search.

    Checked against numpy: the deployed hits' scores are the exact top-5 cosine similarities over all
    parties.  Bounded by ``budget`` seconds of wall time in all (:func:`~.processes.time_limit`: SIGALRM
    in the main thread, elsewhere a timer that aborts the deployment): past it every process is stopped
    and the row says TIMED OUT.  Where it goes (about 15 s here): Flower's
    start-up, the run's start, and two sequential exchanges (the setup, the search), each paying a
    SuperNode's 3 s idle poll and a fresh ClientApp process (``protocols/deploy.md`` §5).
    """
    import importlib.util

    check = "FRAG search on a local Flower deployment (3 SuperNodes, 3 x 100 vectors, d=16, k=5)"
    if importlib.util.find_spec("flwr") is None:
        report.add("deploy", check, "not available", "needs the extra [flower]: pip install 'securecompute[flower]'")
        return
    from securecompute.federated.deploy.federation import FragFederation
    from securecompute.federated.deploy.processes import (
        DeploymentError,
        DeploymentTimeoutError,
        leftover_processes,
        time_limit,
    )

    rng = np.random.default_rng(18)
    stores = {f"party-{i}": rng.normal(size=(100, 16)) for i in range(3)}
    query = rng.normal(size=(1, 16))
    rows = np.concatenate(list(stores.values()))
    exact = np.sort((rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ (query[0] / np.linalg.norm(query[0])))[::-1]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="securecompute-tour-deploy-") as scratch:
        federation = FragFederation(stores, scratch, startup_timeout=budget)
        outcome, detail = "", ""
        try:
            with time_limit(budget, "the deployment step", expire=federation.deployment.abort):
                federation.begin()
                run = federation.submit(query, k=5, timeout=budget, fetch=False)  # starts while the nodes register
                federation.finish()
                up = time.monotonic() - started
                result = federation.wait(run, budget)
        except DeploymentError as error:  # an inner wait bounded by the budget too may run out first
            if not isinstance(error, DeploymentTimeoutError) and time.monotonic() - started < budget:
                raise
            outcome, detail = f"TIMED OUT after {budget:.0f} s", str(error)
        finally:
            stopping = time.monotonic()
            federation.stop_uninterrupted()
            down = time.monotonic() - stopping
        left = leftover_processes(federation.marker)
    total = time.monotonic() - started
    stopped = f"every process stopped in {down:.1f} s" if not left else f"{len(left)} PROCESSES LEFT: {left}"
    if outcome:
        report.add("deploy", check, outcome, f"{detail}; {stopped}")
        return
    entry = result["queries"][0]
    scores = [hit[2] for hit in entry["hits"]]
    same = not entry["partial"] and len(scores) == 5 and bool(np.allclose(scores, exact[:5], atol=1e-3))
    setup, search = result["exchanges"][0], result["exchanges"][slice(*entry["search_exchanges"])]
    through = sum(e["bytes_up"] + e["bytes_down"] for e in search)
    report.add(
        "deploy",
        check,
        ("top-5 = exact" if same else "MISMATCH") if not left else "FAILED",
        f"{total:.1f} s in all: up {up:.1f} s, setup exchange {setup['seconds']:.1f} s, search exchange "
        f"{sum(e['seconds'] for e in search):.1f} s, run {result['wall_seconds']:.1f} s from submission; "
        f"{through / 1e6:.2f} MB through the SuperLink for the search; {stopped}",
    )
