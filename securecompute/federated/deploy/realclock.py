"""FedFix on a real clock against its event-clock twin: run the deployment, simulate, compare, plot.

:func:`run_fedfix_deployment` (``securecompute deploy fedfix``) brings up a SuperLink and one SuperNode
per client, runs the asynchronous loop of :mod:`.fedfix_app` for ``horizon`` seconds of wall time,
measures every job's round trip, and replays the same setting on the event clock of
:func:`~securecompute.federated.fedfix.simulate_async` with each client's job time = its compute
delay + the mean measured transport delay (round trip minus compute delay: the SuperNode's 3 s poll,
the ClientApp process start, the local steps).  Both runs share the data split, the initial model,
the policy and each client's minibatch stream, so they differ only in when updates land.

Time scale: client i's compute delay is ``unit * tau_i`` seconds with tau_i from F-X.  A round trip
through Flower costs 3.4-6.7 s whatever the compute (the SuperNode polls every 3 s and starts a process
per message), so the compute delays must be several seconds for the F-X differences to show through
it: the default unit is 10 s (F-50: 10, 7.5, 5 s of compute, against about 4-5 s of transport).

Tolerance (:func:`compare`): the transport's jitter moves each return by up to the spread of the
measured delays (max - min), and under FedFix a return that slips past a tick is aggregated one
``dt`` later, so the deployed curve at time t may be the twin's at any time in [t - band, t + band]
with band = spread + dt (FedFix; spread alone otherwise).  A deployed point is inside when it lies
within the twin's accuracy range over that window, up to ``slack`` (different mixes of stale
updates give different models; 0.05 by default).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import check_int, check_positive
from securecompute.federated.client_times import time_model
from securecompute.federated.data import load_digits_split
from securecompute.federated.fedfix import get_policy, simulate_async
from securecompute.federated.policies import Policy

__all__ = ["MAX_DELAY", "MAX_HORIZON", "compare", "compute_delays", "plot_comparison", "run_fedfix_deployment"]

MAX_DELAY = 3600.0
"""Largest compute delay (seconds) of one job: checked here before any process starts, and by the client."""

MAX_HORIZON = 86400.0
"""Largest wall time (seconds) a deployed run may last (the ServerApp loop and the wait for its result)."""

SETTING: dict[str, Any] = {"local_steps": 10, "lr": 0.1, "batch_size": 16, "eta_g": 1.0}
"""The learning setting both runs use (the simulator's defaults for logistic regression on digits)."""


class _Assumed(Policy):
    """``rule`` with its weights d_i taken at fixed ``taus`` (those the deployed loop used), else unchanged."""

    def __init__(self, rule: Policy, taus: list[float]) -> None:
        self.rule, self.taus = rule, np.asarray(taus, dtype=np.float64)
        self.restart_on_return, self.period = rule.restart_on_return, rule.period
        self.name, self.on_every_return = rule.name, rule.on_every_return

    def weights(self, taus: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self.rule.weights(self.taus, p)

    def ready(self, buffered: int, in_flight: int) -> bool:
        return self.rule.ready(buffered, in_flight)

    def describe(self) -> str:
        return self.rule.describe()


def _traces(deployed: dict[str, Any], clients: int, horizon: float) -> list[list[float]]:
    """Per client, its jobs' measured times on the event clock, then one past the horizon (still running)."""
    traces: list[list[float]] = [[] for _ in range(clients)]
    for job in deployed["jobs"]:
        traces[job["client"]].append(job["returned"] - job["sent"])
    return [[*trace, 2.0 * horizon + 1.0] for trace in traces]


def compute_delays(times: str, clients: int, unit: float) -> list[float]:
    """Seconds of compute per job per client: ``unit`` times the deterministic tau_i of ``times`` ("F-X").

    Raises:
        ParameterError: ``times`` not a deterministic F-X model, ``unit`` not a finite real > 0, or a
            delay above :data:`MAX_DELAY` (the clients would refuse it).
    """
    model = time_model(times, clients)
    if model.kind != "fixed" or not isinstance(times, str):
        raise ParameterError(f"times must be a deterministic 'F-X' model on the deployment, got {times!r}")
    seconds = check_positive("unit", unit)
    delays = [float(seconds * tau) for tau in model.taus]
    if max(delays) > MAX_DELAY:
        raise ParameterError(f"unit {unit!r} gives a compute delay of {max(delays):g} s; at most {MAX_DELAY:g} s")
    return delays


def compare(deployed: dict[str, Any], twin: Any, band: float, slack: float = 0.05) -> dict[str, Any]:
    """Deployed accuracy-vs-time against the twin's fine curve (module docstring: the tolerance).

    Args:
        deployed: the ServerApp's result (``times``, ``accuracy``).
        twin: the twin's :class:`~securecompute.federated.async_history.AsyncHistory` (finely evaluated).
        band: seconds of timing tolerance; slack: accuracy tolerance.

    Returns:
        per deployed point the twin's accuracy at the same time and its [low, high] over the window,
        whether every point is inside, the largest and final absolute differences.
    """
    fine_t, fine_a = np.asarray(twin.times), np.asarray(twin.accuracy)
    same, lows, highs = [], [], []
    for moment in deployed["times"]:
        same.append(float(fine_a[np.searchsorted(fine_t, moment + 1e-9) - 1]))
        window = fine_a[(fine_t >= moment - band - 1e-9) & (fine_t <= moment + band + 1e-9)]
        lows.append(float(window.min()))
        highs.append(float(window.max()))
    accuracy = np.asarray(deployed["accuracy"])
    inside = (accuracy >= np.asarray(lows) - slack) & (accuracy <= np.asarray(highs) + slack)
    differences = np.abs(accuracy - np.asarray(same))
    margin = np.minimum(accuracy - (np.asarray(lows) - slack), np.asarray(highs) + slack - accuracy)
    return {
        "twin_same_time": same,
        "twin_low": lows,
        "twin_high": highs,
        "inside": bool(inside.all()),
        "margin": float(margin.min()),
        "max_abs_difference": float(differences.max()),
        "final_abs_difference": float(differences[-1]),
        "band_seconds": band,
        "slack": slack,
    }


def plot_comparison(
    deployed: dict[str, Any], twin: Any, replay: Any, comparison: dict[str, Any], path: str | Path
) -> Path:
    """Accuracy vs wall time (deployed) and vs event time (both twins, the band around the mean-delay one)."""
    from securecompute.plotting import new_figure, save_figure

    figure, ax = new_figure(figsize=(7.0, 4.2))
    ax.step(twin.times, twin.accuracy, where="post", label="event-clock twin, mean transport delay")
    ax.plot(replay.times, replay.accuracy, "x", markersize=9, label="event-clock twin, each job's measured delay")
    slack = comparison["slack"]
    low = np.asarray(comparison["twin_low"]) - slack
    high = np.asarray(comparison["twin_high"]) + slack
    ax.fill_between(deployed["times"], low, high, alpha=0.2, label=f"tolerance (±{comparison['band_seconds']:.1f} s)")
    ax.plot(deployed["times"], deployed["accuracy"], "o-", label="deployed on Flower (wall clock)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{deployed['policy']} on a real clock vs its event-clock twin")
    ax.legend(loc="lower right")
    figure.tight_layout()
    return save_figure(figure, path)


def run_fedfix_deployment(
    *,
    nodes: int,
    policy: str = "fedfix",
    times: str = "F-50",
    unit: float = 10.0,
    dt: float = 5.0,
    c: int = 2,
    horizon: float = 60.0,
    evals: int = 12,
    transport: float = 4.5,
    alpha: float | None = None,
    seed: int = 0,
    workdir: str | None = None,
    plot: str | Path | None = None,
    say: Callable[[str], None] = print,
    tls_dir: str | None = None,
    node_auth: bool = False,
) -> dict[str, Any]:
    """Run ``policy`` on a local deployment for ``horizon`` seconds; compare with the event-clock twin.

    Args:
        nodes: clients, one SuperNode each (>= 1).
        times, unit: compute delays ``unit * tau_i`` seconds (:func:`compute_delays`).
        dt: FedFix period (seconds); c: FedBuff buffer size.
        horizon: seconds of wall time; evals: evaluations after time 0.
        transport: the transport delay (seconds) assumed in tau_i for the policy's weights d_i.
        alpha: Dirichlet label skew of the clients' shares (None: IID, whose smoother curve shows
            timing differences rather than which skewed client happened to land first).
        plot: where to write the PNG of both curves (None: no plot).
        tls_dir, node_auth: TLS and SuperNode authentication (:func:`~.tls.prepare_tls_files`).

    Returns:
        the deployed result, the twin's curve, the comparison, the measured transport delays, timings.

    Raises:
        ParameterError: a bad argument, or more clients than training rows (checked before any process starts).
        DeploymentError: the run failed.
    """
    from securecompute.federated.deploy.processes import LocalDeployment, NodeSpec
    from securecompute.federated.deploy.project import FEDFIX_PYPROJECT, write_app_project
    from securecompute.federated.deploy.tls import tls_option

    tls = tls_option(tls_dir, node_auth)
    if alpha is not None and not alpha > 0:
        raise ParameterError(f"alpha must be > 0 or None (IID), got {alpha!r}")
    check_int("nodes", nodes, 1)
    check_int("evals", evals, 1)
    check_int("seed", seed, 0)
    check_positive("transport", transport, allow_zero=True)
    if check_positive("horizon", horizon) > MAX_HORIZON:
        raise ParameterError(f"horizon must be at most {MAX_HORIZON:g} s, got {horizon!r}")
    rule = get_policy(policy, dt, c)
    compute = compute_delays(times, nodes, unit)
    if min(compute) >= horizon:
        raise ParameterError(
            f"no job can return within horizon {horizon!r} s: the fastest client computes {min(compute):g} s"
        )
    rows = load_digits_split(seed).y_train.shape[0]  # the twins need a share for every client, as the clients do
    if nodes > rows:
        raise ParameterError(f"cannot give each of {nodes} clients data: only {rows} training examples")
    if plot is not None:
        from securecompute.plotting import check_output_file

        plot = check_output_file(plot, (".png",), "plot")
    say(
        f"deploy fedfix: {nodes} clients, {rule.describe()}, compute "
        f"{', '.join(f'{s:.1f}' for s in compute)} s ({times} x {unit:g} s), {horizon:g} s of wall time"
    )
    with tempfile.TemporaryDirectory(prefix="securecompute-deploy-") as scratch:
        folder = Path(workdir) if workdir else Path(scratch)
        states = folder / "client-state"
        states.mkdir(parents=True, exist_ok=True)
        specs = [NodeSpec(f"client-{i}", {"partition": i, "state-dir": str(states)}) for i in range(nodes)]
        started = time.monotonic()
        with LocalDeployment(specs, folder, tls=tls, node_auth=node_auth) as deployment:
            say(
                f"deployment: SuperLink {deployment.address}, {nodes} SuperNodes up in {time.monotonic() - started:.1f} s"
            )
            app = write_app_project(folder / "fedfix-app", FEDFIX_PYPROJECT)
            out = folder / "fedfix.json"
            config: dict[str, str | int | float | bool] = {
                "policy": policy, "dt": float(dt), "c": int(c), "nodes": nodes,
                "node-ids": ",".join(str(deployment.node_ids[spec.name]) for spec in specs),
                "compute": ",".join(repr(s) for s in compute), "transport": float(transport),
                "horizon": float(horizon), "evals": int(evals), "seed": int(seed),
                "alpha": 0.0 if alpha is None else float(alpha), "local-steps": SETTING["local_steps"], "lr": SETTING["lr"],
                "batch-size": SETTING["batch_size"], "eta-g": SETTING["eta_g"], "tag": f"run{time.time_ns()}",
                "out": str(out),
            }  # fmt: skip
            submitted = time.monotonic()
            deployment.wait_for_file(out, deployment.run_app(app, config), timeout=horizon + 120.0)
            run_seconds = time.monotonic() - submitted
            deployed = json.loads(out.read_text())
            stopping = time.monotonic()
        stop_seconds = time.monotonic() - stopping
    delays = [job["returned"] - job["sent"] - compute[job["client"]] for job in deployed["jobs"]]
    if not delays:
        raise ParameterError(f"no job came back within {horizon} s: raise --horizon above the slowest round trip")
    mean_delay = float(np.mean(delays))
    # the deployed run's d_i: the policy's own weights at the taus the deployment assumed
    assumed = [s + float(transport) for s in compute]
    common = {"clients": nodes, "horizon": horizon, "seed": seed, "model": "logreg", "alpha": alpha, **SETTING}
    twin = simulate_async(_Assumed(rule, assumed), times=[s + mean_delay for s in compute], evals=evals * 20, **common)
    replay = simulate_async(_Assumed(rule, assumed), times=_traces(deployed, nodes, horizon), evals=evals, **common)
    spread = float(max(delays) - min(delays))
    band = spread + (float(dt) if rule.period is not None else 0.0)
    comparison = compare(deployed, twin, band)
    comparison["replay_max_abs_difference"] = float(
        np.max(np.abs(np.asarray(deployed["accuracy"]) - np.asarray(replay.accuracy)))
    )
    comparison["replay_max_abs_parameter_difference"] = float(
        np.max(np.abs(np.asarray(deployed["params"], dtype=np.float64) - replay.params))
    )
    comparison["replay_same_aggregations"] = [
        [round(a["time"], 9), sorted(a["clients"])] for a in deployed["aggregations"]
    ] == [[round(at, 9), sorted(who)] for at, who in replay.aggregations]
    for moment, deployed_accuracy, same in zip(
        deployed["times"], deployed["accuracy"], comparison["twin_same_time"], strict=True
    ):
        say(f"t={moment:5.1f} s: accuracy {deployed_accuracy:.3f} deployed, {same:.3f} event-clock twin")
    say(
        f"transport delay per job: mean {mean_delay:.2f} s, min {min(delays):.2f}, max {max(delays):.2f} "
        f"({len(delays)} jobs); deployed {len(deployed['aggregations'])} aggregations, twin {len(twin.aggregations)}"
    )
    say(
        f"max |deployed - twin| {comparison['max_abs_difference']:.3f}, final {comparison['final_abs_difference']:.3f}; "
        f"inside the tolerance (±{band:.1f} s, ±{comparison['slack']}): {comparison['inside']} "
        f"(margin {comparison['margin']:+.3f})"
    )
    say(
        f"replay twin (each job's measured round trip): max |deployed - replay| "
        f"{comparison['replay_max_abs_difference']:.2e}, final models "
        f"{comparison['replay_max_abs_parameter_difference']:.2e} apart, same aggregations: "
        f"{comparison['replay_same_aggregations']}"
    )
    if plot is not None:
        say(f"plot: {plot_comparison(deployed, twin, replay, comparison, plot)}")
    say(f"run {run_seconds:.1f} s from submission; stopped every process in {stop_seconds:.1f} s")
    return {
        "deployed": deployed,
        "twin": {"times": twin.times, "accuracy": twin.accuracy, "aggregations": len(twin.aggregations)},
        "comparison": comparison,
        "compute": compute,
        "delays": delays,
        "mean_delay": mean_delay,
        "twin_weights": twin.weights,
        "replay": {"accuracy": replay.accuracy, "aggregations": replay.aggregations},
        "run_seconds": run_seconds,
        "stop_seconds": stop_seconds,
        "marker": deployment.marker,
    }
