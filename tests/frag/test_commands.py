"""``securecompute frag`` through the real CLI, on a bare parser, and the demo-tour step."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from securecompute.cli import main
from securecompute.demo import TourReport
from securecompute.errors import ParameterError
from securecompute.federated.frag.commands import register_commands, tour_step


def run(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register_commands(parser.add_subparsers(dest="command"))
    options = parser.parse_args(["frag", *arguments])
    return int(options.handler(options))


def test_the_real_cli_runs_frag_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["frag", "--parties", "3", "--n", "900", "--dim", "8", "--queries", "2", "--nprobe", "3", "--pad", "1"]
    assert main(arguments) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "frag: 3 parties, 900 vectors, d=8, cosine, k=10, 2 queries, key N=4096 (40/29/40 bits, seal)"
    assert "full scan: recall@10 1.000 vs exact" in lines[1]
    assert "partial or short results 0/2" in lines[1]
    assert "IVF nlist=4 nprobe=3 pad=1" in lines[3]
    assert "hidden among 1 uniform dummies" in lines[4]
    assert "fetch: it saw which" in lines[4]  # recall reads payloads, and the report says what that told the party
    # 2 modes x 2 queries x 3 parties x 8 columns: every party gets its own encryption of each query
    assert lines[-1] == "frag: query encryption used 96 pooled Enc(0) ciphertexts, each once"


def test_the_real_cli_runs_frag_on_the_cross_engine(
    capsys: pytest.CaptureFixture[str], engines_used: list[str]
) -> None:
    arguments = ["frag", "--parties", "2", "--n", "300", "--dim", "8", "--queries", "1", "--backend", "cross"]
    assert main(arguments) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "frag: 2 parties, 300 vectors, d=8, cosine, k=10, 1 queries, key N=4096 (40/29/40 bits, cross)"
    assert "full scan: recall@10 1.000 vs exact" in lines[1]
    assert "partial or short results 0/1" in lines[1]
    assert engines_used == ["cross"] * 3  # the querier's key, and each party's session


def test_the_cli_header_names_the_engine_the_key_is_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the header echoed --backend, so it would say cross over a search that ran on seal."""
    from securecompute.federated.frag import querier as querier_module
    from securecompute.federated.frag.params import secret_context

    monkeypatch.setattr(querier_module, "secret_context", lambda params, backend: secret_context(params, "seal"))
    assert main(["frag", "--parties", "1", "--n", "50", "--dim", "4", "--queries", "1", "--backend", "cross"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("(40/29/40 bits, seal)")


def test_the_real_cli_reports_bad_options_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frag", "--parties", "0"]) == 1
    assert capsys.readouterr().err.strip() == "securecompute: error: --parties 0 is invalid; accepted: 1 or more"
    assert main(["frag", "--backend", "simulate"]) == 1  # registered, but it does not encrypt
    assert capsys.readouterr().err.strip() == (
        "securecompute: error: backend 'simulate' does not encrypt; accepted: an encrypting engine such as 'seal'"
    )


@pytest.mark.parametrize(
    ("arguments", "flag"),
    [
        (["--parties", "0"], "--parties 0"),
        (["--n", "2", "--parties", "3"], "--n 2"),
        (["--k", "0"], "--k 0"),
        (["--queries", "-1"], "--queries -1"),
        (["--nprobe", "0"], "--nprobe 0"),
        (["--pad", "-1", "--nprobe", "2"], "--pad -1"),
        (["--nlist", "0", "--nprobe", "2"], "--nlist 0"),
        (["--n", "300", "--nlist", "200", "--nprobe", "2"], "--nlist 200"),
        (["--dim", "100000000"], "--dim 100000000 is invalid; accepted: 1 to 4096"),  # was a 48 GB allocation
        (["--n", "1000000000"], "at most 100,000,000"),
        (["--queries", "100000000"], "--queries 100000000 vectors"),
        (["--backend", "sael"], "--backend 'sael' is invalid; accepted: a registered engine that encrypts"),
    ],
)
def test_frag_command_refuses_bad_options_before_any_setup(
    arguments: list[str], flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import securecompute.federated.frag.commands as commands

    def no_setup(**_: object) -> list[str]:
        raise AssertionError("setup ran before the flags were checked")

    monkeypatch.setattr(commands, "run_frag", no_setup)
    with pytest.raises(ParameterError, match=flag):
        run(arguments)


@pytest.mark.parametrize(
    ("arguments", "warning"),
    [
        (["--n", "10000", "--nprobe", "8"], "--nprobe 8 >= nlist 4"),
        (["--n", "300", "--k", "500"], "--k 500 exceeds --n 300"),
        (["--n", "3000", "--nlist", "8", "--nprobe", "6", "--pad", "4"], "padding is capped"),
        (["--pad", "2"], "apply to IVF only"),
    ],
)
def test_frag_command_warns_when_a_setting_does_less_than_asked(
    arguments: list[str], warning: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import securecompute.federated.frag.commands as commands

    monkeypatch.setattr(commands, "run_frag", lambda **_: ["ran"])
    assert run(arguments) == 0
    captured = capsys.readouterr()
    assert warning in captured.err
    assert captured.out == "ran\n"


def test_the_help_example_draws_no_warning(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import securecompute.federated.frag.commands as commands

    monkeypatch.setattr(commands, "run_frag", lambda **_: [])
    assert run(["--parties", "3", "--n", "10000", "--nlist", "32", "--nprobe", "8"]) == 0
    assert capsys.readouterr().err == ""


def test_listing_the_command_does_not_load_tenseal() -> None:
    code = (
        "import sys, argparse; from securecompute.federated.frag.commands import register_commands; "
        "register_commands(argparse.ArgumentParser().add_subparsers()); "
        "print(any(m.startswith(('tenseal', 'sklearn')) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_tour_step_runs_small_and_reports_real_rows(tmp_path: Path) -> None:
    report = TourReport(tmp_path)
    tour_step(report, n=300, nprobes=(2, 4))
    rows = {row.check: row for row in report.rows}
    assert [row.capability for row in report.rows] == ["frag"] * 4
    assert [name for name, _ in report.figures] == ["frag_recall.png"]
    assert (tmp_path / "frag_recall.png").read_bytes()[:4] == b"\x89PNG"
    full = rows["encrypted 10-NN, 3 parties x 100 vectors, full scan"]
    assert full.outcome == "recall@10 1.00"
    assert "querier saw 300 scores" in full.detail
    ivf = rows["encrypted 10-NN, 3 parties x 100 vectors, IVF 16 lists, nprobe 4"]
    assert ivf.outcome.startswith("recall@10 ")
    tampered = rows["a reply frame altered in transit"]
    assert tampered.outcome == "partial result"
    assert "TamperedMessageError" in tampered.detail
    assert "10 hits from the other parties" in tampered.detail
    pool = rows["query encryption from an Enc(0) pool (each used once)"]
    # Timings on a shared machine: only the shape is asserted; the pool must not be slower than fresh encryption.
    assert pool.outcome.endswith("x faster online")
    assert float(pool.outcome.split("x")[0]) >= 1
    assert "with serialisation" in pool.detail
