"""Where the TLS files and node keys are written: private folders, new files only, links never followed.

No Flower process here (``cryptography`` only); the deployment through them is in ``test_tls.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from securecompute import cli
from securecompute.errors import ParameterError
from securecompute.federated.deploy import commands
from securecompute.federated.deploy.tls import make_node_key, make_tls_files, prepare_node_key, prepare_tls_files


@pytest.mark.parametrize("name", ["ca.crt", "server.pem", "server.key"])
def test_a_link_planted_under_a_file_name_is_refused_never_followed(tmp_path: Path, name: str) -> None:
    folder, target = tmp_path / "tls", tmp_path / "elsewhere" / "victim"
    folder.mkdir(mode=0o700)
    target.parent.mkdir()
    (folder / name).symlink_to(target)  # dangling: exists() says False, a plain write would create the target
    with pytest.raises(ParameterError, match="exists"):
        make_tls_files(folder)
    with pytest.raises(ParameterError, match="lacks"):  # not taken for an empty folder either
        prepare_tls_files(folder)
    assert not target.exists()
    assert sorted(path.name for path in folder.iterdir()) == [name]


def test_a_node_key_is_never_written_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "victim.pub"
    (tmp_path / "node.key.pub").symlink_to(target)
    with pytest.raises(ParameterError, match="exists"):
        make_node_key(tmp_path / "node.key")
    assert not target.exists()
    assert not (tmp_path / "node.key").exists()


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_folder_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(mode)  # whoever may write it could swap the SuperLink's key or certificate
    for make in (make_tls_files, prepare_tls_files, lambda path: make_node_key(path / "node.key")):
        with pytest.raises(ParameterError, match=f"mode {mode:04o}"):
            make(folder)
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another account needs root")
def test_a_folder_of_another_account_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)  # nobody's
    with pytest.raises(ParameterError, match="owner uid 65534"):
        prepare_tls_files(folder)
    assert list(folder.iterdir()) == []


def test_a_reused_server_key_others_may_read_is_refused(tmp_path: Path) -> None:
    files = prepare_tls_files(tmp_path / "tls")
    assert files.server_key.stat().st_mode & 0o777 == 0o600
    assert files.ca_certificate.stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700
    assert prepare_tls_files(tmp_path / "tls") == files  # private: reused as it is
    files.server_key.chmod(0o640)
    with pytest.raises(ParameterError, match="mode 0640"):
        prepare_tls_files(tmp_path / "tls")


def test_a_bad_tls_dir_is_a_one_line_error_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the in-process baseline ran before the TLS folder was checked")

    monkeypatch.setattr(commands, "_in_process", no_work)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    partial = tmp_path / "partial"
    partial.mkdir(mode=0o700)
    (partial / "ca.crt").write_text("")
    for folder, message in ((a_file, "cannot be used"), (partial, "lacks")):
        assert cli.main(["deploy", "frag", "--tls-dir", str(folder)]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err, err
        assert str(folder) in err
        assert "\n" not in err
        with pytest.raises(ParameterError, match=message):  # the library function checks it first as well
            commands.run_frag_deployment(
                nodes=3, n=30, dim=4, k=2, queries=1, nprobe=None, timeout=5.0, seed=0, workdir=None,
                say=print, tls_dir=str(folder),
            )  # fmt: skip


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_node_key_pair_is_made_once_then_reused(tmp_path: Path) -> None:
    """A second deployment in the same work folder registers the same key (it was refused as existing)."""
    private, public = prepare_node_key(tmp_path / "node-keys" / "a.key")
    assert public.read_bytes().startswith(b"ecdsa-sha2-nistp384 ")
    assert prepare_node_key(tmp_path / "node-keys" / "a.key") == (private, public)
    private.chmod(0o644)
    with pytest.raises(ParameterError, match="mode 0644"):
        prepare_node_key(private)
    private.chmod(0o600)
    public.unlink()
    with pytest.raises(ParameterError, match="without the other"):
        prepare_node_key(private)


def test_a_certificate_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    files = prepare_tls_files(tmp_path / "tls")
    files.ca_certificate.chmod(0o600)
    files.ca_certificate.write_bytes(b"not a certificate")  # before: ssl.SSLError from the health check
    with pytest.raises(ParameterError, match=r"ca\.crt is not a PEM certificate"):
        prepare_tls_files(tmp_path / "tls")
