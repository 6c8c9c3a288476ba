"""``securecompute deploy frag`` end to end on a tiny federation, its argument checks, and the app project."""

from __future__ import annotations

from pathlib import Path

import pytest

from securecompute import cli
from securecompute.federated.deploy.project import APP_PYPROJECT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flower_deploy" / "pyproject.toml"


def test_the_example_project_is_the_one_the_command_runs() -> None:
    assert EXAMPLE.read_text() == APP_PYPROJECT
    assert "[tool.flwr.federations]" not in APP_PYPROJECT  # flwr run would rewrite the file in place


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--nodes", "0"], "--nodes must be >= 1"), (["--n", "2", "--nodes", "3"], "at least --nodes")],
)
def test_bad_arguments_are_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["deploy", "frag", *argv]) != 0
    assert message in capsys.readouterr().err


@pytest.mark.deploy
def test_deploy_frag_runs_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("flwr")
    argv = ["deploy", "frag", "--nodes", "2", "--n", "80", "--dim", "8", "--k", "4", "--queries", "1"]
    assert cli.main([*argv, "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "deployed: recall@4 1.000 (in-process 1.000); 0 partial results" in out
    assert "through the SuperLink per search" in out
    assert "stopped every process" in out
    assert (tmp_path / "logs" / "superlink.log").exists()
