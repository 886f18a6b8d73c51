"""Resolution as docker sees it (system resolver) compared with DNS itself."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from acrdiag.causes import Cause
from acrdiag.deadline import Deadline
from acrdiag.net import dns as netdns
from acrdiag.net.dns import HostResolver, parse_nameserver
from tests.support.dns_server import FakeDns

HOST = "shop-registry.cn-hangzhou.cr.aliyuncs.com"


def _system(monkeypatch: pytest.MonkeyPatch, answer: list[str] | int | float) -> list[str]:
    """Make getaddrinfo return addresses, fail with a gai code, or hang for some seconds."""
    calls: list[str] = []

    def fake(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(host)
        if isinstance(answer, float):
            time.sleep(answer)
            return []
        if isinstance(answer, int):
            raise socket.gaierror(answer, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443)) for a in answer]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def _dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]], errors: dict[str, str]
) -> None:
    monkeypatch.setattr(
        netdns, "_query_dns", lambda host, servers, budget: (answers, errors, "10.0.0.2")
    )


def _resolver(timeout: float = 2.0) -> HostResolver:
    return HostResolver([], timeout, Deadline(30))


def test_system_answer_decides_and_hosts_file_override_is_noted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _system(monkeypatch, ["10.1.2.3"])
    _dns(monkeypatch, {}, {"A": "NXDOMAIN"})
    lookup = _resolver().lookup(HOST)
    assert lookup.ok and lookup.addresses == ["10.1.2.3"]
    assert lookup.note is not None and "/etc/hosts" in lookup.note


def test_different_addresses_are_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    _system(monkeypatch, ["10.1.2.3"])
    _dns(monkeypatch, {"A": ["47.96.1.1"]}, {})
    lookup = _resolver().lookup(HOST)
    assert lookup.addresses == ["10.1.2.3"]
    assert lookup.note is not None and "different addresses" in lookup.note


def test_both_fail_with_nxdomain(monkeypatch: pytest.MonkeyPatch) -> None:
    _system(monkeypatch, socket.EAI_NONAME)
    _dns(monkeypatch, {}, {"A": "NXDOMAIN"})
    lookup = _resolver().lookup(HOST)
    assert lookup.cause is Cause.DNS_NXDOMAIN


def test_dns_answers_but_system_fails_blames_nsswitch(monkeypatch: pytest.MonkeyPatch) -> None:
    _system(monkeypatch, socket.EAI_NONAME)
    _dns(monkeypatch, {"A": ["47.96.1.1"]}, {})
    lookup = _resolver().lookup(HOST)
    assert lookup.cause is Cause.DNS_ERROR
    assert "nsswitch" in lookup.detail


def test_unreadable_resolv_conf_falls_back_to_the_gai_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _system(monkeypatch, socket.EAI_AGAIN)
    _dns(monkeypatch, {}, {"config": "no usable /etc/resolv.conf"})
    assert _resolver().lookup(HOST).cause is Cause.DNS_TIMEOUT


def test_hanging_system_resolver_is_abandoned_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _system(monkeypatch, 5.0)
    _dns(monkeypatch, {"A": ["47.96.1.1"]}, {})
    started = time.monotonic()
    lookup = _resolver(timeout=0.5).lookup(HOST)
    assert time.monotonic() - started < 1.5
    assert lookup.cause is Cause.DNS_TIMEOUT


def test_each_host_is_resolved_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _system(monkeypatch, ["10.1.2.3"])
    _dns(monkeypatch, {"A": ["10.1.2.3"]}, {})
    resolver = _resolver()
    first, second = resolver.lookup(HOST), resolver.lookup(HOST.upper() + ".")
    assert first is second and calls == [HOST]


def test_address_literals_skip_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _system(monkeypatch, ["10.1.2.3"])
    lookup = _resolver().lookup("[::1]")
    assert lookup.addresses == ["::1"] and calls == []


def test_nameserver_mode_reports_no_answer_and_nxdomain_apart() -> None:
    server = FakeDns()
    try:
        server.records[HOST] = []
        resolver = HostResolver([("127.0.0.1", server.port)], 2.0, Deadline(30))
        assert resolver.lookup(HOST).cause is Cause.DNS_NO_ANSWER
        assert resolver.lookup("gone." + HOST).cause is Cause.DNS_NXDOMAIN
    finally:
        server.close()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("100.100.2.136", ("100.100.2.136", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("fd00::53", ("fd00::53", 53)),
    ],
)
def test_nameserver_forms(text: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize("text", ["dns.example.com", "1.2.3.4:99999", "[::1", "1.2.3.4:x"])
def test_bad_nameservers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_silent_dns_costs_little_when_the_system_resolver_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _system(monkeypatch, ["10.1.2.3"])

    def silent(host: str, servers: Any, budget: float) -> Any:
        time.sleep(budget)
        return {}, {"A": "timeout"}, "10.0.0.2"

    monkeypatch.setattr(netdns, "_query_dns", silent)
    started = time.monotonic()
    resolver = _resolver(timeout=3.0)
    lookup = resolver.lookup(HOST)
    # The connection goes ahead at once; the comparison is waited for only when settled.
    assert time.monotonic() - started < 0.3
    assert lookup.ok and lookup.addresses == ["10.1.2.3"] and lookup.dns == {}
    assert resolver.settle() == [lookup]
    assert time.monotonic() - started < 1.0
    assert lookup.note is None and "no answer within" in lookup.dns["A"]
    assert resolver.settle() == []


def test_the_comparison_runs_beside_the_connection_and_joins_the_evidence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _system(monkeypatch, ["10.1.2.3"])

    def slow(host: str, servers: Any, budget: float) -> Any:
        time.sleep(0.2)
        return {"A": ["10.9.9.9"]}, {}, "10.0.0.2"

    monkeypatch.setattr(netdns, "_query_dns", slow)
    resolver = _resolver(timeout=3.0)
    lookup = resolver.lookup(HOST)
    assert "dns" not in lookup.evidence()
    time.sleep(0.3)  # the run's own work
    started = time.monotonic()
    assert resolver.settle() == [lookup]
    assert time.monotonic() - started < 0.1
    shown = lookup.evidence()
    assert shown["dns"]["A"] == ["10.9.9.9"] and "different addresses" in shown["note"]
