"""Same-run comparisons for the zk prover benchmarks: 1 against 2 threads, and the previous (Python-int) prover.

``compare_threads`` runs one workload with each thread count in turn, repeat by repeat (interleaved, so the load
of a shared machine falls on every count alike), and keeps every time with the load average after each round.

``previous_prover`` times the zkReLU prover as it was before the limb kernels (commit ``PREVIOUS_COMMIT``, Python
ints throughout) in a child interpreter: ``git archive`` extracts that commit's ``securecompute/`` into a temporary
folder, which goes first on the child's ``PYTHONPATH``.  It proves the same input with the same seed as the current
prover, so the two proofs' SHA-256 digests must be equal (recorded).  Outside a git checkout, or without that
commit, the result says why it was not run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import median

from securecompute.zk import threads as zk_threads

PREVIOUS_COMMIT = "af1b2ae30f4c8b88064f18b0cc8ee4cd8e0d0d66"
"""The last commit whose zkReLU prover used Python-int field arithmetic only (the parent of the limb commit)."""

REPO = Path(__file__).resolve().parent.parent


def compare_threads(work: Callable[[], object], counts: Sequence[int], repeats: int) -> dict[str, Any]:
    """Seconds of ``work()`` under each thread count, interleaved; medians, every repeat, load after each round."""
    times: dict[int, list[float]] = {count: [] for count in counts}
    loads = []
    try:
        for _ in range(max(1, repeats)):
            for count in counts:
                zk_threads.set_threads(count)
                start = time.perf_counter()
                work()
                times[count].append(time.perf_counter() - start)
            loads.append(os.getloadavg())
    finally:
        zk_threads.set_threads(None)
    medians = {count: median(values) for count, values in times.items()}
    return {
        "median_s": {str(count): value for count, value in medians.items()},
        "repeats_s": {str(count): values for count, values in times.items()},
        "ratio_1_over_each": {str(count): medians[counts[0]] / value for count, value in medians.items()},
        "load_after_each_round": loads,
    }


_CHILD = r"""
import hashlib, json, sys, time
import numpy as np
from securecompute.zk import Params, prove_relu
log_n, repeats, seed = (int(v) for v in sys.argv[1:4])
pp = Params.setup(16, 16, 16)
pp.generators()
z = np.random.default_rng(log_n).integers(pp.min_value, pp.max_value + 1, size=1 << log_n)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    proof = prove_relu(pp, z, seed=seed)
    times.append(time.perf_counter() - start)
import securecompute
print(json.dumps({"times": times, "sha256": hashlib.sha256(proof.to_bytes()).hexdigest(),
                  "package": securecompute.__file__}))
"""


def previous_prover(log_n: int, repeats: int, seed: int) -> dict[str, Any]:
    """The pre-limb zkReLU prover on ``rng(log_n)``'s uniform 32-bit input (as benchmarks/zkmlp.py), in a child."""
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "old.tar"
        try:
            subprocess.run(
                ["git", "-C", str(REPO), "archive", "-o", str(archive), PREVIOUS_COMMIT, "securecompute"],
                check=True,
                capture_output=True,
                timeout=120,
            )
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
        except (OSError, subprocess.SubprocessError) as error:
            return {"status": f"not run: the previous prover (commit {PREVIOUS_COMMIT[:7]}) is not reachable: {error}"}
        environment = {**os.environ, "PYTHONPATH": folder}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(log_n), str(repeats), str(seed)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=folder,
            timeout=3000,
            check=False,
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"not run: {last[:300]}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["package"].startswith(folder):
        return {"status": f"not run: the child imported {result['package']}, not the previous commit"}
    return {
        "status": "ran",
        "commit": PREVIOUS_COMMIT,
        "median_s": median(result["times"]),
        "repeats_s": result["times"],
        "proof_sha256": result["sha256"],
        "load_after": os.getloadavg(),
    }


def proof_digest(proof_bytes: bytes) -> str:
    """SHA-256 hex digest of a proof's bytes (what the previous prover's child reports)."""
    return hashlib.sha256(proof_bytes).hexdigest()
