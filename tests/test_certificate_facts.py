"""The certificate a healthy run shows is read from the verified handshake, without
cryptography; it must read exactly as cryptography's parse of the same certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acrdiag.net.tls import certificate_facts, parse_certificate, read_verified


def _certificate(tmp_path: Path, subject: x509.Name, names: list[str]) -> tuple[Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2026, 12, 3, 10, 0, 0, tzinfo=dt.UTC)
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test, CA <1>")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=20, seconds=7))
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert.public_bytes(serialization.Encoding.DER)


def _peer(path: Path) -> dict:
    # The same decoder getpeercert() uses for a verified peer.
    return ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]


SUBJECTS = {
    "plain": [(NameOID.COMMON_NAME, "registry.example.com")],
    "full": [
        (NameOID.COUNTRY_NAME, "CN"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Zhejiang"),
        (NameOID.LOCALITY_NAME, "Hangzhou"),
        (NameOID.ORGANIZATION_NAME, "Alibaba (China) Technology Co., Ltd."),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "ops+infra; <core>"),
        (NameOID.COMMON_NAME, "*.cr.aliyuncs.com"),
    ],
    "escapes": [
        (NameOID.DOMAIN_COMPONENT, "com"),
        (NameOID.ORGANIZATION_NAME, '#quoted "name"\\ '),
        (NameOID.COMMON_NAME, " leading space"),
    ],
    "no short name": [
        (NameOID.EMAIL_ADDRESS, "ops@example.com"),
        (NameOID.COMMON_NAME, "mail.example.com"),
    ],
}


@pytest.mark.parametrize("label", list(SUBJECTS))
def test_verified_reading_matches_cryptography(tmp_path: Path, label: str) -> None:
    subject = x509.Name([x509.NameAttribute(oid, value) for oid, value in SUBJECTS[label]])
    names = ["registry.example.com", "*.example.com", "127.0.10.1", "2001:db8::1"]
    path, der = _certificate(tmp_path, subject, names)
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    expected = parse_certificate(der)
    assert expected is not None
    shown = certificate_facts(_peer(path), der)
    assert shown is not None
    assert shown.evidence("registry.example.com", now) == expected.evidence(
        "registry.example.com", now
    )
    assert shown.names[-1] == "2001:db8::1"


def test_names_without_short_form_fall_back_to_cryptography(tmp_path: Path) -> None:
    subject = x509.Name([x509.NameAttribute(oid, v) for oid, v in SUBJECTS["no short name"]])
    path, _ = _certificate(tmp_path, subject, ["mail.example.com"])
    assert read_verified(_peer(path)) is None


def test_without_alternative_names(tmp_path: Path) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old.example.com")])
    path, _ = _certificate(tmp_path, subject, [])
    shown = read_verified(_peer(path))
    assert shown is not None and shown.names == []
    assert shown.not_after == dt.datetime(2026, 12, 23, 10, 0, 7, tzinfo=dt.UTC)


def test_unverified_handshake_is_parsed_from_der(tmp_path: Path) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self.example.com")])
    _, der = _certificate(tmp_path, subject, ["self.example.com"])
    shown = certificate_facts({}, der)  # getpeercert() is empty when nothing was verified
    assert shown is not None and shown.subject == "CN=self.example.com"


def test_healthy_handshake_does_not_import_cryptography(tmp_path: Path) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.example.com")])
    path, _ = _certificate(tmp_path, subject, ["registry.example.com"])
    code = (
        "import ssl, sys; from acrdiag.net.tls import certificate_facts;"
        f"c = certificate_facts(ssl._ssl._test_decode_cert({str(path)!r}), b'x');"
        "print(c.subject, 'cryptography' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["CN=registry.example.com", "False"]
