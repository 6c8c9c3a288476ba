"""How a querier's request bytes reach parties: in this process, or one Ray actor per party.

Protocol messages between querier and parties are bytes only (envelopes of :mod:`.messages`, inside
channel frames when authenticated); TenSEAL objects never cross.  An exchange sends one request to
each of several parties and returns, per party, the reply bytes or the exception that stood in for
them (a crash, a Ray failure, a timeout, a reply that is not bytes), so that the querier can flag its
result partial instead of failing or shrinking silently.

What the Ray executor is, and is not.  :class:`RayTransport` is a single-trust-domain simulation and
parallelism tool: the actors stand for the parties' machines, but they all run inside ONE Ray
cluster that one operator controls.  Each actor is built from :meth:`Party.spec`, i.e. the party's
vectors, payloads and channel PRIVATE key, which Ray pickles and ships to the actor; and Ray itself
pickles every argument and return value (here: bytes) on the way.  Whoever runs the cluster therefore
sees every party's data.  The protocol's privacy claims (``protocols/frag.md``) hold between
separately operated machines that exchange these same bytes over a bytes-only transport (sockets,
HTTP, a message queue), with each party constructed on its own machine: Flower is one, in
:mod:`securecompute.federated.deploy.transport` (``protocols/deploy.md``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from securecompute.errors import CorruptPayloadError, DependencyMissingError, ParameterError
from securecompute.federated.frag.party import Party

__all__ = ["LocalTransport", "RayTransport", "Transport", "make_transport"]

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = "pip install 'securecompute[ray]'"


class Transport(Protocol):
    """Sends request bytes to parties and collects reply bytes (or the exception in their place).

    With ``sender`` (the querier's channel public key) the requests are channel frames, answered by
    ``Party.handle_frame``; without, plain envelopes answered by ``Party.handle``.  A party may appear
    in several requests of one exchange (a batch of queries): they are its channel's next frames in
    the order given, and must reach it in that order; a transport may carry them in one message.
    """

    def exchange(
        self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None
    ) -> list[bytes | Exception]: ...

    def close(self) -> None: ...


class LocalTransport:
    """Calls :meth:`Party.handle` in this process, one party after another."""

    def exchange(self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None) -> list[bytes | Exception]:
        replies: list[bytes | Exception] = []
        for party, message in requests:
            try:
                replies.append(party.handle(message) if sender is None else party.handle_frame(sender, message))
            except Exception as error:  # a crashed party must not crash the querier
                logger.warning("party %s failed: %r", party.name, error)
                replies.append(error)
        return replies

    def close(self) -> None:
        """Nothing to release."""


class _PartyActor:
    """Body of a Ray actor hosting one party (built from its spec); its methods take and return bytes only."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._party = Party(**spec)

    def handle(self, message: bytes) -> bytes:
        return self._party.handle(message)

    def handle_frame(self, sender: bytes, frame: bytes) -> bytes:
        return self._party.handle_frame(sender, frame)


class RayTransport:
    """One Ray actor per party, requests to all parties in flight at once (one trust domain: see the module doc).

    A party that misses the timeout keeps working on the request; its channel is then out of step
    with the querier's, so the querier sets that party up again (fresh channel keys) at the next search.

    Args:
        timeout: seconds to wait for each exchange's replies (None: wait for ever); a party that
            misses it is reported as failed (``TimeoutError``) and the result is partial.
        init_options: keyword arguments for ``ray.init`` if Ray is not running yet.

    Raises:
        DependencyMissingError: Ray is not installed.
    """

    def __init__(self, timeout: float | None = 120.0, init_options: dict[str, Any] | None = None) -> None:
        try:
            self._ray: Any = importlib.import_module("ray")
        except ImportError as error:
            raise DependencyMissingError(
                f'executor="ray" needs Ray, which is not installed: {RAY_INSTALL_HINT}'
            ) from error
        if timeout is not None and not timeout > 0:
            raise ParameterError(f"timeout must be None or > 0 seconds, got {timeout!r}")
        self.timeout = timeout
        self.owns_ray = not self._ray.is_initialized()
        if self.owns_ray:
            self._ray.init(**(init_options or {"include_dashboard": False, "log_to_driver": False}))
        self._actor_class = self._ray.remote(num_cpus=0)(_PartyActor)
        self._actors: dict[int, tuple[Party, Any]] = {}

    def _actor(self, party: Party) -> Any:
        entry = self._actors.get(id(party))
        if entry is None or entry[0] is not party:
            entry = (party, self._actor_class.remote(party.spec()))
            self._actors[id(party)] = entry
        return entry[1]

    def exchange(self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None) -> list[bytes | Exception]:
        futures = [
            self._actor(party).handle.remote(message)
            if sender is None
            else self._actor(party).handle_frame.remote(sender, message)
            for party, message in requests
        ]
        ready, _ = self._ray.wait(futures, num_returns=len(futures), timeout=self.timeout)
        done = set(ready)
        replies: list[bytes | Exception] = []
        for (party, _), future in zip(requests, futures, strict=True):
            if future not in done:
                replies.append(TimeoutError(f"party {party.name!r} did not answer within {self.timeout} s"))
                continue
            try:
                reply = self._ray.get(future)
            except Exception as error:  # the actor crashed or raised
                logger.warning("party %s failed on Ray: %r", party.name, error)
                replies.append(error)
                continue
            if not isinstance(reply, bytes):
                reply = CorruptPayloadError(f"party {party.name!r} answered with {type(reply).__name__}, not bytes")
            replies.append(reply)
        return replies

    def close(self) -> None:
        """Kill the actors; shut Ray down if this transport started it."""
        for _, actor in self._actors.values():
            self._ray.kill(actor)
        self._actors.clear()
        if self.owns_ray and self._ray.is_initialized():
            self._ray.shutdown()


def make_transport(executor: str | Transport) -> Transport:
    """ "local" (default), "ray", or a ready transport object.

    Raises:
        ParameterError: another name.
    """
    if executor == "local":
        return LocalTransport()
    if executor == "ray":
        return RayTransport()
    if isinstance(executor, str):
        raise ParameterError(f"executor {executor!r} is unknown; accepted: 'local', 'ray'")
    return executor
