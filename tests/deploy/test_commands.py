"""``securecompute deploy frag`` end to end on a tiny federation, its argument checks, and the app project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute import cli
from securecompute.federated.deploy import commands, realclock
from securecompute.federated.deploy.commands import run_frag_deployment
from securecompute.federated.deploy.processes import (
    SWEEP_SUPPORTED,
    kill_if_carrying,
    leftover_processes,
    processes_with,
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "0"], "--nodes must be >= 1"),
        (["--n", "2", "--nodes", "3"], "at least --nodes"),
        (["--node-auth"], "--node-auth needs --tls-dir"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deploy", "frag", *argv]) != 0
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "nan"], "--timeout must be a finite real > 0, got nan"),
        (["--timeout", "0"], "--timeout must be a finite real > 0"),
        (["--nprobe", "0"], "--nprobe must be an integer >= 1, got 0"),
        (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_numbers_are_refused_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(commands, "run_frag_deployment", lambda **options: ran.append(options))
    assert cli.main(["deploy", "frag", *argv]) == 1
    assert message in capsys.readouterr().err
    assert ran == []


@pytest.mark.deploy
def test_deploy_frag_recall_equals_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command's FRAG run on 3 SuperNodes finds the same rows as the in-process protocol on the same data.

    Through a SuperLink with TLS (a CA and certificate made in ``--tls-dir``) and authenticated nodes;
    the insecure mode runs in ``test_deployment.py`` and the tour.
    """
    pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")
    outcome = run_frag_deployment(
        nodes=3, n=150, dim=16, k=5, queries=1, nprobe=None, timeout=60.0, seed=3, workdir=str(tmp_path), say=print,
        tls_dir=str(tmp_path / "tls"), node_auth=True,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "(TLS + node authentication)" in out
    assert (tmp_path / "tls" / "ca.crt").exists()
    assert sorted(path.name for path in (tmp_path / "node-keys").iterdir() if path.suffix == ".key") == [
        "party-0.key", "party-1.key", "party-2.key"
    ]  # fmt: skip
    assert outcome["rows"] == outcome["rows_in_process"]  # the same hits, found through their fetched vectors
    assert outcome["recall"] == outcome["recall_in_process"] == 1.0  # vs the exact numpy top-k
    assert len(set(outcome["rows"][0]) & set(outcome["exact"][0])) == 5
    np.testing.assert_allclose(outcome["scores"], outcome["scores_in_process"], atol=1e-3)
    assert outcome["partial"] == 0
    # through the SuperLink: the FRAG envelopes plus, per party and direction, the querier's 32-byte
    # channel key (up) and the channel frame's overhead: nothing else
    extra = outcome["search_bytes_per_query"] - outcome["search_envelope_bytes_per_query"]
    assert 0 < extra <= 3 * (32 + 2 * 64)
    assert "stopped every process" in out
    assert leftover_processes(outcome["marker"]) == []
    assert (tmp_path / "logs" / "superlink.log").exists()


def test_cli_runs_the_same_function(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(commands, "run_frag_deployment", lambda **options: seen.update(options))
    assert cli.main(["deploy", "frag", "--nodes", "2", "--n", "80", "--k", "4", "--queries", "1"]) == 0
    assert (seen["nodes"], seen["n"], seen["k"], seen["queries"], seen["nprobe"]) == (2, 80, 4, 1, None)


def test_tls_dir_is_made_once_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from securecompute.federated.deploy.tls import prepare_tls_files as _tls_files

    made = _tls_files(tmp_path / "tls")  # an empty (here: missing) folder gets a CA and a server certificate
    assert made.ca_certificate.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert made.server_key.stat().st_mode & 0o777 == 0o600
    again = _tls_files(tmp_path / "tls")  # a folder with them is used as it is
    assert again == made
    assert again.ca_certificate.read_bytes() == made.ca_certificate.read_bytes()
    made.server_key.unlink()
    from securecompute.errors import ParameterError

    with pytest.raises(ParameterError, match="lacks"):
        _tls_files(tmp_path / "tls")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(commands, "run_frag_deployment", lambda **options: seen.update(options))
    assert cli.main(["deploy", "frag", "--tls-dir", str(tmp_path / "t"), "--node-auth"]) == 0
    assert (seen["tls_dir"], seen["node_auth"]) == (str(tmp_path / "t"), True)
    for protocol, function in (("robust", "run_robust_deployment"), ("fedfix", "run_fedfix_deployment")):
        seen.clear()
        target = commands if protocol == "robust" else realclock
        monkeypatch.setattr(target, function, lambda **options: seen.update(options))
        assert cli.main(["deploy", protocol, "--tls-dir", str(tmp_path / "t"), "--node-auth"]) == 0
        assert (seen["tls_dir"], seen["node_auth"]) == (str(tmp_path / "t"), True)
        assert cli.main(["deploy", protocol, "--node-auth"]) == 1  # refused before any process starts


def test_federation_refuses_bad_stores_and_queries(tmp_path: Path) -> None:
    from securecompute.errors import ParameterError
    from securecompute.federated.deploy.federation import FragFederation

    with pytest.raises(ParameterError, match="one d"):
        FragFederation({"a": np.ones((3, 2)), "b": np.ones((3, 4))}, tmp_path)
    federation = FragFederation({"a": np.ones((3, 2))}, tmp_path)
    try:
        with pytest.raises(ParameterError, match="queries must be"):
            federation.submit(np.ones((1, 3)))
    finally:
        federation.stop()


@pytest.mark.deploy
@pytest.mark.skipif(not SWEEP_SUPPORTED, reason="finds the processes through /proc (Linux)")
def test_ctrl_c_during_a_run_stops_every_process(tmp_path: Path) -> None:
    """Ctrl-C while the FRAG run is in flight: the command exits 130 and nothing it started survives."""
    pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")
    argv = [sys.executable, "-m", "securecompute", "deploy", "frag", "--nodes", "2", "--n", "60", "--dim", "8"]
    argv += ["--queries", "1", "--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    log, entry = tmp_path / "command.log", f"FLWR_HOME={tmp_path / 'flwr-home'}".encode()
    with open(log, "wb") as output:
        command = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"deployment: SuperLink" not in log.read_bytes():  # the run was submitted just before this line
            assert command.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the deployment never came up"
            time.sleep(0.1)
        started = processes_with(entry)
        assert len(started) >= 5  # SuperLink, 2 SuperNodes, 2 party hosts (and their helpers)
        os.kill(command.pid, signal.SIGINT)
        assert command.wait(90) == 130
        assert "interrupted" in log.read_text()
        assert processes_with(entry) == []
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()
        for pid in processes_with(entry):  # a failed test still leaves nothing behind
            kill_if_carrying(pid, entry)
