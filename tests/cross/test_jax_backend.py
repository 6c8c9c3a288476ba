"""The JAX backend of the GEMM NTT: bit-exact with the numpy backend and with SEAL, on whatever JAX device is present.

On a CPU-only machine (CI) everything but the GPU throughput check runs on CPU JAX; the same tests
run on a GPU where ``jax.devices()[0]`` is one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from securecompute.cross import jax_backend
from securecompute.cross.ntt import NTT
from securecompute.cross.primes import find_ntt_primes
from securecompute.cross.seal_interop import bfv_ntt_pair
from securecompute.errors import DependencyMissingError, NotAvailableError, ParameterError, ShapeError

jax = pytest.importorskip("jax", reason="the JAX backend needs the optional extra [jax]")

ORDERS = ["bit_reversed", "natural"]


def _random_residues(moduli: list[int], n: int, batch: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, q, size=(*batch, n)) for q in moduli], axis=-2)


def _pair(n: int, limbs: int, bits: int = 30) -> tuple[NTT, NTT, list[int]]:
    moduli = find_ntt_primes(bits, n, limbs)
    return NTT(n, moduli), NTT(n, moduli, backend="jax"), moduli


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("n", "limbs", "batch"), [(1024, 1, ()), (1024, 3, (2,)), (4096, 1, ()), (4096, 4, (3,))])
def test_forward_and_inverse_are_identical_to_the_numpy_backend(
    n: int, limbs: int, batch: tuple[int, ...], order: str
) -> None:
    reference, device, moduli = _pair(n, limbs)
    data = _random_residues(moduli, n, batch, seed=n + limbs)
    expected = reference.forward(data, order=order)
    got = device.forward(data, order=order)
    assert got.dtype == np.int64
    assert got.shape == data.shape
    assert np.array_equal(got, expected)
    back = device.inverse(expected, order=order)
    assert back.dtype == np.int64
    assert np.array_equal(back, reference.inverse(expected, order=order))
    assert np.array_equal(back, data)


@pytest.mark.parametrize("order", ORDERS)
def test_n_16384_several_limbs_matches_numpy(order: str) -> None:
    reference, device, moduli = _pair(16384, 3)
    data = _random_residues(moduli, 16384, (2,), seed=7)
    expected = reference.forward(data, order=order)
    assert np.array_equal(device.forward(data, order=order), expected)
    assert np.array_equal(device.inverse(expected, order=order), data)


@pytest.mark.parametrize(
    ("n", "bits", "rows"),
    [
        (16, 20, None),  # one-digit plans
        (256, 40, 64),  # six-digit plans, non-default layout
        (1024, 36, None),  # raw input too wide for the first GEMM: the balancing pass runs
        (2, 30, None),  # smallest n
    ],
)
def test_other_moduli_widths_and_layouts_match_numpy(n: int, bits: int, rows: int | None) -> None:
    moduli = find_ntt_primes(bits, n, 2)
    reference, device = NTT(n, moduli, rows=rows), NTT(n, moduli, backend="jax", rows=rows)
    data = _random_residues(moduli, n, (3,), seed=bits)
    for order in ORDERS:
        expected = reference.forward(data, order=order)
        assert np.array_equal(device.forward(data, order=order), expected)
        assert np.array_equal(device.inverse(expected, order=order), data)


def test_balancing_pass_case_is_really_exercised() -> None:
    """Guard for the case above: at 36 bits and n = 1024 the numpy path's ``raw_input_ok`` is False."""
    transform = NTT(1024, find_ntt_primes(36, 1024, 1))
    assert not transform._stages_for("forward", "natural").raw_input_ok


def test_all_q_minus_1_inputs_stress_the_bound() -> None:
    reference, device, moduli = _pair(4096, 2)
    data = np.broadcast_to(np.array(moduli, dtype=np.int64).reshape(2, 1) - 1, (2, 4096)).copy()
    for order in ORDERS:
        expected = reference.forward(data, order=order)
        assert np.array_equal(device.forward(data, order=order), expected)
        assert np.array_equal(device.inverse(data, order=order), reference.inverse(data, order=order))


@pytest.mark.parametrize(("n", "limb_bits"), [(4096, [30, 30, 30]), (16384, [30] * 5)])
def test_bit_exact_with_seal_both_directions(n: int, limb_bits: list[int]) -> None:
    pair = bfv_ntt_pair(n, limb_bits=limb_bits, plain_modulus=(1 << 20) - (1 << 20) % (2 * n) + 1, secure=True)
    device = NTT(n, pair.moduli, backend="jax")
    assert np.array_equal(device.forward(pair.coefficients, order="bit_reversed"), pair.ntt)
    assert np.array_equal(device.inverse(pair.ntt, order="bit_reversed"), pair.back)


def test_device_resident_api_round_trips() -> None:
    reference, transform, moduli = _pair(1024, 2)
    backend = jax_backend.JaxNTT(reference)  # built on a numpy-backend NTT's own precomputation
    data = _random_residues(moduli, 1024, (4,), seed=3)
    on_device = backend.to_device(data)
    assert on_device.dtype == np.int64
    evaluated = backend.forward_device(on_device, order="natural")
    assert np.array_equal(np.asarray(evaluated), reference.forward(data, order="natural"))
    assert np.array_equal(np.asarray(backend.inverse_device(evaluated, order="natural")), data)
    with pytest.raises(ShapeError):
        backend.forward_device(on_device.reshape(2, 2, 2, 1024))
    assert transform.backend == "jax"


def test_input_checks_and_empty_batches_follow_the_numpy_path() -> None:
    _, device, moduli = _pair(64, 2)
    with pytest.raises(ShapeError):
        device.forward(np.zeros((3, 64), dtype=np.int64))
    with pytest.raises(ParameterError):
        device.forward(np.full((2, 64), moduli[0], dtype=np.int64))
    with pytest.raises(ParameterError):
        device.forward(np.zeros((2, 64), dtype=np.int64), order="sideways")
    assert device.forward(np.zeros((0, 2, 64), dtype=np.int64)).shape == (0, 2, 64)


def test_the_global_x64_flag_is_left_as_it_was() -> None:
    before = bool(jax.config.jax_enable_x64)
    _, device, moduli = _pair(64, 1)
    device.forward(_random_residues(moduli, 64, (), seed=1))
    assert bool(jax.config.jax_enable_x64) == before
    expected = np.float64 if before else np.float32
    assert jax.numpy.asarray(np.arange(3.0)).dtype == expected


def test_missing_jax_raises_dependency_missing_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "jax" or name.startswith("jax."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "jax", None)  # ``import jax`` now raises ImportError
    with pytest.raises(DependencyMissingError, match=r"pip install 'securecompute\[jax\]'") as caught:
        NTT(16, [97], backend="jax")
    assert isinstance(caught.value, ImportError)
    assert "\n" not in str(caught.value)


def test_importing_the_package_does_not_import_jax() -> None:
    code = "import sys, securecompute.cross, securecompute.cross.ntt; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_tpu_device_is_refused() -> None:
    reference = NTT(16, [97])
    with pytest.raises(NotAvailableError, match="TPU"):
        jax_backend.JaxNTT(reference, device=SimpleNamespace(platform="tpu"))


def _on_gpu() -> bool:
    return bool(jax.devices()[0].platform == "gpu")


@pytest.mark.gpu
@pytest.mark.skipif(not _on_gpu(), reason="needs a GPU: jax.devices()[0].platform != 'gpu'")
def test_gpu_throughput_at_16384_batch_1024() -> None:
    n, batch = 16384, 1024
    reference = NTT(n, find_ntt_primes(30, n, 1))
    backend = jax_backend.JaxNTT(reference)
    data = _random_residues(list(reference.moduli), n, (batch,), seed=11)
    on_device = backend.to_device(data)
    out = backend.forward_device(on_device).block_until_ready()
    assert np.array_equal(np.asarray(out)[:4], reference.forward(data[:4]))
    start = time.perf_counter()
    for _ in range(5):
        out = backend.forward_device(on_device)
    out.block_until_ready()
    rate = 5 * batch / (time.perf_counter() - start)
    assert rate > 200_000, f"{rate:.0f} limb-NTTs/s at n=16384"
