r"""Asynchronous federated learning on a virtual event clock: FedAvg, async FedAvg, FedFix and FedBuff.

After Fraboni, Vidal, Kameni and Lorenzi, "A General Theory for Federated Optimization with Asynchronous and
Heterogeneous Clients Updates" (JMLR 24(110), 2023).  Every scheme applies the same server update

    theta <- theta + eta_g * sum_i omega_i(n) * Delta_i,     omega_i(n) = d_i * 1[client i is aggregated at step n],

where Delta_i = theta_i^(K) - theta^(rho_i) is the result of K local SGD steps that client i ran from the
(possibly stale) model theta^(rho_i) it last received; stale deltas are added to the *current* model as they
are (no staleness discount), and the staleness n - rho_i (in model versions) of every applied update is
recorded.  The schemes differ in when the server aggregates and in d_i (p_i = client importance, tau_i =
mean time of one local job of client i):

=================  ==========================================  ===================================
policy             the server aggregates                        d_i
=================  ==========================================  ===================================
``fedavg``         when every client has returned (a round)     p_i
``async``          at every single return                       (sum_j 1/tau_j) * tau_i * p_i
``async_identical`` at every single return                      1 (biased towards fast clients)
``fedfix``         at t = n * dt, whatever returned since       ceil(tau_i / dt) * p_i
``fedbuff``        after c returns (buffer)                     1 / c
=================  ==========================================  ===================================

With ``weighting="online"`` every policy uses d_i = p_i / freq_i instead, freq_i being the fraction of the
aggregations so far (FedFix: of the ticks so far) that included client i (for random client times).

Mechanics of the event clock (virtual: nothing sleeps, so a run is reproducible from its seed):

- a client that is sent the model at time s returns at s + T, T drawn from its time model;
- ``fedavg``: a client that returned waits for the end of the round, then gets the new model;
- ``async``: the server aggregates at the return, and the client gets the new model at once;
- ``fedfix``: a client that returned waits for the next tick n * dt (returns up to the tick, with a 1e-9
  tolerance, are aggregated), then gets the new model; a slow client keeps training on its stale model, so
  client i is aggregated every ceil(tau_i/dt) ticks (deterministic times), which is why d_i = ceil(tau_i/dt) p_i
  gives E[omega_i] = p_i per tick and a staleness below ceil(max_i tau_i / dt);
- ``fedbuff``: a client that returned gets the current model at once and starts again; its update waits in the
  buffer; when c updates are buffered they are aggregated (a fast client may be in the buffer twice).

Events at the same time are handled in the order their jobs were sent (ties are deterministic).  The model
version counts the aggregations that applied at least one update.

Client time models (``times``):

- ``"F-X"`` (0 <= X < 100): deterministic tau_i = 1 - i * (X/100) / (M - 1), i = 0..M-1, the paper's
  scenario "the fastest client is X% faster than the slowest" (F-0: every tau_i = 1);
- ``"exp-X"``: every job takes an exponential time with mean tau_i from F-X (heterogeneous means);
- a sequence of M positive floats: deterministic per-client times;
- a sequence of M non-empty sequences of positive floats: a trace, client i's j-th job takes
  trace[i][j mod len(trace[i])]; tau_i is the mean of its trace.

Faults (:mod:`~securecompute.federated.availability`): with probability ``crash`` a job is lost; the client
comes back at the job's return time plus an exponential ``downtime`` and is sent a model again as if it had
returned.  ``outages`` are (client, start, end) windows in which a client is unreachable: a job running when
one starts is lost, a model sent during one is started at its end, and the client comes back at its end.
A lost update is never computed, never aggregated, and counted in :attr:`AsyncHistory.lost`.  Every applied
update is a distinct job, applied once.  FedAvg waits for a client that is away (the round ends when every
client is back), which is the straggler cost the asynchronous schemes avoid.

Local work is shared with the synchronous simulation: one local SGD step is
:func:`~securecompute.federated.simulation.worker_step` (a minibatch gradient and a momentum update, on the
client's own :class:`~securecompute.federated.simulation.WorkerState` and generator), models come from
:mod:`~securecompute.federated.models` and data from :mod:`~securecompute.federated.data`.  Each job is
handed to the executor when the model is sent (``executor.submit``; it depends only on that model and the
client's own state) and its result is waited for when the virtual clock reaches the job's return.  The
in-process :class:`~securecompute.federated.executors.LocalExecutor` computes it then; a
:class:`~securecompute.federated.executors.RayExecutor` computes it on an actor meanwhile, so every client's
job is in flight at once (the wall-clock analogue of the policies is ``ray.wait(jobs, num_returns=...,
timeout=dt)``; here the virtual clock decides which jobs have returned, so the run is the same on both, bit
for bit, and reproducible from the seed).

Metrics, at evaluation times t = k * horizon / evals (the model after every aggregation at or before t): test
accuracy, the p-weighted training loss L(theta) = sum_i p_i L_i(theta) (L_i on client i's data) and
p-weighted training accuracy, and per-client losses and accuracies from which :attr:`AsyncHistory.surrogate_loss`
gives the q-weighted surrogate sum_i q_i L_i with q_i proportional to the weight client i actually received
over the run (sum over steps of omega_i(n)), the empirical E[omega_i].
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError
from securecompute.federated._checks import FloatArray, check_int, check_positive
from securecompute.federated.async_history import AsyncHistory
from securecompute.federated.availability import Availability
from securecompute.federated.client_times import client_times, time_model
from securecompute.federated.data import Dataset, load_digits_split, partition
from securecompute.federated.executors import JobExecutor, LocalExecutor, Pending
from securecompute.federated.models import Model, get_model
from securecompute.federated.policies import (
    EPS,
    POLICIES,
    AsyncIdentical,
    AsyncWeighted,
    FedAvg,
    FedBuff,
    FedFix,
    Policy,
    get_policy,
)
from securecompute.federated.simulation import WorkerState, WorkerTask, worker_step

__all__ = [
    "DEFAULT_LOCAL_LR",
    "POLICIES",
    "AsyncHistory",
    "AsyncIdentical",
    "AsyncWeighted",
    "ClientJob",
    "FedAvg",
    "FedBuff",
    "FedFix",
    "Policy",
    "client_times",
    "client_update",
    "get_policy",
    "initial_clients",
    "simulate_async",
]

DEFAULT_LOCAL_LR = {"logreg": 0.1, "mlp": 0.05}
"""Client learning rate used when ``lr`` is None, per model."""


# ----------------------------------------------------------------------------------------------------------
# Client work


@dataclass(frozen=True)
class ClientJob:
    """One local job: K = ``local_steps`` steps of :func:`worker_step` from ``task.params``, step size ``lr``."""

    task: WorkerTask
    local_steps: int
    lr: float


def client_update(job: ClientJob) -> tuple[WorkerState, FloatArray]:
    """Run a :class:`ClientJob`; return (the client's next state, Delta = final params - received params).

    Momentum restarts at zero for each job; the client's generator advances (it is its own).
    """
    start = job.task.params
    state = replace(job.task.state, momentum=np.zeros_like(start))
    params = start.copy()
    for _ in range(job.local_steps):
        state, direction = worker_step(replace(job.task, state=state, params=params))
        params = params - job.lr * direction
    return state, params - start


@dataclass
class _Job:
    ident: int
    client: int
    version: int
    sent: float
    work: Pending[tuple[WorkerState, FloatArray]] | None  # None: crashed, the update is lost
    delta: FloatArray | None = None  # filled in when the job is received


# ----------------------------------------------------------------------------------------------------------
# The simulator


def simulate_async(
    policy: str | Policy = "fedfix",
    dt: float | None = None,
    c: int | None = None,
    clients: int = 20,
    times: str | Sequence[float] | Sequence[Sequence[float]] = "F-80",
    alpha: float | None = 0.3,
    horizon: float = 60.0,
    seed: int = 0,
    local_steps: int = 10,
    lr: float | None = None,
    eta_g: float = 1.0,
    model: str = "logreg",
    batch_size: int = 16,
    momentum: float = 0.0,
    p: str | npt.ArrayLike = "uniform",
    weighting: str = "formula",
    crash: float = 0.0,
    downtime: float = 0.0,
    outages: Sequence[tuple[int, float, float]] | None = None,
    evals: int = 30,
    dataset: Dataset | None = None,
    executor: JobExecutor | None = None,
) -> AsyncHistory:
    """Simulate federated training on digits under ``policy`` on a virtual clock (module docstring).

    Args:
        policy: fedavg, async, async_identical, fedfix, fedbuff, or a :class:`Policy` instance.
        dt: FedFix period (> 0, default 0.2).  c: FedBuff buffer size (>= 1, default 5).
        clients: M >= 1.
        times: client time model: "F-X", "exp-X", M times, or M traces.
        alpha: Dirichlet label skew > 0; None (or inf) for IID.
        horizon: virtual time at which the run stops (> 0).
        seed: int seed of everything (split, partition, initialisation, minibatches, times, crashes).
        local_steps: K >= 1 local SGD steps per job.
        lr: client step size (None: :data:`DEFAULT_LOCAL_LR` of the model).
        eta_g: server step size > 0.
        model: "logreg" or "mlp".
        batch_size: rows per local step.
        momentum: local momentum in [0, 1) (restarted at 0 each job; 0 = plain SGD).
        p: client importances: "uniform" (1/M), "data" (share of training rows), or M non-negative numbers
            summing to 1.
        weighting: "formula" (the policy's d_i) or "online" (d_i = p_i / observed participation frequency).
        crash: probability in [0, 1) that a job is lost.
        downtime: mean of the exponential time a client stays away after a crash (>= 0; 0: none).
        outages: (client, start, end) triples: client is offline on [start, end); a job running when an
            outage starts is lost, and the client comes back at its end (module docstring).
        evals: number of evaluations after time 0 (>= 1).
        dataset: another :class:`~securecompute.federated.data.Dataset` instead of digits.
        executor: runs the client jobs (None: :class:`~securecompute.federated.executors.LocalExecutor`;
            a :class:`~securecompute.federated.executors.RayExecutor` runs them on Ray actors while the
            event loop goes on).

    Returns:
        the :class:`AsyncHistory`.

    Raises:
        ParameterError: any bad argument, checked before any work (the message names the value).
    """
    started = time.perf_counter()
    rule = policy if isinstance(policy, Policy) else get_policy(policy, dt, c)
    m = check_int("clients", clients, 1)
    clock = time_model(times, m)
    end = check_positive("horizon", horizon)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative int, got {seed!r}")
    steps = check_int("local_steps", local_steps, 1)
    batch = check_int("batch_size", batch_size, 1)
    server_lr = check_positive("eta_g", eta_g)
    beta = check_positive("momentum", momentum, allow_zero=True)
    if beta >= 1:
        raise ParameterError(f"momentum must be in [0, 1), got {momentum!r}")
    availability = Availability(m, crash, downtime, outages)
    count = check_int("evals", evals, 1)
    if alpha is not None and not (isinstance(alpha, float) and math.isinf(alpha) and alpha > 0):
        check_positive("alpha", alpha)
    if not isinstance(model, str) or model.strip().lower() not in DEFAULT_LOCAL_LR:
        raise ParameterError(f"unknown model {model!r}; known: {', '.join(sorted(DEFAULT_LOCAL_LR))}")
    model_key = model.strip().lower()
    step_size = DEFAULT_LOCAL_LR[model_key] if lr is None else check_positive("lr", lr)
    if weighting not in ("formula", "online"):
        raise ParameterError(f"weighting must be 'formula' or 'online', got {weighting!r}")
    importance = None if isinstance(p, str) else _check_importance(p, m)
    if isinstance(p, str) and p not in ("uniform", "data"):
        raise ParameterError(f"p must be 'uniform', 'data' or {m} weights summing to 1, got {p!r}")

    data = load_digits_split(int(seed)) if dataset is None else dataset
    if data.y_train.shape[0] < m:
        raise ParameterError(f"cannot give each of {m} clients data: only {data.y_train.shape[0]} examples")
    net, params, states, seeds = initial_clients(data, m, alpha, int(seed), model_key)
    time_rng = np.random.default_rng(seeds[3])
    crash_rng = np.random.default_rng(seeds[4])
    if importance is None:
        sizes = np.asarray([state.y.shape[0] for state in states], dtype=np.float64)
        importance = np.full(m, 1.0 / m) if p == "uniform" else sizes / sizes.sum()
    weights = rule.weights(clock.taus, importance)
    runner: JobExecutor = LocalExecutor() if executor is None else executor

    history = AsyncHistory(
        participation=[0] * m,
        returns=[0] * m,
        applied_weight=[0.0] * m,
        weights=_without_float_noise(weights),
        taus=[float(t) for t in clock.taus],
        p=[float(v) for v in importance],
        settings={
            "policy": rule.describe(),
            "clients": m,
            "times": times if isinstance(times, str) else "custom",
            "time_model": clock.kind,
            "alpha": alpha,
            "horizon": end,
            "seed": int(seed),
            "local_steps": steps,
            "lr": step_size,
            "eta_g": server_lr,
            "model": model_key,
            "batch_size": batch,
            "momentum": beta,
            "weighting": weighting,
            "crash": availability.crash,
            "downtime": availability.downtime,
            "outages": availability.outage_count,
            "evals": count,
            "executor": type(runner).__name__,
        },
    )

    queue: list[tuple[float, int, int, _Job | None]] = []  # (time, 0 return / 1 tick, sequence, job)
    sequence = 0
    jobs_sent = [0] * m
    version = 0
    pending: list[_Job] = []
    waiting: list[int] = []
    applied: set[int] = set()
    hits = np.zeros(m)  # per client, aggregations (FedFix: ticks) that included it
    aggregation_count = 0
    eval_times = [end * k / count for k in range(count + 1)]
    next_eval = 0

    def dispatch(who: list[int], now: float) -> None:
        nonlocal sequence
        for i in who:
            slot = availability.place(i, now, clock.draw(i, jobs_sent[i], time_rng), crash_rng)
            work = None
            if not slot.lost:
                work = runner.submit(
                    client_update, ClientJob(WorkerTask(states[i], params, net, batch, beta), steps, step_size)
                )
            heapq.heappush(queue, (slot.finish, 0, sequence, _Job(sequence, i, version, now, work)))
            sequence += 1
            jobs_sent[i] += 1

    def receive(job: _Job) -> None:
        history.returns[job.client] += 1
        waiting.append(job.client)
        if job.work is None:
            history.lost += 1
            return
        states[job.client], job.delta = job.work.result()
        pending.append(job)

    def aggregate(now: float) -> None:
        nonlocal params, version, pending, aggregation_count, weights
        aggregation_count += 1
        for client in {job.client for job in pending}:
            hits[client] += 1.0
        if weighting == "online":
            weights = importance / (np.maximum(hits, 1.0) / aggregation_count)
        if not pending:
            return
        update = np.zeros_like(params)
        for job in pending:
            if job.ident in applied:  # pragma: no cover - guarded by construction
                raise AssertionError(f"job {job.ident} applied twice")
            applied.add(job.ident)
            assert job.delta is not None
            weight = float(weights[job.client])
            update += weight * job.delta
            history.staleness.append(version - job.version)
            history.participation[job.client] += 1
            history.applied_weight[job.client] += weight
        params = params + server_lr * update
        history.aggregations.append((now, tuple(job.client for job in pending)))
        version += 1
        pending = []

    def evaluate_until(now: float) -> None:
        nonlocal next_eval
        while next_eval < len(eval_times) and eval_times[next_eval] < now - EPS:
            _evaluate(history, eval_times[next_eval], net, params, data, states, importance)
            next_eval += 1

    dispatch(list(range(m)), 0.0)
    period = rule.period
    if period is not None:
        heapq.heappush(queue, (period, 1, -1, None))
    ticks = 1
    while queue and queue[0][0] <= end + EPS:
        moment, kind, _, job = heapq.heappop(queue)
        evaluate_until(moment)
        if kind == 1 and period is not None:
            # FedFix tick: first every return up to the tick (clock tolerance), then aggregate and resend.
            while queue and queue[0][1] == 0 and queue[0][0] <= moment + EPS:
                _, _, _, early = heapq.heappop(queue)
                assert early is not None
                receive(early)
            aggregate(moment)
            dispatch(sorted(waiting), moment)
            waiting.clear()
            ticks += 1
            heapq.heappush(queue, (ticks * period, 1, -1, None))
            continue
        assert job is not None
        receive(job)
        in_flight = sum(1 for entry in queue if entry[1] == 0)
        if period is None and rule.ready(len(pending), in_flight):
            aggregate(moment)
            dispatch(waiting.copy(), moment)
            waiting.clear()
        elif rule.restart_on_return:
            dispatch(waiting.copy(), moment)
            waiting.clear()
    evaluate_until(end + 1.0)
    history.weights = _without_float_noise(weights)
    history.params = params
    history.seconds = time.perf_counter() - started
    return history


def initial_clients(
    data: Dataset, clients: int, alpha: float | None, seed: int, model: str
) -> tuple[Model, FloatArray, list[WorkerState], list[np.random.SeedSequence]]:
    """The model, its initial (d,) parameters and every client's state, as :func:`simulate_async` makes them.

    Client i holds its Dirichlet(``alpha``) share of ``data``'s training rows and its own generator; the
    deployment's clients (:mod:`~securecompute.federated.deploy.fedfix_app`) call this too, so that a
    deployed run and its event-clock twin share the split, the initial model and each client's
    minibatch stream.  Returns (model, params, states, the five seed sequences of the run).
    """
    net = get_model(model, data.features, data.classes)
    seeds = np.random.SeedSequence(seed).spawn(5)
    parts = partition(data.y_train, clients, alpha, np.random.default_rng(seeds[0]))
    params = net.init_params(np.random.default_rng(seeds[1]))
    client_seeds = seeds[2].spawn(clients)
    states = [
        WorkerState(
            i, data.x_train[rows], data.y_train[rows], np.zeros(net.size), np.random.default_rng(client_seeds[i])
        )
        for i, rows in enumerate(parts)
    ]
    return net, params, states, seeds


def _check_importance(values: npt.ArrayLike, m: int) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise ParameterError(f"p must be {m} numbers summing to 1, got {values!r}") from error
    if array.size != m or not np.isfinite(array).all() or (array < 0).any() or abs(array.sum() - 1.0) > 1e-6:
        raise ParameterError(
            f"p must be {m} non-negative numbers summing to 1, got {array[:8].tolist()} (sum {array.sum():g})"
        )
    return array


def _evaluate(
    history: AsyncHistory,
    moment: float,
    net: Model,
    params: FloatArray,
    data: Dataset,
    states: list[WorkerState],
    importance: FloatArray,
) -> None:
    history.times.append(moment)
    history.accuracy.append(net.accuracy(params, data.x_test, data.y_test))
    losses = [net.loss(params, state.x, state.y) for state in states]
    accuracies = [net.accuracy(params, state.x, state.y) for state in states]
    history.client_loss.append(losses)
    history.client_accuracy.append(accuracies)
    history.loss.append(float(np.dot(importance, losses)))
    history.train_accuracy.append(float(np.dot(importance, accuracies)))


def _without_float_noise(weights: Sequence[float] | np.ndarray) -> list[float]:
    """Weights to 12 significant digits: ``3 * 0.05`` records as 0.15, not 0.15000000000000002.

    Relative, not absolute, rounding, so that a tiny weight keeps its value (to 1e-12 relative).
    """
    return [float(f"{float(weight):.12g}") for weight in weights]
