"""FRAG as a Flower app: the querier is the ServerApp, each party's ClientApp relays to its party host.

Loaded by Flower's own processes (``flwr-serverapp``, ``flwr-clientapp``) through the app project's
components (``[tool.flwr.app.components]``, see :mod:`.project`); importing it imports ``flwr``.

ServerApp run config (``[tool.flwr.app.config]``, overridden by ``flwr run --run-config``):
``manifest`` (JSON: metric and, per party, name, node id and pinned channel public key in hex),
``queries`` ((m, d) float .npy), ``out`` (result JSON written at the end), ``trace`` (JSON lines
written as exchanges happen), ``k``, ``nprobe`` (IVF lists per party, 0 for a full scan), ``timeout`` (seconds per exchange), ``fetch`` (also fetch the
hits' vectors; only when set), ``node-wait`` (seconds to wait for the manifest to be written and for the parties'
nodes to be online).

ClientApp node config (``flower-supernode --node-config``): ``party-socket``, the Unix socket of the
party host on the same machine (:mod:`.partyhost`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.federated.deploy.partyhost import relay
from securecompute.federated.deploy.transport import RECORD, FlowerTransport, RemoteParty, request_parts
from securecompute.federated.frag.params import Metric

__all__ = ["client_app", "read_manifest", "server_app"]

RELAY_TIMEOUT = 300.0
"""Seconds the ClientApp waits on its party host (large stores take a while to encode at setup)."""

server_app = ServerApp()
client_app = ClientApp()


@client_app.query("frag")
def relay_to_party(message: Message, context: Context) -> Message:
    """Hand each of the request's frames, in order, to the party host named in the node config; reply with theirs.

    The frames of one message are one exchange's requests to this party in the querier's channel
    order, so they are relayed one after another and the replies returned in the same order.
    """
    socket_path = context.node_config.get("party-socket")
    if not isinstance(socket_path, str) or not socket_path:
        raise ParameterError("this SuperNode has no 'party-socket' in its node config")
    mode, sender, frames = request_parts(message.content)
    replies = [relay(socket_path, mode, sender, frame, RELAY_TIMEOUT) for frame in frames]
    return Message(RecordDict({RECORD: ConfigRecord({"frames": replies})}), reply_to=message)


@server_app.main()
def query_parties(grid: Grid, context: Context) -> None:
    """Set up the parties, run every query, optionally fetch the hits, write the results as JSON."""
    from securecompute.federated.frag.querier import BATCH, Querier

    config = context.run_config
    out, trace_path = Path(str(config["out"])), Path(str(config["trace"]))
    manifest = Path(str(config["manifest"]))
    _wait_for_manifest(manifest, float(config["node-wait"]))  # a run may be submitted while the nodes register
    metric, parties, node_ids = read_manifest(manifest)
    queries = np.load(str(config["queries"]), allow_pickle=False)
    k, timeout = int(config["k"]), float(config["timeout"])
    nprobe = int(config["nprobe"]) or None  # 0: full scan
    trace = trace_path.open("a")

    def record(event: dict[str, Any]) -> None:
        trace.write(json.dumps({"t": time.time(), **event}) + "\n")
        trace.flush()

    try:
        online = _wait_for_nodes(grid, set(node_ids.values()), float(config["node-wait"]))
        record({"event": "nodes", "online": sorted(online)})
        transport = FlowerTransport(grid, node_ids, timeout=timeout, on_event=record)
        querier = Querier(int(queries.shape[1]), metric=metric, executor=transport)
        started = time.perf_counter()
        setup_failures = querier.connect(parties)
        setup_seconds = time.perf_counter() - started
        record({"event": "setup", "failures": setup_failures})
        results = []
        for start in range(0, len(queries), BATCH):  # a batch's searches share their exchanges, its fetches too
            batch = queries[start : start + BATCH]
            started, first = time.perf_counter(), len(transport.exchanges)
            found = querier.search_batch(batch, parties, k=k, nprobe=nprobe)
            seconds, searched = time.perf_counter() - started, [first, len(transport.exchanges)]
            entries = [_result_json(result, seconds) for result in found]
            for entry in entries:
                entry["search_exchanges"] = searched  # indices into "exchanges", shared by the batch
                entry["batch"] = len(found)
            if bool(config["fetch"]) and any(result.hits for result in found):
                started, first = time.perf_counter(), len(transport.exchanges)
                vectors = querier.fetch_batch(found, parties)
                fetched = [first, len(transport.exchanges)]
                for entry, rows in zip(entries, vectors, strict=True):
                    entry["fetched"] = [np.asarray(vector, dtype=float).tolist() for vector in rows]
                    entry["fetch_seconds"] = time.perf_counter() - started
                    entry["fetch_exchanges"] = fetched
            results += entries
            record({"event": "queries", "partial": [result.partial for result in found]})
        summary = {
            "setup_seconds": setup_seconds,
            "setup_failures": setup_failures,
            "queries": results,
            "exchanges": [exchange.__dict__ for exchange in transport.exchanges],
        }
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(out)  # the waiting side sees a whole file or none
    finally:
        trace.close()


def read_manifest(path: Path) -> tuple[Metric, list[RemoteParty], dict[str, int]]:
    """(metric, parties, party name -> node id) from a deployment manifest, parsed strictly.

    Raises:
        CorruptPayloadError: not the manifest's shape (names, int node ids, 32-byte hex keys).
    """
    try:
        manifest = json.loads(path.read_text())
        metric = manifest["metric"]
        entries = manifest["parties"]
        parties = [RemoteParty(e["name"], bytes.fromhex(e["channel_public_key"])) for e in entries]
        node_ids = {e["name"]: e["node_id"] for e in entries}
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptPayloadError(f"deployment manifest {path} is malformed: {error}") from error
    if not all(isinstance(node, int) and not isinstance(node, bool) for node in node_ids.values()):
        raise CorruptPayloadError(f"deployment manifest {path} has non-integer node ids")
    if metric not in ("cosine", "ip", "l2"):
        raise CorruptPayloadError(f"deployment manifest {path} names metric {metric!r}; accepted: cosine, ip, l2")
    return cast(Metric, metric), parties, node_ids


def _wait_for_manifest(path: Path, timeout: float) -> None:
    """Wait until ``path`` exists, at most ``timeout`` seconds (reading it then fails if it never came)."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_for_nodes(grid: Grid, wanted: set[int], timeout: float) -> set[int]:
    """Poll the Grid until every wanted node is online or ``timeout`` passes; return those online."""
    deadline = time.monotonic() + timeout
    while True:
        online = wanted & set(grid.get_node_ids())
        if online == wanted or time.monotonic() > deadline:
            return online
        time.sleep(0.2)


def _result_json(result: Any, seconds: float) -> dict[str, Any]:
    return {
        "hits": [[hit.party, hit.handle, hit.score] for hit in result.hits],
        "failures": dict(result.failures),
        "partial": bool(result.partial),
        "seconds": seconds,
        "bytes": {name: [stats.bytes_up, stats.bytes_down] for name, stats in result.stats.per_party.items()},
    }
