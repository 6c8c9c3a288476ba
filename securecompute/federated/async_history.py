"""What an asynchronous federated run recorded: :class:`AsyncHistory` (metrics vs virtual time, plots).

Filled in by :func:`securecompute.federated.fedfix.simulate_async`; read its docstring for how each metric
is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from securecompute.federated._checks import FloatArray

__all__ = ["AsyncHistory", "describe_split"]


@dataclass
class AsyncHistory:
    """What one :func:`simulate_async` run recorded (times are virtual).

    Attributes:
        times: evaluation times 0, horizon/evals, ..., horizon.
        accuracy: test accuracy at each evaluation time.
        loss: p-weighted training loss sum_i p_i L_i at each evaluation time.
        train_accuracy: p-weighted training accuracy sum_i p_i acc_i.
        client_loss / client_accuracy: per evaluation, the M per-client training losses / accuracies.
        staleness: per applied update, in order, the model versions it was late by.
        participation: per client, how many of its updates were applied.
        returns: per client, how many jobs came back (applied, waiting in a buffer at the horizon, or lost).
        lost: how many jobs crashed (their updates are never applied).
        aggregations: per aggregation that applied updates, (virtual time, clients in the order applied).
        applied_weight: per client, the sum over steps of omega_i(n) (its realised aggregation weight).
        weights: d_i per client (formula weights; with ``weighting="online"`` the last weights used).
        taus: mean job time per client.
        p: client importances.
        params: the final model parameters.
        seconds: wall-clock seconds of the run.
        settings: the run's arguments, resolved.
    """

    times: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    client_loss: list[list[float]] = field(default_factory=list)
    client_accuracy: list[list[float]] = field(default_factory=list)
    staleness: list[int] = field(default_factory=list)
    participation: list[int] = field(default_factory=list)
    returns: list[int] = field(default_factory=list)
    lost: int = 0
    aggregations: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)
    applied_weight: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    taus: list[float] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    params: FloatArray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def q(self) -> list[float]:
        """Surrogate weights q_i: :attr:`applied_weight` normalised to sum 1 (p when nothing was applied)."""
        total = float(np.sum(self.applied_weight))
        if total <= 0:
            return list(self.p)
        return [float(w) / total for w in self.applied_weight]

    @property
    def surrogate_loss(self) -> list[float]:
        """q-weighted training loss sum_i q_i L_i at each evaluation time (q from the whole run)."""
        weights = np.asarray(self.q)
        return [float(np.dot(weights, row)) for row in self.client_loss]

    @property
    def surrogate_accuracy(self) -> list[float]:
        """q-weighted training accuracy at each evaluation time."""
        weights = np.asarray(self.q)
        return [float(np.dot(weights, row)) for row in self.client_accuracy]

    @property
    def final_accuracy(self) -> float:
        """Test accuracy at the horizon."""
        return self.accuracy[-1] if self.accuracy else float("nan")

    @property
    def final_loss(self) -> float:
        """p-weighted training loss at the horizon."""
        return self.loss[-1] if self.loss else float("nan")

    @property
    def max_staleness(self) -> int:
        """Largest staleness of an applied update (0 when none was applied)."""
        return max(self.staleness, default=0)

    def time_to(self, target: float) -> float | None:
        """First evaluation time at which test accuracy reached ``target``, or None if it never did."""
        for moment, value in zip(self.times, self.accuracy, strict=True):
            if value >= target:
                return moment
        return None

    def last_std(self, count: int = 5) -> float:
        """Standard deviation of the last ``count`` test accuracies (stability)."""
        return float(np.std(self.accuracy[-count:])) if self.accuracy else float("nan")

    def summary(self) -> str:
        """One line: policy, setting, final accuracy, time to 85%, staleness and timings."""
        s = self.settings
        reached = self.time_to(0.85)
        to85 = "never" if reached is None else f"t={reached:g}"
        return (
            f"{s.get('policy')} on {s.get('times')}: M={s.get('clients')}, {describe_split(s.get('alpha'))}, "
            f"horizon {s.get('horizon'):g}, {s.get('model')}: final accuracy {self.final_accuracy:.3f}, "
            f"loss {self.final_loss:.3f}, 85% at {to85}, {len(self.aggregations)} aggregations, "
            f"{len(self.staleness)} updates applied, max staleness {self.max_staleness}, lost {self.lost}, "
            f"run {self.seconds:.1f} s"
        )

    def plot(self, *, ax: Any = None, path: str | Path | None = None, title: str | None = None) -> Any:
        """Draw accuracy and losses vs virtual time, staleness and participation; return the ``Figure``.

        Args:
            ax: None (a new 2 x 2 figure), one ``Axes`` (accuracy only) or four ``Axes`` (accuracy,
                losses, staleness histogram, participation); pyplot's state and backend are never touched.
            path: when given, also write the figure there (.png, .pdf, .svg, .jpg; checked first).
            title: figure title (default: policy and client times).
        """
        from securecompute.plotting import IMAGE_SUFFIXES, check_output_file, finish_plot, panels

        if path is not None:
            check_output_file(path, IMAGE_SUFFIXES, "plot")
        figure, (accuracy, losses, stale, counts) = panels(ax, 4, (10.0, 7.0))
        accuracy.plot(self.times, self.accuracy, marker=".", label="test")
        accuracy.plot(self.times, self.train_accuracy, "--", label="train, p-weighted")
        accuracy.set_xlabel("virtual time")
        accuracy.set_ylabel("accuracy")
        accuracy.set_ylim(0.0, 1.0)
        accuracy.grid(alpha=0.3)
        accuracy.legend()
        if losses is not None:
            self._draw_details(losses, stale, counts)
        return finish_plot(
            figure, ax, accuracy, title or f"{self.settings.get('policy')}, times {self.settings.get('times')}", path
        )

    def _draw_details(self, losses: Any, stale: Any, counts: Any) -> None:
        """The loss, staleness and participation panels."""
        losses.plot(self.times, self.loss, label="p-weighted (true objective)")
        losses.plot(self.times, self.surrogate_loss, "--", label="q-weighted (surrogate)")
        losses.set_xlabel("virtual time")
        losses.set_ylabel("training loss")
        losses.set_yscale("log")
        losses.grid(alpha=0.3)
        losses.legend()
        if self.staleness:
            stale.hist(self.staleness, bins=np.arange(self.max_staleness + 2) - 0.5)
        stale.set_xlabel("staleness (model versions)")
        stale.set_ylabel("applied updates")
        counts.bar(np.arange(len(self.participation)), self.participation)
        counts.set_xlabel("client (0 = slowest for F-X)")
        counts.set_ylabel("applied updates")


def describe_split(alpha: Any) -> str:
    """How the data was split, for a summary line: 'IID' or 'alpha=0.3' (Dirichlet label skew)."""
    return "IID" if alpha is None else f"alpha={alpha:g}"
