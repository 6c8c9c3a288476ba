"""A local Flower deployment as a context manager: one SuperLink, N SuperNodes, helpers, all stopped on exit.

``LocalDeployment`` starts ``flower-superlink`` and one ``flower-supernode`` per node on loopback ports
chosen free at run time, in insecure mode (loopback only: nothing leaves the machine; see
``protocols/deploy.md`` for TLS and node authentication), waits for each with a bounded time-out, and
on exit (normal, exception, Ctrl-C) stops every process it started: SIGTERM to each process group,
``wait()``, SIGKILL to the group after ``stop_timeout``.  Flower's daemons start children of their own,
one of them detached into its own session (the SuperLink's ``flower-superexec``), which a process
group signal does not reach; so every process started here carries a per-deployment marker in its
environment, which its descendants inherit, and :func:`leftover_processes` finds any that remain by
reading ``/proc/<pid>/environ``.  ``stop()`` waits for those to exit (Flower's parent watchdog ends
them) and kills the stragglers by pid.

Environment of every process: the running interpreter's ``bin`` first on PATH (the daemons start
``flower-superexec``, ``flwr-serverapp`` and ``flwr-clientapp`` by name), this package's root first on
PYTHONPATH (Flower's app processes import ``securecompute``), ``FLWR_HOME`` in the work directory,
``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1`` (never ``uv sync`` an app at run time),
``FLWR_DISABLE_UPDATE_CHECK=1`` (no call to api.flower.ai) and ``FLWR_TELEMETRY_ENABLED=0`` (Flower's
daemons and apps otherwise post usage events to telemetry.flower.ai: nothing may leave loopback).

Facts this rests on (flwr 1.42, measured: ``shared/research/flower-deploy.md``): the SuperLink
serves its Fleet, Control and Runtime APIs on one HTTP port and answers ``GET /health``; a SuperNode
logs ``SuperNode ID: <id>`` once registered; ``flwr run <app> <connection>`` reads the connection
from ``$FLWR_HOME/config.toml``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from securecompute.errors import DependencyMissingError, ParameterError, SecureComputeError
from securecompute.federated.deploy.tls import TlsFiles

__all__ = [
    "MARKER_VARIABLE",
    "SWEEP_SUPPORTED",
    "DeploymentError",
    "DeploymentTimeoutError",
    "LocalDeployment",
    "NodeSpec",
    "StartStop",
    "free_ports",
    "kill_if_carrying",
    "leftover_processes",
    "processes_with",
    "time_limit",
    "toml_value",
]

logger = logging.getLogger(__name__)

MARKER_VARIABLE = "SECURECOMPUTE_DEPLOYMENT"
"""Environment variable holding the deployment's random id in every process it started (and their children)."""
CONNECTION = "local"
"""Name of the connection written to ``$FLWR_HOME/config.toml`` for ``flwr run``."""
FLOWER_INSTALL_HINT = "pip install 'securecompute[flower]'"
_NODE_ID = re.compile(rb"SuperNode ID: (\d+)")
_PORT_TAKEN = b"address already in use"
PORT_ATTEMPTS = 3
"""Ports tried per daemon when the one chosen free is taken by another process before the daemon binds it."""
_LOG_TAIL = 600
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DeploymentError(SecureComputeError, RuntimeError):
    """A deployment process did not start, died, or a run failed; the message names it and quotes its log."""


class DeploymentTimeoutError(DeploymentError):
    """A bounded wait of the deployment ran out (:func:`time_limit`); everything started is stopped by the caller."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str, *, expire: Callable[[], None] | None = None) -> Iterator[None]:
    """Raise :class:`DeploymentTimeoutError` in the block once ``seconds`` of wall time have passed.

    In the main thread (Unix) SIGALRM interrupts whatever the block is doing, ``flwr`` CLI calls included
    (their child is killed).  An alarm armed before the block (``signal.alarm``, pytest-timeout) is put
    back afterwards with its handler and its remaining time less the block's; one that came due during
    the block goes off just after it.  Stop the processes AFTER the block: the alarm is off then, and a
    stop is never interrupted.

    Elsewhere (another thread: Python runs signal handlers in the main thread only), ``expire`` is called
    from a timer thread when the time is up; it must make the block's waits fail
    (:meth:`LocalDeployment.abort` kills the processes they wait on), and the block's exit then raises
    :class:`DeploymentTimeoutError`, chained to the error the block ended with.  Without ``expire``,
    such a block runs under its own bounded waits alone.

    Raises:
        ParameterError: ``seconds`` not a positive number.
    """
    if not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ParameterError(f"seconds must be a positive number, got {seconds!r}")
    message = f"{what} did not finish within {seconds:g} s"
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(seconds, message):
            yield
        return
    if expire is None:
        yield
        return
    fired = threading.Event()

    def run_out() -> None:
        fired.set()
        expire()

    timer = threading.Timer(seconds, run_out)
    timer.daemon = True
    timer.start()
    try:
        try:
            yield
        finally:
            timer.cancel()
            timer.join()  # expire() has returned, if it started
    except Exception as error:
        if fired.is_set():
            raise DeploymentTimeoutError(message) from error
        raise
    if fired.is_set():
        raise DeploymentTimeoutError(message)


@contextlib.contextmanager
def _alarm(seconds: float, message: str) -> Iterator[None]:
    """SIGALRM after ``seconds`` raises :class:`DeploymentTimeoutError` (``message``); the previous alarm is put back."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeploymentTimeoutError(message)

    started = time.monotonic()
    outer, interval = 0.0, 0.0
    previous = signal.signal(signal.SIGALRM, expire)
    try:
        outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)  # an alarm armed before: (left, interval)
        try:
            yield
        finally:  # an alarm due right here raises past this line: the outer finally still restores
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3), interval)


@dataclass(frozen=True)
class NodeSpec:
    """One SuperNode: its name (for logs and results) and its ``--node-config`` entries (TOML values)."""

    name: str
    node_config: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


class StartStop:
    """A context manager over ``start()`` and ``stop()``: stopped on exit, and on a failed start too."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:  # Ctrl-C during start-up included: stop what did start
            self.stop_uninterrupted()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop_uninterrupted()

    def stop_uninterrupted(self) -> None:
        """``stop()`` with Ctrl-C and SIGTERM held until it returns, then delivered.

        A user who presses Ctrl-C again while the first one is stopping the processes would otherwise
        abort ``stop()`` half way and leave daemons (each in its own session) running.  Held only in
        the main thread (where Python runs signal handlers); elsewhere ``stop()`` runs as is.
        """
        if threading.current_thread() is not threading.main_thread():
            self.stop()
            return
        held: list[int] = []
        previous = {number: signal.signal(number, lambda n, _: held.append(n)) for number in _HELD_SIGNALS}
        try:
            self.stop()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
            if held:
                signal.raise_signal(held[0])  # now handled as it would have been (KeyboardInterrupt for Ctrl-C)


class LocalDeployment(StartStop):
    """A SuperLink and N SuperNodes on loopback, started on ``__enter__`` and stopped on ``__exit__``.

    Args:
        nodes: one spec per SuperNode (distinct names).
        workdir: folder for logs, ``FLWR_HOME`` and run outputs (created).
        startup_timeout: seconds to wait for the SuperLink's health and for every node's registration.
        stop_timeout: seconds to wait for a process group after SIGTERM before SIGKILL.
        tls: the SuperLink's TLS files (:mod:`.tls`); None (default) runs Flower's insecure mode.
        node_auth: SuperNode authentication (needs ``tls``): each node gets an EC P-384 key in
            ``workdir/node-keys``, registered with ``flwr supernode register`` before it starts, and the
            SuperLink (``--enable-supernode-auth``) admits registered nodes only.

    Attributes (after start):
        address: "127.0.0.1:PORT" of the SuperLink.
        node_ids: node name -> Flower node id (parsed from each SuperNode's log).
        node_keys: node name -> its authentication private key file (with ``node_auth``).

    Raises:
        ParameterError: no nodes, duplicate names, non-positive time-outs.
        DependencyMissingError: the Flower executables are not installed.
        DeploymentError: a process died or did not become ready in time (its log tail quoted).
    """

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        workdir: str | Path,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        tls: TlsFiles | None = None,
        node_auth: bool = False,
    ) -> None:
        names = [node.name for node in nodes]
        if node_auth and tls is None:
            raise ParameterError("node_auth needs tls: Flower refuses SuperNode authentication without TLS")
        if not names or len(set(names)) != len(names):
            raise ParameterError(f"nodes must be a non-empty list with distinct names, got {names}")
        for label, value in (("startup_timeout", startup_timeout), ("stop_timeout", stop_timeout)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ParameterError(f"{label} must be a positive number of seconds, got {value!r}")
        self.nodes = list(nodes)
        self.workdir = Path(workdir).absolute()
        self.startup_timeout = float(startup_timeout)
        self.stop_timeout = float(stop_timeout)
        self.marker = uuid.uuid4().hex
        self.address = ""
        self.node_ids: dict[str, int] = {}
        self.tls, self.node_auth = tls, bool(node_auth)
        self.node_keys: dict[str, Path] = {}
        self._processes: list[_Process] = []
        self._starting: list[tuple[NodeSpec, _Process]] = []
        self._lock = threading.Lock()  # a process is started whole, or not at all, around abort()
        self._aborted = False
        self.env = self._environment()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the SuperLink, wait for its health, start the SuperNodes, wait for their node ids.

        The same as :meth:`begin` then :meth:`finish`; between the two a caller may already submit a
        run (``flwr run`` needs the SuperLink only), which then starts while the nodes register.
        A port taken by another process between choosing it and the daemon binding it (the daemon exits
        with "address already in use") is chosen afresh, at most :data:`PORT_ATTEMPTS` times per daemon.
        """
        self.begin()
        self.finish()

    def begin(self) -> None:
        """Start the SuperLink and wait for its health; register the nodes' keys; start the SuperNodes."""
        flwr_home = Path(self.env["FLWR_HOME"])
        flwr_home.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._start_superlink(flwr_home)
        if self.node_auth:
            for node in self.nodes:
                self.register_node(node.name)
        self._starting = [(node, self.start_node(node)) for node in self.nodes]

    def finish(self) -> None:
        """Wait (bounded by ``startup_timeout``) for every SuperNode :meth:`begin` started to log its node id."""
        deadline = time.monotonic() + self.startup_timeout
        for node, process in self._starting:
            for attempt in range(PORT_ATTEMPTS):
                try:
                    self.node_ids[node.name] = self.wait_for_node(process, deadline)
                    break
                except DeploymentError:
                    if attempt + 1 == PORT_ATTEMPTS or not self._lost_port(process):
                        raise
                    process = self.start_node(node)
        self._starting = []
        logger.info("deployment up at %s with nodes %s", self.address, self.node_ids)

    def _start_superlink(self, flwr_home: Path) -> None:
        """Start the SuperLink on a free port (chosen again if another process took it first); wait for health."""
        for attempt in range(PORT_ATTEMPTS):
            port = free_ports(1)[0]
            self.address = f"127.0.0.1:{port}"
            (flwr_home / "config.toml").write_text(
                f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{self.address}"\n'
                + ("insecure = true\n" if self.tls is None else f'root-certificates = "{self.tls.ca_certificate}"\n')
            )
            argv = [_executable("flower-superlink"), "--host", "127.0.0.1", "--port", str(port)]
            if self.tls is None:
                argv.append("--insecure")
            else:
                argv += ["--ssl-ca-certfile", str(self.tls.ca_certificate)]
                argv += ["--ssl-certfile", str(self.tls.server_certificate), "--ssl-keyfile", str(self.tls.server_key)]
            if self.node_auth:
                argv.append("--enable-supernode-auth")
            link = self.spawn("superlink", argv)
            try:
                self._wait_healthy(link, port)
                return
            except DeploymentError:
                if attempt + 1 == PORT_ATTEMPTS or not self._lost_port(link):
                    raise
                logger.warning("port %d was taken before the SuperLink bound it; trying another", port)

    def start_node(
        self,
        node: NodeSpec,
        *,
        root_certificates: Path | None = None,
        auth_key: Path | None = None,
        max_wait: float | None = None,
    ) -> _Process:
        """Start the SuperNode ``node`` on a fresh free port (it logs its node id once registered).

        Args:
            root_certificates: the CA the node checks the SuperLink's certificate with (default: the
                deployment's; a test passes another one).
            auth_key: the node's authentication private key (default: its registered one, with node_auth).
            max_wait: seconds the node keeps retrying to connect before it exits (default: no limit).
        """
        port = free_ports(1)[0]
        argv = [
            _executable("flower-supernode"),
            "--superlink",
            self.address,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        certificates = root_certificates or (self.tls.ca_certificate if self.tls is not None else None)
        argv += ["--insecure"] if certificates is None else ["--root-certificates", str(certificates)]
        key = auth_key or self.node_keys.get(node.name)
        if key is not None:
            argv += ["--auth-supernode-private-key", str(key)]
        if max_wait is not None:
            argv += ["--max-wait-time", repr(float(max_wait))]
        if node.node_config:
            argv += ["--node-config", " ".join(f"{k}={toml_value(v)}" for k, v in node.node_config.items())]
        return self.spawn(f"supernode-{node.name}", argv)

    def register_node(self, name: str) -> int:
        """Register node ``name``'s authentication key (``workdir/node-keys/<name>.key``, made unless a run
        in this work folder made it before); return its node id.

        Raises:
            DeploymentError: ``flwr supernode register`` failed (its output quoted).
            ParameterError: a key file there that :func:`~.tls.prepare_node_key` refuses.
        """
        from securecompute.federated.deploy.tls import prepare_node_key

        private, public = prepare_node_key(self.workdir / "node-keys" / f"{name}.key")
        argv = [_executable("flwr"), "supernode", "register", str(public), CONNECTION, "--format", "json"]
        completed = self._flwr(argv, timeout=60.0)
        output = completed.stdout.decode(errors="replace")
        try:
            node_id = int(json.loads(output)["node-id"])
        except (ValueError, KeyError, TypeError) as error:
            tail = (output + completed.stderr.decode(errors="replace"))[-_LOG_TAIL:]
            raise DeploymentError(f"flwr supernode register failed (exit {completed.returncode}): {tail!r}") from error
        self.node_keys[name] = private
        return node_id

    def wait_for_node(self, process: _Process, deadline: float) -> int:
        """The node id the SuperNode ``process`` logs once registered, waited for until ``deadline`` (monotonic)."""
        return self._wait_for_log(process, _NODE_ID, deadline, "register with the SuperLink")

    def _lost_port(self, process: _Process) -> bool:
        """Whether ``process`` has exited because its port was taken (it is then forgotten: already reaped)."""
        if process.popen.poll() is None or _PORT_TAKEN not in process.log_path.read_bytes():
            return False
        self._processes.remove(process)
        process.log_path.rename(process.log_path.with_suffix(".port-taken.log"))
        return True

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> _Process:
        """Start ``argv`` in its own process group with this deployment's environment; stopped by :meth:`stop`.

        Raises:
            DeploymentTimeoutError: the deployment was aborted (:meth:`abort`).
        """
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(log_path, "wb") as log:
            self._refuse_if_aborted(name)
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env or {})},
                cwd=self.workdir,
                start_new_session=True,  # its own process group: signalled as a whole
            )
            process = _Process(name, popen, log_path)
            self._processes.append(process)
        return process

    def abort(self) -> None:
        """SIGKILL every process of this deployment now and refuse to start more; callable from any thread.

        For a time limit that cannot interrupt the waiting thread (:func:`time_limit` outside the main
        thread): each wait in progress sees its process gone, or its ``flwr`` call killed, and fails
        within one poll.  :meth:`stop` still reaps them and sweeps what is left.
        """
        with self._lock:
            self._aborted = True
            for process in self._processes:
                if process.popen.poll() is None:  # a reaped leader's pid may lead another group by now
                    _signal_group(process.popen, signal.SIGKILL)
            for pid in leftover_processes(self.marker):  # detached descendants, flwr CLI calls
                kill_if_carrying(pid, _marker_entry(self.marker))

    def _refuse_if_aborted(self, name: str) -> None:
        """Raise DeploymentTimeoutError naming ``name`` (what was to start) once :meth:`abort` ran; hold the lock."""
        if self._aborted:
            raise DeploymentTimeoutError(f"{name} not started: the deployment was aborted by its time limit")

    def kill(self, name: str) -> None:
        """SIGKILL the process group of the process started as ``name`` (e.g. "supernode-p2") and reap it."""
        for process in self._processes:
            if process.name == name:
                _signal_group(process.popen, signal.SIGKILL)
                process.popen.wait(self.stop_timeout)
                return
        raise ParameterError(f"no process named {name!r}; started: {[p.name for p in self._processes]}")

    def stop(self) -> None:
        """Stop every process (SuperNodes and helpers first, the SuperLink last), then sweep descendants.

        SIGTERM goes to every group of a stage at once and the stage is then waited for, so the
        stop takes about as long as the slowest process, not the sum.
        """
        last = [process for process in self._processes if process.name == "superlink"]
        first = [process for process in self._processes if process.name != "superlink"]
        for stage in (first, last):
            for process in stage:
                if process.popen.poll() is None:
                    _signal_group(process.popen, signal.SIGTERM)
            for process in stage:
                try:
                    _stop(process.popen, self.stop_timeout)
                except subprocess.TimeoutExpired:  # not reaped even after SIGKILL: go on with the others
                    logger.warning("%s (pid %d) did not exit after SIGKILL", process.name, process.popen.pid)
        deadline = time.monotonic() + self.stop_timeout
        while leftover_processes(self.marker) and time.monotonic() < deadline:
            time.sleep(0.2)  # detached children exit through Flower's parent-pid watchdog
        for pid in leftover_processes(self.marker):
            logger.warning("killing leftover deployment process %d", pid)
            kill_if_carrying(pid, _marker_entry(self.marker))
        deadline = time.monotonic() + self.stop_timeout
        while leftover_processes(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL is delivered asynchronously; the orphan's new parent reaps it

    # --- runs ----------------------------------------------------------------------------------
    def run_app(self, app_dir: str | Path, run_config: Mapping[str, str | int | float | bool]) -> int:
        """Submit the Flower app in ``app_dir`` with ``flwr run``; returns the run id (the run goes on).

        Raises:
            DeploymentError: ``flwr run`` failed (its output quoted).
        """
        overrides = " ".join(f"{key}={toml_value(value)}" for key, value in run_config.items())
        argv = [_executable("flwr"), "run", str(app_dir), CONNECTION, "--format", "json"]
        if overrides:
            argv += ["--run-config", overrides]
        completed = self._flwr(argv, timeout=120.0)
        output = completed.stdout.decode(errors="replace")
        try:
            run_id = int(json.loads(output)["run-id"])
        except (ValueError, KeyError, TypeError) as error:
            tail = (output + completed.stderr.decode(errors="replace"))[-_LOG_TAIL:]
            raise DeploymentError(f"flwr run failed (exit {completed.returncode}): {tail!r}") from error
        return run_id

    def run_status(self, run_id: int) -> str:
        """The run's status as ``flwr ls`` reports it (e.g. "running", "finished:completed"), "" if unknown."""
        argv = [_executable("flwr"), "ls", CONNECTION, "--run-id", str(run_id), "--format", "json"]
        completed = self._flwr(argv, timeout=60.0)
        try:
            runs: list[dict[str, Any]] = json.loads(completed.stdout)["runs"]
            return str(runs[0]["status"])
        except (ValueError, KeyError, IndexError, TypeError):
            return ""

    def run_log(self, run_id: int) -> str:
        """The ServerApp's log of run ``run_id`` (``flwr log --show``), "" if it cannot be read."""
        argv = [_executable("flwr"), "log", str(run_id), CONNECTION, "--show"]
        return self._flwr(argv, timeout=60.0).stdout.decode(errors="replace")

    def wait_for_file(self, path: Path, run_id: int, timeout: float) -> None:
        """Wait until the run wrote ``path`` (a run's result), bounded by ``timeout`` seconds.

        Raises:
            DeploymentError: the run finished without writing it, a daemon died, or the time ran out.
        """
        deadline = time.monotonic() + timeout
        next_status = time.monotonic() + 5.0
        while not path.exists():
            self.check_alive("superlink")
            if time.monotonic() > deadline:
                raise DeploymentError(f"run {run_id} wrote no {path.name} within {timeout:.0f} s")
            if time.monotonic() > next_status:
                status = self.run_status(run_id)
                if status.startswith("finished") and not path.exists():
                    tail = self.run_log(run_id)[-_LOG_TAIL:]
                    raise DeploymentError(f"run {run_id} ended ({status}) without writing {path.name}: {tail!r}")
                next_status = time.monotonic() + 5.0
            time.sleep(0.1)

    def log_tail(self, name: str) -> str:
        """The last few hundred characters of the log of the process started as ``name``."""
        for process in self._processes:
            if process.name == name:
                return process.log_path.read_bytes()[-_LOG_TAIL:].decode(errors="replace")
        return ""

    @property
    def pids(self) -> list[int]:
        """Process ids of the processes started directly (each leads its own group)."""
        return [process.popen.pid for process in self._processes]

    # --- internals -----------------------------------------------------------------------------
    def _flwr(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Run one ``flwr`` CLI command in this deployment's environment, bounded by ``timeout`` seconds.

        Its child carries the deployment's marker, so :meth:`abort` kills it too; it is killed as well
        when the wait is interrupted (Ctrl-C, :func:`time_limit`).
        """
        what = " ".join(argv[1:3])
        with self._lock:
            self._refuse_if_aborted(what)
            child = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, cwd=self.workdir
            )
        with child:
            try:
                out, err = child.communicate(timeout=timeout)
            except BaseException as error:
                child.kill()
                child.communicate()
                if isinstance(error, subprocess.TimeoutExpired):
                    raise DeploymentError(f"{what} did not finish within {timeout:.0f} s") from error
                raise
        return subprocess.CompletedProcess(argv, child.returncode, out, err)

    def _environment(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        package_root = str(Path(__file__).resolve().parents[3])
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH", "")]))
        return {
            **os.environ,
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            "PYTHONPATH": python_path,
            "FLWR_HOME": str(self.workdir / "flwr-home"),
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            MARKER_VARIABLE: self.marker,
        }

    def _wait_healthy(self, process: _Process, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        scheme, context = "http", None
        if self.tls is not None:  # /health is HTTPS then, checked against the deployment's CA
            scheme, context = "https", ssl.create_default_context(cafile=str(self.tls.ca_certificate))
        while True:
            self.check_alive(process.name)
            try:
                url = f"{scheme}://127.0.0.1:{port}/health"
                with urllib.request.urlopen(url, timeout=1.0, context=context) as response:
                    if response.status == 200:
                        return
            except urllib.error.URLError as error:
                if isinstance(error.reason, ssl.SSLCertVerificationError) and self.tls is not None:
                    raise DeploymentError(
                        f"the SuperLink's certificate {self.tls.server_certificate} does not verify for 127.0.0.1 "
                        f"against {self.tls.ca_certificate} ({error.reason.verify_message}); accepted: one "
                        "signed by that CA naming 127.0.0.1, as tls.make_tls_files makes"
                    ) from None
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"the SuperLink was not healthy within {self.startup_timeout:.0f} s: {self.log_tail(process.name)!r}"
                )
            time.sleep(0.2)

    def _wait_for_log(self, process: _Process, pattern: re.Pattern[bytes], deadline: float, what: str) -> int:
        while True:
            found = pattern.search(process.log_path.read_bytes())
            if found:
                return int(found.group(1))
            self.check_alive(process.name)
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"{process.name} did not {what} within {self.startup_timeout:.0f} s: {self.log_tail(process.name)!r}"
                )
            time.sleep(0.2)

    def check_alive(self, name: str) -> None:
        """Raise DeploymentError (with its log tail) if the process started as ``name`` has exited."""
        for process in self._processes:
            if process.name == name and process.popen.poll() is not None:
                raise DeploymentError(f"{name} exited with code {process.popen.returncode}: {self.log_tail(name)!r}")


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now (all bound at once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


SWEEP_SUPPORTED = Path("/proc/self/environ").exists()
"""Whether :func:`leftover_processes` can see other processes' environments (Linux ``/proc``)."""


def leftover_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``MARKER_VARIABLE=marker`` (zombies excluded).

    Only the exact entry ``MARKER_VARIABLE=<random 128-bit id>`` matches, and only processes this
    account may read, so an unrelated process is never listed.  Linux only: without ``/proc``
    (:data:`SWEEP_SUPPORTED` false) it returns [] and detached descendants are left to Flower's
    parent-pid watchdog.
    """
    return processes_with(_marker_entry(marker))


def processes_with(entry: bytes) -> list[int]:
    """Pids of live, non-zombie processes (this one excluded) whose environment holds ``entry`` (b"NAME=value")."""
    if not SWEEP_SUPPORTED:
        return []
    return [
        int(folder.name)
        for folder in Path("/proc").iterdir()
        if folder.name.isdigit() and int(folder.name) != os.getpid() and _carries(int(folder.name), entry)
    ]


def _marker_entry(marker: str) -> bytes:
    return f"{MARKER_VARIABLE}={marker}".encode()


def _carries(pid: int, entry: bytes) -> bool:
    """Whether ``pid`` is a live, non-zombie process whose environment holds ``entry`` exactly."""
    folder = Path("/proc") / str(pid)
    try:
        if entry not in (folder / "environ").read_bytes().split(b"\0"):
            return False
        state = (folder / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:  # gone, or not ours
        return False
    return state != "Z"


def kill_if_carrying(pid: int, entry: bytes) -> None:
    """SIGKILL ``pid`` if its environment still holds ``entry``, through a pidfd so a reused pid is never hit.

    The pidfd is opened first and the marker checked after: if ``pid`` was reused between the scan and
    now, the check reads the new process (no such entry: not signalled); if it exits after the check, the
    signal goes to the dead process's pidfd, never to a newcomer.  Without pidfds (Linux < 5.3) the
    check and ``kill`` leave that small window open.
    """
    handle = None
    try:
        with contextlib.suppress(OSError, AttributeError):  # no pidfd_open here: fall back to the pid
            handle = os.pidfd_open(pid)
        if not _carries(pid, entry):
            return
        if handle is None:
            os.kill(pid, signal.SIGKILL)
        else:
            signal.pidfd_send_signal(handle, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        if handle is not None:
            os.close(handle)


def toml_value(value: str | int | float | bool) -> str:
    """``value`` as a TOML literal for Flower's ``k=v`` option strings (strings quoted, no quotes inside).

    Raises:
        ParameterError: a string with a quote, backslash or newline (Flower's parser cannot carry it).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if any(character in value for character in "\"'\\\n"):
        raise ParameterError(f"config string {value!r} may not contain quotes, backslashes or newlines")
    return f'"{value}"'


def _executable(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if path is None:
        raise DependencyMissingError(f"{name} is not installed: {FLOWER_INSTALL_HINT}")
    return path


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signum)  # the group id is the pid: started with start_new_session


def _stop(popen: subprocess.Popen[bytes], timeout: float) -> None:
    if popen.poll() is None:
        _signal_group(popen, signal.SIGTERM)
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(popen, signal.SIGKILL)
        popen.wait(timeout)
