"""Step 1's first work starts while acrdiag imports (net/early.py): the run then takes the
registry's look-up and TCP connection instead of making them again, and reports a failed
early connect exactly as its own."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from acrdiag.deadline import Deadline
from acrdiag.net.connections import TracingBackend
from acrdiag.net.dns import HostResolver
from acrdiag.net.early import EARLY, begin_run
from acrdiag.reference import parse_platform, parse_reference
from acrdiag.run_options import RunOptions
from tests.support.servers import closed_port
from tests.support.world import invoke


@pytest.fixture(autouse=True)
def _fresh_early() -> Iterator[None]:
    yield
    EARLY.discard()
    EARLY.system_store(wait=5)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(5)
        yield sock


def _begin(reference: str, direct: bool = True, **options: Any) -> None:
    run = RunOptions(parse_reference(reference), parse_platform("linux/amd64"), timeout=5.0)
    begin_run(replace(run, environ=options.pop("environ", {}), **options), direct=direct)


def _backend() -> TracingBackend:
    deadline = Deadline(10)
    return TracingBackend(HostResolver([], 5, deadline), deadline, lambda phase, s: None)


def test_the_run_takes_the_connection_opened_early(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    _begin(f"127.0.0.1:{port}/ns/app:1.0")
    early, _ = listener.accept()  # before anything asked for it
    stream = _backend().connect_tcp("127.0.0.1", port)
    stream.write(b"ping")
    assert early.recv(4) == b"ping"  # the same connection, not a second one
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()
    stream.close()
    early.close()


def test_a_refused_early_connect_is_the_run_s_own_tcp_refused() -> None:
    port = closed_port()
    reference = f"127.0.0.1:{port}/ns/app:1.0"
    argv = ["run", reference, "--runtime", "none", "--format", "json", "--timeout", "2"]
    result = invoke(argv)
    report = json.loads(result.stdout)
    assert result.code == 11
    assert report["steps"][0]["cause"] == "tcp_refused"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the system resolver is asked for (all resolve to 127.0.0.1)."""
    asked: list[str] = []

    def system(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", system)
    return asked


def test_through_a_proxy_the_name_is_left_to_the_proxy(lookups: list[str]) -> None:
    _begin("registry.example.com/ns/app:1.0", environ={"HTTPS_PROXY": "http://proxy:3128"})
    time.sleep(0.3)
    assert lookups == []


def test_no_proxy_exempting_the_registry_lets_it_start(lookups: list[str]) -> None:
    """The run's own proxy rules (Go's) decide, NO_PROXY included."""
    environ = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".example.com"}
    _begin("registry.example.com/ns/app:1.0", direct=False, environ=environ)
    time.sleep(0.3)
    assert lookups == ["registry.example.com"]


def test_with_nameserver_nothing_starts_early(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    _begin(f"127.0.0.1:{port}/ns/app:1.0", nameservers=[("127.0.0.53", 53)])
    listener.settimeout(0.5)
    with pytest.raises(TimeoutError):
        listener.accept()


def test_bad_input_touches_no_network(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    argv = ["run", f"127.0.0.1:{port}/ns/app:1.0", "--runtime", "none", "--platform", "x"]
    result = invoke(argv)
    assert result.code == 2
    listener.settimeout(0.5)
    with pytest.raises(TimeoutError):
        listener.accept()


def test_without_runtime_none_it_only_looks_the_name_up(listener: socket.socket) -> None:
    """A mirror of the runtime may come first: no connection to the registry is guessed."""
    port = listener.getsockname()[1]
    _begin(f"127.0.0.1:{port}/ns/app:1.0", direct=False)
    listener.settimeout(0.5)
    with pytest.raises(TimeoutError):
        listener.accept()


def test_a_connection_the_run_did_not_take_is_closed(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    _begin(f"127.0.0.1:{port}/ns/app:1.0")
    early, _ = listener.accept()
    EARLY.discard()
    early.settimeout(5)
    assert early.recv(1) == b""  # closed by acrdiag, no request sent
    early.close()


def test_the_registry_name_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from acrdiag.net import dns as netdns

    asked: list[str] = []
    answered = threading.Event()

    def system(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        answered.set()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", system)
    monkeypatch.setattr(netdns, "_query_dns", lambda host, servers, budget: ({}, {}, "x"))
    _begin("registry.example.com/ns/app:1.0", direct=False)
    assert answered.wait(5)
    lookup = HostResolver([], 5, Deadline(10)).lookup("registry.example.com")
    assert lookup.addresses == ["127.0.0.1"]
    assert asked == ["registry.example.com"]


def test_an_early_connect_s_time_is_not_taken_off_the_first_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connect ran before the request's clock started: its time shows as the
    connection's tcp_s, and the request's time to first byte stays the server's."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from acrdiag.net import early

    class Registry(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    real = socket.create_connection

    def slow(*args: Any, **kwargs: Any) -> socket.socket:
        time.sleep(0.3)  # a connect across the world
        return real(*args, **kwargs)

    monkeypatch.setattr(early.socket, "create_connection", slow)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        argv = ["run", f"127.0.0.1:{server.server_port}/ns/app:1.0", "--runtime", "none"]
        result = invoke([*argv, "--plain-http", "--format", "json", "--deadline", "10"])
    finally:
        server.shutdown()
        server.server_close()
    step = json.loads(result.stdout)["steps"][0]
    assert step["evidence"]["connection"]["tcp_s"] >= 0.3
    assert all(r["ttfb_s"] >= 0 for r in step["evidence"]["requests"])


def test_a_look_up_that_answers_after_the_run_ended_opens_nothing(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = listener.getsockname()[1]

    def late(host: str, *args: object, **kwargs: object) -> object:
        time.sleep(0.3)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", late)
    _begin(f"registry.example.com:{port}/ns/app:1.0")
    EARLY.discard()  # the run ended (it failed early, say) before the name was found
    listener.settimeout(0.8)
    with pytest.raises(TimeoutError):
        listener.accept()


def test_a_registry_the_runtime_blocks_is_not_looked_up(lookups: list[str], tmp_path: Path) -> None:
    """registries.conf `blocked`: the report says nothing is sent, and nothing is."""
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "blocked.example.com"\nblocked = true\n')
    argv = ["run", "blocked.example.com/ns/app:1.0", "--runtime", "podman"]
    result = invoke([*argv, "--runtime-config", str(conf), "--format", "json"])
    assert json.loads(result.stdout)["steps"][0]["cause"] == "registry_blocked"
    time.sleep(0.2)
    assert lookups == []
