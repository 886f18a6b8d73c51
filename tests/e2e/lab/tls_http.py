"""A threaded HTTPS server for the lab's own services (token service, reverse proxy)."""

from __future__ import annotations

import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cfg: dict[str, Any], handler: type[BaseHTTPRequestHandler]) -> None:
        self.cfg = cfg
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cfg["cert"], cfg["key"])
        self.ctx.set_alpn_protocols(["http/1.1"])
        super().__init__((cfg["address"], int(cfg["port"])), handler)

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):  # type: ignore[no-untyped-def]
        # Handshake in the worker thread so a client that never speaks TLS blocks only itself.
        request.settimeout(30)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)
