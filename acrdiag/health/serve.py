"""`acrdiag serve`: a probe endpoint in blackbox_exporter's style.

    GET /probe?target=REF&module=NAME   one diagnosis of REF with module NAME's settings
    GET /metrics                        acrdiag's own process metrics

A result younger than --min-interval is served again (its age is exported), so frequent
scrapes from several Prometheus servers do not hammer a registry, and probes of one target
arriving while its diagnosis runs share it; at most --concurrency diagnoses run at once.
Credentials come only from the modules' definitions, never from the query string; it
listens on loopback unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest

from acrdiag.deadline import Deadline
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.health.definitions import Definitions, Target
from acrdiag.health.metrics import probe
from acrdiag.health.runner import run_target
from acrdiag.model import Report
from acrdiag.reference import ReferenceError, parse_reference
from acrdiag.steps import PULL_STEPS, Step

DEFAULT_LISTEN = "127.0.0.1:9436"
DEFAULT_MODULE = "default"
# Prometheus says how long it waits; answer a little before that.
SCRAPE_MARGIN_S = 0.5

PROBES = Counter("acrdiag_probes", "Diagnoses run for /probe", ("module", "result"))
CACHED = Counter("acrdiag_probe_cache_hits", "/probe answers served from a recent result")
SHARED = Counter(
    "acrdiag_probe_shared", "/probe answers that joined a diagnosis already running for them"
)


@dataclass
class _Flight:
    """A diagnosis under way: the probes that arrive meanwhile wait for it, not run another."""

    done: threading.Event = field(default_factory=threading.Event)
    report: Report | None = None


@dataclass
class _Entry:
    report: Report | None = None
    at: float = 0.0
    flight: _Flight | None = None


class Prober:
    """The /probe logic, apart from HTTP: modules, the cache and the concurrency bound."""

    def __init__(
        self,
        definitions: Definitions | None,
        env: Env,
        min_interval: float = 60.0,
        concurrency: int = 4,
        steps: Sequence[Step] = PULL_STEPS,
    ) -> None:
        self.modules = dict(definitions.modules) if definitions else {}
        self.env = env
        self.min_interval = min_interval
        self.steps = steps
        self._slots = threading.BoundedSemaphore(concurrency)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._guard = threading.Lock()

    def module(self, name: str | None) -> Target:
        """A module of the definitions; without one, run's defaults (blob smallest)."""
        name = name or DEFAULT_MODULE
        if name == DEFAULT_MODULE and name not in self.modules:
            return Target(DEFAULT_MODULE, "", {}, "built-in default module")
        if name not in self.modules:
            known = ", ".join(sorted(self.modules)) or "none defined"
            raise InputError(f"unknown module {name!r} (modules: {known})")
        return self.modules[name]

    def answer(self, reference: str, module_name: str | None, budget: float | None) -> bytes:
        """The metrics of a fresh or recent diagnosis of ``reference``; probes of one target
        that arrive together share one diagnosis (a burst of scrapes is one pull)."""
        module = self.module(module_name)
        target = replace(module, name=module.name, reference=reference)
        deadline = _deadline(target, budget)
        with self._guard:
            entry = self._entries.setdefault((module.name, reference), _Entry())
            age = time.monotonic() - entry.at
            if entry.report is not None and age < self.min_interval:
                CACHED.inc()
                return probe(entry.report, age)
            flight, leading = entry.flight, entry.flight is None
            if flight is None:
                flight = entry.flight = _Flight()
        if leading:
            return self._lead(target, entry, flight, deadline)
        SHARED.inc()
        if not flight.done.wait(deadline.remaining()):
            raise ProbeBusy(f"the diagnosis of {reference} already running did not end in time")
        if flight.report is None:
            raise ProbeBusy(
                f"the diagnosis of {reference} this probe waited for ended without a report"
            )
        return probe(flight.report, 0.0)

    def _lead(self, target: Target, entry: _Entry, flight: _Flight, deadline: Deadline) -> bytes:
        try:
            with self._slots:
                report = run_target(target, self.env, self.steps, deadline)
            flight.report = report
            with self._guard:
                entry.report, entry.at = report, time.monotonic()
            PROBES.labels(target.name, report.verdict.status).inc()
            return probe(report, 0.0)
        finally:
            with self._guard:
                entry.flight = None
            flight.done.set()


class ProbeBusy(Exception):
    """A probe that joined a running diagnosis and could not wait for its end."""


def _deadline(target: Target, budget: float | None) -> Deadline:
    """The module's deadline, cut to what Prometheus waits for the answer."""
    seconds = float(target.settings.get("deadline", 60.0))
    if budget is not None:
        seconds = max(1.0, min(seconds, budget - SCRAPE_MARGIN_S))
    return Deadline(seconds)


FORBIDDEN_PARAMETERS = frozenset(
    {"username", "user", "password", "token", "creds", "authfile", "auth", "secret"}
)


def _handler(prober: Prober) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "acrdiag"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/probe":
                self._probe(parse_qs(url.query, keep_blank_values=True))
            elif url.path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif url.path == "/":
                self._send(200, b"acrdiag: /probe?target=REF&module=NAME, /metrics\n")
            else:
                self._send(404, b"not found\n")

        def _probe(self, query: dict[str, list[str]]) -> None:
            forbidden = sorted(FORBIDDEN_PARAMETERS & {k.lower() for k in query})
            if forbidden:
                message = "credentials are not taken from the query string: put them in a module"
                return self._send(400, f"{message} ({', '.join(forbidden)})\n".encode())
            targets = query.get("target", [])
            if len(targets) != 1 or not targets[0]:
                return self._send(400, b"give exactly one target=REFERENCE\n")
            try:
                parse_reference(targets[0])
                modules = query.get("module") or []
                module = modules[0] if modules else None
                body = prober.answer(targets[0], module, _scrape_timeout(self.headers))
            except (InputError, ReferenceError) as exc:
                return self._send(400, f"{exc}\n".encode())
            except ProbeBusy as exc:
                return self._send(503, f"{exc}\n".encode())
            self._send(200, body, CONTENT_TYPE_LATEST)

        def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: Prometheus scrapes often; errors are in the answers

    return Handler


def _scrape_timeout(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _: None)("X-Prometheus-Scrape-Timeout-Seconds")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT ([v6]:PORT); InputError when it is not."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise InputError(f"--listen {listen!r}: give HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    # The standard library's backlog of 5 overflows under a burst of scrapes (the benchmark's
    # 50 concurrent /probe saw resets); the kernel caps it at somaxconn anyway.
    request_queue_size = 128


class _ServerV6(_Server):
    address_family = socket.AF_INET6


def make_server(listen: str, prober: Prober) -> ThreadingHTTPServer:
    host, port = parse_listen(listen)
    kind = _ServerV6 if ":" in host else _Server
    try:
        server = kind((host, port), _handler(prober))
    except OSError as exc:
        raise InputError(f"--listen {listen}: {exc.strerror or exc}") from exc
    server.daemon_threads = True
    return server


def serve_main(
    listen: str,
    definition_paths: Sequence[Path],
    env: Env,
    min_interval: float = 60.0,
    concurrency: int = 4,
) -> int:
    """`acrdiag serve`: answer until Ctrl-C or SIGTERM."""
    from acrdiag.health.definitions import load
    from acrdiag.stopping import Terminated, sigterm_interrupts

    if not 0 <= min_interval <= 86400:
        raise InputError(f"--min-interval must be 0 to 86400 seconds, not {min_interval:g}")
    if not 1 <= concurrency <= 64:
        raise InputError(f"--concurrency must be 1 to 64, not {concurrency}")
    definitions = load(definition_paths) if definition_paths else None
    server = make_server(listen, Prober(definitions, env, min_interval, concurrency))
    host, port = str(server.server_address[0]), int(server.server_address[1])
    if env.stderr is not None:
        where = f"[{host}]" if ":" in host else host
        print(f"acrdiag serve: listening on http://{where}:{port}/probe", file=env.stderr)
    with sigterm_interrupts():
        try:
            server.serve_forever()
        except Terminated:
            return 143
        except KeyboardInterrupt:
            return 130
        finally:
            server.server_close()
    return 0
