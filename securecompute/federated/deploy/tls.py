"""TLS files for the SuperLink and SuperNode authentication keys, made with ``cryptography``.

Who holds what (``protocols/deploy.md`` §6):

- :func:`make_tls_files` makes a certificate authority (EC P-256, self-signed) and signs with it one
  server certificate for the SuperLink, valid for the names given (by default ``127.0.0.1`` and
  ``localhost``).  The SuperLink's operator keeps ``server.key`` (mode 0600); ``ca.crt`` is public and
  goes to every SuperNode (``--root-certificates``) and to whoever runs ``flwr`` against the SuperLink
  (``root-certificates`` in ``$FLWR_HOME/config.toml``).  The CA's private key is never written: it
  signs the one server certificate and is dropped, so nobody can mint another certificate under this
  CA.  A new server certificate needs a new CA.
- :func:`make_node_key` makes one SuperNode's authentication key pair (EC P-384, OpenSSH format, the
  format ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register`` read in
  flwr 1.42).  The party keeps the private key (mode 0600); the public key is registered at the
  SuperLink, which then admits that node and no unregistered one (``--enable-supernode-auth``).

Both are for trying the deployment and for tests; a real deployment uses its organisation's CA.

Where they are written: a folder owned by this account (or root) that neither group nor others may
write (created mode 0700 when missing), refused otherwise, since whoever can write it could swap the
SuperLink's key or certificate.  Every file is created new (``O_EXCL``: never overwritten, and a symbolic
link planted under one of the names is refused, not followed), and a reused ``server.key`` must be a
file of this account that only it may read.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from securecompute.errors import ParameterError

__all__ = [
    "TlsFiles",
    "check_private_key",
    "make_node_key",
    "make_tls_files",
    "prepare_node_key",
    "prepare_tls_files",
    "private_folder",
    "tls_files_in",
    "tls_option",
]

CA_CERTIFICATE, SERVER_CERTIFICATE, SERVER_KEY = "ca.crt", "server.pem", "server.key"
"""File names of the CA certificate, the SuperLink's certificate and its private key in a TLS folder."""
VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    """The SuperLink's TLS files: the CA certificate (public), its certificate and its private key."""

    ca_certificate: Path
    server_certificate: Path
    server_key: Path


def tls_files_in(directory: str | Path) -> TlsFiles:
    """The TLS files in ``directory`` under their standard names (``ca.crt``, ``server.pem``, ``server.key``).

    Raises:
        ParameterError: one of them is missing, a certificate is not PEM, the folder is not private
            (:func:`private_folder`), or ``server.key`` is not this account's or may be read by group or others.
    """
    folder = private_folder(directory, create=False)
    files = TlsFiles(folder / CA_CERTIFICATE, folder / SERVER_CERTIFICATE, folder / SERVER_KEY)
    missing = [
        path.name for path in (files.ca_certificate, files.server_certificate, files.server_key) if not path.is_file()
    ]
    if missing:
        raise ParameterError(f"TLS folder {folder} lacks {missing}; accepted: a folder with {CA_CERTIFICATE}, "
                             f"{SERVER_CERTIFICATE} and {SERVER_KEY}, or an empty one to make them in")  # fmt: skip
    from cryptography import x509

    for path in (files.ca_certificate, files.server_certificate):
        try:
            x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            raise ParameterError(f"{path} is not a PEM certificate; accepted: one as make_tls_files writes") from None
    check_private_key(files.server_key)
    return files


def check_private_key(path: Path) -> None:
    """Refuse a private key file to reuse unless it is a file of this account that group and others may not read.

    Raises:
        ParameterError: naming its owner and mode.
    """
    key = path.stat()
    if not stat.S_ISREG(key.st_mode) or key.st_uid != os.geteuid() or key.st_mode & 0o077:
        raise ParameterError(
            f"{path} has owner uid {key.st_uid} and mode {stat.S_IMODE(key.st_mode):04o}; accepted: a file "
            f"of this account (uid {os.geteuid()}) that group and others may not read (chmod 600)"
        )


def prepare_tls_files(directory: str | Path) -> TlsFiles:
    """The TLS files in ``directory``, made there (for 127.0.0.1 and localhost) if it holds none of them.

    Raises:
        ParameterError: it holds some of them but not all (a symbolic link under one of the names counts),
            or as for :func:`tls_files_in` and :func:`make_tls_files`.
    """
    folder = private_folder(directory)
    if not any(os.path.lexists(folder / name) for name in (CA_CERTIFICATE, SERVER_CERTIFICATE, SERVER_KEY)):
        return make_tls_files(folder)
    return tls_files_in(folder)


def tls_option(tls_dir: str | Path | None, node_auth: bool) -> TlsFiles | None:
    """The commands' ``--tls-dir``/``--node-auth``: None without a folder, else :func:`prepare_tls_files`.

    Called before any other work, so that a bad folder is a one-line error before anything runs.

    Raises:
        ParameterError: ``node_auth`` without ``tls_dir``, or a folder :func:`prepare_tls_files` refuses.
    """
    if node_auth and tls_dir is None:
        raise ParameterError("--node-auth needs --tls-dir: Flower refuses SuperNode authentication without TLS")
    return None if tls_dir is None else prepare_tls_files(tls_dir)


def private_folder(directory: str | Path, *, create: bool = True) -> Path:
    """``directory`` resolved, made mode 0700 if missing (with ``create``), checked fit to hold private keys.

    Fit: a folder owned by this account or root that group and others may not write; whoever could write
    it could replace a key or certificate in it.

    Raises:
        ParameterError: it cannot be made or read, is not a folder, or fails the check (owner and mode named).
    """
    folder = Path(directory).absolute()
    try:
        if create:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = folder.resolve(strict=True)  # one path from here on: a link swapped later is not followed
        status = folder.stat()
    except OSError as error:
        raise ParameterError(f"folder {str(directory)!r} cannot be used: {error.strerror or error}; accepted: "
                             "a folder this account can create or owns") from None  # fmt: skip
    if not stat.S_ISDIR(status.st_mode):
        raise ParameterError(f"{str(directory)!r} is not a folder; accepted: a folder for the keys")
    if status.st_uid not in (os.geteuid(), 0) or status.st_mode & 0o022:
        raise ParameterError(
            f"folder {folder} has owner uid {status.st_uid} and mode {stat.S_IMODE(status.st_mode):04o}; accepted: "
            f"a folder of this account (uid {os.geteuid()}) or root that group and others may not write"
        )
    return folder


def make_tls_files(directory: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """Make a CA and a SuperLink certificate for ``hosts`` (IP addresses or DNS names) in ``directory``.

    Writes ``ca.crt``, ``server.pem`` (0644) and ``server.key`` (0600); the folder is created mode 0700.

    Raises:
        ParameterError: no hosts, ``directory`` already holds one of the three names (a symbolic link
            included), or it is not private (:func:`private_folder`).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ParameterError("hosts must name at least one address or DNS name of the SuperLink")
    folder = private_folder(directory)
    files = TlsFiles(folder / CA_CERTIFICATE, folder / SERVER_CERTIFICATE, folder / SERVER_KEY)
    _refuse_existing(files.ca_certificate, files.server_certificate, files.server_key)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securecompute deployment CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign and crl_sign only
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_new(files.ca_certificate, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write_new(files.server_certificate, server.public_bytes(serialization.Encoding.PEM), 0o644)
    _write_new(
        files.server_key,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    return files


def make_node_key(private_path: str | Path) -> tuple[Path, Path]:
    """Make a SuperNode's EC P-384 authentication key: the private key at ``private_path`` (0600), ``.pub`` beside it.

    Returns:
        (private key path, public key path), both OpenSSH format.

    Raises:
        ParameterError: either file exists already (a symbolic link included), or the key's folder is not
            private (:func:`private_folder`).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    given = Path(private_path).absolute()
    private = private_folder(given.parent) / given.name
    public = private.with_name(private.name + ".pub")
    _refuse_existing(private, public)
    key = ec.generate_private_key(ec.SECP384R1())
    _write_new(
        private,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        0o600,
    )
    _write_new(
        public,
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n",
        0o644,
    )
    return private, public


def prepare_node_key(private_path: str | Path) -> tuple[Path, Path]:
    """The SuperNode key pair at ``private_path`` (``.pub`` beside it): made if neither file exists, reused if both do.

    Reuse is what a second run in the same work folder needs (the SuperLink registers the public key
    again: its registrations live as long as it does).

    Raises:
        ParameterError: one file without the other, a private key others may read (:func:`check_private_key`),
            or a folder :func:`private_folder` refuses.
    """
    given = Path(private_path).absolute()
    private = private_folder(given.parent) / given.name
    public = private.with_name(private.name + ".pub")
    present = [os.path.lexists(path) for path in (private, public)]
    if not any(present):
        return make_node_key(private)
    if not all(present):
        raise ParameterError(f"{private}: one of the key and its .pub without the other; accepted: both or neither")
    check_private_key(private)
    return private, public


def _refuse_existing(*paths: Path) -> None:
    """Raise ParameterError if any of ``paths`` exists, a symbolic link (even a dangling one) included."""
    for path in paths:
        if os.path.lexists(path):
            raise ParameterError(
                f"{path} exists; accepted: a new path (key and certificate files are never overwritten)"
            )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode`` (a private key is never readable by others, not even
    briefly); an existing file or a symbolic link at ``path`` makes it fail (``O_EXCL``), never followed.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise ParameterError(
            f"{path} appeared while it was being made; accepted: a folder no one else writes"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
