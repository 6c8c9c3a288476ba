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
