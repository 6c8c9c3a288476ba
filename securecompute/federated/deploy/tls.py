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
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from securecompute.errors import ParameterError

__all__ = ["TlsFiles", "make_node_key", "make_tls_files", "prepare_tls_files", "tls_files_in"]

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
        ParameterError: one of them is missing.
    """
    folder = Path(directory).absolute()
    files = TlsFiles(folder / CA_CERTIFICATE, folder / SERVER_CERTIFICATE, folder / SERVER_KEY)
    missing = [
        path.name for path in (files.ca_certificate, files.server_certificate, files.server_key) if not path.is_file()
    ]
    if missing:
        raise ParameterError(f"TLS folder {folder} lacks {missing}; accepted: a folder with {CA_CERTIFICATE}, "
                             f"{SERVER_CERTIFICATE} and {SERVER_KEY}, or an empty one to make them in")  # fmt: skip
    return files


def prepare_tls_files(directory: str | Path) -> TlsFiles:
    """The TLS files in ``directory``, made there (for 127.0.0.1 and localhost) if it holds none of them.

    Raises:
        ParameterError: it holds some of them but not all.
    """
    folder = Path(directory)
    if not any((folder / name).exists() for name in (CA_CERTIFICATE, SERVER_CERTIFICATE, SERVER_KEY)):
        return make_tls_files(folder)
    return tls_files_in(folder)


def make_tls_files(directory: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """Make a CA and a SuperLink certificate for ``hosts`` (IP addresses or DNS names) in ``directory``.

    Writes ``ca.crt``, ``server.pem`` and ``server.key`` (0600); the folder is created mode 0700.

    Raises:
        ParameterError: no hosts, or ``directory`` already holds one of the three files.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ParameterError("hosts must name at least one address or DNS name of the SuperLink")
    folder = Path(directory).absolute()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(folder / CA_CERTIFICATE, folder / SERVER_CERTIFICATE, folder / SERVER_KEY)
    for path in (files.ca_certificate, files.server_certificate, files.server_key):
        if path.exists():
            raise ParameterError(f"{path} exists; accepted: a folder without {path.name} (never overwritten)")
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
    files.ca_certificate.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_private(
        files.server_key,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return files


def make_node_key(private_path: str | Path) -> tuple[Path, Path]:
    """Make a SuperNode's EC P-384 authentication key: the private key at ``private_path`` (0600), ``.pub`` beside it.

    Returns:
        (private key path, public key path), both OpenSSH format.

    Raises:
        ParameterError: either file exists already.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = Path(private_path).absolute()
    public = private.with_name(private.name + ".pub")
    for path in (private, public):
        if path.exists():
            raise ParameterError(f"{path} exists; accepted: a new path (a node key is never overwritten)")
    private.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    _write_private(
        private,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n"
    )
    return private, public


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file created mode 0600 (never readable by others, not even briefly)."""
    import os

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
