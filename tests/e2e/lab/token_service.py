"""A Docker token-auth service that behaves like ACR's `dockerauth` realm, for the lab.

Run inside the lab namespace: `python -m tests.e2e.lab.token_service CONFIG.json`.

`GET /auth?service=..&scope=repository:NAME:pull[,push]&account=..` with optional Basic auth
returns `{"token", "access_token", "expires_in", "issued_at"}`; the token is an RS256 JWT with an
`x5c` header. It grants the intersection of what was asked and what the user may do. Faults are
read from a JSON file on every request (see `FAULT_KEYS`), so tests can switch them at run time.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fnmatch
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.e2e.lab.certs import x5c_header
from tests.e2e.lab.tls_http import TlsHttpServer

FAULT_KEYS = {
    "time_offset_s": "shift iat/nbf/exp (and issued_at) by this many seconds",
    "empty_access": "grant nothing to anyone (token issued, `access` empty)",
    "status": "answer /auth with this HTTP status and a JSON error body",
    "non_json": "answer /auth with 200 and an HTML body",
    "delay_s": "sleep this long before answering /auth",
}
NBF_BEFORE_IAT = 300  # observed on ACR: nbf = iat - 300
TTL = 600  # observed on ACR: exp = iat + 600


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """`type[(class)]:name:actions` -> (type, name, actions). Names may contain `host:port`."""
    head, sep, actions = scope.rpartition(":")
    if not sep:
        return None
    rtype, sep, name = head.partition(":")
    if not sep or not name:
        return None
    rtype = rtype.split("(", 1)[0]
    return rtype, name, [a for a in actions.split(",") if a]


class Policy:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.users: dict[str, dict[str, Any]] = cfg["users"]
        self.anonymous: list[list[Any]] = cfg["anonymous"]

    def allowed(self, user: str | None, name: str) -> set[str]:
        grants = self.anonymous if user is None else self.users[user]["grants"]
        out: set[str] = set()
        for pattern, actions in grants:
            if fnmatch.fnmatchcase(name, pattern):
                out.update(actions)
        return out

    def check(self, user: str, password: str) -> bool:
        entry = self.users.get(user)
        return entry is not None and secrets.compare_digest(entry["password"], password)


class Handler(BaseHTTPRequestHandler):
    server_version = "acrdiag-lab-dockerauth/1.0"
    protocol_version = "HTTP/1.1"
    server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = {"errors": [{"code": code, "message": message, "detail": None}]}
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def do_POST(self) -> None:  # OAuth2 form POST is optional; 404 tells clients to use GET
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/auth":
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        srv = self.server
        faults = srv.faults()
        query = parse_qs(url.query)
        record: dict[str, Any] = {"time": time.time(), "query": query, "faults": faults}
        try:
            self._auth(query, faults, record)
        finally:
            srv.record(record)

    def _auth(
        self, query: dict[str, list[str]], faults: dict[str, Any], record: dict[str, Any]
    ) -> None:
        srv = self.server
        if faults.get("delay_s"):
            time.sleep(float(faults["delay_s"]))
        if faults.get("status"):
            record["status"] = int(faults["status"])
            self._error(int(faults["status"]), "UNKNOWN", "internal server error (lab fault)")
            return
        if faults.get("non_json"):
            record["status"] = 200
            body = b"<html><head><title>Gateway</title></head><body>lab fault</body></html>\n"
            self._send(200, body, "text/html; charset=utf-8")
            return

        user: str | None = None
        header = self.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                name, password = "", ""
            if not srv.policy.check(name, password):
                record.update(status=401, user=name)
                self._error(401, "UNAUTHORIZED", "incorrect username or password")
                return
            user = name
        record["user"] = user

        access: dict[tuple[str, str], list[str]] = {}
        for raw in query.get("scope", []):
            for scope in raw.split():
                parsed = parse_scope(scope)
                if parsed is None:
                    continue
                rtype, name, actions = parsed
                if rtype != "repository":
                    continue
                allowed = srv.policy.allowed(user, name)
                granted = access.setdefault((rtype, name), [])
                for a in actions:
                    if a in allowed and a not in granted:
                        granted.append(a)
        entries = [
            {"type": t, "name": n, "actions": acts} for (t, n), acts in access.items() if acts
        ]
        if faults.get("empty_access"):
            entries = []

        iat = int(time.time()) + int(faults.get("time_offset_s") or 0)
        claims = {
            "iss": srv.cfg["issuer"],
            "sub": user or "",
            "aud": srv.cfg["service"],
            "exp": iat + TTL,
            "nbf": iat - NBF_BEFORE_IAT,
            "iat": iat,
            "jti": secrets.token_hex(16),
            "access": entries,
        }
        token = jwt.encode(claims, srv.signing_key, algorithm="RS256", headers={"x5c": srv.x5c})
        issued = dt.datetime.fromtimestamp(iat, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {"token": token, "access_token": token, "expires_in": TTL, "issued_at": issued}
        # The token itself is recorded too, so tests can prove it leaks into no output.
        record.update(status=200, access=entries, token=token)
        self._send(200, json.dumps(answer).encode(), "application/json; charset=utf-8")


class TokenServer(TlsHttpServer):
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.policy = Policy(cfg)
        self.faults_file = Path(cfg["faults_file"])
        self.requests_file = Path(cfg["requests_file"])
        self.signing_key = Path(cfg["signing_key"]).read_bytes()
        self.x5c = x5c_header(Path(cfg["signing_cert"]).read_bytes())
        self._lock = threading.Lock()
        super().__init__(cfg, Handler)

    def faults(self) -> dict[str, Any]:
        try:
            data = json.loads(self.faults_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry) + "\n"
        with self._lock, self.requests_file.open("a") as f:
            f.write(line)


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[1]).read_text())
    server = TokenServer(cfg)
    sys.stderr.write(f"token service listening on {cfg['address']}:{cfg['port']}\n")
    sys.stderr.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
