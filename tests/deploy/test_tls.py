"""A SuperLink with TLS and SuperNode authentication on loopback, and the nodes it must refuse.

The CA and the SuperLink's certificate (for 127.0.0.1 and localhost) are made at test time with
``cryptography`` (:mod:`securecompute.federated.deploy.tls`); each SuperNode gets an EC P-384 key,
registered with ``flwr supernode register`` before it starts.  A FRAG search through such a deployment
(``securecompute deploy frag --tls-dir --node-auth``) is checked against the in-process protocol and
numpy in ``test_commands.py``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from securecompute.federated.deploy.federation import FragFederation
from securecompute.federated.deploy.processes import DeploymentError, LocalDeployment, NodeSpec, leftover_processes
from securecompute.federated.deploy.tls import make_node_key, make_tls_files

pytestmark = pytest.mark.deploy

DIM, K = 8, 4
REFUSAL_BOUND = 8.0
"""Seconds a refused SuperNode keeps retrying (--max-wait-time) before it exits."""


def _stores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(21)
    return {f"s{index}": rng.normal(size=(40, DIM)) for index in range(2)}


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FragFederation]:
    workdir: Path = tmp_path_factory.mktemp("tls")
    tls = make_tls_files(workdir / "tls")
    with FragFederation(_stores(), workdir, tls=tls, node_auth=True) as running:
        yield running
    assert leftover_processes(running.marker) == []


def test_the_superlink_speaks_tls_only_and_admitted_the_registered_nodes(secure: FragFederation) -> None:
    deployment = secure.deployment
    assert deployment.tls is not None
    port = int(deployment.address.rsplit(":", 1)[1])
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is not served
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    context = ssl.create_default_context(cafile=str(deployment.tls.ca_certificate))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=5, context=context) as response:
        assert response.status == 200
    assert sorted(deployment.node_keys) == ["s0", "s1"]
    for key in deployment.node_keys.values():
        assert key.stat().st_mode & 0o077 == 0
    assert (deployment.tls.server_key.stat().st_mode & 0o077) == 0
    assert "Starting insecure" not in deployment.log_tail("superlink") + deployment.log_tail("supernode-s0")


def test_tls_does_not_restrict_who_may_submit_runs(secure: FragFederation, tmp_path: Path) -> None:
    """TLS authenticates the SuperLink only: a flwr connection with no credential but the public CA is served.

    ``protocols/deploy.md`` §3 and §6 say so (whoever reaches port P may submit a run, TLS or not);
    this fails if Flower starts asking clients for a credential, and the text must change then.
    """
    deployment = secure.deployment
    assert deployment.tls is not None
    home = tmp_path / "stranger-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "s"\n\n[superlink.s]\naddress = "{deployment.address}"\n'
        f'root-certificates = "{deployment.tls.ca_certificate}"\n'
    )
    flwr = Path(sys.executable).with_name("flwr")
    env = {**deployment.env, "FLWR_HOME": str(home)}
    completed = subprocess.run(
        [str(flwr), "ls", "s", "--format", "json"], capture_output=True, env=env, timeout=60, check=False
    )
    listing = json.loads(completed.stdout)
    assert listing["success"] is True, completed.stdout[-600:]
    assert isinstance(listing["runs"], list)


@pytest.mark.parametrize("wrong", ["ca", "key"])
def test_a_node_with_the_wrong_ca_or_an_unregistered_key_is_refused(
    secure: FragFederation, tmp_path: Path, wrong: str
) -> None:
    deployment = secure.deployment
    if wrong == "ca":  # a registered key, but it trusts another CA: the SuperLink's certificate fails its check
        other = make_tls_files(tmp_path / "other-ca")
        options = {"root_certificates": other.ca_certificate, "auth_key": deployment.node_keys["s0"]}
    else:  # the right CA, but a key the SuperLink never registered
        options = {"auth_key": make_node_key(tmp_path / "stranger.key")[0]}
    started = time.monotonic()
    process = deployment.start_node(NodeSpec(f"intruder-{wrong}"), max_wait=REFUSAL_BOUND, **options)
    code = process.popen.wait(REFUSAL_BOUND + 30.0)  # it gives up on its own, bounded by --max-wait-time
    log = process.log_path.read_text(errors="replace")
    assert code != 0
    assert time.monotonic() - started < REFUSAL_BOUND + 30.0
    assert "SuperNode ID" not in log
    assert ("CERTIFICATE_VERIFY_FAILED" in log) if wrong == "ca" else ("Failed to activate" in log), log[-800:]


def test_a_second_authenticated_deployment_in_the_same_work_folder_reuses_the_node_keys(tmp_path: Path) -> None:
    """``securecompute deploy ... --workdir W --node-auth`` run twice: the second run registers the same key."""
    tls = make_tls_files(tmp_path / "tls")
    keys = []
    for _ in range(2):
        with LocalDeployment([NodeSpec("a")], tmp_path / "work", tls=tls, node_auth=True) as deployment:
            assert set(deployment.node_ids) == {"a"}
            keys.append(deployment.node_keys["a"].read_bytes())
        assert leftover_processes(deployment.marker) == []
    assert keys[0] == keys[1]


def test_a_certificate_that_does_not_name_loopback_is_refused_at_once(tmp_path: Path) -> None:
    """Before: the health check swallowed the verification error and waited out startup_timeout."""
    tls = make_tls_files(tmp_path / "tls", hosts=("link.example",))
    deployment = LocalDeployment([NodeSpec("a")], tmp_path / "work", tls=tls, startup_timeout=45.0)
    started = time.monotonic()
    with pytest.raises(DeploymentError, match=r"does not verify for 127\.0\.0\.1"), deployment:
        pass
    assert time.monotonic() - started < 30.0
    assert leftover_processes(deployment.marker) == []
