"""`securecompute prove mlp` and `securecompute verify` of an MLP proof through the real CLI; model files round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from securecompute import cli
from securecompute.errors import CorruptPayloadError
from securecompute.zk import MlpModel, Params, commit_model
from securecompute.zk.model_io import commitment_from_bytes, commitment_to_bytes, owner_from_bytes, owner_to_bytes

SMALL = ["--q-bits", "16", "--frac-bits", "6", "--max-log-n", "8"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zkmlp")
    rng = np.random.default_rng(0)
    np.savez(
        folder / "model.npz",
        W1=rng.normal(0, 0.5, (6, 4)),
        b1=rng.normal(0, 0.1, 4),
        W2=rng.normal(0, 0.5, (4, 3)),
        b2=np.zeros(3),
    )
    np.save(folder / "x.npy", rng.uniform(0, 1, (2, 6)))
    paths = {name: folder / name for name in ("model.npz", "x.npy", "proof.bin", "model.pub", "model.key", "again.bin")}
    command = ["prove", "mlp", "--model", str(paths["model.npz"]), "--input", str(paths["x.npy"])]
    command += ["--out", str(paths["proof.bin"]), "--commitment-out", str(paths["model.pub"])]
    assert cli.main([*command, "--owner-out", str(paths["model.key"]), *SMALL]) == 0
    return paths


def test_prove_then_verify_pinned_to_the_published_commitment(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["verify", str(files["proof.bin"]), "--model-commitment", str(files["model.pub"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid zkMLP proof: 6-4-3, 2 rows")
    assert "model.pub" in out
    assert cli.main(["verify", str(files["proof.bin"])]) == 0
    assert "NOT pinned" in capsys.readouterr().out


def test_the_owner_file_proves_again_under_the_same_commitment(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    command = [
        "prove",
        "mlp",
        "--owner",
        str(files["model.key"]),
        "--input",
        str(files["x.npy"]),
        "--out",
        str(files["again.bin"]),
    ]
    assert cli.main(command) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(files["again.bin"]), "--model-commitment", str(files["model.pub"])]) == 0


def test_another_models_commitment_fails(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pp = Params.setup(16, 6, 8)
    other = commit_model(
        pp,
        MlpModel.from_integers(
            pp,
            [np.ones((6, 4), dtype=np.int64), np.ones((4, 3), dtype=np.int64)],
            [np.zeros(4, dtype=np.int64), np.zeros(3, dtype=np.int64)],
        ),
    )
    (tmp_path / "other.pub").write_bytes(commitment_to_bytes(pp, other.commitment))
    capsys.readouterr()
    assert cli.main(["verify", str(files["proof.bin"]), "--model-commitment", str(tmp_path / "other.pub")]) == 1
    assert capsys.readouterr().out.startswith("INVALID zkMLP proof")


def test_model_files_round_trip_and_reject_changes() -> None:
    pp = Params.setup(16, 6, 8)
    owner = commit_model(
        pp,
        MlpModel.from_integers(
            pp, [np.arange(12, dtype=np.int64).reshape(4, 3)], [np.array([1, -2, 3], dtype=np.int64)]
        ),
        seed=3,
    )
    loaded_pp, public = commitment_from_bytes(commitment_to_bytes(pp, owner.commitment))
    assert loaded_pp == pp
    assert public.same_as(owner.commitment)
    key = owner_to_bytes(pp, owner)
    _, again = owner_from_bytes(key)
    assert again.commitment.same_as(owner.commitment)
    assert again.weight_blinds == owner.weight_blinds
    with pytest.raises(CorruptPayloadError):
        owner_from_bytes(commitment_to_bytes(pp, owner.commitment))
    with pytest.raises(CorruptPayloadError):
        commitment_from_bytes(key[:-1])


def test_bad_model_file_is_one_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "bad.npz", W1=np.ones((6, 4)))
    code = cli.main(
        [
            "prove",
            "mlp",
            "--model",
            str(tmp_path / "bad.npz"),
            "--input",
            str(files["x.npy"]),
            "--out",
            str(tmp_path / "p.bin"),
        ]
    )
    assert code != 0
    assert "b1" in capsys.readouterr().err


def test_a_model_commitment_for_a_relu_proof_is_an_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relu = tmp_path / "relu.bin"
    assert cli.main(["prove", "relu", "--n", "16", "--out", str(relu), *SMALL]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(relu), "--model-commitment", str(files["model.pub"])]) != 0
    assert "--model-commitment" in capsys.readouterr().err
