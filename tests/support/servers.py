"""Small servers for the failure shapes pytest-httpserver cannot produce."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytest_httpserver import HTTPServer

from tests.support.pki import Issued


def tls_context(issued: Issued) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    return context


@contextmanager
def http_server(issued: Issued | None = None) -> Iterator[HTTPServer]:
    server = HTTPServer(
        host="127.0.0.1", port=0, ssl_context=tls_context(issued) if issued else None
    )
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def blackhole_port() -> Iterator[int]:
    """A port whose accept queue is full, so new SYNs are dropped: connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


@contextmanager
def raw_server(
    handle: Callable[[socket.socket], None], issued: Issued | None = None
) -> Iterator[int]:
    """A one-connection-at-a-time TCP server whose reply is written by ``handle``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    context = tls_context(issued) if issued else None

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                conn.settimeout(5)
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                handle(conn)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
