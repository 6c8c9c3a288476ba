"""The capabilities, where each one's CLI commands and demo step live, and which have landed.

The CLI and the demo tour read this table; a capability whose ``entry`` is None has not landed yet
and is listed as such, never faked.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CAPABILITIES", "Capability", "capability_for_command"]


@dataclass(frozen=True)
class Capability:
    """One capability of the package.

    Attributes:
        key: short name, e.g. "einsum".
        title: what a user would call it.
        issue: the tracker issue that builds it.
        commands: the CLI subcommands it owns, with a one-line help each.
        entry: module that provides ``register_commands(subparsers)`` and ``tour_step(report)``,
            or None while the capability has not landed.
        specs: its protocol specifications, relative to the repository root.
        notebooks: its example notebooks, relative to the repository root.
    """

    key: str
    title: str
    issue: int
    commands: tuple[tuple[str, str], ...]
    entry: str | None = None
    specs: tuple[str, ...] = ()
    notebooks: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.entry is not None


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "einsum",
        "encrypted einsum on CKKS (EinHops-style)",
        3,
        (("einsum", "plan and run an einsum on CKKS-encrypted tensors"),),
        "securecompute.fhe.commands",
        specs=("protocols/einhops.md",),
        notebooks=("examples/encrypted_einsum.ipynb",),
    ),
    Capability(
        "cross",
        "matmul-engine HE arithmetic (CROSS-style NTT, BAT, RNS)",
        4,
        (("ntt", "negacyclic NTT and RNS kernels as exact GEMMs"),),
        "securecompute.cross.commands",
        specs=("protocols/cross.md",),
        notebooks=("examples/cross_ntt.ipynb",),
    ),
    Capability(
        "frag",
        "federated encrypted nearest-neighbour search (FRAG)",
        5,
        (("frag", "encrypted k-NN across distrusting vector stores"),),
        "securecompute.federated.frag.commands",
        specs=("protocols/frag.md",),
        notebooks=("examples/frag_search.ipynb",),
    ),
    Capability(
        "federated",
        "fault-tolerant federated learning (Flag Aggregator, FedFix)",
        6,
        (("simulate", "simulate robust or asynchronous federated training"),),
        "securecompute.federated.commands",
        specs=("protocols/flag.md", "protocols/fedfix.md"),
        notebooks=("examples/byzantine_training.ipynb", "examples/async_federated.ipynb"),
    ),
    Capability(
        "deploy",
        "real federated deployment on Flower (FRAG, robust training, FedFix)",
        18,
        (("deploy", "run a protocol on a local Flower deployment (SuperLink + SuperNodes)"),),
        "securecompute.federated.deploy.commands",
        specs=("protocols/deploy.md",),
    ),
    Capability(
        "zk",
        "zero-knowledge ReLU proofs (zkReLU)",
        8,
        (("prove", "prove a ReLU layer in zero knowledge"), ("verify", "verify a zkReLU proof")),
        "securecompute.zk.commands",
        specs=("protocols/zkrelu.md",),
        notebooks=("examples/verify_relu_proof.ipynb",),
    ),
)


def capability_for_command(command: str) -> Capability | None:
    """Return the capability that owns CLI subcommand ``command``, if any."""
    for capability in CAPABILITIES:
        if any(name == command for name, _ in capability.commands):
            return capability
    return None
