"""The Flower app project of the FRAG deployment: a ``pyproject.toml`` with ``[tool.flwr.app]``.

``flwr run <dir> <connection>`` builds a FAB (Flower app bundle) from a directory holding this file.
Its components point at :mod:`.frag_app` in the installed package, so the bundle carries no code and
every SuperNode runs the code installed on its own machine (``securecompute[flower]``); runtime
dependency installation stays off (``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1``).  The same
file is checked in as ``examples/flower_deploy/pyproject.toml`` for users with their own SuperLink.
Never add ``[tool.flwr.federations]`` here: ``flwr run`` would rewrite the file in place.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["APP_PYPROJECT", "FEDFIX_PYPROJECT", "TRAIN_PYPROJECT", "app_pyproject", "write_app_project"]


def app_pyproject(name: str, comment: str, module: str, config: str) -> str:
    """The ``pyproject.toml`` text of a Flower app whose ServerApp and ClientApp live in ``module``."""
    return f"""\
# {comment}
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0.0"
license = "Apache-2.0"
dependencies = ["securecompute[flower]"]

[tool.flwr.app]
publisher = "securecompute"

[tool.flwr.app.components]
serverapp = "{module}:server_app"
clientapp = "{module}:client_app"

[tool.flwr.app.config]
{config}"""


APP_PYPROJECT = app_pyproject(
    "securecompute-frag",
    "FRAG (federated encrypted k-NN) as a Flower app: run it with `flwr run . <connection>`.\n"
    "# The querier is the ServerApp; each party's ClientApp relays to its party host (protocols/deploy.md).",
    "securecompute.federated.deploy.frag_app",
    """\
manifest = ""     # JSON: metric; per party its name, node id and pinned channel public key (hex)
queries = ""      # (m, d) float .npy of query vectors
out = ""          # result JSON, written when every query is done
trace = ""        # JSON lines, one per exchange through the SuperLink
k = 10
nprobe = 0        # IVF lists probed per party with an index (0: full scan)
timeout = 60.0    # seconds per exchange before a party counts as failed
fetch = true      # also fetch the hits' vectors
node-wait = 30.0  # seconds to wait for the manifest and for the parties' nodes to be online
""",
)

TRAIN_PYPROJECT = app_pyproject(
    "securecompute-robust-training",
    "Robust federated training (RobustStrategy, one Byzantine client) as a Flower app.",
    "securecompute.federated.deploy.train_app",
    """\
rounds = 3
aggregator = "median"
steps = 5
lr = 0.5
seed = 0
nodes = 3
timeout = 120.0   # seconds per round
out = ""          # result JSON
""",
)

FEDFIX_PYPROJECT = app_pyproject(
    "securecompute-fedfix",
    "Asynchronous federated learning (FedFix, FedAvg, FedBuff, async) on a real clock as a Flower app.",
    "securecompute.federated.deploy.fedfix_app",
    """\
policy = "fedfix"  # fedfix, fedavg, fedbuff, async, async_identical
dt = 3.0          # FedFix period (seconds of wall time)
c = 2             # FedBuff buffer size
nodes = 3
node-ids = ""     # Flower node ids, comma-separated, client 0 first
compute = ""      # compute delay of each client's job (seconds), comma-separated
transport = 4.5   # assumed transport delay per job (seconds), in tau_i for the weights
horizon = 30.0    # seconds of wall time the loop runs
evals = 10
seed = 0
alpha = 0.0       # Dirichlet label skew (0: IID)
local-steps = 10
lr = 0.1
batch-size = 16
eta-g = 1.0
tag = "run"       # names the clients' generator-state files of this run
node-wait = 30.0
out = ""          # result JSON
""",
)


def write_app_project(directory: str | Path, text: str = APP_PYPROJECT) -> Path:
    """Write an app's ``pyproject.toml`` (the FRAG app by default) into ``directory`` (created); return it."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(text)
    return path
