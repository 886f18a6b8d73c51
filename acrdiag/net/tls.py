"""Trust settings and what the server's certificate says."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acrdiag.net.cert_dirs import TlsFiles
from acrdiag.net.early import EARLY

EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class Trust:
    context: ssl.SSLContext
    description: str
    verify: bool


def build_trust(files: TlsFiles, insecure: bool, insecure_why: str = "--insecure") -> Trust:
    """System store (as docker uses), plus certs.d, --cert-dir and --ca-file, and the client
    certificate they hold; --insecure turns verification off."""
    parts = [_system_store_description(), *files.origins]
    if insecure:
        parts = [f"verification disabled ({insecure_why})"]
    return Trust(_shared_context(files, insecure), " + ".join(parts), verify=not insecure)


_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()
MAX_CONTEXTS = 16


def _shared_context(files: TlsFiles, insecure: bool) -> ssl.SSLContext:
    """One context per set of trust files in a process: loading the system store costs
    about 25 ms, and `check` and `serve` would pay it for every target and every host.
    Keyed by each file's size and mtime, the system store's included, so a renewed CA or
    client certificate is read; the oldest of more than MAX_CONTEXTS is dropped."""
    paths = [*_system_store_paths(), *files.cas, *(files.client or ())]
    key = (insecure, *((str(p), *_stamp(p)) for p in paths if p is not None))
    with _contexts_lock:
        context = _contexts.pop(key, None) or _new_context(files, insecure)
        _contexts[key] = context  # the newest last
        while len(_contexts) > MAX_CONTEXTS:
            del _contexts[next(iter(_contexts))]
        return context


def _system_store_paths() -> list[Path]:
    paths = ssl.get_default_verify_paths()
    return [Path(p) for p in (paths.cafile, paths.capath) if p]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError:
        return (-1, -1)  # loading it says what is wrong
    return (status.st_size, status.st_mtime_ns)


def _new_context(files: TlsFiles, insecure: bool) -> ssl.SSLContext:
    # The system store may already be loading beside the imports (net/early.py).
    context = EARLY.system_store(wait=10.0) or ssl.create_default_context()
    for ca in files.cas:
        context.load_verify_locations(cafile=str(ca))
    if files.client is not None:
        context.load_cert_chain(str(files.client[0]), str(files.client[1]))
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


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


# OpenSSL's long attribute names, as RFC 4514 (and cryptography) abbreviate them.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def certificate_facts(peer: dict[str, Any] | None, der: bytes | None) -> Certificate | None:
    """What the certificate says: from the handshake's own reading when it was verified
    (a healthy run then never imports cryptography, about 30 ms), else parsed from DER."""
    verified = read_verified(peer) if peer else None
    if verified is not None:
        return verified
    return parse_certificate(der) if der else None


def read_verified(peer: dict[str, Any]) -> Certificate | None:
    """ssl's getpeercert() dict (only filled for a verified peer) as cryptography would
    show it; None when it holds anything that reading could show differently."""
    try:
        subject, issuer = _rfc4514(peer["subject"]), _rfc4514(peer["issuer"])
        not_before = _cert_time(peer["notBefore"])
        not_after = _cert_time(peer["notAfter"])
        san = peer.get("subjectAltName", ())
        names = [str(v) for k, v in san if k == "DNS"]
        names += [str(ipaddress.ip_address(str(v).strip())) for k, v in san if k == "IP Address"]
    except (KeyError, TypeError, ValueError):
        return None
    if subject is None or issuer is None:
        return None
    return Certificate(subject, issuer, not_before, not_after, names)


def _rfc4514(name: Any) -> str | None:
    parts = []
    for rdn in reversed(name):  # RFC 4514 writes the last RDN first
        if len(rdn) != 1 or rdn[0][0] not in _SHORT_NAMES:
            return None  # multi-valued or an OID without a short name: leave it to cryptography
        attribute, value = rdn[0]
        parts.append(f"{_SHORT_NAMES[attribute]}={_escape(str(value))}")
    return ",".join(parts)


def _escape(value: str) -> str:
    if not value:
        return ""
    for special in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(special, "\\" + special)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _cert_time(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), UTC)


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
