"""FedFix (and FedAvg, FedBuff, async) on a real clock: an asynchronous ServerApp loop on Flower's Grid.

Loaded by Flower's processes through :data:`.project.FEDFIX_PYPROJECT`; importing it imports ``flwr``.
The ServerApp pushes the model to every client (one TRAIN message per node), polls ``pull_messages``
itself every :data:`POLL_SECONDS`, and applies the policy of :mod:`securecompute.federated.policies`
by wall time, as the event-clock simulator (:func:`~securecompute.federated.fedfix.simulate_async`)
does by virtual time: ``fedfix`` aggregates at t = n * dt whatever returned since and resends to
those; ``fedavg`` when every client returned; ``async``/``async_identical`` at every return;
``fedbuff`` after c returns, resending to each client as it returns.  The update is the simulator's,
theta <- theta + eta_g * sum_i d_i Delta_i with d_i from the policy's ``weights`` (no copy of them).
Each node handles one message at a time, and a client is only sent a model after it returned, so
nothing queues behind a busy node.

Each ClientApp sleeps its configured compute delay (the F-X times on one machine), then runs K local
SGD steps (:func:`~securecompute.federated.fedfix.client_update`) on its share of digits from the
shared :func:`~securecompute.federated.fedfix.initial_clients`, and replies Delta.  Flower starts a
new ClientApp process per message, so the client keeps its minibatch generator's state in its own
file (node config ``state-dir``, one file per run tag): its j-th job draws the same minibatches as
the simulator's client.

Run config: see :data:`.project.FEDFIX_PYPROJECT`.  Node config: ``partition`` (client index),
``state-dir``.  The ServerApp writes a result JSON (``out``): evaluation times and test accuracy,
aggregations, every job's client, send and return times (seconds since the loop's start), the
weights used and the final model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from securecompute.errors import ParameterError
from securecompute.federated.data import load_digits_split
from securecompute.federated.deploy.realclock import MAX_DELAY
from securecompute.federated.fedfix import ClientJob, client_update, get_policy, initial_clients
from securecompute.federated.simulation import WorkerTask

__all__ = [
    "MAX_DELAY",
    "POLL_SECONDS",
    "client_app",
    "read_generator_state",
    "reply_delta",
    "server_app",
    "write_generator_state",
]

POLL_SECONDS = 0.05
"""Seconds between the ServerApp's ``pull_messages`` calls (well below the SuperNodes' 3 s poll)."""

_STATE_BYTES = 512
"""Bound on a generator-state file's size (a PCG64 state is about 170 bytes of JSON)."""

_UINT128 = 1 << 128

server_app = ServerApp()
client_app = ClientApp()


def write_generator_state(path: Path, rng: np.random.Generator) -> None:
    """Save ``rng``'s PCG64 state to ``path`` as JSON (integers only; written whole, then renamed in place)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rng.bit_generator.state))
    tmp.replace(path)


def read_generator_state(path: Path, rng: np.random.Generator) -> None:
    """Set ``rng`` to the PCG64 state saved in ``path`` by :func:`write_generator_state`.

    Parsed strictly (numpy alone would truncate floats, take booleans and ignore extra keys): the file is
    at most :data:`_STATE_BYTES` bytes of JSON with exactly the keys of a PCG64 state and integer values
    in range.

    Raises:
        ParameterError: the file is not such a state (its path named).
    """
    raw = path.read_bytes()[: _STATE_BYTES + 1]
    try:
        state = json.loads(raw) if len(raw) <= _STATE_BYTES else None
    except ValueError:
        state = None

    def integer(value: object, bound: int) -> bool:
        return type(value) is int and 0 <= value < bound

    inner = state.get("state") if isinstance(state, dict) else None
    if not (
        isinstance(state, dict)
        and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and integer(inner["state"], _UINT128)
        and integer(inner["inc"], _UINT128)
        and integer(state["has_uint32"], 2)
        and integer(state["uinteger"], 1 << 32)
    ):
        raise ParameterError(f"{path} is not a PCG64 generator state written by this client ({raw[:80]!r})")
    rng.bit_generator.state = state


def _alpha(config: Any) -> float | None:
    value = float(config["alpha"])
    return None if value <= 0 else value  # 0 or less: IID


def _setup(config: Any) -> tuple[Any, np.ndarray, list[Any], Any]:
    seed, clients = int(config["seed"]), int(config["nodes"])
    data = load_digits_split(seed)
    net, params, states, _ = initial_clients(data, clients, _alpha(config), seed, "logreg")
    return net, params, states, data


def reply_delta(content: RecordDict, size: int) -> tuple[np.ndarray, float]:
    """A client's reply checked before aggregation: its (size,) float64 Delta and its handler seconds.

    Raises:
        ParameterError: not exactly one real (size,) array named ``delta`` with finite entries, or no
            finite ``handler-seconds`` >= 0.
    """
    arrays = content.array_records.get("delta")
    try:
        listed = arrays.to_numpy_ndarrays() if arrays is not None else []
    except (TypeError, ValueError) as error:  # not numpy-serialised, or a malformed .npy
        raise ParameterError(f"a reply's delta could not be read as numpy arrays: {error}") from error
    if len(listed) != 1:
        raise ParameterError(f"a reply must carry one delta array, got {len(listed)}")
    delta = listed[0]
    if delta.dtype.kind not in "fiu" or delta.shape != (size,) or not np.isfinite(delta).all():
        raise ParameterError(f"delta must be ({size},) finite reals, got {delta.dtype} of shape {delta.shape}")
    job = content.config_records.get("job")
    handler = job.get("handler-seconds") if job is not None else None
    if not isinstance(handler, float) or not 0.0 <= handler < float("inf"):
        raise ParameterError(f"a reply must carry finite handler-seconds >= 0, got {handler!r}")
    return delta.astype(np.float64), handler


@client_app.train()
def train(message: Message, context: Context) -> Message:
    """Sleep this client's compute delay, run K local steps from the model received, reply Delta."""
    config, node = context.run_config, context.node_config
    index, clients = int(node["partition"]), int(config["nodes"])
    if not 0 <= index < clients:
        raise ParameterError(f"node config partition must be a client index in [0, {clients}), got {index}")
    delay = message.content.config_records["job"]["delay"]
    if not isinstance(delay, float) or not 0.0 <= delay <= MAX_DELAY:
        raise ParameterError(f"compute delay must be a float in [0, {MAX_DELAY}] seconds, got {delay!r}")
    started = time.monotonic()
    time.sleep(delay)
    net, _, states, _ = _setup(config)
    state = states[index]
    state_file = Path(str(node["state-dir"])) / f"{config['tag']}-{index}.json"
    if state_file.exists():  # this client's own generator, where its previous job left it
        read_generator_state(state_file, state.rng)
    params = message.content.array_records["model"].to_numpy_ndarrays()[0]
    if params.shape != (net.size,):
        raise ValueError(f"model of shape {params.shape}, expected ({net.size},)")
    job = ClientJob(
        WorkerTask(state, params, net, int(config["batch-size"]), 0.0), int(config["local-steps"]), float(config["lr"])
    )
    state, delta = client_update(job)
    write_generator_state(state_file, state.rng)
    content = RecordDict(
        {"delta": ArrayRecord([delta]), "job": ConfigRecord({"handler-seconds": time.monotonic() - started})}
    )
    return Message(content, reply_to=message)


@server_app.main()
def fedfix_loop(grid: Grid, context: Context) -> None:
    """The asynchronous loop (module docstring) until ``horizon`` seconds; then evaluate and write ``out``."""
    config = context.run_config
    rule = get_policy(str(config["policy"]), float(config["dt"]), int(config["c"]))
    node_ids = [int(item) for item in str(config["node-ids"]).split(",")]
    compute = [float(item) for item in str(config["compute"]).split(",")]
    clients = int(config["nodes"])
    if len(node_ids) != clients or len(compute) != clients:
        raise ValueError(f"need {clients} node ids and compute delays, got {node_ids} and {compute}")
    net, params, _, data = _setup(config)
    importance = np.full(clients, 1.0 / clients)
    # d_i from the policy, with tau_i = compute delay + the assumed transport delay (seconds)
    weights = rule.weights(np.asarray(compute) + float(config["transport"]), importance)
    eta_g, horizon = float(config["eta-g"]), float(config["horizon"])
    deadline = time.monotonic() + float(config["node-wait"])
    while set(node_ids) - set(grid.get_node_ids()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes {sorted(set(node_ids) - set(grid.get_node_ids()))} not online")
        time.sleep(0.2)

    start = time.monotonic()
    version = 0
    in_flight: dict[str, tuple[int, int, float]] = {}  # message id -> (client, model version, sent at)
    pending: list[tuple[int, int, np.ndarray]] = []
    waiting: list[int] = []
    jobs: list[dict[str, Any]] = []
    aggregations: list[dict[str, Any]] = []
    snapshots: list[tuple[float, np.ndarray]] = [(0.0, params.copy())]

    def clock() -> float:
        return time.monotonic() - start

    def dispatch(who: list[int], at: float) -> None:
        messages = [
            Message(
                RecordDict({"model": ArrayRecord([params]), "job": ConfigRecord({"delay": compute[i]})}),
                dst_node_id=node_ids[i],
                message_type=MessageType.TRAIN,
                ttl=horizon + 60.0,
            )
            for i in who
        ]
        for i, message_id in zip(who, grid.push_messages(messages), strict=True):
            if not message_id:
                raise RuntimeError(f"the SuperLink refused the model for client {i} (node {node_ids[i]})")
            in_flight[message_id] = (i, version, at)

    def aggregate(moment: float) -> None:
        nonlocal params, version, pending
        if not pending:
            return
        update = np.zeros_like(params)
        for client, _, delta in pending:
            update += float(weights[client]) * delta
        params = params + eta_g * update
        aggregations.append(
            {"time": moment, "clients": [c for c, _, _ in pending], "staleness": [version - v for _, v, _ in pending]}
        )
        version += 1
        pending = []
        snapshots.append((moment, params.copy()))

    dispatch(list(range(clients)), 0.0)
    ticks = 1
    next_tick = rule.period
    while (now := clock()) < horizon:
        # Ticks first, then the pull; replies are stamped with the same reading ``now``, so a reply is
        # aggregated at the first tick after its stamp, exactly as on the event clock; a job's time on the
        # event clock runs from its nominal start (the tick or the stamp that sent it) to its stamp.
        while next_tick is not None and next_tick <= now:
            aggregate(next_tick)
            dispatch(sorted(waiting), next_tick)
            waiting.clear()
            ticks += 1
            next_tick = ticks * (rule.period or 0.0)  # as the event clock computes its ticks
        for reply in grid.pull_messages(list(in_flight)) if in_flight else []:
            entry = in_flight.pop(str(reply.metadata.reply_to_message_id), None)
            if entry is None:
                continue
            if reply.has_error():
                raise RuntimeError(f"client {entry[0]} failed: {reply.error.reason}")
            client, sent_version, sent = entry
            try:
                delta, handler = reply_delta(reply.content, params.size)
            except ParameterError as error:  # ends the run: a bad update is neither applied nor dropped unseen
                raise RuntimeError(f"client {client} (node {node_ids[client]}): {error}") from error
            jobs.append({"client": client, "sent": sent, "returned": now, "handler_seconds": handler})
            pending.append((client, sent_version, delta))
            waiting.append(client)
            if next_tick is None and rule.ready(len(pending), len(in_flight)):
                aggregate(now)
                dispatch(sorted(waiting), now)
                waiting.clear()
            elif rule.restart_on_return:
                dispatch(waiting.copy(), now)
                waiting.clear()
        time.sleep(POLL_SECONDS)
    if next_tick is not None and next_tick <= horizon + 1e-9:  # the event clock's last tick is at the horizon
        aggregate(next_tick)

    evals = int(config["evals"])
    times = [horizon * k / evals for k in range(evals + 1)]
    accuracy = []
    for moment in times:  # the model after every aggregation at or before the evaluation time
        latest = [snapshot for at, snapshot in snapshots if at <= moment + 1e-9][-1]
        accuracy.append(net.accuracy(latest, data.x_test, data.y_test))
    summary = {
        "times": times,
        "accuracy": accuracy,
        "aggregations": aggregations,
        "jobs": jobs,
        "in_flight": [[client, sent] for client, _, sent in in_flight.values()],
        "weights": [float(w) for w in weights],
        "policy": rule.describe(),
        "loop_seconds": clock(),
        "params": [float(value) for value in params],  # the final model, for the replay twin's check
    }
    out = Path(str(config["out"]))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary))
    tmp.replace(out)
