"""CLI for whole-MLP proofs: ``securecompute prove mlp`` and ``securecompute verify`` of a ``zk/mlp`` proof.

Registered from :mod:`securecompute.zk.commands` (``add_prove_mlp`` on the ``prove`` statements,
``add_verify_mlp_options`` on ``verify``, and ``verify`` hands a ``zk/mlp`` proof to :func:`run_verify_mlp`).

    securecompute prove mlp --model model.npz --input x.npy --out proof.bin --commitment-out model.pub --owner-out model.key
    securecompute prove mlp --owner model.key --input x.npy --out proof.bin
    securecompute verify proof.bin --model-commitment model.pub

``model.npz`` holds float arrays ``W1, b1, W2, b2, ...`` (``W_l``: d_(l-1) x d_l); ``x.npy`` a float array
(rows x d_0).  The owner file (``--owner-out``) is SECRET: it holds the weights and the commitment blinds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.zk.cli_files import UsageOrInputError, read_file

__all__ = ["add_prove_mlp", "add_verify_mlp_options", "run_verify_mlp"]


def add_prove_mlp(statements: Any) -> None:
    """Add ``mlp`` to the ``prove`` statements."""
    mlp = statements.add_parser(
        "mlp",
        help="an MLP inference logits = MLP(x) over committed weights, inputs and activations",
        description="Example: securecompute prove mlp --model model.npz --input x.npy --out proof.bin "
        "--commitment-out model.pub --owner-out model.key",
    )
    source = mlp.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="NPZ", help="float weights W1, b1, W2, b2, ... (commits them now)")
    source.add_argument("--owner", metavar="PATH", help="a committed model written earlier with --owner-out (secret)")
    mlp.add_argument("--input", required=True, metavar="NPY", help="float inputs, rows x features")
    mlp.add_argument("--out", required=True, metavar="PATH", help="file to write the proof to")
    mlp.add_argument("--commitment-out", metavar="PATH", help="write the public model commitment (for verifiers)")
    mlp.add_argument("--owner-out", metavar="PATH", help="write the committed model with its blinds (SECRET)")
    mlp.add_argument("--q-bits", type=int, default=24, help="Q, integer bits (default: %(default)s)")
    mlp.add_argument("--frac-bits", type=int, default=8, help="R, fractional bits (default: %(default)s)")
    mlp.add_argument("--max-log-n", type=int, default=16, help="largest log2 table size (default: %(default)s)")
    mlp.set_defaults(handler=_run_prove_mlp)


def add_verify_mlp_options(verify: Any) -> None:
    """Add ``--model-commitment`` to ``verify`` (used for ``zk/mlp`` proofs)."""
    verify.add_argument(
        "--model-commitment",
        default=None,
        metavar="PATH",
        help="for an MLP proof: the model owner's published commitment to pin (and its parameters)",
    )


def _run_prove_mlp(options: argparse.Namespace) -> int:
    from securecompute.zk import MlpModel, Params, commit_model, prove_mlp, quantize_input
    from securecompute.zk.model_io import commitment_to_bytes, owner_from_bytes, owner_to_bytes

    if options.owner is not None:
        pp, owner = owner_from_bytes(_read_owner(options.owner))
    else:
        pp = Params.setup(q_bits=options.q_bits, frac_bits=options.frac_bits, max_log_n=options.max_log_n)
        owner = commit_model(pp, MlpModel.quantize(pp, _layers(options.model)))
    try:
        inputs = np.load(options.input, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ParameterError(f"cannot read inputs {options.input!r} as a .npy array: {error}") from None
    x = quantize_input(np.atleast_2d(inputs), pp)
    started = time.perf_counter()
    proof = prove_mlp(pp, owner, x)
    seconds = time.perf_counter() - started
    data = proof.to_bytes()
    Path(options.out).write_bytes(data)
    written = [f"{options.out} ({len(data):,} bytes)"]
    if options.commitment_out:
        Path(options.commitment_out).write_bytes(commitment_to_bytes(pp, owner.commitment))
        written.append(f"commitment {options.commitment_out}")
    if options.owner_out:
        Path(options.owner_out).write_bytes(owner_to_bytes(pp, owner))
        written.append(f"owner file {options.owner_out} (SECRET)")
    dims = "-".join(str(d) for d in owner.model.dims)
    print(
        f"proved MLP {dims} inference on {x.shape[0]} rows, Q={pp.q_bits}, R={pp.frac_bits} in {seconds:.2f} s: "
        f"wrote {', '.join(written)}"
    )
    return 0


def run_verify_mlp(options: argparse.Namespace, data: bytes) -> int:
    """Verify a ``zk/mlp`` proof; pinned to ``--model-commitment`` (model and parameters) when given."""
    from securecompute.zk import MlpProof, Params, verify_mlp
    from securecompute.zk.model_io import commitment_from_bytes

    if any(getattr(options, name, None) is not None for name in ("q_bits", "frac_bits", "max_log_n", "expect_digest")):
        raise UsageOrInputError("an MLP proof is pinned with --model-commitment (which fixes the parameters too)")
    proof = MlpProof.from_bytes(data)
    weights = None
    if options.model_commitment is not None:
        pp, weights = commitment_from_bytes(read_file(options.model_commitment, "model commitment"))
        source = f"the model commitment {options.model_commitment} and its parameters"
    else:
        pp = Params.setup(q_bits=proof.q_bits, frac_bits=proof.frac_bits, max_log_n=proof.max_log_n)
        source = "the model and parameters the proof names (NOT pinned: pass --model-commitment)"
    started = time.perf_counter()
    valid = verify_mlp(pp, proof, weight_commitments=weights)
    seconds = time.perf_counter() - started
    dims = "-".join(str(d) for d in proof.model.dims)
    print(
        f"{'valid' if valid else 'INVALID'} zkMLP proof: {dims}, {proof.rows} rows, {len(data):,} bytes, checked in "
        f"{seconds:.3f} s against {source}: Q={pp.q_bits}, R={pp.frac_bits}, max_log_n={pp.max_log_n}, "
        f"digest {pp.digest().hex()}"
    )
    return 0 if valid else 1


def _layers(path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise ParameterError(f"cannot read model {path!r} as a .npz archive: {error}") from None
    layers = []
    index = 1
    while f"W{index}" in arrays:
        if f"b{index}" not in arrays:
            raise ParameterError(f"model {path!r} has W{index} but no b{index}")
        layers.append((arrays[f"W{index}"], arrays[f"b{index}"]))
        index += 1
    if not layers or len(arrays) != 2 * len(layers):
        raise ParameterError(f"model {path!r} must hold exactly W1, b1, W2, b2, ...; it holds {sorted(arrays)}")
    return layers


def _read_owner(path: str) -> bytes:
    """The owner's own (secret) file: the prover's input, not bytes from outside, so no size bound."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageOrInputError(f"cannot read owner file {path!r}: {error.strerror}") from None
