"""`securecompute prove relu` / `securecompute verify` through the real CLI (`securecompute.cli.main`), and the tour step."""

from __future__ import annotations

from pathlib import Path

import pytest

from securecompute import cli
from securecompute.demo import TourReport
from securecompute.zk import Params
from securecompute.zk.commands import tour_step


@pytest.fixture(scope="module")
def proof_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backward proof over 16 elements under Q = R = 16, max_log_n = 4, written by the CLI."""
    path = tmp_path_factory.mktemp("zk") / "proof.bin"
    assert cli.main(["prove", "relu", "--n", "16", "--out", str(path), "--max-log-n", "4", "--backward"]) == 0
    return path


def test_prove_then_verify_names_the_unpinned_parameters(proof_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main(["verify", str(proof_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid zkReLU proof: n=16, backward=True")
    assert "NOT pinned" in out
    assert Params.setup(16, 16, 4).digest().hex() in out
    assert len(out.strip().splitlines()) == 1


def test_verify_with_pinned_parameters(proof_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = Params.setup(16, 16, 4).digest().hex()
    capsys.readouterr()
    assert cli.main(["verify", str(proof_file), "--q-bits", "16", "--frac-bits", "16", "--max-log-n", "4"]) == 0
    out = capsys.readouterr().out
    assert "against the given parameters: Q=16, R=16, max_log_n=4" in out
    assert "NOT pinned" not in out
    assert cli.main(["verify", str(proof_file), "--expect-digest", digest]) == 0
    assert "pinned by --expect-digest" in capsys.readouterr().out
    # other parameters, or another digest: invalid, and the output says what was expected
    assert cli.main(["verify", str(proof_file), "--q-bits", "16", "--frac-bits", "16", "--max-log-n", "5"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID")
    assert f"the proof names digest {digest}" in out
    other = Params.setup(16, 16, 5).digest().hex()
    assert cli.main(["verify", str(proof_file), "--expect-digest", other]) == 1
    assert "not the expected one" in capsys.readouterr().out


def test_verify_refuses_incomplete_or_malformed_pins(proof_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", str(proof_file), "--q-bits", "16"]) == 1
    assert "together" in capsys.readouterr().err
    assert cli.main(["verify", str(proof_file), "--expect-digest", "abcd"]) == 1
    assert "64 hex digits" in capsys.readouterr().err


def test_verify_refuses_a_corrupted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "proof.bin"
    assert cli.main(["prove", "relu", "--n", "8", "--out", str(path), "--max-log-n", "3"]) == 0
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli.main(["verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "digest" in err


def test_prove_refuses_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prove", "relu", "--n", "40", "--out", str(tmp_path / "p"), "--max-log-n", "5"]) == 1
    assert "--n 40" in capsys.readouterr().err
    assert cli.main(["verify", str(tmp_path / "missing.bin")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_tour_step_verifies_and_rejects(tmp_path: Path) -> None:
    report = TourReport(tmp_path)
    tour_step(report)
    assert [row.outcome for row in report.rows] == ["verified", "rejected"]
