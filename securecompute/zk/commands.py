"""The zk capability's CLI commands (``securecompute prove relu``, ``securecompute verify``) and demo-tour step."""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import ParameterError
from securecompute.zk.cli_files import MAX_FILE_BYTES, UsageOrInputError
from securecompute.zk.cli_files import read_file as _read_file
from securecompute.zk.mlp_commands import add_prove_mlp, add_verify_mlp_options, run_verify_mlp

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["MAX_FILE_BYTES", "UsageOrInputError", "register_commands", "tour_step"]

TOUR_ELEMENTS = 256
"""Elements of the ReLU proved in the demo tour (well under a second)."""

TOUR_SIZES = (64, 256, 1024, 2048)
"""Forward proofs of the tour's size-and-time figure (about 2 s in all)."""


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
        help="A = ReLU(rescale(Z)) over committed pre-activations (and the backward pass with --backward or --grad)",
        description="Examples: securecompute prove relu --n 16384 --out proof.bin; "
        "securecompute prove relu --input z.npy --out proof.bin --commitments-out commitments.bin",
    )
    relu.add_argument("--n", type=int, default=1024, help="elements of seeded random input (default: %(default)s)")
    relu.add_argument(
        "--input",
        default=None,
        metavar="FILE.npy",
        help="pre-activations Z from a .npy file (any shape, flattened): floats are quantised at scale 2^(2R), "
        "integers are taken as fixed point already; replaces --n and --seed",
    )
    relu.add_argument(
        "--grad",
        default=None,
        metavar="FILE.npy",
        help="incoming gradient G_A, same shape as --input (implies --backward)",
    )
    relu.add_argument("--out", required=True, metavar="PATH", help="file to write the proof to")
    relu.add_argument(
        "--commitments-out",
        default=None,
        metavar="PATH",
        help="also write the proof's commitments to this file, for 'verify --commitments'",
    )
    relu.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: %(default)s)")
    relu.add_argument("--backward", action="store_true", help="also prove G_Z = (1 - s) . rescale(G_A)")
    relu.add_argument("--q-bits", type=int, default=16, help="Q, integer bits (default: %(default)s)")
    relu.add_argument("--frac-bits", type=int, default=16, help="R, fractional bits (default: %(default)s)")
    relu.add_argument("--max-log-n", type=int, default=16, help="largest log2 n of the setup (default: %(default)s)")
    relu.set_defaults(handler=_run_prove_relu)
    verify = commands.add_parser(
        "verify",
        help="verify a zkReLU proof",
        description="Example: securecompute verify proof.bin --commitments commitments.bin --expect-digest HEX. "
        "Exit status 0: valid; 1: invalid (including a malformed zkReLU proof); 2: unreadable file, "
        "not a securecompute proof, or a usage error.",
    )
    verify.add_argument("proof", metavar="PATH", help="proof file written by 'securecompute prove'")
    pinned = verify.add_argument_group(
        "pinned parameters and commitments",
        "Without these the proof is checked under the parameters it names itself and against the commitments "
        "it carries (both the prover's choice), which the output says. Give Q, R and max_log_n together, "
        "and/or the expected parameter digest, and the commitments you hold.",
    )
    pinned.add_argument("--q-bits", type=int, default=None, help="expected Q, integer bits")
    pinned.add_argument("--frac-bits", type=int, default=None, help="expected R, fractional bits")
    pinned.add_argument("--max-log-n", type=int, default=None, help="expected largest log2 n of the setup")
    pinned.add_argument(
        "--expect-digest", default=None, metavar="HEX", help="expected parameter digest (64 hex digits)"
    )
    pinned.add_argument(
        "--commitments",
        default=None,
        metavar="FILE",
        help="expected commitments (written by 'prove relu --commitments-out'): the proof must be about them",
    )
    add_verify_mlp_options(verify)
    verify.set_defaults(handler=_run_verify)


def _run_prove_relu(options: argparse.Namespace) -> int:
    from securecompute.plotting import check_output_file
    from securecompute.zk import Params, prove_relu

    check_output_file(options.out, None, "--out")
    if options.commitments_out is not None:
        check_output_file(options.commitments_out, None, "--commitments-out")
        if Path(options.commitments_out).resolve() == Path(options.out).resolve():
            raise ParameterError(
                f"--commitments-out {options.commitments_out!r} is the --out file; give the commitments their own file"
            )
    pp = Params.setup(q_bits=options.q_bits, frac_bits=options.frac_bits, max_log_n=options.max_log_n)
    if options.grad is not None and options.input is None:
        raise ParameterError("--grad needs --input (the pre-activations it belongs to)")
    if options.input is not None:
        z = _load_fixed_point(options.input, "--input", pp)
        grad_a = None if options.grad is None else _load_fixed_point(options.grad, "--grad", pp)
        if grad_a is not None and grad_a.shape != z.shape:
            raise ParameterError(f"--grad holds {grad_a.size} values, --input {z.size}; they must match")
        if options.backward and grad_a is None:
            raise ParameterError("--backward with --input needs --grad FILE.npy (the incoming gradient)")
        source = f"{options.input}" + (f" and {options.grad}" if grad_a is not None else "")
    else:
        if not 1 <= options.n <= 1 << pp.max_log_n:
            raise ParameterError(f"--n {options.n} must be in 1..2**{pp.max_log_n} (raise --max-log-n)")
        if options.seed < 0:
            raise ParameterError(f"--seed {options.seed} must be non-negative")
        z, grad_a = _random_inputs(pp.min_value, pp.max_value, options.n, options.seed, options.backward)
        source = f"seeded random input (seed {options.seed})"
    started = time.perf_counter()
    proof = prove_relu(pp, z, grad_a)
    seconds = time.perf_counter() - started
    data = proof.to_bytes()
    Path(options.out).write_bytes(data)
    written = f"wrote {options.out} ({len(data):,} bytes, of which commitments {proof.commitment_bytes:,})"
    if options.commitments_out is not None:
        Path(options.commitments_out).write_bytes(commitments_to_bytes(proof))
        written += f" and its commitments to {options.commitments_out}"
    relation = "forward and backward" if grad_a is not None else "forward"
    print(
        f"proved ReLU ({relation}) over n={z.size} from {source}, Q={pp.q_bits}, R={pp.frac_bits} "
        f"in {seconds:.2f} s: {written}"
    )
    return 0


def _run_verify(options: argparse.Namespace) -> int:
    from securecompute.zk import Params, verify_relu
    from securecompute.zk.mlp_proof import KIND as MLP_KIND

    given = [options.q_bits, options.frac_bits, options.max_log_n]
    if any(value is not None for value in given) and any(value is None for value in given):
        raise UsageOrInputError("give --q-bits, --frac-bits and --max-log-n together (or none of them)")
    expected_digest = None
    if options.expect_digest is not None:
        try:
            expected_digest = bytes.fromhex(options.expect_digest)
        except ValueError:
            expected_digest = b""
        if len(expected_digest) != 32:
            raise UsageOrInputError(f"--expect-digest must be 64 hex digits, got {options.expect_digest!r}")
    data = _read_file(options.proof, "proof")
    if _envelope_kind(data) == MLP_KIND:
        return run_verify_mlp(options, data)
    if options.model_commitment is not None:  # never ignore a pin the user asked for
        raise UsageOrInputError(f"--model-commitment pins zk/mlp proofs; {options.proof!r} is not one")
    expected_commitments, commitments_digest = None, b""
    if options.commitments is not None:
        expected_commitments, commitments_digest = commitments_from_bytes(
            _read_file(options.commitments, "--commitments"), options.commitments
        )
    proof = _parse_proof(data, options.proof)
    if isinstance(proof, str):
        print(f"INVALID zkReLU proof {options.proof}: malformed: {proof}")
        return 1
    pinned = options.q_bits is not None
    if pinned:
        try:
            pp = Params.setup(q_bits=options.q_bits, frac_bits=options.frac_bits, max_log_n=options.max_log_n)
        except ParameterError as error:
            raise UsageOrInputError(str(error)) from None
    else:
        pp = Params.setup(q_bits=proof.q_bits, frac_bits=proof.frac_bits, max_log_n=proof.max_log_n)
    started = time.perf_counter()
    digest_ok = expected_digest is None or pp.digest() == expected_digest
    commitments_ok = expected_commitments is None or commitments_digest == pp.digest()
    valid = digest_ok and commitments_ok and verify_relu(pp, proof, commitments=expected_commitments)
    seconds = time.perf_counter() - started
    verdict = "valid" if valid else "INVALID"
    stacked = f" per instance x {proof.instances} instances" if proof.instances > 1 else ""
    notes = []
    if not valid and proof.params_digest != pp.digest():
        notes.append(f"the proof names digest {proof.params_digest.hex()}")
    if not digest_ok:
        notes.append("the digest is not the expected one")
    if not commitments_ok:
        notes.append(f"{options.commitments} was written under other parameters")
    elif not valid and digest_ok and expected_commitments is not None and verify_relu(pp, proof):
        notes.append(f"the proof holds for its own commitments, not for those in {options.commitments}")
    print(
        f"{verdict} zkReLU proof: n={proof.n}{stacked}, backward={proof.backward}, {len(data):,} bytes, "
        f"checked in {seconds:.3f} s; {_pinning(options, pinned, expected_digest)}; "
        f"Q={pp.q_bits}, R={pp.frac_bits}, max_log_n={pp.max_log_n}, digest {pp.digest().hex()}"
        + "".join(f" ({note})" for note in notes)
    )
    return 0 if valid else 1


def _pinning(options: argparse.Namespace, pinned: bool, expected_digest: bytes | None) -> str:
    """In words: which of the parameters and the commitments the verifier pinned, and which it took from the proof."""
    if pinned and expected_digest is not None:
        parameters = "parameters pinned (given and digest)"
    elif pinned:
        parameters = "parameters pinned (given)"
    elif expected_digest is not None:
        parameters = "parameters pinned (by --expect-digest)"
    else:
        parameters = "parameters NOT pinned (the proof's own; pass --q-bits/--frac-bits/--max-log-n or --expect-digest)"
    if options.commitments is not None:
        return f"{parameters}, commitments pinned (from {options.commitments})"
    return f"{parameters}, commitments NOT pinned (the proof's own; pass --commitments FILE)"


COMMITMENTS_KIND = "zk/relu-commitments"
"""Envelope kind of a commitments file: sections ``meta`` (JSON) and ``com.NAME`` (48-byte points)."""


def commitments_to_bytes(proof: Any) -> bytes:
    """The proof's commitments as an envelope (fingerprint: the parameter digest), for ``verify --commitments``."""
    from securecompute.encoding import encode_json, pack
    from securecompute.zk import group

    meta = [[name, c.num_vars, c.columns] for name, c in proof.commitments.items()]  # a list keeps the order
    sections = {"meta": encode_json(meta)}
    for name, commitment in proof.commitments.items():
        sections[f"com.{name}"] = b"".join(group.encode_point(point) for point in commitment.rows)
    return pack(COMMITMENTS_KIND, sections, fingerprint=proof.params_digest)


def commitments_from_bytes(data: bytes, path: str) -> tuple[dict[str, Any], bytes]:
    """Parse a commitments file strictly: ``(commitments by name, parameter digest)``.

    Raises:
        UsageOrInputError: not a commitments envelope, or any malformed entry (the message names ``path``).
    """
    from securecompute.encoding import decode_json, encode_json, unpack
    from securecompute.errors import CorruptPayloadError
    from securecompute.zk import group
    from securecompute.zk.commit import Commitment

    names = ("z", "a", "bits", "grad_a", "grad_z")
    try:
        envelope = unpack(data, kind=COMMITMENTS_KIND)
        meta = decode_json(envelope.section("meta"))
        if not isinstance(meta, list) or not all(isinstance(entry, list) and len(entry) == 3 for entry in meta):
            raise CorruptPayloadError("meta must be a list of [name, num_vars, columns]")
        if encode_json(meta) != envelope.section("meta"):
            raise CorruptPayloadError("meta is not in canonical JSON form")
        order = [entry[0] for entry in meta]
        if order not in (list(names[:3]), list(names)):
            raise CorruptPayloadError(f"meta names the commitments {order}; expected {names[:3]} or {names}")
        if list(envelope.sections) != ["meta", *[f"com.{name}" for name in order]]:
            raise CorruptPayloadError(f"sections are {list(envelope.sections)}")
        commitments = {}
        for name, num_vars, columns in meta:
            if type(num_vars) is not int or not 1 <= num_vars <= 64:
                raise CorruptPayloadError(f"commitment {name!r} has {num_vars!r} variables; expected 1..64")
            if columns is not None and (type(columns) is not int or not 0 <= columns <= num_vars):
                raise CorruptPayloadError(f"commitment {name!r} has {columns!r} column variables")
            section = envelope.section(f"com.{name}")
            rows = 1 << (num_vars - Commitment(num_vars, (), columns).col_vars)
            if len(section) != rows * group.POINT_BYTES:
                raise CorruptPayloadError(f"commitment {name!r} has {len(section)} bytes, expected {rows} points")
            points = tuple(
                group.decode_point(section[i : i + group.POINT_BYTES])
                for i in range(0, len(section), group.POINT_BYTES)
            )
            commitments[name] = Commitment(num_vars, points, columns)
    except (CorruptPayloadError, ValueError) as error:
        raise UsageOrInputError(f"{path!r} is not a zkReLU commitments file: {error}") from None
    return commitments, envelope.fingerprint


def _parse_proof(data: bytes, path: str) -> Any:
    """The proof in ``data``; a string saying why when it is a zkReLU envelope that does not parse.

    Raises:
        UsageOrInputError: the bytes are no securecompute envelope, or one of another kind.
    """
    from securecompute.encoding import unpack
    from securecompute.errors import CorruptPayloadError
    from securecompute.zk import ReluProof
    from securecompute.zk.proof import KIND

    try:
        envelope = unpack(data)
    except CorruptPayloadError as error:
        raise UsageOrInputError(f"{path!r} is not a securecompute proof ({len(data)} bytes: {error})") from None
    if envelope.kind != KIND:
        raise UsageOrInputError(f"{path!r} is a securecompute {envelope.kind!r} file, not a zkReLU proof")
    try:
        return ReluProof.from_bytes(data)
    except CorruptPayloadError as error:
        return str(error)


def _load_fixed_point(path: str, flag: str, pp: Any) -> np.ndarray:
    """Values from a .npy file (never unpickled), flattened: floats quantised at 2^(2R), integers taken as they are.

    The header is read and checked first (a numeric dtype, 1..2**max_log_n values), so a file that declares
    a huge array is refused before anything is allocated.

    Raises:
        UsageOrInputError: unreadable, not a .npy file, not numeric, empty, or more values than the setup holds.
        ParameterError: values outside the parameters' range (from the range check).
    """
    from securecompute.zk import quantize

    try:
        with open(path, "rb") as handle:
            shape, dtype = _npy_header(handle)
            count = math.prod(shape)
            if dtype.kind not in "iuf":
                raise UsageOrInputError(f"{flag} {path!r} holds {dtype} values; accepted: floats or integers")
            if not 1 <= count <= 1 << pp.max_log_n:
                raise UsageOrInputError(
                    f"{flag} {path!r} holds {count} values (shape {shape}); accepted: 1..2**{pp.max_log_n} "
                    "(raise --max-log-n)"
                )
            handle.seek(0)
            array = np.lib.format.read_array(handle, allow_pickle=False)
    except UsageOrInputError:
        raise
    except OSError as error:
        raise UsageOrInputError(f"{flag} {path!r} is not readable: {error.strerror}") from None
    except (ValueError, EOFError) as error:
        raise UsageOrInputError(f"{flag} {path!r} is not a readable .npy array: {error}") from None
    values = array.reshape(-1)
    if values.dtype.kind in "iu":
        if values.min() < pp.min_value or values.max() > pp.max_value:
            raise ParameterError(
                f"{flag} {path!r} holds integers outside [{pp.min_value}, {pp.max_value}] (fixed point, Q={pp.q_bits})"
            )
        return values.astype(np.int64)
    try:
        return quantize(values, pp)
    except ParameterError as error:
        raise ParameterError(f"{flag} {path!r}: {error}") from None


def _npy_header(handle: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype a .npy file declares (versions 1.0 and 2.0), without reading its data.

    Raises:
        ValueError: not a .npy file (wrong magic, another version, a malformed header).
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:  # 3.0 only adds UTF-8 field names, i.e. structured dtypes, which are refused anyway
        raise ValueError(f".npy format version {version[0]}.{version[1]}; accepted: 1.0 or 2.0")
    return tuple(shape), dtype


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
    _size_figure(report)


def _size_figure(report: TourReport) -> None:
    """Proof bytes and prove/verify seconds against n (forward proofs, Q = R = 16): a row and a figure."""
    from securecompute.plotting import new_figure, save_figure
    from securecompute.zk import Params, prove_relu, verify_relu

    pp = Params.setup(q_bits=16, frac_bits=16, max_log_n=max(TOUR_SIZES).bit_length() - 1)
    sizes, proving, checking, all_valid = [], [], [], True
    for n in TOUR_SIZES:
        z, _ = _random_inputs(pp.min_value, pp.max_value, n, seed=n, backward=False)
        started = time.perf_counter()
        proof = prove_relu(pp, z)
        proving.append(time.perf_counter() - started)
        started = time.perf_counter()
        all_valid = verify_relu(pp, proof) and all_valid
        checking.append(time.perf_counter() - started)
        sizes.append(proof.size_bytes)
    report.add(
        "zk",
        f"zkReLU forward, n = {', '.join(map(str, TOUR_SIZES))}",
        "verified" if all_valid else "FAILED (honest proof rejected)",
        f"{sizes[0]:,} to {sizes[-1]:,} bytes; prove {proving[0]:.2f} to {proving[-1]:.2f} s, "
        f"verify {checking[0]:.3f} to {checking[-1]:.3f} s",
    )
    figure, (left, right) = new_figure(1, 2, figsize=(7.0, 3.2))
    left.loglog(TOUR_SIZES, [size / 1024 for size in sizes], "o-")
    left.set_xlabel("n (elements)")
    left.set_ylabel("proof KiB (commitments included)")
    right.loglog(TOUR_SIZES, proving, "o-", label="prove")
    right.loglog(TOUR_SIZES, checking, "s-", label="verify")
    right.set_xlabel("n (elements)")
    right.set_ylabel("seconds")
    right.legend()
    for axis in (left, right):
        axis.grid(alpha=0.3, which="both")
    figure.suptitle("zkReLU forward proofs on BLS12-381, Q = R = 16", fontsize=10)
    figure.tight_layout()
    save_figure(figure, report.figure_path("zk_scaling.png", "zkReLU proof size and prove/verify time against n"))


def _envelope_kind(data: bytes) -> str | None:
    """The envelope kind of ``data``, or None when it is no envelope (:func:`_parse_proof` then says why)."""
    from securecompute.encoding import unpack
    from securecompute.errors import CorruptPayloadError

    try:
        return unpack(data).kind
    except CorruptPayloadError:
        return None
