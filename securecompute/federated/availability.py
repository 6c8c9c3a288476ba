"""When asynchronous clients are reachable: random crashes with a downtime, and outages given by the user.

Used by :func:`securecompute.federated.fedfix.simulate_async` on its virtual clock.  A job of client i that
is sent the model at time ``now`` and takes ``duration``:

- starts when the client is online: at ``now``, or at the end of the outage that ``now`` falls in;
- is lost if an outage of client i begins while it runs (``begin < start <= finish``): the client comes back
  at the end of that outage (and of any outage that follows on at once) and is sent a model again;
- is lost with probability ``crash`` (drawn for every job, from the crash generator); the client then comes
  back at the job's return time plus an exponential downtime of mean ``downtime`` (0: no downtime).

A lost job's update is never computed and never applied; the client's next job starts from the model it is
sent when it comes back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated._checks import check_positive

__all__ = ["Availability", "JobSlot"]


@dataclass(frozen=True)
class JobSlot:
    """Where one job lands on the virtual clock.

    Attributes:
        begin: when the client starts it (>= the time the model was sent).
        finish: when the client comes back to the server (with its update, or without it when ``lost``).
        lost: the update is lost (a crash or an outage).
    """

    begin: float
    finish: float
    lost: bool


class Availability:
    """Random crashes and user-given outages of M clients (module docstring for the rules).

    Args:
        clients: M >= 1.
        crash: probability in [0, 1) that a job is lost.
        downtime: mean extra offline time after a crash (>= 0, virtual time units).
        outages: (client, start, end) triples, 0 <= start < end < inf; overlapping outages of one client merge.

    Raises:
        ParameterError: a probability outside [0, 1), a negative or non-finite downtime, or a malformed outage.
    """

    def __init__(
        self,
        clients: int,
        crash: float = 0.0,
        downtime: float = 0.0,
        outages: Sequence[tuple[int, float, float]] | None = None,
    ) -> None:
        self.crash = check_positive("crash", crash, allow_zero=True)
        if self.crash >= 1:
            raise ParameterError(f"crash must be a probability in [0, 1), got {crash!r}")
        self.downtime = check_positive("downtime", downtime, allow_zero=True)
        self._outages: list[list[tuple[float, float]]] = [[] for _ in range(clients)]
        for entry in outages or ():
            client, start, end = _check_outage(entry, clients)
            self._outages[client].append((start, end))
        for windows in self._outages:
            windows.sort()

    @property
    def outage_count(self) -> int:
        """How many outages were given."""
        return sum(len(windows) for windows in self._outages)

    def online_from(self, client: int, moment: float) -> float:
        """The first time >= ``moment`` at which ``client`` is not inside an outage."""
        for start, end in self._outages[client]:
            if start <= moment < end:
                moment = end
        return moment

    def place(self, client: int, now: float, duration: float, crash_rng: np.random.Generator) -> JobSlot:
        """Place a job of ``client`` sent at ``now`` that takes ``duration`` (draws from ``crash_rng``)."""
        begin = self.online_from(client, now)
        finish = begin + duration
        for start, end in self._outages[client]:
            if begin < start <= finish:
                return JobSlot(begin, self.online_from(client, end), True)
        if self.crash > 0 and crash_rng.random() < self.crash:
            if self.downtime > 0:
                finish = self.online_from(client, finish + float(crash_rng.exponential(self.downtime)))
            return JobSlot(begin, finish, True)
        return JobSlot(begin, finish, False)


def _check_outage(entry: object, clients: int) -> tuple[int, float, float]:
    if not isinstance(entry, (tuple, list)) or len(entry) != 3:
        raise ParameterError(f"an outage must be (client, start, end), got {entry!r}")
    client, start, end = entry
    if isinstance(client, bool) or not isinstance(client, (int, np.integer)) or not 0 <= client < clients:
        raise ParameterError(f"outage client must be an int in [0, {clients}), got {client!r}")
    try:
        begin, finish = float(start), float(end)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"outage times must be numbers, got {entry!r}") from error
    if not (math.isfinite(begin) and math.isfinite(finish) and 0 <= begin < finish):
        raise ParameterError(f"an outage needs 0 <= start < end < inf, got {entry!r}")
    return int(client), begin, finish
