"""Executors: how a simulation runs its workers, in this process or on a Ray cluster.

The simulations (:func:`~securecompute.federated.simulation.run_byzantine`,
:func:`~securecompute.federated.fedfix.simulate_async`) hand each round's work to an executor as one call
``executor.map(fn, items)``: ``fn`` is a pure, module-level function (``worker_step``, ``client_update``)
and every item carries all the state it needs (the worker's data, momentum and random generator, the
server's parameters); the result carries the worker's next state.  Nothing is shared between items, so
any executor that returns ``[fn(item) for item in items]`` in order gives the same run, bit for bit.
The asynchronous simulation uses ``executor.submit(fn, item)`` instead, one job at a time: it returns a
:class:`Pending` whose ``result()`` waits for ``fn(item)``, so jobs run while the event loop goes on.

- :class:`LocalExecutor` (the default): a plain loop in this process (``submit`` computes on ``result()``).
- :class:`RayExecutor` (extra ``[ray]``: ``pip install 'securecompute[ray]'``): a pool of Ray actors;
  each ``map`` splits the items into one contiguous chunk per actor, runs the chunks in parallel and
  concatenates the results in the order of the items; ``submit`` sends one job to the next actor in turn.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType, TracebackType
from typing import Any, Generic, Protocol, TypeVar, cast

from securecompute.errors import DependencyMissingError, ParameterError, ProtocolError

__all__ = ["Executor", "JobExecutor", "LocalExecutor", "Pending", "RayExecutor"]

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

RAY_INSTALL_HINT = "pip install 'securecompute[ray]'"


class Pending(Protocol[R_co]):
    """A result that may still be computing (what :meth:`Executor.submit` returns)."""

    def result(self) -> R_co:
        """Wait for the result and return it (re-raises what the function raised)."""
        ...


class Executor(Protocol):
    """Runs one function over many items and returns the results in order."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


class JobExecutor(Executor, Protocol):
    """An :class:`Executor` that can also start one item in the background (what the async simulation needs)."""

    def submit(self, fn: Callable[[T], R], item: T) -> Pending[R]: ...


class _Deferred(Generic[R]):
    """``fn(item)``, computed on the first :meth:`result` call and kept."""

    def __init__(self, fn: Callable[[T], R], item: T) -> None:
        self._call: Callable[[], R] | None = lambda: fn(item)
        self._value: R | None = None

    def result(self) -> R:
        if self._call is not None:
            self._value = self._call()
            self._call = None
        return cast(R, self._value)


class LocalExecutor:
    """The in-process executor: ``map(fn, items)`` is ``[fn(item) for item in items]``."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]

    def submit(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        """``fn(item)``, computed when its result is first asked for (``fn`` is pure, so when does not matter)."""
        return _Deferred(fn, item)

    def close(self) -> None:
        """Nothing to release (here for symmetry with :class:`RayExecutor`)."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class _ChunkRunner:
    """The body of one Ray actor: runs ``fn`` over a chunk of items, in order."""

    def run(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return [fn(item) for item in items]


class _RayPending(Generic[R]):
    """One job on a Ray actor: an object reference to a one-item chunk."""

    def __init__(self, ray: ModuleType, reference: Any) -> None:
        self._ray = ray
        self._reference = reference

    def result(self) -> R:
        with _named_worker_death(self._ray):
            return cast(R, self._ray.get(self._reference)[0])


@contextlib.contextmanager
def _named_worker_death(ray: ModuleType) -> Iterator[None]:
    """Turn Ray's error for a dead actor (not something ``fn`` raised) into a ProtocolError."""
    try:
        yield
    except ray.exceptions.RayActorError as error:
        raise ProtocolError(
            f"a Ray worker died during the job ({type(error).__name__}); make a new executor"
        ) from error


def _import_ray() -> ModuleType:
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise DependencyMissingError(f"RayExecutor needs Ray, which is not installed: {RAY_INSTALL_HINT}") from error


class RayExecutor:
    """A pool of ``num_actors`` Ray actors that run a simulation's workers.

    Workers are virtual: the N worker states travel with the items of each ``map`` call and are multiplexed
    over the k actors (like Flower's virtual-client actor pool), so k need not equal N and an actor keeps
    nothing between calls.  ``map(fn, items)`` puts ``fn`` once into the object store, gives actor j the
    j-th contiguous chunk of the items, waits for all chunks and returns the results in the order of the
    items.  Because ``fn`` is pure and each item carries its own random generator, the results do not
    depend on the number of actors or on scheduling: a seeded simulation gives exactly the numbers
    :class:`LocalExecutor` gives.

    Serialisation: items, results and ``fn`` travel with Ray's own serialisation (pickle protocol 5 with
    numpy buffers out of band, through the shared-memory object store), not with
    :mod:`securecompute.encoding`.  That is deliberate: the items are arbitrary Python objects (a
    ``WorkerTask`` holds a model object and a ``numpy.random.Generator``, whose state must round-trip
    exactly for the run to be reproducible), and every process of the Ray cluster belongs to the one party
    running the simulation, so no trust boundary is crossed.  Unpickling executes code: never connect a
    RayExecutor to a cluster you do not control, and never use it to carry data between mutually
    distrusting parties; messages between parties go through :func:`securecompute.encoding.pack` and
    :func:`~securecompute.encoding.encode_array` instead.  Objects that Ray cannot serialise (TenSEAL
    vectors: ``ray.put`` raises ``TypeError``) must be sent as their ``serialize()`` bytes and rebuilt in
    ``fn``.

    Ray's lifetime: if Ray is already initialised in this process (``ray.init`` by the caller, a test
    fixture, a Ray job), the executor uses that cluster and leaves it running on :meth:`close`.  Otherwise
    it calls ``ray.init(address=address, **init_options)`` itself (``address=None`` starts a local cluster;
    ``"auto"`` or ``"ray://host:port"`` joins one) and shuts Ray down again on :meth:`close`.  ``fn`` must
    be importable on the cluster (a module-level function of an installed package: on a remote cluster,
    install securecompute there or pass a ``runtime_env`` in ``init_options``).

    Args:
        num_actors: k >= 1 actors in the pool.
        address: the cluster to join when Ray is not initialised yet (None: start a local one).
        num_cpus_per_actor: CPUs each actor reserves (> 0, default 1); the cluster needs
            ``num_actors * num_cpus_per_actor`` free CPUs or the actors wait for them.
        init_options: more keyword arguments for ``ray.init`` when this executor starts Ray
            (e.g. ``{"num_cpus": 2, "include_dashboard": False}``).

    Raises:
        DependencyMissingError: Ray is not installed (``pip install 'securecompute[ray]'``).
        ParameterError: ``num_actors < 1`` or ``num_cpus_per_actor <= 0``.

    Use it as a context manager (or call :meth:`close`) to free the actors::

        with RayExecutor(num_actors=2) as pool:
            history = run_byzantine(steps=20, executor=pool)
    """

    def __init__(
        self,
        num_actors: int = 2,
        address: str | None = None,
        *,
        num_cpus_per_actor: float = 1.0,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
            raise ParameterError(f"num_actors must be an int >= 1, got {num_actors!r}")
        if (
            isinstance(num_cpus_per_actor, bool)
            or not isinstance(num_cpus_per_actor, (int, float))
            or not num_cpus_per_actor > 0
        ):
            raise ParameterError(f"num_cpus_per_actor must be a number > 0, got {num_cpus_per_actor!r}")
        ray = _import_ray()
        self._ray: ModuleType | None = ray
        self.owns_ray = not ray.is_initialized()
        """True when this executor started Ray (and :meth:`close` shuts it down)."""
        if self.owns_ray:
            ray.init(address=address, **(init_options or {}))
        actor_class = ray.remote(num_cpus=num_cpus_per_actor)(_ChunkRunner)
        self._actors: list[Any] = [actor_class.remote() for _ in range(num_actors)]
        self.num_actors = num_actors
        self._turn = 0

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed on the actors; results in the order of the items.

        Raises:
            ParameterError: the executor is closed.
            ProtocolError: an actor died during the job (its process was killed or exited); close this
                executor and make a new one (the dead actor is not replaced).
            Exception: what ``fn`` raised on an actor (Ray re-raises it as a subclass of its type).
        """
        ray = self._ray
        if ray is None:
            raise ParameterError("this RayExecutor is closed; create a new one")
        work = list(items)
        if not work:
            return []
        k = min(self.num_actors, len(work))
        size, extra = divmod(len(work), k)
        function = ray.put(fn)
        pending = []
        start = 0
        for j in range(k):
            stop = start + size + (1 if j < extra else 0)
            pending.append(self._actors[j].run.remote(function, work[start:stop]))
            start = stop
        results: list[R] = []
        with _named_worker_death(ray):
            chunks = ray.get(pending)
        for chunk in chunks:
            results.extend(chunk)
        return results

    def submit(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        """Start ``fn(item)`` on the next actor in turn and return at once; ``.result()`` waits for it.

        Jobs submitted to one actor run in the order submitted; the actors work while the caller goes on
        (the asynchronous simulation keeps every client's job in flight this way and waits only for the
        ones its virtual clock has reached).

        Raises:
            ParameterError: the executor is closed.
        """
        ray = self._ray
        if ray is None:
            raise ParameterError("this RayExecutor is closed; create a new one")
        actor = self._actors[self._turn % self.num_actors]
        self._turn += 1
        return _RayPending(ray, actor.run.remote(fn, [item]))

    def close(self) -> None:
        """Kill the actors; shut Ray down if this executor started it.  Calling it again does nothing."""
        ray = self._ray
        if ray is None:
            return
        self._ray = None
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self.owns_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ray is None else "open"
        return f"RayExecutor(num_actors={self.num_actors}, {state})"
