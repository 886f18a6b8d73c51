"""Trust settings and what the server's certificate says."""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acrdiag.net.cert_dirs import TlsFiles

EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class Trust:
    context: ssl.SSLContext
    description: str
    verify: bool


def build_trust(files: TlsFiles, insecure: bool, insecure_why: str = "--insecure") -> Trust:
    """System store (as docker uses), plus certs.d, --cert-dir and --ca-file, and the client
    certificate they hold; --insecure turns verification off."""
    context = ssl.create_default_context()
    parts = [_system_store_description(), *files.origins]
    for ca in files.cas:
        context.load_verify_locations(cafile=str(ca))
    if files.client is not None:
        context.load_cert_chain(str(files.client[0]), str(files.client[1]))
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        parts = [f"verification disabled ({insecure_why})"]
    return Trust(context, " + ".join(parts), verify=not insecure)


def _system_store_description() -> str:
    paths = ssl.get_default_verify_paths()
    chosen = [
        f"{v}={os.environ[v]}" for v in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(v)
    ]
    where = ", ".join(chosen) if chosen else (paths.cafile or paths.capath or "OpenSSL defaults")
    return f"system store ({where})"


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    names: list[str]

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def evidence(self, host: str, now: datetime) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": round(self.days_left(now), 1),
            "names": self.names[:20],
            "name_matches": name_matches(host, self.names),
        }


def parse_certificate(der: bytes) -> Certificate | None:
    from cryptography import x509

    # Evidence only: a certificate cryptography cannot read is simply not shown.
    try:
        cert = x509.load_der_x509_certificate(der)
        return Certificate(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            names=_names(cert),
        )
    except Exception:
        return None


def _names(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    return names + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def name_matches(host: str, names: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for name in (n.lower() for n in names):
        if name == host:
            return True
        # One wildcard label, leftmost only (RFC 6125).
        if name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:]):
            return True
    return False


def fetch_chain(address: str, port: int, server_name: str, timeout: float) -> list[bytes]:
    """The certificates the server presents, leaf first, fetched without verification:
    evidence after a failed handshake (which CA is missing, which one expired)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return _presented(tls)
    except (OSError, ssl.SSLError):
        return []


def _presented(tls: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 makes get_unverified_chain() public; 3.11 has it on the _ssl object only.
    raw_chain = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    try:
        chain = raw_chain() if raw_chain is not None else None
        if chain:
            return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    except (AttributeError, ValueError, ssl.SSLError):
        pass
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []
