"""`securecompute einsum`: runs, explains, and refuses bad input in one line."""

from __future__ import annotations

import pytest

from securecompute.cli import main
from securecompute.errors import ParameterError
from securecompute.fhe.commands import parse_encrypted, parse_shapes


def test_einsum_command_runs_in_simulate_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["einsum", "bik,bkj->bij", "--shapes", "2x3x4,2x4x5", "--encrypt", "0,1", "--simulate"]) == 0
    out = capsys.readouterr().out
    assert "bik,bkj->bij: simulated, depth 2" in out
    assert "max |error| vs numpy" in out


def test_einsum_command_explains_and_can_stop_there(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["einsum", "ij,jk->ik", "--shapes", "16x32,32x32", "--encrypt", "0", "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert "cost: depth 1" in out
    assert "max |error|" not in out


@pytest.mark.slow
def test_einsum_command_runs_real_ckks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["einsum", "ik,k->i", "--shapes", "8x8,8", "--encrypt", "1"]) == 0
    assert "CKKS on seal, N=16384" in capsys.readouterr().out


@pytest.mark.slow
def test_einsum_command_runs_on_the_cross_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["einsum", "ik,k->i", "--shapes", "8x8,8", "--encrypt", "1", "--backend", "cross"]) == 0
    out = capsys.readouterr().out
    assert "CKKS on cross, N=16384" in out
    error = float(out.rsplit("vs numpy", 1)[1])
    assert error < 1e-3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ij,j3->i", "--shapes", "2x2,2x2"], "position 4"),
        (["ij,jk->ik", "--shapes", "2x3,4x2"], "label 'j'"),
        (["ij->i", "--shapes", "2xa"], "shape '2xa'"),
        (["ij->i", "--shapes", "2x2", "--encrypt", "3"], "among 0..0"),
        (["ij->i", "--shapes", "2x2", "--backend", "tpu"], "registered: cross, cross-jax, seal, simulate"),
        (["ij->i", "--shapes", "2x2", "--backend", "cross", "--simulate"], "contradicts backend='cross'"),
    ],
)
def test_einsum_command_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["einsum", *arguments]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_parse_shapes_reads_scalars_and_dimensions() -> None:
    assert parse_shapes("2x3,scalar,4") == [(2, 3), (), (4,)]
    with pytest.raises(ParameterError, match="below 1"):
        parse_shapes("0x3")


def test_parse_encrypted_checks_indices() -> None:
    assert parse_encrypted("0, 1", 2) == {0, 1}
    with pytest.raises(ParameterError):
        parse_encrypted("x", 2)
