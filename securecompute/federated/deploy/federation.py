"""A local FRAG federation on Flower: party hosts, SuperNodes, a SuperLink, and searches run as Flower runs.

:class:`FragFederation` is what ``securecompute deploy frag`` and the deployment tests use.  On entry it
gives every party its own files (its vectors as ``.npy``, a fresh 32-byte channel private key, mode
0600), starts a :class:`~.processes.LocalDeployment` whose SuperNodes each name their party host's
socket in their node config, starts one party host per party (:mod:`.partyhost`), and writes the
querier's manifest: per party, its name, Flower node id and the PUBLIC half of its channel key (the
pinning a real querier gets out of band).  The querier's CKKS secret key is made inside the ServerApp
process and never written anywhere.  :meth:`FragFederation.search` submits the FRAG app with
``flwr run`` and waits (bounded) for its result file.  On exit every process is stopped.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.federated.deploy.processes import DeploymentError, LocalDeployment, NodeSpec, StartStop
from securecompute.federated.deploy.project import write_app_project
from securecompute.federated.deploy.tls import TlsFiles

__all__ = ["FragFederation", "FragRun"]


@dataclass(frozen=True)
class FragRun:
    """A submitted FRAG run: its Flower run id and the files its ServerApp writes."""

    run_id: int
    out: Path
    trace: Path
    submitted: float


class FragFederation(StartStop):
    """FRAG parties on a local Flower deployment (context manager; every process stopped on exit).

    Args:
        stores: party name -> (n_i, d) float vectors (all the same d).
        workdir: folder for the parties' files, logs, the app project and results (created).
        metric: "cosine", "ip" or "l2".
        nlist: IVF lists per party (k-means, seeded by ``seed``), or None for full scans only.
        startup_timeout: seconds for the SuperLink, the nodes and the party hosts to come up.
        tls, node_auth: TLS for the SuperLink and SuperNode authentication (:class:`~.processes.LocalDeployment`).

    Raises:
        ParameterError: no stores, or stores of different dimensions.
        DeploymentError: a process did not start (its log tail quoted).
    """

    def __init__(
        self,
        stores: Mapping[str, np.ndarray],
        workdir: str | Path,
        *,
        metric: str = "cosine",
        nlist: int | None = None,
        seed: int = 0,
        startup_timeout: float = 60.0,
        tls: TlsFiles | None = None,
        node_auth: bool = False,
    ) -> None:
        dims = {np.asarray(vectors).shape[1:] for vectors in stores.values()}
        if not stores or len(dims) != 1 or len(next(iter(dims))) != 1:
            raise ParameterError(f"stores must be (n, d) arrays of one d, got shapes {sorted(dims)}")
        self.stores = {name: np.asarray(vectors, dtype=np.float64) for name, vectors in stores.items()}
        self.workdir = Path(workdir).absolute()
        self.metric = metric
        self.nlist, self.seed = nlist, seed
        self.startup_timeout = startup_timeout
        self._socket_dir = Path(tempfile.mkdtemp(prefix="scfrag-"))  # short: Unix socket paths max 107 bytes
        self.sockets = {name: self._socket_dir / f"{index}.sock" for index, name in enumerate(self.stores)}
        self.deployment = LocalDeployment(
            [NodeSpec(name, {"party-socket": str(self.sockets[name])}) for name in self.stores],
            self.workdir,
            startup_timeout=startup_timeout,
            tls=tls,
            node_auth=node_auth,
        )
        self.app_dir = write_app_project(self.workdir / "app")
        self.manifest = self.workdir / "manifest.json"
        self._public_keys: dict[str, bytes] = {}
        self._runs = 0

    def start(self) -> None:
        """Write the parties' files, start the party hosts and the deployment, write the manifest.

        The same as :meth:`begin` then :meth:`finish`; a run submitted between the two starts while the
        SuperNodes register (its ServerApp waits, bounded by its ``node-wait``, for the manifest).
        """
        self.begin()
        self.finish()

    def begin(self) -> None:
        """Write the parties' files, start the party hosts, the SuperLink (healthy) and the SuperNodes."""
        from securecompute.federated.frag.channels import ChannelEnd

        public_keys = self._public_keys
        parties = self.workdir / "parties"
        parties.mkdir(mode=0o700, exist_ok=True)
        parties.chmod(0o700)  # the parties' vectors and channel keys: the operator's account only
        for name, vectors in self.stores.items():
            folder = parties / name
            folder.mkdir(exist_ok=True)
            np.save(folder / "vectors.npy", vectors)
            key = secrets.token_bytes(32)
            key_file = folder / "channel.key"
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            public_keys[name] = ChannelEnd(key, role="responder").public_key
            argv = [sys.executable, "-m", "securecompute.federated.deploy.partyhost", "--name", name]
            argv += ["--vectors", str(folder / "vectors.npy"), "--key-file", str(key_file)]
            argv += ["--socket", str(self.sockets[name])]
            if self.nlist is not None:
                argv += ["--nlist", str(min(self.nlist, len(vectors))), "--seed", str(self.seed)]
            self.deployment.spawn(f"party-{name}", argv)  # they load their stores while Flower starts
        self.deployment.begin()

    def finish(self) -> None:
        """Wait for the SuperNodes' node ids and the party hosts' sockets; write the manifest (whole, at once)."""
        self.deployment.finish()
        deadline = time.monotonic() + self.startup_timeout
        for name, path in self.sockets.items():
            while not path.exists():
                self.deployment.check_alive(f"party-{name}")
                if time.monotonic() > deadline:
                    raise DeploymentError(f"party host {name!r} did not open {path} within {self.startup_timeout} s")
                time.sleep(0.1)
        entries = [
            {
                "name": name,
                "node_id": self.deployment.node_ids[name],
                "channel_public_key": self._public_keys[name].hex(),
            }
            for name in self.stores
        ]
        partial = self.manifest.with_suffix(".tmp")
        partial.write_text(json.dumps({"metric": self.metric, "parties": entries}))
        partial.replace(self.manifest)  # a ServerApp waiting for it reads all of it or nothing

    def stop(self) -> None:
        """Stop every process and remove the socket folder."""
        self.deployment.stop()
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    def submit(
        self,
        queries: np.ndarray,
        *,
        k: int = 10,
        nprobe: int | None = None,
        timeout: float = 60.0,
        fetch: bool = True,
    ) -> FragRun:
        """Start a Flower run of the FRAG ServerApp on (m, d) ``queries``; returns at once.

        ``nprobe``: IVF lists probed per party (None: full scan); ``timeout``: seconds per exchange
        before a party counts as failed; ``fetch``: also fetch the hits' vectors.

        Raises:
            ParameterError: ``queries`` not (m, d) with the stores' d.
        """
        matrix = np.asarray(queries, dtype=np.float64)
        dim = next(iter(self.stores.values())).shape[1]
        if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] != dim:
            raise ParameterError(f"queries must be (m, {dim}) with m >= 1, got shape {matrix.shape}")
        self._runs += 1
        folder = self.workdir / "runs" / str(self._runs)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "queries.npy", matrix)
        out, trace = folder / "result.json", folder / "trace.jsonl"
        trace.touch()
        config: dict[str, str | int | float | bool] = {
            "manifest": str(self.manifest),
            "queries": str(folder / "queries.npy"),
            "out": str(out),
            "trace": str(trace),
            "k": int(k),
            "nprobe": 0 if nprobe is None else int(nprobe),
            "timeout": float(timeout),
            "fetch": bool(fetch),
        }
        submitted = time.monotonic()
        return FragRun(self.deployment.run_app(self.app_dir, config), out, trace, submitted)

    def wait(self, run: FragRun, timeout: float = 300.0) -> dict[str, Any]:
        """The result JSON of ``run`` (see :mod:`.frag_app`), plus ``wall_seconds`` since submission.

        Raises:
            DeploymentError: the run ended without a result or ``timeout`` seconds passed.
        """
        self.deployment.wait_for_file(run.out, run.run_id, timeout)
        result: dict[str, Any] = json.loads(run.out.read_text())
        result["wall_seconds"] = time.monotonic() - run.submitted
        return result

    def search(
        self,
        queries: np.ndarray,
        *,
        k: int = 10,
        nprobe: int | None = None,
        timeout: float = 60.0,
        fetch: bool = True,
        wait: float = 600.0,
    ) -> dict[str, Any]:
        """:meth:`submit` then :meth:`wait` (at most ``wait`` seconds)."""
        return self.wait(self.submit(queries, k=k, nprobe=nprobe, timeout=timeout, fetch=fetch), wait)

    def trace_events(self, run: FragRun) -> list[dict[str, Any]]:
        """The events the run's ServerApp has written so far (one dict per line)."""
        lines = run.trace.read_text().splitlines() if run.trace.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    @property
    def marker(self) -> str:
        """The deployment's process marker (:func:`~.processes.leftover_processes`)."""
        return self.deployment.marker
