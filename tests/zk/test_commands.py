"""`securecompute prove relu` / `securecompute verify` through the real CLI (`securecompute.cli.main`), and the tour step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute import cli
from securecompute.demo import TourReport
from securecompute.zk import Params, ReluProof
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
    assert "parameters pinned (given), commitments NOT pinned" in out
    assert "Q=16, R=16, max_log_n=4" in out
    assert cli.main(["verify", str(proof_file), "--expect-digest", digest]) == 0
    assert "parameters pinned (by --expect-digest)" in capsys.readouterr().out
    # other parameters, or another digest: invalid, and the output says what was expected
    assert cli.main(["verify", str(proof_file), "--q-bits", "16", "--frac-bits", "16", "--max-log-n", "5"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID")
    assert f"the proof names digest {digest}" in out
    other = Params.setup(16, 16, 5).digest().hex()
    assert cli.main(["verify", str(proof_file), "--expect-digest", other]) == 1
    assert "not the expected one" in capsys.readouterr().out


def test_verify_refuses_incomplete_or_malformed_pins(proof_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", str(proof_file), "--q-bits", "16"]) == 2
    assert "together" in capsys.readouterr().err
    assert cli.main(["verify", str(proof_file), "--expect-digest", "abcd"]) == 2
    assert "64 hex digits" in capsys.readouterr().err


def test_verify_refuses_a_corrupted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "proof.bin"
    assert cli.main(["prove", "relu", "--n", "8", "--out", str(path), "--max-log-n", "3"]) == 0
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli.main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"'{path}' is not a securecompute proof" in err
    assert "digest" in err


def test_prove_refuses_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prove", "relu", "--n", "40", "--out", str(tmp_path / "p"), "--max-log-n", "5"]) == 1
    assert "--n 40" in capsys.readouterr().err
    assert cli.main(["verify", str(tmp_path / "missing.bin")]) == 2
    assert "cannot read proof file" in capsys.readouterr().err


def test_tour_step_verifies_and_rejects(tmp_path: Path) -> None:
    report = TourReport(tmp_path)
    tour_step(report)
    assert [row.outcome for row in report.rows] == ["verified", "rejected", "verified"]
    assert [name for name, _ in report.figures] == ["zk_scaling.png"]
    assert (tmp_path / "zk_scaling.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("content", [b"", b"garbage garbage 1234", b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_verify_names_a_file_that_is_no_proof(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    assert cli.main(["verify", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"securecompute: error: '{path}' is not a securecompute proof")
    assert len(err.splitlines()) == 1


def test_verify_names_an_envelope_of_another_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from securecompute.encoding import pack

    path = tmp_path / "array.bin"
    path.write_bytes(pack("demo/array", {"values": b"1"}))
    assert cli.main(["verify", str(path)]) == 2
    assert "is a securecompute 'demo/array' file, not a zkReLU proof" in capsys.readouterr().err


def test_pinned_commitments_from_the_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    for seed, path in ((1, first), (2, second)):
        arguments = ["prove", "relu", "--n", "8", "--max-log-n", "3", "--seed", str(seed), "--out", str(path)]
        assert cli.main([*arguments, "--commitments-out", f"{path}.com"]) == 0
    assert "and its commitments to" in capsys.readouterr().out
    assert cli.main(["verify", str(first), "--commitments", f"{first}.com"]) == 0
    out = capsys.readouterr().out
    assert "commitments pinned (from" in out
    assert "commitments NOT pinned" not in out
    # a valid proof, but about other tensors than the ones the verifier holds commitments to
    assert cli.main(["verify", str(second), "--commitments", f"{first}.com"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID")
    assert f"the proof holds for its own commitments, not for those in {first}.com" in out
    # the commitments file of a proof made under other parameters: refused, and the line says why
    other = tmp_path / "other.bin"
    arguments = ["prove", "relu", "--n", "8", "--max-log-n", "4", "--out", str(other)]
    assert cli.main([*arguments, "--commitments-out", f"{other}.com"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(first), "--commitments", f"{other}.com"]) == 1
    assert f"({other}.com was written under other parameters)" in capsys.readouterr().out
    assert cli.main(["verify", str(first), "--commitments", str(second)]) == 2  # a proof is no commitments file
    assert "is not a zkReLU commitments file" in capsys.readouterr().err


def test_prove_reads_inputs_from_npy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from securecompute.zk import ReluProof, quantize, verify_relu

    z = np.random.default_rng(3).uniform(-0.4, 0.4, (2, 4))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "g.npy", z[::-1])
    out = tmp_path / "proof.bin"
    arguments = ["prove", "relu", "--input", str(tmp_path / "z.npy"), "--grad", str(tmp_path / "g.npy")]
    assert cli.main([*arguments, "--max-log-n", "3", "--out", str(out), "--commitments-out", f"{out}.com"]) == 0
    assert "over n=8 from" in capsys.readouterr().out
    pp = Params.setup(16, 16, 3)
    proof = ReluProof.from_bytes(out.read_bytes())
    assert proof.backward
    assert proof.n == 8
    assert verify_relu(pp, proof)
    # integers are taken as fixed point already: the quantised file proves the same way
    np.save(tmp_path / "zq.npy", quantize(z, pp))
    arguments = ["prove", "relu", "--input", str(tmp_path / "zq.npy"), "--max-log-n", "3", "--out", str(out)]
    assert cli.main(arguments) == 0
    assert verify_relu(pp, ReluProof.from_bytes(out.read_bytes()))


def _npz_named_npy(folder: Path) -> None:
    """An .npz archive (a zip of arrays) saved under a .npy name."""
    with open(folder / "x.npy", "wb") as handle:
        np.savez(handle, a=np.ones(2))


def _huge_npy_header(folder: Path) -> None:
    """A .npy file whose header declares 2**40 float64 values and holds 16 bytes."""
    with open(folder / "x.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
        handle.write(bytes(16))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: np.save(d / "x.npy", np.array([1.0, float("nan")])), "finite"),
        (lambda d: np.save(d / "x.npy", np.array([2.0])), "--input"),
        (lambda d: np.save(d / "x.npy", np.array(["a"])), "accepted: floats or integers"),
        (lambda d: (d / "x.npy").write_bytes(b"not npy"), "not a readable .npy array"),
        (lambda d: np.save(d / "x.npy", np.array([1, None]), allow_pickle=True), "holds object values"),
        (_npz_named_npy, "the magic string is not correct"),
        (_huge_npy_header, "holds 1099511627776 values"),  # refused from the header, before allocating 8 TiB
    ],
)
def test_prove_refuses_bad_input_files(
    setup: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(tmp_path)
    arguments = ["prove", "relu", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p.bin")]
    assert cli.main(arguments) in (1, 2)
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.bin").exists()


def test_repr_of_a_proof_is_one_short_line(proof_file: Path) -> None:
    from securecompute.zk import ReluProof

    text = repr(ReluProof.from_bytes(proof_file.read_bytes()))
    assert "\n" not in text
    assert len(text) < 300
    assert text.startswith("ReluProof(n=16, backward=True, Q=16, R=16, max_log_n=4")


@pytest.mark.parametrize("flag", ["proof", "--commitments"])
def test_verify_refuses_an_oversized_file_before_reading_it_all(
    flag: str, proof_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from securecompute.zk.commands import MAX_FILE_BYTES

    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_FILE_BYTES + 1)
    arguments = [str(big)] if flag == "proof" else [str(proof_file), "--commitments", str(big)]
    capsys.readouterr()
    assert cli.main(["verify", *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{flag} file '{big}' is larger than {MAX_FILE_BYTES:,} bytes" in err
    assert len(err.splitlines()) == 1


def test_prove_refuses_commitments_written_over_the_proof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proof.bin"
    arguments = ["prove", "relu", "--n", "8", "--max-log-n", "3", "--out", str(out)]
    assert cli.main([*arguments, "--commitments-out", str(tmp_path / "." / "proof.bin")]) == 1
    assert "is the --out file" in capsys.readouterr().err
    assert not out.exists()


def test_a_commitments_file_with_non_canonical_meta_is_refused(proof_file: Path, tmp_path: Path) -> None:
    from securecompute.encoding import pack, unpack
    from securecompute.zk.commands import UsageOrInputError, commitments_from_bytes, commitments_to_bytes

    proof = ReluProof.from_bytes(proof_file.read_bytes())
    envelope = unpack(commitments_to_bytes(proof))
    commitments, digest = commitments_from_bytes(commitments_to_bytes(proof), "ok.bin")
    assert digest == proof.params_digest
    assert list(commitments) == list(proof.commitments)
    sections = dict(envelope.sections)
    sections["meta"] = b" " + sections["meta"]  # same JSON value, another encoding
    with pytest.raises(
        UsageOrInputError, match=r"'spaced\.bin' is not a zkReLU commitments file: meta is not in canon"
    ):
        commitments_from_bytes(pack(envelope.kind, sections, fingerprint=envelope.fingerprint), "spaced.bin")
