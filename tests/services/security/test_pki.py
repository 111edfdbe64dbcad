"""The stack's CA and server certificates: made once, private keys 0600, valid for the
stack's host, issued again only when they must be."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat

from cryptography import x509

from services.security import pki
from services.security.pki import ensure_pki


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_and_server_certificates_are_made_private_and_verify(tmp_path):
    made = ensure_pki(tmp_path / "pki", "127.0.0.1")
    ca = _cert(made.ca_cert)
    assert _mode(tmp_path / "pki") == 0o700 and _mode(made.ca_key) == 0o600
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name in pki.SERVERS:
        files = made.server(name)
        assert _mode(files.key) == 0o600 and _mode(files.pem) == 0o600
        cert = _cert(files.cert)
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        assert files.pem.read_bytes() == files.key.read_bytes() + files.cert.read_bytes()


def test_nothing_is_issued_again_while_current(tmp_path):
    first = ensure_pki(tmp_path, "127.0.0.1")
    serials = {n: _cert(first.server(n).cert).serial_number for n in pki.SERVERS}
    ca = _cert(first.ca_cert).serial_number
    again = ensure_pki(tmp_path, "127.0.0.1")
    assert {n: _cert(again.server(n).cert).serial_number for n in pki.SERVERS} == serials
    assert _cert(again.ca_cert).serial_number == ca


def test_another_host_or_a_near_expiry_gets_a_new_server_certificate(tmp_path, monkeypatch):
    first = ensure_pki(tmp_path, "127.0.0.1")
    serial = _cert(first.server("kafka").cert).serial_number
    moved = ensure_pki(tmp_path, "10.1.2.3")
    cert = _cert(moved.server("kafka").cert)
    assert cert.serial_number != serial
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.1.2.3") in sans.get_values_for_type(x509.IPAddress)
    monkeypatch.setattr(pki, "RENEW_BEFORE", dt.timedelta(days=pki.SERVER_DAYS + 1))
    renewed = ensure_pki(tmp_path, "10.1.2.3")
    assert _cert(renewed.server("kafka").cert).serial_number != cert.serial_number


def test_a_new_ca_key_means_new_server_certificates(tmp_path):
    first = ensure_pki(tmp_path, "127.0.0.1")
    old_ca = _cert(first.ca_cert)
    first.ca_key.unlink()
    second = ensure_pki(tmp_path, "127.0.0.1")
    new_ca = _cert(second.ca_cert)
    assert new_ca.public_key() != old_ca.public_key()
    _cert(second.server("mosquitto").cert).verify_directly_issued_by(new_ca)
