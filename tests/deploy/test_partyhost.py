"""The party host's socket relay: one real Party behind a Unix socket, bytes in and out, strict framing."""

from __future__ import annotations

import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from securecompute.encoding import unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.federated.deploy import partyhost
from securecompute.federated.frag import Party, Querier
from securecompute.federated.frag import messages as wire
from securecompute.federated.frag.transport import LocalTransport

DIM = 8


class SocketTransport(LocalTransport):
    """Sends each request through the party host's socket instead of calling the Party (test double)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exchange(self, requests, sender=None):  # type: ignore[no-untyped-def]
        mode = 0 if sender is None else 1
        return [partyhost.relay(self.path, mode, sender or b"", message, 30.0) for _, message in requests]


@pytest.fixture
def hosted() -> Iterator[tuple[Party, Path]]:
    party = Party("p0", np.random.default_rng(3).normal(size=(30, DIM)))
    with tempfile.TemporaryDirectory(prefix="scph-") as folder:
        path = Path(folder) / "p.sock"
        thread = threading.Thread(target=partyhost.serve, args=(party, path), daemon=True)
        thread.start()
        for _ in range(100):
            if path.exists():
                break
            threading.Event().wait(0.02)
        yield party, path


def test_search_through_the_socket_equals_the_direct_search(hosted: tuple[Party, Path]) -> None:
    party, path = hosted
    query = np.random.default_rng(4).normal(size=DIM)
    relayed = Querier(DIM, executor=SocketTransport(path)).search(query, [party], k=4)
    direct = Querier(DIM).search(query, [Party("p0", party.vectors)], k=4)
    assert not relayed.partial
    np.testing.assert_allclose([h.score for h in relayed.hits], [h.score for h in direct.hits], atol=1e-3)


def test_the_socket_is_private_to_the_operator(hosted: tuple[Party, Path]) -> None:
    assert hosted[1].stat().st_mode & 0o777 == 0o600


def test_an_oversized_length_is_refused_before_reading(hosted: tuple[Party, Path]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.connect(str(hosted[1]))
        stream.sendall(struct.pack(">I", partyhost.MAX_MESSAGE + 1))
        stream.settimeout(5)
        assert stream.recv(4) == b""  # dropped without an answer
    # and the host still serves the next request
    reply = partyhost.relay(hosted[1], 0, b"", b"not an envelope", 5.0)
    assert unpack(reply).kind == wire.ERROR  # the party's own refusal, as in-process


def test_relay_refuses_a_bad_mode_or_sender() -> None:
    with pytest.raises(CorruptPayloadError):
        partyhost.relay("/nonexistent", 1, b"short", b"x", 1.0)
    with pytest.raises(CorruptPayloadError):
        partyhost.relay("/nonexistent", 3, b"", b"x", 1.0)


def test_relay_to_a_missing_host_raises_oserror() -> None:
    with pytest.raises(FileNotFoundError):
        partyhost.relay("/nonexistent/p.sock", 0, b"", b"x", 1.0)


def test_a_stalled_peer_is_dropped_and_the_next_request_served(
    hosted: tuple[Party, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partyhost, "CONNECTION_TIMEOUT", 0.3)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stalled:
        stalled.connect(str(hosted[1]))
        stalled.sendall(struct.pack(">I", 100))  # announces 100 bytes, never sends them
        reply = partyhost.relay(hosted[1], 0, b"", b"not an envelope", 5.0)
        assert unpack(reply).kind == wire.ERROR


def test_an_unexpected_error_drops_one_request_not_the_host(
    hosted: tuple[Party, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    party, path = hosted

    def broken(message: bytes) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(party, "handle", broken)
    with pytest.raises(CorruptPayloadError, match="closed"):
        partyhost.relay(path, 0, b"", b"anything", 5.0)
    monkeypatch.undo()
    assert unpack(partyhost.relay(path, 0, b"", b"not an envelope", 5.0)).kind == wire.ERROR


def test_the_host_never_deletes_a_file_that_is_not_its_socket(tmp_path: Path) -> None:
    data = tmp_path / "vectors.npy"
    data.write_bytes(b"the party's data")
    party = Party("p0", np.zeros((2, DIM)) + 1.0)
    with pytest.raises(ParameterError, match="not a socket"):
        partyhost.serve(party, data)
    assert data.read_bytes() == b"the party's data"


def test_a_second_host_on_a_live_socket_is_refused(hosted: tuple[Party, Path]) -> None:
    with pytest.raises(ParameterError, match="another party host"):
        partyhost.serve(hosted[0], hosted[1])
    assert partyhost.relay(hosted[1], 0, b"", b"x", 5.0)  # the first host still serves


def test_a_stale_socket_is_replaced() -> None:
    party = Party("p0", np.random.default_rng(5).normal(size=(10, DIM)))
    with tempfile.TemporaryDirectory(prefix="scph-") as folder:
        path = Path(folder) / "p.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
            gone.bind(str(path))  # bound, never listening, then closed: what a killed host leaves
        threading.Thread(target=partyhost.serve, args=(party, path), daemon=True).start()
        for _ in range(250):
            try:
                assert unpack(partyhost.relay(path, 0, b"", b"x", 5.0)).kind == wire.ERROR
                break
            except OSError:  # not listening yet
                threading.Event().wait(0.02)
        else:
            pytest.fail("the host did not take over the stale socket")
