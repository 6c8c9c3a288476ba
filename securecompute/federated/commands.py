"""The federated capability's CLI commands (``securecompute simulate byzantine|async``) and demo-tour step."""

from __future__ import annotations

import argparse
import math
import time
from typing import TYPE_CHECKING, Any

from securecompute.errors import ParameterError
from securecompute.plotting import IMAGE_SUFFIXES, check_output_file, new_figure, save_figure

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["parse_params", "register_commands", "tour_step"]

TOUR_STEPS = 60
"""Training steps of each run in the demo tour (a few seconds in all)."""


def register_commands(commands: Any) -> None:
    """Add ``securecompute simulate`` (with its ``byzantine`` and ``async`` subcommands) to the CLI's subparsers."""
    simulate = commands.add_parser(
        "simulate",
        help="simulate robust or asynchronous federated training",
        description="Simulate federated training on the bundled digits data.",
    )
    kinds = simulate.add_subparsers(dest="simulation", metavar="SIMULATION", title="simulations")
    kinds.required = True
    byzantine = kinds.add_parser(
        "byzantine",
        help="synchronous training with f Byzantine workers and a robust aggregation rule",
        description="Example: securecompute simulate byzantine --aggregator flag --attack alie "
        "--workers 15 --byzantine 3 --plot flag_alie.png",
    )
    byzantine.add_argument(
        "--aggregator",
        default="flag",
        help="aggregation rule, e.g. mean, median, krum, flag, nnm+trimmed_mean (default: %(default)s)",
    )
    byzantine.add_argument(
        "--attack",
        default="alie",
        help="attack: none, sign_flip, ipm, alie, gaussian, "
        "mimic, random_uniform, nan_inf, label_flip (default: %(default)s)",
    )
    byzantine.add_argument("--workers", type=int, default=15, help="n workers (default: %(default)s)")
    byzantine.add_argument(
        "--byzantine", type=int, default=3, help="f Byzantine workers, f < n/2 (default: %(default)s)"
    )
    byzantine.add_argument("--steps", type=int, default=200, help="training rounds (default: %(default)s)")
    byzantine.add_argument(
        "--alpha", type=float, default=0.3, help="Dirichlet label skew; 0 or inf for IID (default: %(default)s)"
    )
    byzantine.add_argument("--seed", type=int, default=0, help="seed of the whole run (default: %(default)s)")
    byzantine.add_argument("--model", default="logreg", help="logreg or mlp (default: %(default)s)")
    byzantine.add_argument("--lr", type=float, default=None, help="server step size (default: 0.5 logreg, 0.2 mlp)")
    byzantine.add_argument("--batch-size", type=int, default=32, help="rows per worker step (default: %(default)s)")
    byzantine.add_argument("--momentum", type=float, default=0.9, help="worker momentum (default: %(default)s)")
    byzantine.add_argument(
        "--aggregator-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a rule parameter, e.g. m=8 or rescale=true (repeatable)",
    )
    byzantine.add_argument(
        "--attack-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an attack parameter, e.g. epsilon=10 or z=1.5 (repeatable)",
    )
    byzantine.add_argument("--plot", default=None, metavar="PATH", help="write accuracy and loss curves to this PNG")
    byzantine.set_defaults(handler=_run_byzantine)
    _register_async(kinds)


def _register_async(kinds: Any) -> None:
    """``simulate async``: FedAvg, async FedAvg, FedFix or FedBuff on a virtual event clock."""
    run = kinds.add_parser(
        "async",
        help="asynchronous federated training (FedFix, FedBuff, async and sync FedAvg) on a virtual clock",
        description="Example: securecompute simulate async --policy fedfix --dt 0.2 --clients 20 --times F-80 "
        "--horizon 60 --plot fedfix.png",
    )
    run.add_argument(
        "--policy",
        default="fedfix",
        help="fedavg, async, async_identical, fedfix or fedbuff (default: %(default)s)",
    )
    run.add_argument("--dt", type=float, default=None, help="FedFix aggregation period (default: 0.2)")
    run.add_argument("--c", type=int, default=None, help="FedBuff buffer size (default: 5)")
    run.add_argument("--clients", type=int, default=20, help="M clients (default: %(default)s)")
    run.add_argument("--times", default="F-80", help="client times: F-X or exp-X, 0 <= X < 100 (default: %(default)s)")
    run.add_argument(
        "--alpha", type=float, default=0.3, help="Dirichlet label skew; 0 or inf for IID (default: %(default)s)"
    )
    run.add_argument("--horizon", type=float, default=60.0, help="virtual time of the run (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seed of the whole run (default: %(default)s)")
    run.add_argument("--local-steps", type=int, default=10, help="K local SGD steps per job (default: %(default)s)")
    run.add_argument("--lr", type=float, default=None, help="client step size (default: 0.1 logreg, 0.05 mlp)")
    run.add_argument("--eta-g", type=float, default=1.0, help="server step size (default: %(default)s)")
    run.add_argument("--batch-size", type=int, default=16, help="rows per local step (default: %(default)s)")
    run.add_argument("--model", default="logreg", help="logreg or mlp (default: %(default)s)")
    run.add_argument("--crash", type=float, default=0.0, help="probability that a job is lost (default: 0)")
    run.add_argument("--downtime", type=float, default=0.0, help="mean time a crashed client stays away (default: 0)")
    run.add_argument("--weighting", default="formula", help="formula or online weights d_i (default: %(default)s)")
    run.add_argument("--plot", default=None, metavar="PATH", help="write accuracy, loss and staleness plots here")
    run.set_defaults(handler=_run_async)


def parse_params(items: list[str], flag: str) -> dict[str, Any]:
    """['m=8', 'rescale=true', 'epsilon=0.1'] -> {'m': 8, 'rescale': True, 'epsilon': 0.1}.

    Values are read as true/false/none, then int, then finite float, else kept as strings (so ``value=-inf``
    stays the string the ``nan_inf`` attack takes).

    Raises:
        ParameterError: an item without '='.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise ParameterError(f"{flag} {item!r} must look like KEY=VALUE, e.g. {flag} m=8")
        params[key.strip()] = _parse_value(text.strip())
    return params


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _alpha(options: argparse.Namespace) -> float | None:
    """--alpha 0 (or inf) means an IID split."""
    return None if options.alpha == 0 or options.alpha == float("inf") else float(options.alpha)


def _check_plot_path(options: argparse.Namespace) -> None:
    """Refuse an unwritable --plot path before the simulation runs."""
    if options.plot is not None:
        check_output_file(options.plot, IMAGE_SUFFIXES, "--plot")


def _report(history: Any, plot: str | None) -> int:
    """Print the history's one-line summary, after writing its plot when asked."""
    line = history.summary()
    if plot:
        history.plot(path=plot)
        line += f"; plot {plot}"
    print(line)
    return 0


def _run_byzantine(options: argparse.Namespace) -> int:
    from securecompute.federated.simulation import run_byzantine

    _check_plot_path(options)
    history = run_byzantine(
        aggregator=options.aggregator,
        attack=options.attack,
        workers=options.workers,
        byzantine=options.byzantine,
        steps=options.steps,
        alpha=_alpha(options),
        seed=options.seed,
        model=options.model,
        batch_size=options.batch_size,
        lr=options.lr,
        momentum=options.momentum,
        aggregator_params=parse_params(options.aggregator_param, "--aggregator-param"),
        attack_params=parse_params(options.attack_param, "--attack-param"),
    )
    return _report(history, options.plot)


def _run_async(options: argparse.Namespace) -> int:
    from securecompute.federated.fedfix import simulate_async

    _check_plot_path(options)
    history = simulate_async(
        policy=options.policy,
        dt=options.dt,
        c=options.c,
        clients=options.clients,
        times=options.times,
        alpha=_alpha(options),
        horizon=options.horizon,
        seed=options.seed,
        local_steps=options.local_steps,
        lr=options.lr,
        eta_g=options.eta_g,
        model=options.model,
        batch_size=options.batch_size,
        crash=options.crash,
        downtime=options.downtime,
        weighting=options.weighting,
    )
    return _report(history, options.plot)


def tour_step(report: TourReport) -> None:
    """Mean against Flag on digits (Dirichlet 0.3, 15 workers, 3 Byzantine) without attack and under IPM 10."""
    from securecompute.federated.simulation import run_byzantine

    runs: dict[tuple[str, str], Any] = {}
    for attack, params in (("none", None), ("ipm", {"epsilon": 10.0})):
        for rule in ("mean", "flag"):
            started = time.perf_counter()
            history = run_byzantine(rule, attack, steps=TOUR_STEPS, attack_params=params, eval_every=5)
            runs[(rule, attack)] = history
            label = "no attack" if attack == "none" else "IPM epsilon=10, f=3 of 15"
            report.add(
                "federated",
                f"{rule} aggregation, {label}",
                f"accuracy {history.final_accuracy:.3f}",
                f"logreg on digits, Dirichlet 0.3, {TOUR_STEPS} steps, {time.perf_counter() - started:.1f} s, "
                f"aggregation {1e3 * history.aggregation_seconds_per_step:.2f} ms/step",
            )
    figure, axis = new_figure()
    for (rule, attack), history in runs.items():
        style = "-" if attack == "none" else "--"
        axis.plot(history.steps, history.accuracy, style, marker=".", label=f"{rule}, {attack}")
    _save_accuracy_figure(
        report,
        figure,
        "step",
        "robust aggregation under inner-product manipulation",
        "federated_byzantine.png",
        "test accuracy of mean vs Flag aggregation, without attack and under IPM (epsilon = 10)",
    )
    _tour_async(report)


def _tour_async(report: TourReport) -> None:
    """FedAvg against FedFix (dt = 0.2) with 20 clients of F-80 speeds, to a virtual horizon of 15."""
    from securecompute.federated.fedfix import simulate_async

    figure, axis = new_figure()
    for policy in ("fedavg", "fedfix"):
        started = time.perf_counter()
        history = simulate_async(
            policy=policy, dt=0.2 if policy == "fedfix" else None, clients=20, horizon=15, evals=60
        )
        reached = history.time_to(0.85)
        report.add(
            "federated",
            f"asynchronous: {history.settings['policy']}, 20 clients, F-80 times",
            "85% accuracy " + ("not reached" if reached is None else f"at virtual time {reached:g}"),
            f"final accuracy {history.final_accuracy:.3f}, max staleness {history.max_staleness}, "
            f"{len(history.aggregations)} aggregations, {time.perf_counter() - started:.1f} s",
        )
        axis.plot(history.times, history.accuracy, marker=".", label=history.settings["policy"])
    axis.axhline(0.85, color="grey", linewidth=0.8)
    _save_accuracy_figure(
        report,
        figure,
        "virtual time",
        "FedFix against synchronous FedAvg (fastest client 80% faster)",
        "federated_async.png",
        "test accuracy against virtual time: FedAvg waits for the slowest client, FedFix aggregates every 0.2",
    )


def _save_accuracy_figure(report: TourReport, figure: Any, xlabel: str, title: str, name: str, caption: str) -> None:
    """Label the single accuracy axis of ``figure`` and write it into the tour report."""
    axis = figure.axes[0]
    axis.set_xlabel(xlabel)
    axis.set_ylabel("test accuracy")
    axis.set_ylim(0.0, 1.0)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(title)
    figure.tight_layout()
    save_figure(figure, report.figure_path(name, caption))
