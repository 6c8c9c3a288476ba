"""The encrypted-einsum capability's CLI subcommand and demo-tour step."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.errors import ParameterError

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["parse_encrypted", "parse_shapes", "register_commands", "tour_step"]


def register_commands(commands: Any) -> None:
    """Add ``securecompute einsum`` to the CLI's subparsers."""
    parser = commands.add_parser(
        "einsum",
        help="plan and run an einsum on CKKS-encrypted random tensors, checked against numpy",
        description="Example: securecompute einsum 'ij,jk->ik' --shapes 16x32,32x32 --encrypt 0,1 --explain",
    )
    parser.add_argument("expression", help="numpy einsum subscripts, e.g. 'bik,bkj->bij'")
    parser.add_argument("--shapes", required=True, help="operand shapes, e.g. 2x3x4,2x4x5 ('' or 'scalar' for 0-d)")
    parser.add_argument("--encrypt", default="0", help="indices of encrypted operands, e.g. 0,1 (default: 0)")
    parser.add_argument("--depth", type=int, default=None, help="context depth (default: what the plan needs)")
    parser.add_argument("--poly-modulus-degree", type=int, default=None, help="N (default: 2^14 or 2^15)")
    parser.add_argument(
        "--backend",
        default=None,
        help="CKKS engine: seal (default), cross (our RNS-CKKS on the GEMM kernels), cross-jax, simulate",
    )
    parser.add_argument("--simulate", action="store_true", help="numpy slot vectors instead of ciphertexts")
    parser.add_argument("--explain", action="store_true", help="print the plan before running it")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random operands (default: 0)")
    parser.set_defaults(handler=_run_einsum)


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """'2x3,4' -> [(2, 3), (4,)]; 'scalar' or '' is a 0-d shape.

    Raises:
        ParameterError: a dimension that is not a positive integer.
    """
    shapes: list[tuple[int, ...]] = []
    for part in text.split(","):
        part = part.strip()
        if part in ("", "scalar", "()"):
            shapes.append(())
            continue
        try:
            dims = tuple(int(size) for size in part.split("x"))
        except ValueError:
            raise ParameterError(f"shape {part!r} is invalid; write dimensions like 2x3x4") from None
        if any(size < 1 for size in dims):
            raise ParameterError(f"shape {part!r} has a dimension below 1")
        shapes.append(dims)
    return shapes


def parse_encrypted(text: str, count: int) -> set[int]:
    """'0,2' -> {0, 2}, checked against the number of operands."""
    try:
        chosen = {int(index) for index in text.split(",") if index.strip()}
    except ValueError:
        raise ParameterError(f"--encrypt {text!r} is invalid; give operand indices like 0,1") from None
    if not chosen or not chosen <= set(range(count)):
        raise ParameterError(f"--encrypt {text!r} must name operands among 0..{count - 1}")
    return chosen


def _run_einsum(options: argparse.Namespace) -> int:
    from securecompute.fhe import CKKSContext, EncryptedTensor, einsum, plan_einsum

    shapes = parse_shapes(options.shapes)
    encrypted = parse_encrypted(options.encrypt, len(shapes))
    rng = np.random.default_rng(options.seed)
    arrays = [rng.uniform(-1.0, 1.0, shape) for shape in shapes]
    probe = CKKSContext.create(depth=16, poly_modulus_degree=32768, simulate=True)
    depth = options.depth or max(1, plan_einsum(options.expression, *_operands(probe, arrays, encrypted)).depth)
    expected = np.einsum(options.expression, *arrays)
    ctx = CKKSContext.create(
        depth=depth,
        poly_modulus_degree=options.poly_modulus_degree,
        simulate=options.simulate,
        backend=options.backend,
    )
    operands = _operands(ctx, arrays, encrypted)
    plan = plan_einsum(options.expression, *operands)
    if options.explain or options.plan_only:
        print(plan.explain())
    if options.plan_only:
        return 0
    started = time.perf_counter()
    ctx.ensure_rotation_steps(plan.rotation_steps)
    keys = time.perf_counter() - started
    started = time.perf_counter()
    result = einsum(options.expression, *operands)
    elapsed = time.perf_counter() - started
    assert isinstance(result, EncryptedTensor)
    error = float(np.max(np.abs(ctx.decrypt(result) - expected), initial=0.0))
    mode = "simulated" if ctx.simulate else f"CKKS on {ctx.engine_name}, N={ctx.params.poly_modulus_degree}"
    print(
        f"{options.expression}: {mode}, depth {plan.depth}, {plan.rotations} rotations, "
        f"keys {keys:.2f} s, einsum {elapsed:.3f} s, max |error| vs numpy {error:.2e}"
    )
    return 0


def _operands(ctx: Any, arrays: list[np.ndarray], encrypted: set[int]) -> list[Any]:
    return [ctx.encrypt(array) if k in encrypted else array for k, array in enumerate(arrays)]


def tour_step(report: TourReport) -> None:
    """Attention scores on encrypted queries and keys, and an encrypted vector through a plain matrix."""
    from securecompute.fhe import CKKSContext, EncryptedTensor, einsum, plan_einsum

    def run(expression: str, *operands: Any) -> np.ndarray:
        result = einsum(expression, *operands)
        assert isinstance(result, EncryptedTensor)
        return ctx.decrypt(result)

    rng = np.random.default_rng(0)
    ctx = CKKSContext.create(depth=2)
    queries, keys = rng.uniform(-1, 1, (2, 5, 8, 16)), rng.uniform(-1, 1, (2, 5, 8, 16))
    enc_queries, enc_keys = ctx.encrypt(queries), ctx.encrypt(keys)
    plan = plan_einsum("bthd,bThd->bhtT", enc_queries, enc_keys)
    started = time.perf_counter()
    scores = run("bthd,bThd->bhtT", enc_queries, enc_keys)
    elapsed = time.perf_counter() - started
    expected = np.einsum("bthd,bThd->bhtT", queries, keys)
    error = float(np.abs(scores - expected).max())
    report.add(
        "einsum",
        "attention scores bthd,bThd->bhtT, ct x ct",
        "ok" if error < 1e-3 else "MISMATCH",
        f"N={ctx.params.poly_modulus_degree}, depth {plan.depth}, {plan.rotations} rotations, "
        f"{elapsed:.1f} s incl. keys, max error {error:.1e}",
    )
    matrix, vector = rng.uniform(-1, 1, (64, 64)), rng.uniform(-1, 1, 64)
    product_plan = plan_einsum("ik,k->i", matrix, ctx.encrypt(vector))
    product = run("ik,k->i", matrix, ctx.encrypt(vector))
    product_error = float(np.abs(product - matrix @ vector).max())
    report.add(
        "einsum",
        "plain 64x64 matrix times encrypted vector",
        "ok" if product_error < 1e-3 else "MISMATCH",
        f"depth {product_plan.depth}, {product_plan.rotations} rotations, max error {product_error:.1e}",
    )
    _one_einsum_per_engine(report)
    from securecompute.plotting import new_figure, save_figure

    figure, axis = new_figure(figsize=(5, 4))
    axis.scatter(expected.ravel(), scores.ravel(), s=6)
    axis.set_xlabel("numpy.einsum")
    axis.set_ylabel("decrypted CKKS einsum")
    axis.set_title("attention scores: encrypted vs plaintext")
    figure.tight_layout()
    save_figure(figure, report.figure_path("einsum_attention.png", "encrypted attention scores against numpy"))


def _one_einsum_per_engine(report: TourReport) -> None:
    """The same small ct x pt einsum on each real CKKS engine (N = 8192, depth 1: about a second each)."""
    from securecompute.fhe import CKKSContext, EncryptedTensor, einsum

    rng = np.random.default_rng(1)
    matrix, vector = rng.uniform(-1, 1, (16, 16)), rng.uniform(-1, 1, 16)
    for engine in ("seal", "cross"):
        started = time.perf_counter()
        ctx = CKKSContext.create(depth=1, poly_modulus_degree=8192, backend=engine)
        result = einsum("ik,k->i", matrix, ctx.encrypt(vector))
        assert isinstance(result, EncryptedTensor)
        error = float(np.abs(ctx.decrypt(result) - matrix @ vector).max())
        report.add(
            "einsum",
            f"16x16 plain matrix times encrypted vector on the {engine!r} engine",
            "ok" if error < 1e-3 else "MISMATCH",
            f"N={ctx.params.poly_modulus_degree}, {time.perf_counter() - started:.1f} s incl. keys, "
            f"max error {error:.1e}",
        )
