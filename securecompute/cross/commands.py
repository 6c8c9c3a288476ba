"""The matmul-engine arithmetic capability's CLI subcommand and demo-tour step."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from securecompute.blas import blas_threads, limited_blas_threads
from securecompute.cross.ntt import NTT, default_layout
from securecompute.cross.seal_interop import SealNttPair, bfv_ntt_pair
from securecompute.errors import ParameterError
from securecompute.plotting import new_figure, save_figure

if TYPE_CHECKING:
    from securecompute.demo import TourReport

__all__ = ["register_commands", "tour_step"]

MAX_DEGREE = 131072
"""Largest ring degree SEAL accepts (2^17); the check against SEAL needs SEAL to build the ciphertext."""


def register_commands(commands: Any) -> None:
    """Add ``securecompute ntt`` to the CLI's subparsers."""
    parser = commands.add_parser(
        "ntt",
        help="negacyclic NTT as exact GEMMs, checked bit for bit against SEAL",
        description="Example: securecompute ntt --n 16384 --moduli 3 --bench",
    )
    parser.add_argument(
        "--n",
        type=int,
        default=4096,
        help=f"ring degree, a power of two from 16 to {MAX_DEGREE} (SEAL's largest, the oracle) (default: %(default)s)",
    )
    parser.add_argument("--moduli", type=int, default=3, help="number of 30-bit RNS limbs (default: %(default)s)")
    parser.add_argument("--bench", action="store_true", help="time ours against SEAL's transform_to_ntt per limb")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timing repeats with --bench, >= 1 (default: %(default)s)"
    )
    parser.set_defaults(handler=_run_ntt)


def _median_seconds(function: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _checked_pair(n: int, limbs: int) -> SealNttPair:
    if n < 16 or n > MAX_DEGREE or n & (n - 1):
        raise ParameterError(f"--n {n} is invalid; accepted: a power of two from 16 to {MAX_DEGREE} (SEAL's largest)")
    if not 1 <= limbs <= 16:
        raise ParameterError(f"--moduli {limbs} is invalid; accepted: 1 to 16")
    return bfv_ntt_pair(n, limb_bits=[30] * (limbs + 1))


def _is_exact(ntt: NTT, pair: SealNttPair) -> bool:
    forward_ok = np.array_equal(ntt.forward(pair.coefficients), pair.ntt)
    return bool(forward_ok and np.array_equal(ntt.inverse(pair.ntt), pair.coefficients))


def _run_ntt(options: argparse.Namespace) -> int:
    if options.repeats < 1:
        raise ParameterError(f"--repeats {options.repeats} is invalid; accepted: 1 or more")
    pair = _checked_pair(options.n, options.moduli)
    ntt = NTT(options.n, pair.moduli)
    exact = _is_exact(ntt, pair)
    rows, columns = default_layout(options.n)
    print(
        f"n = {options.n}, {len(pair.moduli)} limbs of 30 bits, layout {rows}x{columns}: forward and inverse "
        f"{'bit-exact with SEAL' if exact else 'DIFFER FROM SEAL'} on a real ciphertext (2 x {len(pair.moduli)} limbs)"
    )
    if options.bench:
        limbs = pair.coefficients.shape[0] * pair.coefficients.shape[1]
        ours = _median_seconds(lambda: ntt.forward(pair.coefficients), options.repeats) / limbs
        seal = _median_seconds(pair.seal_forward, options.repeats) / limbs
        print(
            f"forward NTT per limb: ours {ours * 1e6:.0f} us, SEAL {seal * 1e6:.0f} us, ratio {ours / seal:.2f} "
            f"({_thread_note()})"
        )
    return 0 if exact else 1


def tour_step(report: TourReport) -> None:
    """NTT of a real SEAL ciphertext, bit-exact, timed per limb against SEAL, and a plot."""
    degrees, ours_us, seal_us = [], [], []
    for n in (1024, 2048, 4096, 8192):
        pair = _checked_pair(n, 3)
        ntt = NTT(n, pair.moduli)
        exact = _is_exact(ntt, pair)
        limbs = pair.coefficients.shape[0] * pair.coefficients.shape[1]
        degrees.append(n)
        ours_us.append(_median_seconds(lambda: ntt.forward(pair.coefficients), 3) / limbs * 1e6)  # noqa: B023
        seal_us.append(_median_seconds(pair.seal_forward, 3) / limbs * 1e6)
        report.add(
            "cross",
            f"NTT n={n}, 3 x 30-bit limbs, vs SEAL transform_to_ntt",
            "ok" if exact else "MISMATCH",
            f"bit-exact; {ours_us[-1]:.0f} us/limb ours vs {seal_us[-1]:.0f} us/limb SEAL ({_thread_note()})"
            if exact
            else "",
        )
    figure, axis = new_figure(figsize=(5, 4))
    axis.loglog(degrees, ours_us, "o-", label="securecompute (float64 GEMM, numpy)")
    axis.loglog(degrees, seal_us, "s-", label="SEAL C++ transform_to_ntt")
    axis.set_xlabel("ring degree n")
    axis.set_ylabel("microseconds per limb")
    axis.set_title(f"forward negacyclic NTT, 30-bit limbs\n{_thread_note()}", fontsize=10)
    axis.legend()
    figure.tight_layout()
    save_figure(figure, report.figure_path("cross_ntt.png", "forward NTT time per limb against SEAL"))


def _thread_note() -> str:
    """The BLAS threads our kernels run on (pinned inside them), for printing beside a timing."""
    with limited_blas_threads():
        return f"BLAS threads: {blas_threads()} inside our kernels"
