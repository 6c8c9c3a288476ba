"""The process manager: ports, option strings, process groups, the leftover sweep, bounded start-up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from securecompute.errors import ParameterError
from securecompute.federated.deploy import processes
from securecompute.federated.deploy.processes import (
    MARKER_VARIABLE,
    SWEEP_SUPPORTED,
    DeploymentError,
    LocalDeployment,
    NodeSpec,
    StartStop,
    free_ports,
    leftover_processes,
    toml_value,
)

needs_proc = pytest.mark.skipif(not SWEEP_SUPPORTED, reason="the leftover sweep reads /proc/<pid>/environ (Linux)")

# a child that starts a DETACHED grandchild (its own session, like the SuperLink's flower-superexec), then sleeps
TREE = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True); "
    "time.sleep(120)"
)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("value", "literal"), [("a b", '"a b"'), (3, "3"), (2.5, "2.5"), (True, "true"), (False, "false")]
)
def test_toml_values(value: str | int | float | bool, literal: str) -> None:
    assert toml_value(value) == literal


@pytest.mark.parametrize("value", ['say "hi"', "it's", "back\\slash", "two\nlines"])
def test_toml_refuses_strings_flower_cannot_carry(value: str) -> None:
    with pytest.raises(ParameterError, match="quotes"):
        toml_value(value)


def test_bad_deployments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="distinct"):
        LocalDeployment([NodeSpec("a"), NodeSpec("a")], tmp_path)
    with pytest.raises(ParameterError, match="non-empty"):
        LocalDeployment([], tmp_path)
    with pytest.raises(ParameterError, match="startup_timeout"):
        LocalDeployment([NodeSpec("a")], tmp_path, startup_timeout=0)


@needs_proc
def test_stop_ends_process_groups_and_detached_descendants(tmp_path: Path) -> None:
    deployment = LocalDeployment([NodeSpec("a")], tmp_path, stop_timeout=2.0)
    try:
        deployment.spawn("tree", [sys.executable, "-c", TREE])
        deadline = time.monotonic() + 10
        while len(leftover_processes(deployment.marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(leftover_processes(deployment.marker)) == 2  # the child and its detached grandchild
    finally:
        deployment.stop()  # also when the assertion fails: no sleeper outlives the test
    assert leftover_processes(deployment.marker) == []
    assert all(process.popen.returncode is not None for process in deployment._processes)


def test_kill_names_an_unknown_process(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no process named"):
        LocalDeployment([NodeSpec("a")], tmp_path).kill("nobody")


@pytest.mark.deploy
def test_a_start_that_times_out_raises_and_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")
    deployment = LocalDeployment([NodeSpec("a")], tmp_path, startup_timeout=0.05)
    with pytest.raises(DeploymentError, match="not healthy within"), deployment:
        pass
    assert leftover_processes(deployment.marker) == []


def test_a_process_that_died_is_reported_with_its_log(tmp_path: Path) -> None:
    deployment = LocalDeployment([NodeSpec("a")], tmp_path)
    try:
        process = deployment.spawn("bad", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
        process.popen.wait(30)
        with pytest.raises(DeploymentError, match="bad exited with code 3: 'boom"):
            deployment.check_alive("bad")
    finally:
        deployment.stop()
    assert leftover_processes(deployment.marker) == []


@pytest.mark.deploy
def test_flower_processes_run_with_telemetry_and_update_checks_off(tmp_path: Path) -> None:
    """Flower's own switches, as a process started here reads them: nothing may leave loopback."""
    pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")
    deployment = LocalDeployment([NodeSpec("a")], tmp_path)
    probe = (
        "import os; from flwr.supercore import telemetry; "
        "print(telemetry.FLWR_TELEMETRY_ENABLED, os.environ['FLWR_DISABLE_UPDATE_CHECK'], "
        "os.environ['FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION'])"
    )
    process = deployment.spawn("probe", [sys.executable, "-c", probe])
    try:
        assert process.popen.wait(60) == 0
    finally:
        deployment.stop()
    assert process.log_path.read_text().split()[-3:] == ["0", "1", "1"]


class _StopsSlowly(StartStop):
    """stop() receives a second Ctrl-C half way (the user presses it again while processes are stopped)."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.steps.append("first half")
        signal.raise_signal(signal.SIGINT)
        self.steps.append("second half")


def test_a_ctrl_c_while_stopping_is_held_until_every_process_is_stopped() -> None:
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), _StopsSlowly() as manager:
        pass
    assert manager.steps == ["first half", "second half"]  # stop() ran to its end, then the Ctrl-C came
    assert signal.getsignal(signal.SIGINT) is handler


@needs_proc
def test_the_sweep_kills_only_processes_with_the_marker(tmp_path: Path) -> None:
    marker = "0" * 32
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    unrelated = subprocess.Popen(sleeper, env={k: v for k, v in os.environ.items() if k != MARKER_VARIABLE})
    marked = subprocess.Popen(sleeper, env={**os.environ, MARKER_VARIABLE: marker})
    try:
        deadline = time.monotonic() + 10
        while leftover_processes(marker) != [marked.pid] and time.monotonic() < deadline:
            time.sleep(0.05)  # the environment is readable once the child has exec'd
        assert leftover_processes(marker) == [marked.pid]
        processes.kill_if_carrying(unrelated.pid, f"{MARKER_VARIABLE}={marker}".encode())
        processes.kill_if_carrying(marked.pid, f"{MARKER_VARIABLE}={marker}".encode())
        assert marked.wait(10) == -signal.SIGKILL
        assert unrelated.poll() is None  # the same call on a process without the marker does nothing
    finally:
        for child in (unrelated, marked):
            child.kill()
            child.wait()


@pytest.mark.deploy
def test_a_port_taken_before_the_daemon_binds_it_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between choosing a free port and the daemon binding it: the daemon fails, a new port is tried."""
    pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")
    real = processes.free_ports
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        handed: list[int] = []

        def racy(count: int) -> list[int]:  # the SuperLink's port and the first node's are taken meanwhile
            ports = [taken] if len(handed) in (0, 2) else real(count)
            handed.extend(ports)
            return ports

        monkeypatch.setattr(processes, "free_ports", racy)
        with LocalDeployment([NodeSpec("a")], tmp_path) as deployment:
            assert int(deployment.address.rsplit(":", 1)[1]) != taken
            assert set(deployment.node_ids) == {"a"}
        assert handed.count(taken) == 2
        assert (tmp_path / "logs" / "superlink.port-taken.log").exists()
        assert (tmp_path / "logs" / "supernode-a.port-taken.log").exists()
        assert leftover_processes(deployment.marker) == []

        # a port that stays taken: bounded, PORT_ATTEMPTS tries, then the daemon's own error
        monkeypatch.setattr(processes, "free_ports", lambda count: [taken])
        started = time.monotonic()
        with (
            pytest.raises(DeploymentError, match="address already in use"),
            LocalDeployment([NodeSpec("a")], tmp_path / "b"),
        ):
            pass
        assert time.monotonic() - started < 60


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="time_limit uses SIGALRM (Unix)")
def test_time_limit_interrupts_a_blocking_child_and_restores_the_alarm_handler(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(processes.DeploymentTimeoutError, match=r"the probe did not finish within 0\.3 s"):  # noqa: SIM117
        with processes.time_limit(0.3, "the probe"):
            subprocess.run([sys.executable, "-c", "import time; time.sleep(30)"], check=False)
    assert time.monotonic() - started < 10  # the child was killed, not waited for
    assert signal.getsignal(signal.SIGALRM) is previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with processes.time_limit(5.0, "a quick block"):  # a block that ends in time is left alone
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="time_limit uses SIGALRM (Unix)")
def test_time_limit_puts_back_an_alarm_armed_before_it() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda number, frame: fired.append(number))
    outer = signal.getsignal(signal.SIGALRM)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)  # e.g. pytest-timeout's, or a user's signal.alarm
        with processes.time_limit(5.0, "a block"):
            time.sleep(0.2)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < left <= 29.8  # its own time, less the block's
        assert signal.getsignal(signal.SIGALRM) is outer
        signal.setitimer(signal.ITIMER_REAL, 0.1)  # one that comes due during the block goes off just after it
        with processes.time_limit(5.0, "a block"):
            time.sleep(0.4)
        assert fired == []
        time.sleep(0.5)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_time_limit_outside_the_main_thread_calls_expire_then_raises() -> None:
    """Python runs signal handlers in the main thread only: there the bound is a timer that calls ``expire``."""
    outcomes: list[BaseException | None] = []

    def bounded(seconds: float, woken: threading.Event) -> None:
        try:
            with processes.time_limit(seconds, "the probe", expire=woken.set):
                if woken.wait(0.5 if seconds > 1 else 10.0):  # a wait that fails once its process is stopped
                    raise DeploymentError("the waited-on process is gone")
            outcomes.append(None)
        except BaseException as error:
            outcomes.append(error)

    started = time.monotonic()
    for seconds in (0.3, 30.0):
        thread = threading.Thread(target=bounded, args=(seconds, threading.Event()))
        thread.start()
        thread.join(20.0)
    assert time.monotonic() - started < 5.0  # the second timer was cancelled, not waited for
    timed_out, in_time = outcomes
    assert isinstance(timed_out, processes.DeploymentTimeoutError)
    assert str(timed_out) == "the probe did not finish within 0.3 s"
    assert isinstance(timed_out.__cause__, DeploymentError)
    assert in_time is None  # a block that ends in time is left alone
