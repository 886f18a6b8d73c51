"""A misconfigured reverse proxy in front of the lab registry, at a custom domain.

Run inside the lab namespace: `python -m tests.e2e.lab.front CONFIG.json`.

It forwards GET and HEAD to the registry (TLS, `Host` set to the registry's own name, as
nginx's default `proxy_set_header Host $proxy_host` does) and passes every answer back,
redirects included, except that it drops `WWW-Authenticate`: the 401 from `/v2/` reaches the
client without a challenge, so no client can learn where to log in. This is what a proxy or
WAF that filters response headers does to a registry behind a custom domain.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.e2e.lab.tls_http import TlsHttpServer

# Hop-by-hop headers, the ones this server sets itself, and the challenge (the fault).
DROPPED = {
    "www-authenticate",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "date",
    "server",
}
MAX_BODY = 16 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    server_version = "acrdiag-lab-front/1.0"
    protocol_version = "HTTP/1.1"
    server: FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        cfg = self.server.cfg
        # By name, through the lab DNS, as a proxy would: SNI and Host name the registry.
        conn = http.client.HTTPSConnection(
            cfg["upstream_host"], 443, context=self.server.client_ctx, timeout=30
        )
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "keep-alive")
            }
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(MAX_BODY)
            self.send_response(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in DROPPED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (OSError, http.client.HTTPException) as exc:
            message = f"502 bad gateway: {exc}\n".encode()
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
        finally:
            conn.close()


class FrontServer(TlsHttpServer):
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.client_ctx = ssl.create_default_context(cafile=cfg["ca_file"])
        super().__init__(cfg, Handler)


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[1]).read_text())
    server = FrontServer(cfg)
    sys.stderr.write(f"front listening on {cfg['address']}:{cfg['port']}\n")
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
