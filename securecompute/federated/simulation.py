r"""Synchronous Byzantine-robust federated training on real data: :func:`run_byzantine`.

One run: the digits data (:func:`~securecompute.federated.data.load_digits_split`) is split into train and
test, the training set is partitioned over n workers (IID, or Dirichlet(alpha) label skew), and for
``steps`` rounds:

1. every honest worker draws a minibatch of its own data (``batch_size`` rows, without replacement, or all of
   them if it holds fewer), computes the gradient g of the model's loss at the server's parameters theta, and
   updates its momentum  m <- beta m + (1 - beta) g  (worker momentum, beta = ``momentum``; m starts at 0);
   it sends m;
2. the last f = ``byzantine`` workers are Byzantine.  For a vector attack they send
   ``attack(honest vectors of this round, f, rng)`` (omniscient: the attack sees every honest vector).  For
   the data-level ``label_flip`` they run step 1 honestly on labels y -> C - 1 - y.  With ``attack="none"``
   all n workers are honest (f is still what the robust rules are told to tolerate);
3. a vector holding NaN or inf (from any worker) is treated as Byzantine: it is dropped, counted in
   :attr:`ByzantineHistory.dropped`, and the aggregator never sees it;
4. the server aggregates the remaining vectors with the registry rule and steps: theta <- theta - lr * agg.

Workers run through an executor (:mod:`securecompute.federated.executors`; :class:`LocalExecutor` by default,
in this process, or :class:`~securecompute.federated.executors.RayExecutor`): the per-round work is
the pure function :func:`worker_step` over a :class:`WorkerTask` (the worker's state and the parameters),
returning the worker's next state and its vector, so another executor (e.g. Ray actors) can run it
elsewhere with nothing shared.

Evaluation, at step 0, every ``eval_every`` steps and after the last step: test accuracy and the training
loss (mean cross-entropy + L2 over the whole training set, true labels) of theta.

Defaults follow the calibrated protocol (logistic regression on digits, 15 workers, f = 3, Dirichlet 0.3,
batch 32, momentum 0.9, 200 steps): ``lr=0.5`` for logistic regression, 0.2 for the MLP.  The rules that take
``f`` get ``f=byzantine`` unless ``aggregator_params`` sets it; ``flag`` gets its registry defaults (m = 8,
one IRLS step, no rescaling: the paper's code) unless ``aggregator_params`` says otherwise.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import FloatArray, check_int, check_minority, check_positive, usable_rows
from securecompute.federated.aggregators import AGGREGATORS, Aggregator, get_aggregator
from securecompute.federated.async_history import describe_split
from securecompute.federated.attacks import Attack, LabelFlip, get_attack
from securecompute.federated.data import Dataset, IntArray, load_digits_split, partition
from securecompute.federated.executors import Executor, LocalExecutor
from securecompute.federated.models import Model, get_model
from securecompute.progress import progress

__all__ = [
    "DEFAULT_LR",
    "ByzantineHistory",
    "Executor",
    "LocalExecutor",
    "WorkerState",
    "WorkerTask",
    "run_byzantine",
    "worker_step",
]

DEFAULT_LR = {"logreg": 0.5, "mlp": 0.2}
"""Server learning rate used when ``lr`` is None, per model."""

NO_ATTACK = ("none", "")


@dataclass(frozen=True)
class WorkerState:
    """Everything one worker keeps between rounds: its data, its momentum and its random generator."""

    index: int
    x: FloatArray
    y: IntArray
    momentum: FloatArray
    rng: np.random.Generator


@dataclass(frozen=True)
class WorkerTask:
    """One round's job for one worker: its state, the server's parameters, the model and the settings."""

    state: WorkerState
    params: FloatArray
    model: Model
    batch_size: int
    beta: float


def worker_step(task: WorkerTask) -> tuple[WorkerState, FloatArray]:
    """One local round: minibatch gradient at ``task.params``, momentum update; returns (next state, vector).

    The generator in the state advances (it is the worker's own); nothing else is mutated.
    """
    state = task.state
    rows = state.x.shape[0]
    full = rows <= task.batch_size
    chosen = np.arange(rows) if full else state.rng.choice(rows, size=task.batch_size, replace=False)
    gradient = task.model.gradient(task.params, state.x[chosen], state.y[chosen])
    momentum = task.beta * state.momentum + (1.0 - task.beta) * gradient
    return replace(state, momentum=momentum), momentum


@dataclass
class ByzantineHistory:
    """What one :func:`run_byzantine` run recorded.

    Attributes:
        steps: the steps at which the model was evaluated (0 = before training, the last = ``steps``).
        accuracy: test accuracy at each evaluated step.
        loss: training loss (cross-entropy + L2, whole training set, true labels) at each evaluated step.
        dropped: per step, how many worker vectors held NaN/inf and were dropped before aggregation.
        aggregation_seconds: TOTAL wall-clock seconds spent inside the aggregator over all steps
            (:attr:`aggregation_seconds_per_step` divides by the step count).
        seconds: wall-clock seconds of the whole run (data, training and evaluation).
        settings: the run's arguments, resolved (lr, aggregator parameters, ...).
    """

    steps: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    aggregation_seconds: float = 0.0
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last step."""
        return self.accuracy[-1] if self.accuracy else float("nan")

    @property
    def final_loss(self) -> float:
        """Training loss after the last step."""
        return self.loss[-1] if self.loss else float("nan")

    @property
    def byzantine_detected(self) -> int:
        """Total number of dropped (NaN/inf) worker vectors over the run."""
        return int(sum(self.dropped))

    @property
    def aggregation_seconds_per_step(self) -> float:
        """Mean seconds per aggregation."""
        return self.aggregation_seconds / max(1, len(self.dropped))

    def summary(self) -> str:
        """One line: rule, attack, final accuracy, loss, dropped vectors and timings."""
        s = self.settings
        return (
            f"{s.get('aggregator')} vs {s.get('attack')}: n={s.get('workers')}, f={s.get('byzantine')}, "
            f"{s.get('steps')} steps, {describe_split(s.get('alpha'))}, {s.get('model')}: final accuracy "
            f"{self.final_accuracy:.3f}, loss {self.final_loss:.3f}, dropped {self.byzantine_detected} "
            f"NaN/inf vectors, aggregation {1e3 * self.aggregation_seconds_per_step:.2f} ms/step, "
            f"run {self.seconds:.1f} s"
        )

    def plot(self, *, ax: Any = None, path: str | Path | None = None, title: str | None = None) -> Any:
        """Draw test accuracy and training loss against the step; return the matplotlib ``Figure``.

        Args:
            ax: None (a new figure with two panels), one ``Axes`` (accuracy only) or two ``Axes``
                (accuracy, loss); the global pyplot state and backend are never touched.
            path: when given, also write the figure there (.png, .pdf, .svg, .jpg; checked first).
            title: figure title (default: rule under attack).
        """
        from securecompute.plotting import IMAGE_SUFFIXES, check_output_file, finish_plot, panels

        if path is not None:
            check_output_file(path, IMAGE_SUFFIXES, "plot")
        figure, (left, right) = panels(ax, 2, (9.0, 3.5))
        left.plot(self.steps, self.accuracy, marker=".")
        left.set_xlabel("step")
        left.set_ylabel("test accuracy")
        left.set_ylim(0.0, 1.0)
        left.grid(alpha=0.3)
        if right is not None:
            right.plot(self.steps, self.loss, marker=".", color="tab:red")
            right.set_xlabel("step")
            right.set_ylabel("training loss")
            right.set_yscale("log")
            right.grid(alpha=0.3)
        return finish_plot(
            figure, ax, left, title or f"{self.settings.get('aggregator')} under {self.settings.get('attack')}", path
        )


def run_byzantine(
    aggregator: str = "flag",
    attack: str | None = "alie",
    workers: int = 15,
    byzantine: int = 3,
    steps: int = 200,
    alpha: float | None = 0.3,
    seed: int = 0,
    model: str = "logreg",
    batch_size: int = 32,
    lr: float | None = None,
    momentum: float = 0.9,
    eval_every: int | None = None,
    aggregator_params: dict[str, Any] | None = None,
    attack_params: dict[str, Any] | None = None,
    dataset: Dataset | None = None,
    executor: Executor | None = None,
) -> ByzantineHistory:
    """Train ``model`` on digits with ``workers`` workers, the last ``byzantine`` of them running ``attack``.

    Args:
        aggregator: a name for :func:`~securecompute.federated.aggregators.get_aggregator` (``nnm+`` too).
        attack: a name for :func:`~securecompute.federated.attacks.get_attack`, or "none"/None.
        workers: n >= 1.
        byzantine: f, 0 <= f < n/2.
        steps: training rounds >= 1.
        alpha: Dirichlet label-skew parameter > 0; None (or inf) for an IID partition.
        seed: int seed of everything (split, partition, initialisation, minibatches, attack).
        model: "logreg" or "mlp".
        batch_size: rows per worker minibatch.
        lr: server step size (None: :data:`DEFAULT_LR` for the model).
        momentum: worker momentum beta in [0, 1).
        eval_every: evaluate every this many steps (None: steps // 20, at least 1).
        aggregator_params / attack_params: extra constructor parameters.
        dataset: another :class:`~securecompute.federated.data.Dataset` instead of digits.
        executor: runs the workers (None: :class:`LocalExecutor`).

    Returns:
        the :class:`ByzantineHistory`.

    Raises:
        ParameterError: any bad argument, checked before any training (f >= n/2, unknown names, a rule that
            cannot run on n workers with this f, ...).
    """
    started = time.perf_counter()
    n = check_int("workers", workers, 1)
    f = check_int("byzantine", byzantine, 0)
    check_minority("run_byzantine", n, f)
    total_steps = check_int("steps", steps, 1)
    batch = check_int("batch_size", batch_size, 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a non-negative int, got {seed!r}")
    beta = check_positive("momentum", momentum, allow_zero=True)
    if beta >= 1:
        raise ParameterError(f"momentum must be in [0, 1), got {momentum!r}")
    if alpha is not None and not (isinstance(alpha, float) and np.isinf(alpha) and alpha > 0):
        check_positive("alpha", alpha)
    every = max(1, total_steps // 20) if eval_every is None else check_int("eval_every", eval_every, 1)
    if not isinstance(model, str) or model.strip().lower() not in DEFAULT_LR:
        raise ParameterError(f"unknown model {model!r}; known: {', '.join(sorted(DEFAULT_LR))}")
    model_key = model.strip().lower()
    step_size = DEFAULT_LR[model_key] if lr is None else check_positive("lr", lr)

    attack_key = "none" if attack is None else str(attack).strip().lower()
    threat: Attack | None = None
    if attack_key in NO_ATTACK:
        if attack_params:
            raise ParameterError(f"attack_params {sorted(attack_params)} given without an attack")
        attack_key = "none"
    else:
        threat = get_attack(attack_key, **(attack_params or {}))
    rule, rule_params = _build_aggregator(aggregator, f, aggregator_params)
    _check_rule(rule, n, f, attack_key)
    if threat is not None and threat.data_level and not isinstance(threat, LabelFlip):
        raise ParameterError(f"data-level attack {attack_key!r} is not supported by the simulation")
    if threat is not None and f == 0:
        raise ParameterError(f"attack {attack_key!r} needs byzantine >= 1 (or use attack='none')")

    data = load_digits_split(int(seed)) if dataset is None else dataset
    net = get_model(model_key, data.features, data.classes)
    seeds = np.random.SeedSequence(int(seed)).spawn(4)
    parts = partition(data.y_train, n, alpha, np.random.default_rng(seeds[0]))
    params = net.init_params(np.random.default_rng(seeds[1]))
    attack_rng = np.random.default_rng(seeds[2])
    worker_seeds = seeds[3].spawn(n)
    flipped = isinstance(threat, LabelFlip)
    states: list[WorkerState] = []
    for index, rows in enumerate(parts):
        labels = data.y_train[rows]
        if isinstance(threat, LabelFlip) and index >= n - f:
            labels = threat.flip(labels, data.classes)
        states.append(
            WorkerState(
                index, data.x_train[rows], labels, np.zeros(net.size), np.random.default_rng(worker_seeds[index])
            )
        )
    runner: Executor = LocalExecutor() if executor is None else executor
    history = ByzantineHistory(
        settings={
            "aggregator": aggregator,
            "aggregator_params": rule_params,
            "attack": attack_key,
            "attack_params": dict(attack_params or {}),
            "workers": n,
            "byzantine": f,
            "steps": total_steps,
            "alpha": alpha,
            "seed": int(seed),
            "model": model_key,
            "batch_size": batch,
            "lr": step_size,
            "momentum": beta,
            "eval_every": every,
            "executor": type(runner).__name__,
        }
    )
    _evaluate(history, 0, net, params, data)
    # Which workers compute honestly this round: all of them without a vector attack, else the first n - f.
    computing = n if threat is None or flipped else n - f
    for step in progress(range(1, total_steps + 1), desc=f"{aggregator} vs {attack_key}", total=total_steps):
        tasks = [WorkerTask(states[i], params, net, batch, beta) for i in range(computing)]
        results = runner.map(worker_step, tasks)
        for i, (state, _) in enumerate(results):
            states[i] = state
        vectors = np.stack([vector for _, vector in results])
        if threat is not None and not flipped:
            honest = vectors[usable_rows(vectors)]
            if honest.shape[0] == 0:
                raise ParameterError(f"every honest update is NaN/inf at step {step}: training diverged; lower lr")
            vectors = np.concatenate([vectors, threat(honest, f, attack_rng)])
        finite = usable_rows(vectors)  # NaN/inf entries or a norm beyond float64: dropped and counted
        history.dropped.append(int(vectors.shape[0] - finite.sum()))
        kept = vectors[finite]
        if kept.shape[0] == 0:
            raise ParameterError(f"every update is NaN/inf at step {step}: training diverged; lower lr")
        tick = time.perf_counter()
        update = rule(kept)
        history.aggregation_seconds += time.perf_counter() - tick
        params = params - step_size * update
        if step % every == 0 or step == total_steps:
            _evaluate(history, step, net, params, data)
    history.seconds = time.perf_counter() - started
    return history


def _evaluate(history: ByzantineHistory, step: int, net: Model, params: FloatArray, data: Dataset) -> None:
    history.steps.append(step)
    history.accuracy.append(net.accuracy(params, data.x_test, data.y_test))
    history.loss.append(net.loss(params, data.x_train, data.y_train))


def _build_aggregator(name: str, f: int, params: dict[str, Any] | None) -> tuple[Aggregator, dict[str, Any]]:
    """The rule with ``f`` filled in for the rules that take it (and for every ``nnm+`` rule)."""
    if not isinstance(name, str):
        raise ParameterError(f"aggregator name must be a str, got {name!r}")
    chosen = dict(params or {})
    key = name.strip().lower()
    if key.startswith("nnm+"):
        takes_f = True
    elif key in AGGREGATORS:
        takes_f = "f" in inspect.signature(AGGREGATORS[key].__init__).parameters
    else:
        takes_f = False  # get_aggregator reports the unknown name
    if takes_f:
        chosen.setdefault("f", f)
    return get_aggregator(name, **chosen), chosen


def _check_rule(rule: Aggregator, n: int, f: int, attack: str) -> None:
    """The rule must run on all n vectors, and on n - f when an attack sends NaN/inf (they are dropped)."""
    rule.check_workers(n)
    if attack == "nan_inf":
        rule.check_workers(n - f)
