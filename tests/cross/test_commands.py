"""`securecompute ntt`: checks against SEAL, times with --bench, refuses bad sizes in one line."""

from __future__ import annotations

import pytest

from securecompute.cli import main


def test_ntt_command_reports_bit_exactness(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ntt", "--n", "1024", "--moduli", "2"]) == 0
    assert "bit-exact with SEAL" in capsys.readouterr().out


def test_ntt_command_benchmarks_against_seal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ntt", "--n", "2048", "--moduli", "1", "--bench", "--repeats", "1"]) == 0
    assert "forward NTT per limb: ours" in capsys.readouterr().out


@pytest.mark.parametrize(("arguments", "message"), [(["--n", "100"], "--n 100"), (["--moduli", "0"], "--moduli 0")])
def test_ntt_command_refuses_bad_sizes(capsys: pytest.CaptureFixture[str], arguments: list[str], message: str) -> None:
    assert main(["ntt", *arguments]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err
