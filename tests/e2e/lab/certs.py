"""Key material for the lab: a CA, TLS server certificates and the token-signing certificate."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Wide enough for tests that run a client under faketime with a skewed clock of hours or days,
# narrow enough that a clock a year off still sees an expired or not-yet-valid certificate.
_BACK = dt.timedelta(days=30)
_AHEAD = dt.timedelta(days=90)


def _serial() -> int:
    """A random serial of exactly 159 bits: the DER length, and so the length of every
    certificate (and of every token carrying the signer in `x5c`), is the same on every start."""
    return x509.random_serial_number() | (1 << 158)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class CertAuthority:
    """A one-level lab CA that issues server certificates."""

    def __init__(
        self, directory: Path, leaf_dir: Path | None = None, now: dt.datetime | None = None
    ) -> None:
        self.dir = directory
        self.leaf_dir = leaf_dir or directory
        self.now = now or dt.datetime.now(dt.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acrdiag lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, "acrdiag lab CA"),
            ]
        )
        public = self._key.public_key()
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(_serial())
            .not_valid_before(self.now - _BACK)
            .not_valid_after(self.now + _AHEAD)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_file = directory / "ca.crt"
        _write_cert(self.cert_file, self._cert)

    def issue(
        self, stem: str, dns_names: list[str], ips: list[str], client: bool = False
    ) -> KeyPair:
        """Issue a server (or, with ``client``, a client) certificate with these SANs as
        `<leaf_dir>/<stem>.crt` and `.key`."""
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(self.now - _BACK)
            .not_valid_after(self.now + _AHEAD)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        pair = KeyPair(self.leaf_dir / f"{stem}.crt", self.leaf_dir / f"{stem}.key")
        _write_cert(pair.cert, cert)
        _write_key(pair.key, key)
        return pair


def make_signing_pair(directory: Path, now: dt.datetime | None = None) -> KeyPair:
    """A self-signed RSA certificate for RS256 tokens (JWT `x5c` and registry `rootcertbundle`).

    It carries no extended key usage: the registry verifies the `x5c` chain with Go's default
    (server auth) usage, which a certificate without the extension satisfies.
    """
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acrdiag lab token signer")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - _BACK)
        .not_valid_after(now + _AHEAD)
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(directory / "token-signing.crt", directory / "token-signing.key")
    _write_cert(pair.cert, cert)
    _write_key(pair.key, key)
    return pair


def x5c_header(cert_pem: bytes) -> list[str]:
    """The JWT `x5c` value for a PEM certificate: base64 (not base64url) of the DER."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return [base64.b64encode(der).decode("ascii")]
