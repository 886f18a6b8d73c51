"""Reads of a TLS body: several waiting records come back as one read (fewer trips
through h11, httpcore and httpx for a large blob), nothing is lost or reordered, and a
read never waits for more than what has already arrived."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
import time

import httpcore
import pytest

from acrdiag.deadline import Deadline
from acrdiag.net.connections import TracingBackend
from acrdiag.net.dns import HostResolver
from tests.support.pki import Issued, TestPki
from tests.support.servers import raw_server, read_request
from tests.support.world import REGISTRY

RECORD = 16 * 1024  # what one TLS record carries at most


def _pool(pki: TestPki) -> httpcore.ConnectionPool:
    deadline = Deadline(20)
    backend = TracingBackend(HostResolver([], 5, deadline), deadline, lambda phase, s: None)
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    return httpcore.ConnectionPool(ssl_context=context, network_backend=backend, retries=0)


def _reply(body: bytes, pause_after: int = 0, pause_s: float = 0.0):  # type: ignore[no-untyped-def]
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        if pause_after:
            conn.sendall(body[:pause_after])
            time.sleep(pause_s)
        conn.sendall(body[pause_after:])

    return handle


def test_waiting_records_come_back_as_one_read_and_intact(
    pki: TestPki, server_cert: Issued
) -> None:
    body = bytes(range(256)) * (4 * 1024 * 16)  # 16 MiB: a thousand TLS records
    with raw_server(_reply(body), server_cert) as port, _pool(pki) as pool:
        with pool.stream("GET", f"https://localhost:{port}/blob") as response:
            time.sleep(0.3)  # let the socket fill, as on a fast link
            chunks = [len(c) for c in response.iter_stream()]
        received = hashlib.sha256()
        assert sum(chunks) == len(body)
        assert max(chunks) > RECORD  # records were joined
    with raw_server(_reply(body), server_cert) as port, _pool(pki) as pool:
        with pool.stream("GET", f"https://localhost:{port}/blob") as response:
            for chunk in response.iter_stream():
                received.update(chunk)
        assert received.hexdigest() == hashlib.sha256(body).hexdigest()


def test_a_read_returns_what_arrived_without_waiting_for_more(
    pki: TestPki, server_cert: Issued
) -> None:
    body = b"x" * (200 * 1024)
    with raw_server(_reply(body, pause_after=1000, pause_s=1.5), server_cert) as port:
        with _pool(pki) as pool, pool.stream("GET", f"https://localhost:{port}/b") as response:
            chunks = iter(response.iter_stream())
            started = time.monotonic()
            first = next(chunks)
            waited = time.monotonic() - started
            rest = b"".join(chunks)
        assert len(first) >= 1 and waited < 1.0  # the first bytes, before the pause ends
        assert first + rest == body


def test_end_of_stream_inside_joined_reads_is_still_seen(pki: TestPki, server_cert: Issued) -> None:
    """A server that closes right after its last record: the body ends, nothing hangs."""
    body = b"y" * (3 * RECORD + 5)
    done = threading.Event()

    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        done.set()

    with (
        raw_server(handle, server_cert) as port,
        _pool(pki) as pool,
        pool.stream("GET", f"https://localhost:{port}/c") as response,
    ):
        done.wait(2)
        time.sleep(0.1)
        assert b"".join(response.iter_stream()) == body


def test_a_large_body_through_an_https_proxy_arrives_intact(
    pki: TestPki, server_cert: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS inside the proxy's TLS: what waits at the socket is the proxy's, still encrypted
    for the registry, and must not be joined into the registry's plaintext."""
    import httpcore._sync.connection as pool_connection

    from acrdiag.net.proxy import ProxyConfig
    from acrdiag.net.session import HttpSession
    from acrdiag.net.tls import Trust

    body = bytes(range(256)) * (4 * 1024 * 4)  # 4 MiB
    client = ssl.create_default_context(cafile=str(pki.ca_file))
    monkeypatch.setattr(pool_connection, "default_ssl_context", lambda: client)  # the proxy's

    def origin(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)

    with raw_server(origin, server_cert) as origin_port:

        def proxy(conn: socket.socket) -> None:
            read_request(conn)
            upstream = socket.create_connection(("127.0.0.1", origin_port))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
            pipe(conn, upstream)

        with raw_server(proxy, server_cert) as proxy_port:
            deadline = Deadline(30)
            session = HttpSession(
                trust=Trust(client, "test CA", True),
                resolver=HostResolver([], 10, deadline),
                proxies=ProxyConfig.given(f"https://localhost:{proxy_port}"),
                timeout=10,
                deadline=deadline,
            )
            try:
                # Not a loopback name: Go's rules never proxy those.
                url = f"https://{REGISTRY}:{origin_port}/v2/"
                answer = session.fetch(url, max_body=8 << 20)
            finally:
                session.close()
    assert answer.status == 200
    assert hashlib.sha256(answer.body).digest() == hashlib.sha256(body).digest()
