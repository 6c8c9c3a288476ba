"""The command line: help, version, one-line errors, exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from securecompute import __version__, cli
from securecompute.capabilities import CAPABILITIES, Capability
from securecompute.cli import main


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for name in ("demo", "einsum", "ntt", "frag", "simulate", "prove", "verify", "bench"):
        assert name in text


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"securecompute {__version__}"


def test_unknown_command_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nonsense"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "invalid choice: 'nonsense'" in captured.err


def test_missing_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unlanded_capability_answers_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every capability has landed; the table gets one that has not, as a capability does while it is built.
    unlanded = Capability("future", "a capability still being built", 99, (("future", "does nothing yet"),))
    monkeypatch.setattr(cli, "CAPABILITIES", (*CAPABILITIES, unlanded))
    assert main(["future", "--anything"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "issue #99" in err


def test_library_error_is_one_line_and_debug_shows_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECURECOMPUTE_BENCHMARKS", "/nonexistent/benchmarks")
    assert main(["bench", "einsum"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("securecompute: error: benchmark folder '/nonexistent/benchmarks' not found")
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(Exception, match="not found"):
        main(["--debug", "bench", "einsum"])


def test_bench_without_name_lists_benchmarks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "example.py").write_text('"""Example benchmark: measures nothing."""\n')
    monkeypatch.setenv("SECURECOMPUTE_BENCHMARKS", str(tmp_path))
    assert main(["bench"]) == 0
    assert "example" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "securecompute", "nonsense"], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("securecompute")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert __version__ in done.stdout


@pytest.mark.parametrize("flag", ["--quiet", "--progress"])
def test_global_flags_are_accepted_after_the_command(flag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[bool | None] = []
    monkeypatch.setattr(cli, "set_progress", chosen.append)
    assert main(["ntt", "--n", "16", "--moduli", "1", flag]) == 0
    assert main(["simulate", "byzantine", "--steps", "1", "--workers", "5", "--byzantine", "1", flag]) == 0
    assert chosen == [flag == "--progress"] * 2


def test_debug_after_the_command_shows_the_traceback() -> None:
    with pytest.raises(Exception, match="--n 3 is invalid"):
        main(["ntt", "--n", "3", "--debug"])


def test_quiet_and_progress_exclude_each_other_wherever_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "ntt", "--progress"]) == 2
    assert "exclude each other" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["simulate", "byzantine", "--plot", "{tmp}/missing/run.png"], "does not exist"),
        (["simulate", "byzantine", "--plot", "{tmp}"], "is a directory"),
        (["simulate", "async", "--plot", "{tmp}/run.txt"], "has ending '.txt'"),
        (["demo", "--out", "{tmp}/occupied"], "is an existing file"),
        (["prove", "relu", "--out", "{tmp}/missing/proof.bin"], "does not exist"),
        (["prove", "relu", "--out", "{tmp}", "--commitments-out", "{tmp}/c.bin"], "is a directory"),
    ],
)
def test_bad_output_paths_fail_before_the_work(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import securecompute.demo
    import securecompute.federated.fedfix
    import securecompute.federated.simulation
    import securecompute.zk

    def no_work(*_: object, **__: object) -> None:
        raise AssertionError("the work started before the output path was checked")

    for module, name in [
        (securecompute.federated.simulation, "run_byzantine"),
        (securecompute.federated.fedfix, "simulate_async"),
        (securecompute.demo, "run_tour"),
        (securecompute.zk, "prove_relu"),
    ]:
        monkeypatch.setattr(module, name, no_work)
    (tmp_path / "occupied").write_text("")
    assert main([part.replace("{tmp}", str(tmp_path)) for part in arguments]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("securecompute: error: ")
    assert message in error
    assert str(tmp_path) in error
    assert len(error.splitlines()) == 1


def test_ntt_states_its_real_degree_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ntt", "--n", "262144"]) == 1
    assert "a power of two from 16 to 131072" in capsys.readouterr().err
    assert main(["ntt", "--repeats", "0", "--bench"]) == 1
    assert "--repeats 0 is invalid" in capsys.readouterr().err


def test_recorded_results_are_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from securecompute.benchrunner import recorded_result

    repository = Path(__file__).resolve().parents[1]
    expected = repository / "benchmarks" / "results" / "ntt.json"
    for folder in (repository, repository / "examples", tmp_path):  # tmp_path: found beside the package
        monkeypatch.chdir(folder)
        assert recorded_result("ntt.json") == expected
    assert recorded_result("no-such-result.json") is None
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "ntt.json").write_text("{}")
    monkeypatch.setenv("SECURECOMPUTE_BENCHMARKS", str(tmp_path))
    assert recorded_result("ntt.json") == tmp_path / "results" / "ntt.json"
