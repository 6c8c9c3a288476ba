"""FRAG's transport over Flower's Grid: each request a Flower message to the party's SuperNode, bytes only.

:class:`FlowerTransport` implements :class:`~securecompute.federated.frag.transport.Transport` for a
querier running as a Flower ServerApp.  The querier's code is unchanged: it seals each request in
its channel to the party and hands the frame here; the frames of one exchange for one party go out
together, in the order given (the channel's sequence order), as a list of ``bytes`` in ONE
``ConfigRecord`` (record :data:`RECORD`, keys ``mode``, ``sender``, ``frames``) of ONE message of type
:data:`MESSAGE_TYPE` to the party's node; the reply's record carries only ``frames``, one reply frame
per request frame, in the same order.  So a batch of m requests to a party (m queries, or a query's
fetch with the next query) costs one Flower round trip, not m.  The SuperLink
stores and relays ciphertext frames and the querier's channel public key, never a FRAG envelope in
the clear except ``frag/setup`` (public parameters, the public CKKS context, a nonce: the same as
in-process).

Messages to all parties are pushed at once (``push_messages``, non-blocking) and replies pulled with
a short poll (``pull_messages``; Flower's own ``send_and_receive`` polls every 3 s).  A party whose
reply does not arrive within ``timeout`` seconds is reported as a ``TimeoutError``; an error reply
(the ClientApp raised, the node went away) or a request the SuperLink did not accept (an unknown
node id, a message over its size limit: never pulled, since the SuperLink fails a pull that names an
id it did not issue) as a ``ConnectionError``; a malformed reply as
``CorruptPayloadError``: the querier flags that party and returns a partial result, as in-process.

:class:`RemoteParty` is the querier's stand-in for a party that lives on another machine: its name
and its pinned channel public key, nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from securecompute.errors import CorruptPayloadError, ParameterError, ProtocolError
from securecompute.federated.frag.party import Party

__all__ = [
    "MAX_FRAMES",
    "MESSAGE_TYPE",
    "RECORD",
    "Exchange",
    "FlowerTransport",
    "RemoteParty",
    "reply_frames",
    "request_parts",
]

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "query.frag"
"""Flower message type of every FRAG request (handled by ``@app.query("frag")``)."""
RECORD = "frag"
"""Name of the single ConfigRecord in every FRAG request and reply."""
MODE_PLAIN, MODE_FRAME = 0, 1
"""``mode`` of a request: a bare envelope for ``Party.handle``, or a channel frame for ``Party.handle_frame``."""
MAX_FRAMES = 64
"""Most frames one Flower message (request or reply) carries: one exchange's requests to one party."""


class RemoteParty(Party):
    """A party known to the querier only by name and pinned channel public key (it runs elsewhere).

    It is a :class:`Party` so that :class:`~securecompute.federated.frag.querier.Querier` accepts it
    unchanged; the querier only reads ``name`` and ``channel_public_key`` and hands it to the
    transport, which maps the name to a Flower node.  Its store is remote, so asking it to answer
    a message here is a ``ProtocolError``.
    """

    def __init__(self, name: str, channel_public_key: bytes) -> None:  # no store here: Party.__init__ not called
        if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable():
            raise ParameterError(f"party name must be 1-64 printable characters, got {name!r}")
        if not isinstance(channel_public_key, bytes) or len(channel_public_key) != 32:
            raise ParameterError(f"{name}: channel_public_key must be 32 bytes, got {channel_public_key!r}")
        self.name = name
        self._pinned_key = channel_public_key

    @property
    def channel_public_key(self) -> bytes:
        """The party's pinned 32-byte channel public key (handed over out of band)."""
        return self._pinned_key

    def handle(self, message: bytes) -> bytes:
        raise ProtocolError(f"party {self.name!r} is remote: reach it through FlowerTransport")

    def handle_frame(self, sender: bytes, frame: bytes) -> bytes:
        raise ProtocolError(f"party {self.name!r} is remote: reach it through FlowerTransport")

    def spec(self) -> dict[str, Any]:
        raise ProtocolError(f"party {self.name!r} is remote: its store and keys are on its own machine")

    def __repr__(self) -> str:
        return f"RemoteParty({self.name!r}, key={self._pinned_key.hex()[:12]})"


@dataclass(frozen=True)
class Exchange:
    """One round of requests through the SuperLink: sizes in bytes (record payloads), wall seconds.

    ``parties`` messages went out (one per party), carrying ``frames`` requests in all; ``answered``
    of them came back well formed (one reply frame per request frame).  ``bytes_up``: the request
    frames plus one 32-byte sender key per message in channel mode; ``bytes_down``: the reply frames.
    """

    parties: int
    frames: int
    answered: int
    bytes_up: int
    bytes_down: int
    seconds: float


class FlowerTransport:
    """Sends FRAG request bytes to parties' SuperNodes through a Flower ``Grid`` and pulls the replies.

    Args:
        grid: the ServerApp's Grid.
        node_ids: party name -> Flower node id.
        timeout: seconds to wait for each exchange's replies (> 0); late parties are reported failed.
            A party's node relays its frames of an exchange one after another, so a batch of m
            queries needs about m times one query's time (and its message is m times the size).
        poll_interval: seconds between ``pull_messages`` calls.
        on_event: called with a dict after each push ("push") and each completed exchange ("done").

    Raises:
        ParameterError: empty ``node_ids``, a non-int node id, a non-positive timeout or interval.
    """

    def __init__(
        self,
        grid: Any,
        node_ids: Mapping[str, int],
        *,
        timeout: float = 60.0,
        poll_interval: float = 0.05,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not node_ids or not all(isinstance(v, int) and not isinstance(v, bool) for v in node_ids.values()):
            raise ParameterError(f"node_ids must map party names to int node ids, got {dict(node_ids)!r}")
        for label, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ParameterError(f"{label} must be a positive number of seconds, got {value!r}")
        self._grid = grid
        self.node_ids = dict(node_ids)
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self._on_event = on_event
        self.exchanges: list[Exchange] = []

    def exchange(self, requests: Sequence[tuple[Party, bytes]], sender: bytes | None = None) -> list[bytes | Exception]:
        """Push one message per party (its requests' frames in order), pull replies until all arrive or ``timeout``.

        A party named in several requests gets them in one message, in the order given; every one of
        its replies then shares that message's fate (a time-out, an error reply, a malformed reply).

        Raises:
            ParameterError: a party without a node, or more than :data:`MAX_FRAMES` requests to one party.
        """
        from flwr.app import ConfigRecord, Message, RecordDict

        started = time.perf_counter()
        groups: dict[str, list[int]] = {}  # party name -> indices of its requests, in order
        for index, (party, _) in enumerate(requests):
            if party.name not in self.node_ids:
                raise ParameterError(f"party {party.name!r} has no Flower node; known: {sorted(self.node_ids)}")
            groups.setdefault(party.name, []).append(index)
        if any(len(indices) > MAX_FRAMES for indices in groups.values()):
            raise ParameterError(f"at most {MAX_FRAMES} requests to one party per exchange")
        names = list(groups)
        messages = []
        bytes_up = 0
        for name in names:
            frames = [requests[index][1] for index in groups[name]]
            record = ConfigRecord(
                {"mode": MODE_PLAIN if sender is None else MODE_FRAME, "sender": sender or b"", "frames": frames}
            )
            bytes_up += sum(len(frame) for frame in frames) + len(sender or b"")
            messages.append(
                Message(
                    RecordDict({RECORD: record}),
                    dst_node_id=self.node_ids[name],
                    message_type=MESSAGE_TYPE,
                    ttl=self.timeout + 60.0,  # an abandoned request expires soon after the querier gave up
                )
            )
        ids = list(self._grid.push_messages(messages))
        self._emit({"event": "push", "exchange": len(self.exchanges) + 1, "parties": len(names)})
        answers: dict[str, list[bytes] | Exception] = {}
        waiting: dict[str, str] = {}  # message id -> party name
        for position, name in enumerate(names):
            message_id = ids[position] if position < len(ids) else None
            if message_id:
                waiting[message_id] = name
            else:  # "" from the SuperLink (a node it does not know) or no id (the push was refused as too large)
                answers[name] = ConnectionError(
                    f"the SuperLink did not accept the request to party {name!r} "
                    f"(node {self.node_ids[name]}): an unknown node or a message too large"
                )
        deadline = time.monotonic() + self.timeout
        while waiting and time.monotonic() < deadline:
            for reply in self._grid.pull_messages(list(waiting)):
                name = waiting.pop(str(reply.metadata.reply_to_message_id), "")
                if name:
                    answers[name] = _read_reply(name, reply, len(groups[name]))
            if waiting:
                time.sleep(self.poll_interval)
        for name in waiting.values():
            logger.warning("party %s did not answer within %.0f s", name, self.timeout)
            answers[name] = TimeoutError(f"party {name!r} did not answer within {self.timeout:.0f} s")
        replies: list[bytes | Exception] = [TimeoutError("no reply")] * len(requests)
        for name, indices in groups.items():
            answer = answers[name]
            for position, index in enumerate(indices):
                replies[index] = answer if isinstance(answer, Exception) else answer[position]
        answered = sum(not isinstance(answer, Exception) for answer in answers.values())
        bytes_down = sum(len(reply) for reply in replies if isinstance(reply, bytes))
        exchange = Exchange(len(names), len(requests), answered, bytes_up, bytes_down, time.perf_counter() - started)
        self.exchanges.append(exchange)
        self._emit({"event": "done", "exchange": len(self.exchanges), **exchange.__dict__})
        return replies

    def close(self) -> None:
        """Nothing to release: the Grid belongs to the ServerApp."""

    def _emit(self, event: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(event)


def request_parts(content: Any) -> tuple[int, bytes, list[bytes]]:
    """(mode, sender, frames) of a FRAG request's RecordDict, parsed strictly.

    Raises:
        CorruptPayloadError: not exactly one ConfigRecord ``frag`` with int ``mode`` (0 or 1), bytes
            ``sender`` (32 bytes in mode 1, empty in mode 0) and ``frames``, a list of 1 to
            :data:`MAX_FRAMES` bytes.
    """
    record = _only_record(content, {"mode", "sender", "frames"})
    mode, sender = record["mode"], record["sender"]
    if mode not in (MODE_PLAIN, MODE_FRAME) or isinstance(mode, bool):
        raise CorruptPayloadError(f"a FRAG request's mode must be 0 or 1, got {mode!r}")
    if not isinstance(sender, bytes):
        raise CorruptPayloadError("a FRAG request's sender must be bytes")
    if len(sender) != (32 if mode == MODE_FRAME else 0):
        raise CorruptPayloadError(f"a FRAG request in mode {mode} carries a {len(sender)}-byte sender key")
    return int(mode), sender, _frames(record["frames"], "request")


def reply_frames(content: Any) -> list[bytes]:
    """The ``frames`` of a FRAG reply's RecordDict, parsed strictly (CorruptPayloadError otherwise)."""
    return _frames(_only_record(content, {"frames"})["frames"], "reply")


def _frames(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FRAMES:
        raise CorruptPayloadError(f"a FRAG {what}'s frames must be a list of 1 to {MAX_FRAMES} byte strings")
    if not all(isinstance(frame, bytes) for frame in value):
        raise CorruptPayloadError(f"a FRAG {what}'s frames must all be bytes")
    return list(value)


def _only_record(content: Any, keys: set[str]) -> Any:
    if set(content.keys()) != {RECORD} or set(content.config_records) != {RECORD}:
        raise CorruptPayloadError(f"a FRAG message must carry exactly one ConfigRecord {RECORD!r}")
    record = content.config_records[RECORD]
    if set(record.keys()) != keys:
        raise CorruptPayloadError(f"a FRAG record must have keys {sorted(keys)}, got {sorted(record.keys())}")
    return record


def _read_reply(name: str, reply: Any, expected: int) -> list[bytes] | Exception:
    if reply.has_error():
        error = reply.error
        return ConnectionError(f"party {name!r}'s node answered with Flower error {error.code}: {error.reason}")
    try:
        frames = reply_frames(reply.content)
    except CorruptPayloadError as error:
        return error
    if len(frames) != expected:
        return CorruptPayloadError(f"party {name!r} answered {len(frames)} frames to {expected} requests")
    return frames
