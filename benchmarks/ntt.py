"""Negacyclic NTT and polynomial product per limb: securecompute's float64-GEMM NTT against SEAL's C++ NTT and numpy radix-2.

Usage: ``python benchmarks/ntt.py [--quick] [--repeats R] [--out PATH]``

Sizes: N = 2^12, 2^13, 2^14, 2^16 (``--quick``: 2^12 and 2^14), L = 1 and 16 limbs of 30-bit NTT
primes (SEAL's own ``CoeffModulus.Create(N, [30] * (L + 1))``, the data level's L primes), one
polynomial of L limbs per call.  Two operations:

* ``forward``: one forward negacyclic NTT, bit-reversed (SEAL) order, of an ``(L, N)`` polynomial.
* ``product``: the full negacyclic product ``a * b mod (X^N + 1, q_l)``: forward both, pointwise
  ``modmath.mod_mul`` per limb, inverse.

Implementations, all in this run on this machine:

* ``securecompute``: :class:`securecompute.cross.ntt.NTT` (numpy backend, float64 GEMMs).
* ``securecompute_jax``: the same object with ``backend="jax"`` on JAX's CPU device (when jax is
  installed: the ``[jax]`` or ``[dev]`` extra), through its host API (numpy in, numpy out, transfers
  included), checked equal to the numpy backend first.  XLA is pinned to one thread
  (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, set before jax
  loads) so that it competes on the terms SEAL and the BLAS-pinned numpy backend do.
* ``seal``: SEAL's C++ NTT through ``tenseal.sealapi``: ``Evaluator.transform_to_ntt_inplace`` and
  ``transform_from_ntt_inplace`` on a fresh BFV ciphertext (2 polynomials of L limbs), per-limb
  time = call time / (2 L).  SEAL's product is composed: 2 forward + 1 inverse + the dyadic product,
  timed as ``multiply_plain_inplace`` of the NTT-form ciphertext by an NTT-form plaintext (/ (2 L)).
* ``radix2``: the textbook vectorised numpy iterative negacyclic NTT written here (Cooley-Tukey with
  bit-reversed psi powers forward, Gentleman-Sande inverse, int64 ``%`` mod q, exact since q < 2^31);
  its output is checked equal to securecompute's (and SEAL's) before timing.
* ``galois.ntt`` only if ``galois`` is importable (otherwise skipped, reason recorded).

Per-limb microseconds are the median over R repeats (default 15; 5 with ``--quick``).  BLAS is
pinned to one thread for the whole run with ``threadpoolctl.threadpool_limits(1, user_api="blas")``
(multi-threaded OpenBLAS has a latency floor of milliseconds per call on small GEMMs here), and
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed by a re-exec so OpenBLAS picks its own kernel;
the kernel in use is reported.  Results go to ``benchmarks/results/ntt.json`` (``ntt-quick.json``
with ``--quick``) and a markdown table is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    blas_summary,
    machine_info,
    markdown_table,
    median,
    reexec_without_openblas_overrides,
    time_repeats,
    write_json,
)

SIZES = (1 << 12, 1 << 13, 1 << 14, 1 << 16)
QUICK_SIZES = (1 << 12, 1 << 14)
LIMBS = (1, 16)
PRIME_BITS = 30
TARGET_VS_RADIX2 = 3.0  # at N = 4096: at least 3x faster than numpy radix-2
TARGET_VS_SEAL = 2.0  # batch >= 16, N = 4096 and 16384: within 2x of SEAL per limb


# -- textbook baseline --------------------------------------------------------------------------


def _bitrev(size: int) -> np.ndarray:
    bits = size.bit_length() - 1
    index = np.arange(size)
    out = np.zeros(size, dtype=np.int64)
    for bit in range(bits):
        out |= ((index >> bit) & 1) << (bits - 1 - bit)
    return out


def _power_table(root: int, count: int, q: int) -> np.ndarray:
    values = [1] * count
    for exponent in range(1, count):
        values[exponent] = values[exponent - 1] * root % q
    return np.array(values, dtype=np.int64)


class Radix2:
    """Vectorised iterative negacyclic NTT (numpy int64, ``%`` reduction), SEAL's bit-reversed order.

    Forward: Cooley-Tukey butterflies ``(U, V) -> (U + S V, U - S V)`` with S = psi^bitrev(m + i)
    (the negacyclic twist merged in, Longa-Naehrig), all blocks of a stage in one numpy expression.
    Inverse: Gentleman-Sande with psi^-bitrev, then n^-1.  Values stay in [0, q), products < 2^62.
    """

    def __init__(self, n: int, moduli: Sequence[int], psi: Sequence[int]) -> None:
        self.n = n
        self.q = np.array(moduli, dtype=np.int64).reshape(-1, 1, 1)
        rev = _bitrev(n)
        self.forward_table = np.stack([_power_table(p, n, q)[rev] for p, q in zip(psi, moduli, strict=True)])
        self.inverse_table = np.stack(
            [_power_table(pow(p, -1, q), n, q)[rev] for p, q in zip(psi, moduli, strict=True)]
        )
        self.n_inverse = np.array([pow(n, -1, q) for q in moduli], dtype=np.int64).reshape(-1, 1)

    def forward(self, values: np.ndarray) -> np.ndarray:
        a = np.array(values, dtype=np.int64)
        limbs, q = a.shape[0], self.q
        m, t = 1, self.n
        while m < self.n:
            t //= 2
            blocks = a.reshape(limbs, m, 2 * t)
            u = blocks[:, :, :t]
            v = blocks[:, :, t:] * self.forward_table[:, m : 2 * m, None] % q
            high = (u - v) % q
            u += v
            u %= q
            blocks[:, :, t:] = high
            m *= 2
        return a

    def inverse(self, values: np.ndarray) -> np.ndarray:
        a = np.array(values, dtype=np.int64)
        limbs, q = a.shape[0], self.q
        t, m = 1, self.n
        while m > 1:
            h = m // 2
            blocks = a.reshape(limbs, h, 2 * t)
            u = blocks[:, :, :t].copy()
            v = blocks[:, :, t:]
            blocks[:, :, :t] = (u + v) % q
            blocks[:, :, t:] = (u - v) % q * self.inverse_table[:, h:m, None] % q
            t *= 2
            m = h
        return a * self.n_inverse % q[:, :, 0]


# -- SEAL ------------------------------------------------------------------------------------------


class Seal:
    """A BFV context with L 30-bit data primes (+1 special prime) and one fresh ciphertext."""

    def __init__(self, n: int, limbs: int) -> None:
        from tenseal import sealapi

        self.sealapi = sealapi
        parameters = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
        parameters.set_poly_modulus_degree(n)
        parameters.set_coeff_modulus(sealapi.CoeffModulus.Create(n, [PRIME_BITS] * (limbs + 1)))
        parameters.set_plain_modulus(sealapi.PlainModulus.Batching(n, 20))
        # No security level: 16 x 30-bit primes exceed the 128-bit-security budget at small N; the NTT does not care.
        self.context = sealapi.SEALContext(parameters, True, sealapi.SEC_LEVEL_TYPE.NONE)
        data = self.context.first_context_data()
        self.moduli = [m.value() for m in data.parms().coeff_modulus()]
        assert len(self.moduli) == limbs
        keys = sealapi.KeyGenerator(self.context)
        public = sealapi.PublicKey()
        keys.create_public_key(public)
        self.encryptor = sealapi.Encryptor(self.context, public)
        self.ciphertext = sealapi.Ciphertext()
        self.encryptor.encrypt(sealapi.Plaintext("3x^5 + 1"), self.ciphertext)
        self.evaluator = sealapi.Evaluator(self.context)
        self.n, self.limbs = n, limbs

    def limbs_array(self) -> np.ndarray:
        """The ciphertext as int64 (poly, limb, coefficient)."""
        array = self.ciphertext.dyn_array()
        values = np.fromiter((array.at(i) for i in range(array.size())), dtype=np.uint64, count=array.size())
        return values.astype(np.int64).reshape(2, self.limbs, self.n)

    def time_forward_inverse(self, repeats: int) -> tuple[list[float], list[float]]:
        """Wall seconds per limb of transform_to_ntt_inplace / transform_from_ntt_inplace."""
        forward, inverse = [], []
        per = 2 * self.limbs
        for _ in range(repeats):
            start = time.perf_counter()
            self.evaluator.transform_to_ntt_inplace(self.ciphertext)
            middle = time.perf_counter()
            self.evaluator.transform_from_ntt_inplace(self.ciphertext)
            forward.append((middle - start) / per)
            inverse.append((time.perf_counter() - middle) / per)
        return forward, inverse

    def time_dyadic(self, repeats: int) -> tuple[list[float] | None, str]:
        """Per-limb seconds of SEAL's NTT-domain pointwise product (multiply_plain on NTT forms)."""
        sealapi = self.sealapi
        try:
            operand = sealapi.Ciphertext()
            self.encryptor.encrypt(sealapi.Plaintext("2x^7 + 4"), operand)
            self.evaluator.transform_to_ntt_inplace(operand)
            plain = sealapi.Plaintext("5x^3 + 7")
            self.evaluator.transform_to_ntt_inplace(plain, operand.parms_id())
            times, _ = time_repeats(lambda: self.evaluator.multiply_plain_inplace(operand, plain), repeats)
        except Exception as error:  # pragma: no cover - depends on the SEAL build
            return None, f"multiply_plain on NTT forms failed: {error}"
        return [
            t / (2 * self.limbs) for t in times
        ], "multiply_plain_inplace (NTT form ciphertext x NTT form plaintext)"


# -- measurement ----------------------------------------------------------------------------------


def _per_limb(function: Callable[[], Any], limbs: int, repeats: int) -> float:
    function()  # warm: constants, workspace, caches
    times, _ = time_repeats(function, repeats)
    return median(times) / limbs * 1e6


def _pointwise(a: np.ndarray, b: np.ndarray, moduli: Sequence[int]) -> np.ndarray:
    from securecompute.cross.modmath import mod_mul

    return np.stack([mod_mul(a[limb], b[limb], q) for limb, q in enumerate(moduli)])


def _galois_status() -> tuple[Any, str]:
    try:
        import galois  # type: ignore[import-not-found]
    except ImportError as error:
        return None, f"galois is not importable ({error}); baseline skipped"
    return galois, f"galois {galois.__version__}"


def _jax_status() -> str | None:
    """None when the JAX backend can run here, else the reason it is skipped."""
    try:
        import jax  # noqa: F401
    except ImportError as error:
        return f"jax is not importable ({error}); the jax column is skipped"
    return None


def _time_jax(
    transform: Any, n: int, moduli: Sequence[int], a: np.ndarray, limbs: int, repeats: int
) -> dict[str, float]:
    """Forward and inverse microseconds per limb of the JAX backend (after a compile-and-check call)."""
    from securecompute.cross.ntt import NTT

    on_jax = NTT(n, list(moduli), backend="jax")
    ours = transform.forward(a)
    if not (np.array_equal(on_jax.forward(a), ours) and np.array_equal(on_jax.inverse(ours), a)):
        raise AssertionError(f"N={n} L={limbs}: the jax backend differs from the numpy backend")
    return {
        "forward": _per_limb(lambda: on_jax.forward(a), limbs, repeats),
        "inverse": _per_limb(lambda: on_jax.inverse(ours), limbs, repeats),
    }


def measure(n: int, limbs: int, repeats: int, galois: Any, with_jax: bool) -> dict[str, Any]:
    from securecompute.cross.ntt import NTT

    seal = Seal(n, limbs)
    moduli = seal.moduli
    transform = NTT(n, moduli)
    radix2 = Radix2(n, moduli, transform.psi)
    polys = seal.limbs_array()
    a, b = polys[0], polys[1]

    # Exactness checks before timing: ours == SEAL == radix-2, and the product round trip.
    ours = transform.forward(a)
    seal.evaluator.transform_to_ntt_inplace(seal.ciphertext)
    seal_ntt = seal.limbs_array()
    seal.evaluator.transform_from_ntt_inplace(seal.ciphertext)
    checks = {
        "forward_equals_seal": bool(np.array_equal(ours, seal_ntt[0])),
        "radix2_forward_equals_ours": bool(np.array_equal(radix2.forward(a), ours)),
        "inverse_round_trip": bool(np.array_equal(transform.inverse(ours), a)),
        "radix2_inverse_round_trip": bool(np.array_equal(radix2.inverse(ours), a)),
    }

    def ours_product() -> np.ndarray:
        return transform.inverse(_pointwise(transform.forward(a), transform.forward(b), moduli))

    def radix2_product() -> np.ndarray:
        return radix2.inverse(_pointwise(radix2.forward(a), radix2.forward(b), moduli))

    checks["products_equal"] = bool(np.array_equal(ours_product(), radix2_product()))
    if not all(checks.values()):
        raise AssertionError(f"N={n} L={limbs}: exactness check failed: {checks}")

    seal_forward, seal_inverse = seal.time_forward_inverse(repeats)
    dyadic, dyadic_method = seal.time_dyadic(repeats)
    result: dict[str, Any] = {
        "n": n,
        "limbs": limbs,
        "moduli": moduli,
        "checks": checks,
        "us_per_limb": {
            "forward": {
                "securecompute": _per_limb(lambda: transform.forward(a), limbs, repeats),
                "seal": median(seal_forward) * 1e6,
                "radix2": _per_limb(lambda: radix2.forward(a), limbs, max(3, repeats // 3)),
            },
            "inverse": {
                "securecompute": _per_limb(lambda: transform.inverse(ours), limbs, repeats),
                "seal": median(seal_inverse) * 1e6,
            },
            "product": {
                "securecompute": _per_limb(ours_product, limbs, repeats),
                "radix2": _per_limb(radix2_product, limbs, max(3, repeats // 3)),
            },
        },
        "seal_dyadic_method": dyadic_method,
    }
    timings = result["us_per_limb"]
    if with_jax:
        jax_times = _time_jax(transform, n, moduli, a, limbs, repeats)
        timings["forward"]["securecompute_jax"] = jax_times["forward"]
        timings["inverse"]["securecompute_jax"] = jax_times["inverse"]
        checks["jax_equals_numpy_backend"] = True
    if dyadic is not None:
        timings["product"]["seal"] = 2 * timings["forward"]["seal"] + timings["inverse"]["seal"] + median(dyadic) * 1e6
    if galois is not None:  # pragma: no cover - galois is not a dependency
        result["galois_note"] = "galois.ntt is cyclic; timed on limb 0 only, without the negacyclic twist"
        timings["forward"]["galois"] = _per_limb(lambda: galois.ntt(a[0], n, moduli[0]), 1, max(3, repeats // 3))
    for operation in ("forward", "product"):
        row = timings[operation]
        row["ratio_vs_seal"] = row["securecompute"] / row["seal"] if "seal" in row else None
        row["speedup_vs_radix2"] = row["radix2"] / row["securecompute"]
    forward = timings["forward"]
    if "securecompute_jax" in forward:
        forward["jax_ratio_vs_seal"] = forward["securecompute_jax"] / forward["seal"]
        forward["jax_speedup_vs_radix2"] = forward["radix2"] / forward["securecompute_jax"]
    return result


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, one verdict per backend measured (numpy always; jax when it ran)."""
    verdicts = []
    for entry in results:
        forward = entry["us_per_limb"]["forward"]
        backends = [("numpy backend", "speedup_vs_radix2", "ratio_vs_seal")]
        if "securecompute_jax" in forward:
            backends.append(("jax backend on CPU", "jax_speedup_vs_radix2", "jax_ratio_vs_seal"))
        for label, speedup, ratio in backends:
            if entry["n"] == 4096:
                verdicts.append(
                    {
                        "target": f">= {TARGET_VS_RADIX2}x faster than numpy radix-2 (forward), N=4096, "
                        f"L={entry['limbs']}, {label}",
                        "value": round(forward[speedup], 2),
                        "met": forward[speedup] >= TARGET_VS_RADIX2,
                    }
                )
            if entry["n"] in (4096, 16384) and entry["limbs"] >= 16:
                verdicts.append(
                    {
                        "target": f"within {TARGET_VS_SEAL}x of SEAL per limb (forward), N={entry['n']}, "
                        f"L={entry['limbs']}, {label}",
                        "value": round(forward[ratio], 2),
                        "met": forward[ratio] <= TARGET_VS_SEAL,
                    }
                )
    return verdicts


def _table(results: list[dict[str, Any]]) -> str:
    headers = [
        "N",
        "L",
        "op",
        "securecompute us/limb",
        "SEAL us/limb",
        "radix-2 us/limb",
        "ours/SEAL",
        "radix-2/ours",
        "jax (CPU) us/limb",
        "jax/SEAL",
    ]
    rows = []
    for entry in results:
        for operation in ("forward", "product"):
            row = entry["us_per_limb"][operation]
            seal = row.get("seal")
            rows.append(
                [
                    entry["n"],
                    entry["limbs"],
                    operation,
                    f"{row['securecompute']:.1f}",
                    "-" if seal is None else f"{seal:.1f}",
                    f"{row['radix2']:.1f}",
                    "-" if row["ratio_vs_seal"] is None else f"{row['ratio_vs_seal']:.2f}x",
                    f"{row['speedup_vs_radix2']:.2f}x",
                    f"{row['securecompute_jax']:.1f}" if "securecompute_jax" in row else "-",
                    f"{row['jax_ratio_vs_seal']:.2f}x" if "jax_ratio_vs_seal" in row else "-",
                ]
            )
    return markdown_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> None:
    reexec_without_openblas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2^12 and 2^14 only, 5 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 15)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ntt.json)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)
    sizes = QUICK_SIZES if args.quick else SIZES
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / ("ntt-quick.json" if args.quick else "ntt.json")
    )

    from threadpoolctl import threadpool_limits

    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    galois, galois_note = _galois_status()
    print(galois_note)
    jax_note = _jax_status()
    print(jax_note or f"jax backend measured on the CPU, XLA_FLAGS={os.environ['XLA_FLAGS']}")
    results = []
    with threadpool_limits(limits=1, user_api="blas"):
        info = machine_info()  # inside the limit: reports num_threads = 1
        print(f"BLAS: {blas_summary(info)}; threads pinned to 1 (threadpoolctl); removed env: {info['removed_env']}")
        for n in sizes:
            for limbs in LIMBS:
                entry = measure(n, limbs, repeats, galois, with_jax=jax_note is None)
                results.append(entry)
                forward = entry["us_per_limb"]["forward"]
                print(
                    f"N={n:6d} L={limbs:2d}: forward ours {forward['securecompute']:8.1f} us/limb, "
                    f"SEAL {forward['seal']:7.1f}, radix-2 {forward['radix2']:8.1f}",
                    flush=True,
                )
    data = {
        "benchmark": "ntt",
        "description": __doc__.splitlines()[0],
        "machine": info,
        "blas_threads": "threadpoolctl.threadpool_limits(limits=1, user_api='blas') around every measurement",
        "repeats": repeats,
        "quick": args.quick,
        "galois": galois_note,
        "jax": jax_note or f"measured on the CPU device; XLA_FLAGS={os.environ.get('XLA_FLAGS')}",
        "results": results,
        "targets": _targets(results),
    }
    table = _table(results)
    print()
    print(table)
    print()
    for verdict in data["targets"]:
        print(f"{'MET ' if verdict['met'] else 'MISS'} {verdict['target']}: {verdict['value']}")
    print(f"wrote {write_json(out, data)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
