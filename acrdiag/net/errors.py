"""The one place where raw network exceptions become cause codes.

httpx wraps httpcore, which wraps ssl and socket errors, each with
``raise ... from``; we walk that chain once, here, and hand the probes a
NetFailure that already says which phase broke and why.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from acrdiag.causes import Cause
from acrdiag.deadline import DeadlineExceeded
from acrdiag.net.connections import AddressFailed, DnsLookupFailed, TlsHandshakeTimedOut
from acrdiag.redact import redact_text, redact_url

# OpenSSL X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
_EXPIRED_CODES = {9, 10}  # not yet valid, has expired
_UNTRUSTED_CODES = {2, 18, 19, 20, 21, 27}
_HOSTNAME_MISMATCH_CODES = {62, 64}  # hostname, IP address mismatch
# What a server that requires mutual TLS answers a client without an acceptable certificate.
_CLIENT_CERTIFICATE_ALERTS = {
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "TLSV1_ALERT_UNKNOWN_CA",
}
_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the response is larger than {limit:,} bytes")
        self.limit = limit


class NetFailure(Exception):
    """A classified network failure; ``message`` is one redacted line."""

    def __init__(
        self,
        cause: Cause,
        message: str,
        *,
        host: str,
        phase: str,
        proxy: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.host = host
        self.phase = phase
        self.proxy = proxy
        self.evidence = evidence or {}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """exc and what it wraps: __cause__/__context__, and args[0] or .original, where
    httpcore keeps the socket or ssl error (its pool re-raises with "from None")."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "original", None)]
        if current.args and isinstance(current.args[0], BaseException):
            wrapped.append(current.args[0])
        pending += [w for w in wrapped if isinstance(w, BaseException)]


def _find(exc: BaseException, kind: type[BaseException]) -> Any:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def classify(exc: BaseException, *, host: str, proxy: str | None = None) -> NetFailure | None:
    """Map an exception raised while talking to ``host`` to a NetFailure, or None if not ours."""
    for rule in (_deadline, _dns, _tls, _proxy, _connect, _exchange):
        failure = rule(exc, host, proxy)
        if failure is not None:
            failure.message = redact_text(failure.message, [])
            return failure
    return None


def _deadline(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    found = _find(exc, DeadlineExceeded)
    if found is None:
        return None
    return NetFailure(
        Cause.DEADLINE_EXCEEDED,
        f"{found} while talking to {host}",
        host=host,
        phase="deadline",
        proxy=proxy,
    )


def _dns(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    found: DnsLookupFailed | None = _find(exc, DnsLookupFailed)
    if found is None:
        return None
    lookup = found.lookup
    assert lookup.cause is not None
    if proxy:
        return NetFailure(
            Cause.PROXY_UNREACHABLE,
            f"proxy {proxy}: {lookup.detail}",
            host=host,
            phase="proxy",
            proxy=proxy,
            evidence={"dns": lookup.evidence()},
        )
    return NetFailure(
        lookup.cause,
        lookup.detail,
        host=lookup.host,
        phase="dns",
        evidence={"dns": lookup.evidence()},
    )


def _tls(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    stalled: TlsHandshakeTimedOut | None = _find(exc, TlsHandshakeTimedOut)
    if stalled is not None:
        return NetFailure(
            Cause.READ_TIMEOUT,
            f"{host} ({stalled.where}) accepted the TCP connection but did not complete the "
            "TLS handshake in time",
            host=host,
            phase="tls",
            proxy=proxy,
        )
    verify: ssl.SSLCertVerificationError | None = _find(exc, ssl.SSLCertVerificationError)
    if verify is not None:
        code = verify.verify_code
        text = verify.verify_message or str(verify)
        if code in _EXPIRED_CODES:
            cause = Cause.TLS_EXPIRED
        elif code in _HOSTNAME_MISMATCH_CODES or "mismatch" in text.lower():
            cause = Cause.TLS_HOSTNAME_MISMATCH
        elif code in _UNTRUSTED_CODES:
            cause = Cause.TLS_UNTRUSTED
        else:
            cause = Cause.TLS_ERROR
        return NetFailure(
            cause,
            f"TLS certificate of {host} rejected: {text}",
            host=host,
            phase="tls",
            proxy=proxy,
            evidence={"verify_code": code, "verify_message": text},
        )
    other: ssl.SSLError | None = _find(exc, ssl.SSLError)
    if other is None:
        return None
    reason = getattr(other, "reason", None) or str(other)
    message = f"TLS handshake with {host} failed: {reason}"
    if reason == "WRONG_VERSION_NUMBER":
        message += " (the port seems to speak plain HTTP, not TLS)"
    elif reason in _CLIENT_CERTIFICATE_ALERTS:
        message += " (the server wants a client certificate: none was sent, or it was refused)"
    return NetFailure(Cause.TLS_ERROR, message, host=host, phase="tls", proxy=proxy)


def _proxy(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    found: httpx.ProxyError | None = _find(exc, httpx.ProxyError)
    if found is None:
        return None
    text = str(found)
    cause = Cause.PROXY_AUTH_REQUIRED if text.startswith("407") else Cause.PROXY_REFUSED
    if "proxy URL" in text:
        return NetFailure(Cause.PROXY_UNREACHABLE, text, host=host, phase="proxy", proxy=proxy)
    return NetFailure(
        cause,
        f"proxy {proxy} refused the tunnel to {host}: {text}",
        host=host,
        phase="proxy",
        proxy=proxy,
    )


def _connect(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return None
    attempt: AddressFailed | None = _find(exc, AddressFailed)
    where = f"{host} ({attempt.where})" if attempt else host
    timed_out = isinstance(exc, httpx.ConnectTimeout)
    os_error: OSError | None = _find(exc, OSError)
    reason = os_error.strerror if os_error is not None and os_error.strerror else str(exc)
    if proxy:
        what = "timed out" if timed_out else f"failed: {reason}"
        shown = redact_url(proxy)
        if attempt and attempt.where not in shown:
            shown += f" ({attempt.where})"
        return NetFailure(
            Cause.PROXY_UNREACHABLE,
            f"TCP connection to proxy {shown} {what} (for {host})",
            host=host,
            phase="proxy",
            proxy=proxy,
        )
    if timed_out:
        cause, text = Cause.TCP_TIMEOUT, f"TCP connection to {where} timed out"
    elif _find(exc, ConnectionRefusedError) is not None:
        cause, text = Cause.TCP_REFUSED, f"TCP connection to {where} refused"
    elif os_error is not None and os_error.errno in _UNREACHABLE_ERRNOS:
        cause, text = Cause.TCP_UNREACHABLE, f"no route to {where}: {reason}"
    else:
        cause, text = Cause.TCP_UNREACHABLE, f"TCP connection to {where} failed: {reason}"
    return NetFailure(cause, text, host=host, phase="tcp")


def _exchange(exc: BaseException, host: str, proxy: str | None) -> NetFailure | None:
    text = str(exc) or type(exc).__name__
    if _find(exc, BodyTooLarge) is not None:
        return NetFailure(Cause.RESPONSE_TOO_LARGE, f"{host}: {text}", host=host, phase="body")
    if isinstance(exc, httpx.TimeoutException):
        return NetFailure(
            Cause.READ_TIMEOUT,
            f"{host} accepted the connection but sent nothing in time",
            host=host,
            phase="http",
            proxy=proxy,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        closed = (
            "peer closed" in text or "incomplete" in text.lower() or "Server disconnected" in text
        )
        cause = Cause.CONNECTION_RESET if closed else Cause.PROTOCOL_ERROR
        return NetFailure(cause, f"{host}: {text}", host=host, phase="http", proxy=proxy)
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError | ConnectionError):
        return NetFailure(
            Cause.CONNECTION_RESET,
            f"connection to {host} broke: {text}",
            host=host,
            phase="http",
            proxy=proxy,
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return NetFailure(Cause.TOO_MANY_REDIRECTS, f"{host}: {text}", host=host, phase="http")
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL | UnicodeError):
        # UnicodeError: idna refusing a host name httpx was asked to send to.
        return NetFailure(
            Cause.PROTOCOL_ERROR, f"{host}: {text}", host=host, phase="http", proxy=proxy
        )
    return None
