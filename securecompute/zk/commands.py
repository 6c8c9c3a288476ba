"""The zk capability's CLI commands (``securecompute prove relu``, ``securecompute verify``) and demo-tour step."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.encoding import unpack
from securecompute.errors import ParameterError
from securecompute.zk.mlp_commands import add_prove_mlp, add_verify_mlp_options, run_verify_mlp

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["register_commands", "tour_step"]

TOUR_ELEMENTS = 256
"""Elements of the ReLU proved in the demo tour (well under a second)."""


def register_commands(commands: Any) -> None:
    """Add ``securecompute prove relu`` and ``securecompute verify`` to the CLI's subparsers."""
    prove = commands.add_parser(
        "prove",
        help="prove a ReLU layer in zero knowledge",
        description="Prove a statement in zero knowledge and write the proof to a file.",
    )
    statements = prove.add_subparsers(dest="statement", metavar="STATEMENT", title="statements")
    statements.required = True
    add_prove_mlp(statements)
    relu = statements.add_parser(
        "relu",
        help="A = ReLU(rescale(Z)) over random committed pre-activations (and the backward pass with --backward)",
        description="Example: securecompute prove relu --n 16384 --out proof.bin",
    )
    relu.add_argument("--n", type=int, default=1024, help="elements (default: %(default)s)")
    relu.add_argument("--out", required=True, metavar="PATH", help="file to write the proof to")
    relu.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: %(default)s)")
    relu.add_argument("--backward", action="store_true", help="also prove G_Z = (1 - s) . rescale(G_A)")
    relu.add_argument("--q-bits", type=int, default=16, help="Q, integer bits (default: %(default)s)")
    relu.add_argument("--frac-bits", type=int, default=16, help="R, fractional bits (default: %(default)s)")
    relu.add_argument("--max-log-n", type=int, default=16, help="largest log2 n of the setup (default: %(default)s)")
    relu.set_defaults(handler=_run_prove_relu)
    verify = commands.add_parser(
        "verify",
        help="verify a zkReLU proof",
        description="Example: securecompute verify proof.bin (exit status 0: valid, 1: invalid or malformed)",
    )
    verify.add_argument("proof", metavar="PATH", help="proof file written by 'securecompute prove'")
    pinned = verify.add_argument_group(
        "pinned parameters",
        "Without these the proof is checked under the parameters it names itself (the prover's choice), "
        "which the output says. Give Q, R and max_log_n together, and/or the expected parameter digest.",
    )
    pinned.add_argument("--q-bits", type=int, default=None, help="expected Q, integer bits")
    pinned.add_argument("--frac-bits", type=int, default=None, help="expected R, fractional bits")
    pinned.add_argument("--max-log-n", type=int, default=None, help="expected largest log2 n of the setup")
    pinned.add_argument(
        "--expect-digest", default=None, metavar="HEX", help="expected parameter digest (64 hex digits)"
    )
    add_verify_mlp_options(verify)
    verify.set_defaults(handler=_run_verify)


def _run_prove_relu(options: argparse.Namespace) -> int:
    from securecompute.zk import Params, prove_relu

    pp = Params.setup(q_bits=options.q_bits, frac_bits=options.frac_bits, max_log_n=options.max_log_n)
    if not 1 <= options.n <= 1 << pp.max_log_n:
        raise ParameterError(f"--n {options.n} must be in 1..2**{pp.max_log_n} (raise --max-log-n)")
    if options.seed < 0:
        raise ParameterError(f"--seed {options.seed} must be non-negative")
    z, grad_a = _random_inputs(pp.min_value, pp.max_value, options.n, options.seed, options.backward)
    started = time.perf_counter()
    proof = prove_relu(pp, z, grad_a)
    seconds = time.perf_counter() - started
    data = proof.to_bytes()
    Path(options.out).write_bytes(data)
    relation = "forward and backward" if options.backward else "forward"
    print(
        f"proved ReLU ({relation}) over n={options.n}, Q={pp.q_bits}, R={pp.frac_bits} in {seconds:.2f} s: "
        f"wrote {options.out} ({len(data):,} bytes, of which commitments {proof.commitment_bytes:,})"
    )
    return 0


def _run_verify(options: argparse.Namespace) -> int:
    from securecompute.zk import Params, ReluProof, verify_relu

    given = [options.q_bits, options.frac_bits, options.max_log_n]
    if any(value is not None for value in given) and any(value is None for value in given):
        raise ParameterError("give --q-bits, --frac-bits and --max-log-n together (or none of them)")
    expected_digest = None
    if options.expect_digest is not None:
        try:
            expected_digest = bytes.fromhex(options.expect_digest)
        except ValueError:
            expected_digest = b""
        if len(expected_digest) != 32:
            raise ParameterError(f"--expect-digest must be 64 hex digits, got {options.expect_digest!r}")
    try:
        data = Path(options.proof).read_bytes()
    except OSError as error:
        raise ParameterError(f"cannot read proof file {options.proof!r}: {error.strerror}") from None
    kind = unpack(data).kind
    if kind == "zk/mlp":
        return run_verify_mlp(options, data)
    if options.model_commitment is not None:  # never ignore a pin the user asked for
        raise ParameterError(f"--model-commitment pins zk/mlp proofs; {options.proof!r} holds a {kind!r} payload")
    proof = ReluProof.from_bytes(data)
    pinned = options.q_bits is not None
    if pinned:
        pp = Params.setup(q_bits=options.q_bits, frac_bits=options.frac_bits, max_log_n=options.max_log_n)
    else:
        pp = Params.setup(q_bits=proof.q_bits, frac_bits=proof.frac_bits, max_log_n=proof.max_log_n)
    if pinned and expected_digest is not None:
        source = "the given parameters and digest"
    elif pinned:
        source = "the given parameters"
    elif expected_digest is not None:
        source = "the parameters the proof names, pinned by --expect-digest"
    else:
        source = "the parameters the proof names (NOT pinned: pass --q-bits/--frac-bits/--max-log-n or --expect-digest)"
    started = time.perf_counter()
    valid = (expected_digest is None or pp.digest() == expected_digest) and verify_relu(pp, proof)
    seconds = time.perf_counter() - started
    verdict = "valid" if valid else "INVALID"
    stacked = f" per instance x {proof.instances} instances" if proof.instances > 1 else ""
    print(
        f"{verdict} zkReLU proof: n={proof.n}{stacked}, backward={proof.backward}, {len(data):,} bytes, checked in {seconds:.3f} s "
        f"against {source}: Q={pp.q_bits}, R={pp.frac_bits}, max_log_n={pp.max_log_n}, digest {pp.digest().hex()}"
        + (
            ""
            if valid or proof.params_digest == pp.digest()
            else f" (the proof names digest {proof.params_digest.hex()})"
        )
        + ("" if valid or expected_digest in (None, pp.digest()) else " (the digest is not the expected one)")
    )
    return 0 if valid else 1


def _random_inputs(low: int, high: int, n: int, seed: int, backward: bool) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    z = rng.integers(low, high + 1, size=n, dtype=np.int64)
    return z, (rng.integers(low, high + 1, size=n, dtype=np.int64) if backward else None)


def tour_step(report: TourReport) -> None:
    """Prove and verify a 256-element ReLU with its backward pass, then show a tampered proof rejected."""
    from securecompute.zk import Params, ReluProof, prove_relu, verify_relu

    pp = Params.setup(q_bits=16, frac_bits=16, max_log_n=8)
    z, grad_a = _random_inputs(pp.min_value, pp.max_value, TOUR_ELEMENTS, seed=0, backward=True)
    started = time.perf_counter()
    proof = prove_relu(pp, z, grad_a)
    proved = time.perf_counter() - started
    loaded = ReluProof.from_bytes(proof.to_bytes())
    started = time.perf_counter()
    valid = verify_relu(pp, loaded)
    checked = time.perf_counter() - started
    report.add(
        "zk",
        f"zkReLU forward+backward, n={TOUR_ELEMENTS}, Q=R=16",
        "verified" if valid else "FAILED (honest proof rejected)",
        f"prove {proved:.2f} s, verify {checked:.3f} s, {proof.size_bytes:,} bytes "
        f"({proof.commitment_bytes:,} of commitments)",
    )
    tampered = dataclasses.replace(loaded, claim_u=loaded.bits_at_rho)  # another valid point in its place
    report.add(
        "zk",
        "zkReLU proof with one committed claim swapped",
        "NOT DETECTED" if verify_relu(pp, tampered) else "rejected",
    )
