"""Known-answer vectors made by SEAL itself (protocols/vectors/cross/ntt_seal.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from securecompute.cross import NTT, minimal_primitive_root

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "protocols" / "vectors" / "cross" / "ntt_seal.json").read_text()
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_forward_reproduces_seal_vector(vector: dict[str, object]) -> None:
    ntt = NTT(int(vector["n"]), list(vector["moduli"]))  # type: ignore[call-overload]
    expected = np.array(vector["ntt_bit_reversed"], dtype=np.int64)
    assert np.array_equal(ntt.forward(np.array(vector["coefficients"], dtype=np.int64)), expected)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_inverse_reproduces_seal_vector(vector: dict[str, object]) -> None:
    ntt = NTT(int(vector["n"]), list(vector["moduli"]))  # type: ignore[call-overload]
    expected = np.array(vector["coefficients"], dtype=np.int64)
    assert np.array_equal(ntt.inverse(np.array(vector["ntt_bit_reversed"], dtype=np.int64)), expected)


def test_worked_example_of_the_spec() -> None:
    """protocols/cross.md works n = 16, q = 97 by hand: psi = 19 and the outputs it lists."""
    vector = next(v for v in VECTORS if v["name"] == "n16-q97")
    assert minimal_primitive_root(32, 97) == 19
    coefficients = np.array(vector["coefficients"][0])
    assert coefficients[:4].tolist() == [45, 29, 39, 82]  # the matrix printed in the spec
    natural = [sum(int(c) * pow(19, j * (2 * k + 1), 97) for j, c in enumerate(coefficients)) % 97 for k in range(16)]
    bit_reversed = [natural[int(f"{i:04b}"[::-1], 2)] for i in range(16)]
    assert bit_reversed == vector["ntt_bit_reversed"][0]
