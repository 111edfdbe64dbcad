"""The local stack's own certificate authority and the brokers' server certificates.

``fleet stack up`` (with ``security.tls``, the default) makes them on first use in
``<data_dir>/pki/`` (folder 0700): ``ca.key`` (0600) and ``ca.crt``, which every client
trusts and nothing else; per broker ``<name>.key`` (0600), ``<name>.crt`` and ``<name>.pem``
(key and certificate in one 0600 file, Kafka's PEM key store), valid for the stack's host
(and localhost / 127.0.0.1). A server certificate is issued again when it is missing,
expires within 30 days, names another host or was not signed by the current CA; the CA is
never replaced while its key exists. EC P-256 keys, TLS 1.2 or newer on every listener.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from models.errors import ConfigError
from services.security.files import create_private, private_dir, read_private, write_private

CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)
SERVERS = ("mosquitto", "kafka")
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


@dataclass(frozen=True)
class ServerFiles:
    cert: Path  # PEM certificate
    key: Path  # PEM private key (PKCS#8, unencrypted, 0600)
    pem: Path  # key + certificate in one file (0600)


@dataclass(frozen=True)
class Pki:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    def server(self, name: str) -> ServerFiles:
        return ServerFiles(
            self.root / f"{name}.crt", self.root / f"{name}.key", self.root / f"{name}.pem"
        )


def ensure_pki(root: Path, host: str, servers: tuple[str, ...] = SERVERS) -> Pki:
    """The CA and a current server certificate for each of ``servers`` under ``root``."""
    private_dir(root)
    pki = Pki(root)
    ca_key, ca_cert = _ensure_ca(pki)
    for name in servers:
        files = pki.server(name)
        if not _server_is_current(files, ca_cert, host):
            _issue_server(files, name, host, ca_key, ca_cert)
    return pki


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = load_pem_private_key(read_private(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path} is not an EC private key")
    return key


def _ensure_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if not pki.ca_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        if create_private(pki.ca_key, _pem_key(key)):
            pki.ca_cert.unlink(missing_ok=True)  # a certificate without its key is useless
    key = _load_key(pki.ca_key)
    if pki.ca_cert.exists():
        cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        if cert.public_key() == key.public_key():
            return key, cert
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleet-distill local CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    write_private(pki.ca_cert, cert.public_bytes(Encoding.PEM))
    pki.ca_cert.chmod(0o644)  # public: every client reads it
    return key, cert


def _alt_names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        names.append(x509.DNSName(host))
    else:
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    return names


def _server_is_current(files: ServerFiles, ca_cert: x509.Certificate, host: str) -> bool:
    if not (files.cert.exists() and files.key.exists() and files.pem.exists()):
        return False
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(name in sans for name in _alt_names(host))


def _issue_server(
    files: ServerFiles,
    name: str,
    host: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fleet-{name}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_pem, key_pem = cert.public_bytes(Encoding.PEM), _pem_key(key)
    write_private(files.key, key_pem)
    write_private(files.pem, key_pem + cert_pem)
    write_private(files.cert, cert_pem)  # last: its presence marks a complete set
    files.cert.chmod(0o644)
