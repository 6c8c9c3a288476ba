"""Robust training as a Flower app: ``RobustStrategy`` in the ServerApp, one Byzantine ClientApp.

Loaded by Flower's processes through the training app project (:data:`.project.TRAIN_PYPROJECT`);
importing it imports ``flwr``.  Run config: ``rounds``, ``aggregator`` (a ``get_aggregator`` name),
``steps`` and ``lr`` (local training), ``seed``, ``nodes`` (clients per round), ``timeout`` (seconds
per round), ``out`` (result JSON).  Node config: ``partition`` (this client's index), ``byzantine``
(true for the attacker).  What each client computes: :mod:`.training`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from securecompute.federated.deploy import training
from securecompute.federated.flower import robust_strategy

__all__ = ["client_app", "server_app"]

server_app = ServerApp()
client_app = ClientApp()


@client_app.train()
def train(message: Message, context: Context) -> Message:
    """Local training from the global weights (or the attack, on the Byzantine node); weights back."""
    config, node = context.run_config, context.node_config
    net = training.model()
    params = net.pack(message.content.array_records["arrays"].to_numpy_ndarrays())
    clients = int(config["nodes"])
    reply = training.client_update(
        params,
        int(node["partition"]),
        clients,
        byzantine=bool(node["byzantine"]),
        steps=int(config["steps"]),
        lr=float(config["lr"]),
        seed=int(config["seed"]),
    )
    content = RecordDict({"arrays": ArrayRecord(net.unpack(reply)), "metrics": MetricRecord({"num-examples": 1})})
    return Message(content, reply_to=message)


@server_app.main()
def train_federation(grid: Grid, context: Context) -> None:
    """Run ``rounds`` of RobustStrategy over every node; write per-round accuracy and the final weights."""
    config = context.run_config
    seed, clients = int(config["seed"]), int(config["nodes"])
    net = training.model()
    accuracies: list[float] = []
    seconds: list[float] = []
    started = time.perf_counter()

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        params = net.pack(arrays.to_numpy_ndarrays())
        if server_round > 0:  # round 0 is the initial model
            accuracies.append(training.test_accuracy(params, seed))
            seconds.append(time.perf_counter() - started)
        return MetricRecord({"accuracy": training.test_accuracy(params, seed)})

    strategy = robust_strategy(
        str(config["aggregator"]),
        fraction_evaluate=0.0,
        min_train_nodes=clients,
        min_available_nodes=clients,
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(net.unpack(net.init_params(seed))),
        num_rounds=int(config["rounds"]),
        timeout=float(config["timeout"]),
        evaluate_fn=evaluate,
    )
    final = net.pack(result.arrays.to_numpy_ndarrays())
    out = Path(str(config["out"]))
    summary = {"accuracy": accuracies, "seconds": seconds, "params": np.asarray(final).tolist()}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(out)
