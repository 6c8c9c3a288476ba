"""The accelerator check script (benchmarks/ntt_gpu.py) in its CPU-sized mode, and its FLOP count."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax", reason="the script times the JAX backend; extra [jax] not installed")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import ntt_gpu  # noqa: E402

from securecompute.cross.ntt import NTT  # noqa: E402
from securecompute.cross.primes import find_ntt_primes  # noqa: E402


def test_gemm_flops_per_ntt_is_the_issues_figure_at_2_14() -> None:
    # Issue 15: 16.8 MFLOP per NTT at 2^14 with 2 digits: R = C = 128, 2 n (2 R + 2 C) = 2^24.
    ntt = NTT(1 << 14, find_ntt_primes(30, 1 << 14, 1))
    assert (ntt.rows, ntt.cols) == (128, 128)
    assert ntt_gpu.gemm_flops_per_ntt(ntt, "forward") == 16_777_216
    assert ntt_gpu.gemm_flops_per_ntt(ntt, "inverse") == 16_777_216


def test_quick_run_is_exact_and_records_rates(tmp_path: Path) -> None:
    out = tmp_path / "ntt.json"
    ntt_gpu.main(["--quick", "--rounds", "1", "--iterations", "1", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert data["exactness"]["bit_exact"] is True
    assert [entry["n"] for entry in data["results"]] == [1024, 4096]
    for entry in data["results"]:
        for direction in ("forward", "inverse"):
            timing = entry[direction]
            assert timing["limb_ntts_per_s_best"] > 0
            rate = timing["gemm_flops_per_ntt"] * timing["limb_ntts_per_s_best"] / 1e12
            assert timing["gemm_tflops_best"] == pytest.approx(rate)
    assert data["float64_gemm"]["square"]["tflops_best"] > 0
    assert "jaxlib" in data["machine"]


def test_comparison_of_a_2_14_headline(capsys: pytest.CaptureFixture[str]) -> None:
    # The device-only branch (the 2^14 headline): run 2 on the H200 crashed here after measuring.
    headline = {"forward": {"limb_ntts_per_s_best": 1_377_844.0, "gemm_tflops_best": 23.12}}
    peaks = {"square": {"tflops_best": 57.17}, "ntt_step1_shape": {"tflops_best": 43.60}}
    comparison = ntt_gpu.compare(headline, peaks)
    assert comparison["target_1M_per_s"]["met"] is True
    assert comparison["target_1M_per_s"]["ratio"] == pytest.approx(1.377844)
    assert comparison["fraction_of_f64_gemm_peak"]["square"] == pytest.approx(23.12 / 57.17)
    printed = capsys.readouterr().out
    assert "vs TensorFHE (A100), NTT/s at 2^14: 1.51x" in printed
    assert "share of the float64 GEMM peak (square): 40%" in printed
