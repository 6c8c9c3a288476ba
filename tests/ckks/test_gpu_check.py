"""benchmarks/ckks_gpu.py, the prepared GPU check: its bit-exactness part at tiny N, so the script cannot rot.

The JAX engine runs on the CPU here; on a device session the same function runs at N = 2^15 on the GPU.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from securecompute.ckks import Ciphertext, Evaluator

pytest.importorskip("jax", reason="the JAX engine needs the optional extra [jax]")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ckks_gpu.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    """The script as a module; the benchmark folder it puts on ``sys.path`` is taken off again."""
    saved = list(sys.path)
    spec = importlib.util.spec_from_file_location("ckks_gpu_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


@pytest.mark.parametrize("bits", [(40, 30, 30, 40), (60, 40, 40, 60)], ids=["fast-mode", "wide-mode"])
def test_bit_exact_check_passes_and_counts_every_word(gpu_check: ModuleType, bits: tuple[int, ...]) -> None:
    n = 1024
    result = gpu_check.check_bit_exact(n, bits, allow_insecure=True)
    assert result["bit_exact"] is True
    assert result["ops"] == [
        "add",
        "multiply_plain",
        "multiply",
        "multiply_relinearize",
        "rescale",
        "mod_switch",
        "rotate",
        "rotate_many_hoisted",
    ]
    # Words per op (size x limbs x N), 3 limbs fresh: add 2x3, multiply_plain 2x3, multiply 3x3,
    # relinearize 2x3, rescale 2x2, mod_switch 2x2, rotate 2x3, rotate_many 4 steps x 2x3.
    assert result["words_compared"] == (6 + 6 + 9 + 6 + 4 + 4 + 6 + 24) * n


def test_bit_exact_check_fails_loudly_on_one_wrong_word(gpu_check: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Evaluator.rotate_many

    def tampered(self: Evaluator, ciphertext: Ciphertext, steps: list[int]) -> list[Ciphertext]:
        outputs = original(self, ciphertext, steps)
        if self.backend != "jax":
            return outputs
        data = np.array(outputs[-1].data)  # a host copy (the JAX engine returns immutable device arrays)
        data[0, 0, 0] ^= 1
        return [*outputs[:-1], replace(outputs[-1], data=data)]

    monkeypatch.setattr(Evaluator, "rotate_many", tampered)
    with pytest.raises(gpu_check.MismatchError, match=r"rotate_many_hoisted\[3\] N=1024 .*: 1 of 6144 words differ"):
        gpu_check.check_bit_exact(1024, (40, 30, 30, 40), allow_insecure=True)


def test_time_guard_runs_while_the_estimate_fits(gpu_check: ModuleType) -> None:
    ran: list[Any] = []
    now = time.perf_counter()
    done, left = gpu_check._guarded([1, 2, 3], ran.append, now, 3600.0, lambda item: float(item))
    assert (ran, left) == ([1, 2, 3], [])
    assert len(done) == 3
    ran.clear()
    done, left = gpu_check._guarded([1, 2, 3], ran.append, now - 100.0, 10.0, lambda item: float(item))
    assert (ran, left) == ([], [1, 2, 3])


def test_accelerator_info_names_platform_and_versions(gpu_check: ModuleType) -> None:
    info = gpu_check.accelerator_info()
    assert info["platform"] in ("cpu", "gpu", "tpu")
    assert info["jax"]
    assert info["jaxlib"]
    assert ("nvidia_smi" in info) != ("nvidia_smi_error" in info)
