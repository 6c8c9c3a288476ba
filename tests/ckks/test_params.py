"""Parameters: SEAL's chain for the same bit sizes, the 128-bit table, refusals."""

from __future__ import annotations

import pytest
from tenseal import sealapi

from securecompute.ckks import SECURITY_MAX_COEFF_BITS, CKKSParameters
from securecompute.errors import InsecureParametersError, ParameterError


@pytest.mark.parametrize(
    ("n", "bits"),
    [
        (8192, [60, 40, 40, 60]),
        (8192, [50, 30, 30, 30, 50]),
        (16384, [60, 50, 50, 50, 50, 50, 60]),
        (32768, [60, 40, 40, 40, 40, 40, 40, 60]),
    ],
)
def test_chain_is_seals_coeff_modulus_create(n: int, bits: list[int]) -> None:
    ours = CKKSParameters.from_bit_sizes(n, bits)
    assert list(ours.moduli) == [m.value() for m in sealapi.CoeffModulus.Create(n, bits)]


def test_table_is_seals_max_bit_count() -> None:
    for n, limit in SECURITY_MAX_COEFF_BITS.items():
        assert sealapi.CoeffModulus.MaxBitCount(n, sealapi.SEC_LEVEL_TYPE.TC128) == limit


def test_levels_and_special_prime() -> None:
    params = CKKSParameters.from_bit_sizes(8192, [60, 40, 40, 60])
    assert params.max_level == 2
    assert params.key_level == 3
    assert params.special_prime == params.moduli[-1]
    assert params.moduli_at(0) == params.moduli[:1]
    with pytest.raises(ParameterError, match="level=4"):
        params.moduli_at(4)


def test_chain_above_the_table_is_refused_unless_allowed() -> None:
    with pytest.raises(InsecureParametersError, match="218"):
        CKKSParameters.from_bit_sizes(8192, [60, 60, 60, 60])
    assert not CKKSParameters.from_bit_sizes(8192, [60, 60, 60, 60], allow_insecure=True).is_secure


@pytest.mark.parametrize(
    ("n", "moduli", "message"),
    [
        (1000, (97, 193), "power of two"),
        (8192, (65537,), "at least one data prime"),
        (8192, (65537, 65537), "repeat"),
        (8192, (65537, 65539), "q = 1 mod 2N"),
    ],
)
def test_bad_parameters_are_refused(n: int, moduli: tuple[int, ...], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        CKKSParameters(n, moduli, allow_insecure=True)
