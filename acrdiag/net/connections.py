"""Connections that resolve through our resolver and time each phase.

httpcore hides DNS inside connect_tcp and gives no per-phase timing, so this
backend resolves first (once per host, see dns.py), dials the address itself,
clamps every socket wait to the run's deadline and keeps what the TLS
handshake showed on the connection, for the probes to report.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass

import httpcore
from httpcore._backends.sync import SyncStream  # what SyncBackend.connect_tcp returns

from acrdiag.deadline import Deadline
from acrdiag.net.dns import HostResolver, Lookup
from acrdiag.net.early import EARLY

MAX_ADDRESSES = 3
CONNECTION_INFO = "acrdiag_connection"


class DnsLookupFailed(Exception):
    def __init__(self, lookup: Lookup) -> None:
        super().__init__(lookup.detail)
        self.lookup = lookup


class TlsHandshakeTimedOut(Exception):
    """TCP connected, then the TLS handshake got no answer in time (not a TCP timeout)."""

    def __init__(self, where: str) -> None:
        super().__init__(f"TLS handshake with {where} got no answer in time")
        self.where = where


class AddressFailed(Exception):
    """One address refused or timed out; ``original`` is the socket-level error."""

    def __init__(self, address: str, port: int, original: BaseException | None) -> None:
        super().__init__(f"{_join(address, port)}: {original or 'timed out'}")
        self.where = _join(address, port)
        self.original = original


@dataclass
class ConnectionInfo:
    host: str
    port: int
    address: str
    tcp_s: float
    tls_s: float | None = None
    tls_version: str | None = None
    tls_server_name: str | None = None
    cert_der: bytes | None = None
    peer_cert: dict[str, typing.Any] | None = None  # ssl's reading; empty unless verified
    requests: int = 0


PhaseSink = Callable[[str, float], None]


class TracingBackend(httpcore.NetworkBackend):
    def __init__(self, resolver: HostResolver, deadline: Deadline, record: PhaseSink) -> None:
        self._inner = httpcore.SyncBackend()
        self.resolver = resolver
        self.deadline = deadline
        self.record = record

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # httpcore's pool re-raises "from None", so causes travel in args[0], as httpcore's own do.
        lookup = self.resolver.lookup(host)
        if not lookup.ok:
            raise httpcore.ConnectError(DnsLookupFailed(lookup))
        failure: Exception | None = None
        for address in lookup.addresses[:MAX_ADDRESSES]:
            started = time.monotonic()
            try:
                early = self._adopt_early(address, port, timeout, socket_options)
                stream = early[0] if early else None
                if stream is None:
                    stream = self._inner.connect_tcp(
                        address, port, self.deadline.clamp(timeout), local_address, socket_options
                    )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                self.record("tcp", time.monotonic() - started)
                original = (
                    exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
                )
                failure = type(exc)(AddressFailed(address, port, original))
                continue
            waited = time.monotonic() - started
            # The phase is what this request waited (time to first byte leaves it out); the
            # evidence is the connect's own time, early or not.
            self.record("tcp", waited)
            tcp_s = early[1] if early else waited
            return TracingStream(stream, ConnectionInfo(host, port, address, tcp_s), self)
        assert failure is not None  # a successful lookup has at least one address
        raise failure

    def _adopt_early(
        self,
        address: str,
        port: int,
        timeout: float | None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> tuple[httpcore.NetworkStream, float] | None:
        """The connection net/early.py opened to this address while acrdiag was importing,
        as httpcore's own backend would have made it; its failure is this connect's."""
        attempt = EARLY.connection(address, port, self.deadline.clamp(timeout))
        if attempt is None:
            return None
        if attempt.sock is None:
            timed_out = isinstance(attempt.error, TimeoutError)
            raise (httpcore.ConnectTimeout if timed_out else httpcore.ConnectError)(attempt.error)
        sock = attempt.sock
        for option in socket_options or ():
            sock.setsockopt(*option)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SyncStream(sock), attempt.seconds

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - registries are not reached over unix sockets
        raise httpcore.ConnectError("unix sockets are not supported")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class TracingStream(httpcore.NetworkStream):
    def __init__(
        self, inner: httpcore.NetworkStream, info: ConnectionInfo, backend: TracingBackend
    ) -> None:
        self._inner = inner
        self.info = info
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = self._backend.deadline.clamp(timeout)
        data = self._inner.read(max_bytes, timeout)
        if not data or len(data) >= max_bytes:
            return data
        # A TLS read returns one record (16 KiB) however much has arrived; each read costs
        # a trip through h11, httpcore and httpx. Take what is already here, up to max_bytes:
        # a large blob then streams in a quarter of the reads (about twice as fast).
        # Only over a socket of its own: through an https proxy (TLS in TLS) the socket is
        # the proxy's, and what waits there is still encrypted for the registry.
        sock = self._inner.get_extra_info("socket") if type(self._inner) is SyncStream else None
        parts = [data]
        got = len(data)
        while got < max_bytes and sock is not None and _waiting(sock):
            try:  # the socket's timeout is already the one read() set
                more = sock.recv(max_bytes - got)
            except OSError:
                break  # the next read() meets it again, and httpcore maps it
            if not more:
                break  # end of stream: the next read() sees it again
            parts.append(more)
            got += len(more)
        return b"".join(parts) if len(parts) > 1 else data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        started = time.monotonic()
        self.info.tls_server_name = server_hostname
        try:
            inner = self._inner.start_tls(
                ssl_context, server_hostname, self._backend.deadline.clamp(timeout)
            )
        except httpcore.ConnectTimeout as exc:
            # httpcore calls a stalled handshake a connect timeout; it is not one.
            where = _join(self.info.address, self.info.port)
            raise httpcore.ConnectTimeout(TlsHandshakeTimedOut(where)) from exc
        finally:
            self.info.tls_s = time.monotonic() - started
            self._backend.record("tls", self.info.tls_s)
        # httpcore hands out the socket's internal _ssl._SSLSocket: duck-type it.
        ssl_object = inner.get_extra_info("ssl_object")
        if hasattr(ssl_object, "version") and hasattr(ssl_object, "getpeercert"):
            self.info.tls_version = ssl_object.version()
            self.info.cert_der = ssl_object.getpeercert(True)
            self.info.peer_cert = ssl_object.getpeercert()
        return TracingStream(inner, self.info, self._backend)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == CONNECTION_INFO:
            return self.info
        return self._inner.get_extra_info(info)


def _waiting(sock: typing.Any) -> bool:
    """Bytes that a read would return without waiting: decrypted in a TLS record already
    taken in, or arrived at the socket."""
    pending = getattr(sock, "pending", None)
    if pending is not None and pending() > 0:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
