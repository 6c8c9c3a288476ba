"""A FRAG party's long-lived process on its own machine, and the local relay its Flower ClientApp uses.

Why a separate process: Flower 1.42 runs every message in a FRESH ``flwr-clientapp`` process, but a FRAG
party keeps state between messages (the channel keys and sequence numbers of each querier, the
session with its store encoded once per querier key, pending IVF queries, the handles of recent
queries).  Rebuilding a :class:`~securecompute.federated.frag.party.Party` per message would lose the
channel and re-encode the store each time.  So the party lives here, in one process started by its
operator beside the SuperNode, and the ClientApp relays each message's bytes to it over a Unix
socket on the same machine (mode 0600, under the operator's account) and relays the reply back.
Nothing but opaque bytes crosses the socket: the relay never sees a key or a vector.

Socket framing (both directions): a 4-byte big-endian length L, then L bytes.  A request's body is
one mode byte, then either (mode 1) the querier's 32-byte channel public key and a channel frame,
answered by :meth:`Party.handle_frame`, or (mode 0) a bare envelope, answered by :meth:`Party.handle`
(an unauthenticated querier); a reply's body is the party's reply bytes.  L above :data:`MAX_MESSAGE` is refused before any
allocation; a malformed request, a peer silent for :data:`CONNECTION_TIMEOUT` seconds, or a request the
party fails on with an unexpected error closes that connection without an answer (the querier's
transport then reports the party as failed) and the host serves the next one.

Run: ``python -m securecompute.federated.deploy.partyhost --name NAME --vectors X.npy --key-file KEY
--socket PATH [--nlist L --seed S]``; the key file holds the party's 32-byte X25519 channel private key
(the querier pins the public half).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import stat
import struct
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np

from securecompute.errors import CorruptPayloadError, ParameterError

if TYPE_CHECKING:
    from securecompute.federated.frag.party import Party

__all__ = [
    "CONNECTION_TIMEOUT",
    "MAX_MESSAGE",
    "SENDER_BYTES",
    "main",
    "read_message",
    "relay",
    "serve",
    "write_message",
]

logger = logging.getLogger(__name__)

MAX_MESSAGE = 1 << 30
"""Largest request or reply body on the socket, in bytes (1 GiB)."""
SENDER_BYTES = 32
CONNECTION_TIMEOUT = 60.0
"""Seconds the host waits on each receive and send of one relay connection before dropping it."""
_LENGTH = struct.Struct(">I")


def write_message(stream: socket.socket, body: bytes) -> None:
    """Send ``body`` with its 4-byte length."""
    if len(body) > MAX_MESSAGE:
        raise CorruptPayloadError(f"a party-host message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    stream.sendall(_LENGTH.pack(len(body)) + body)


def read_message(stream: socket.socket) -> bytes:
    """Receive one length-prefixed body; the length is checked before the body is read.

    Raises:
        CorruptPayloadError: the peer closed early or announced more than :data:`MAX_MESSAGE` bytes.
    """
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    if length > MAX_MESSAGE:
        raise CorruptPayloadError(f"a party-host message announces {length} bytes, more than {MAX_MESSAGE}")
    return _read_exactly(stream, length)


def relay(socket_path: str | Path, mode: int, sender: bytes, frame: bytes, timeout: float) -> bytes:
    """Hand one request to the party host at ``socket_path`` and return its reply.

    Args:
        mode: 1 for a channel frame from the querier whose key is ``sender`` (32 bytes), 0 for a bare
            envelope (``sender`` empty).
        timeout: seconds for connecting, sending and each receive.

    Raises:
        CorruptPayloadError: a bad mode or sender key, or a truncated reply.
        OSError: the host is not running (the ClientApp turns it into an error reply).
    """
    if mode not in (0, 1) or len(sender) != (SENDER_BYTES if mode else 0):
        raise CorruptPayloadError(f"mode {mode!r} with a {len(sender)}-byte sender key is not a valid request")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.settimeout(timeout)
        stream.connect(str(socket_path))
        write_message(stream, bytes([mode]) + sender + frame)
        return read_message(stream)


def serve(party: Party, socket_path: str | Path) -> None:
    """Answer relayed requests for ``party`` one connection at a time, until SIGTERM/SIGINT.

    Raises:
        ParameterError: ``socket_path`` holds a file that is not a socket, or a live host's socket.
    """
    path = Path(socket_path)
    _remove_stale_socket(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        old_mask = os.umask(0o177)  # the socket is created 0600: only the operator's account may relay
        try:
            server.bind(str(path))
        finally:
            os.umask(old_mask)
        server.listen(4)
        logger.info("party %s serving on %s", party.name, path)
        print(f"party {party.name} ready on {path}", flush=True)
        try:
            while True:
                connection, _ = server.accept()
                with connection:
                    # one connection at a time: a peer that stalls may hold the host only this long
                    connection.settimeout(CONNECTION_TIMEOUT)
                    _answer(party, connection)
        finally:
            path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m securecompute.federated.deploy.partyhost``."""
    parser = argparse.ArgumentParser(prog="partyhost", description="serve one FRAG party to its Flower ClientApp")
    parser.add_argument("--name", required=True)
    parser.add_argument("--vectors", required=True, help="(n, d) float .npy file")
    parser.add_argument("--key-file", required=True, help="32-byte X25519 channel private key")
    parser.add_argument("--socket", required=True, help="Unix socket path for the ClientApp relay")
    parser.add_argument("--nlist", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from securecompute.federated.frag.party import Party

    vectors = np.load(args.vectors, allow_pickle=False)
    key = Path(args.key_file).read_bytes()
    party = Party(args.name, vectors, nlist=args.nlist, seed=args.seed, channel_key=key)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with contextlib.suppress(KeyboardInterrupt):
        serve(party, args.socket)
    return 0


def _answer(party: Party, connection: socket.socket) -> None:
    try:
        body = read_message(connection)
    except (CorruptPayloadError, OSError, struct.error) as error:
        logger.warning("dropped a malformed relay request: %s", error)
        return
    try:
        if body[:1] == b"\x01" and len(body) >= 1 + SENDER_BYTES:
            reply = party.handle_frame(body[1 : 1 + SENDER_BYTES], body[1 + SENDER_BYTES :])
        elif body[:1] == b"\x00":
            reply = party.handle(body[1:])
        else:
            logger.warning("dropped a relay request with a bad mode or sender key")
            return
    except Exception:  # a bug on one request must not take the party down for every querier
        logger.exception("party %s failed on a relayed request; no answer sent", party.name)
        return
    try:
        write_message(connection, reply)
    except OSError as error:
        logger.warning("could not return a reply to the relay: %s", error)


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket left at ``path`` by a host that is gone; refuse any other file or a live host.

    Raises:
        ParameterError: ``path`` is not a socket (a mistyped path must not delete the party's data),
            or another party host is serving on it.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not stat.S_ISSOCK(path.lstat().st_mode):
        raise ParameterError(f"--socket {path} exists and is not a socket; accepted: a new path or a stale socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:  # nobody listening: a stale socket of a host that is gone
            path.unlink()
            return
    raise ParameterError(f"--socket {path}: another party host is serving there")


def _read_exactly(stream: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = stream.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            raise CorruptPayloadError(f"the peer closed after {len(chunks)} of {count} bytes")
        chunks += chunk
    return bytes(chunks)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())  # the module run as a program (python -m ...)
