"""Step 1, reachability: each way DNS, TCP, TLS or /v2/ fails names its cause and exits 11."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.support.assertions import assert_failed_at
from tests.support.pki import TestPki
from tests.support.servers import (
    blackhole_port,
    closed_port,
    http_server,
    raw_server,
    read_request,
)
from tests.support.world import INSTANCE, PASSWORD, REGISTRY, RunResult, World, invoke


def test_healthy_pull_passes_all_seven_steps(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"))
    report = result.report
    assert result.code == 0
    assert [s["status"] for s in report["steps"]] == ["pass"] * 7
    assert report["verdict"] == {
        "status": "ok",
        "failed_step": None,
        "failed_step_number": None,
        "cause": None,
        "summary": "the pull works",
        "exit_code": 0,
        "explanation": None,  # nothing to explain
    }
    tls = result.step("reachability")["evidence"]["connection"]["tls"]
    assert tls["certificate"]["issuer"] == "CN=acrdiag unit-test CA"
    assert tls["certificate"]["name_matches"] is True


def test_unknown_registry_name_is_nxdomain(world: World) -> None:
    ref = f"nosuch-registry.cn-hangzhou.cr.aliyuncs.com:{world.registry.port}/ns/app:1.0"
    failed = assert_failed_at(world.run(ref), "reachability", "dns_nxdomain")
    assert failed["evidence"]["dns"]["dns"]["A"] == "NXDOMAIN"
    assert any("instance name and region" in h for h in failed["hints"])


def test_vpc_endpoint_outside_the_vpc_points_at_the_public_endpoint(world: World) -> None:
    ref = f"shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com:{world.registry.port}/ns/app:1.0"
    result = world.run(ref)
    failed = assert_failed_at(result, "reachability", "dns_nxdomain")
    assert any(REGISTRY in h and "allowlist" in h for h in failed["hints"])
    assert result.report["support"]["endpoint_type"] == "vpc"


def test_name_without_addresses_is_no_answer(world: World) -> None:
    world.dns.records[REGISTRY] = []
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "reachability", "dns_no_answer")
    assert failed["evidence"]["dns"]["dns"]["A"] == "no answer"


def test_silent_dns_server_is_a_timeout_within_the_timeout(world: World) -> None:
    world.dns.silent.add(REGISTRY)
    started = time.monotonic()
    result = world.run(world.ref("ns/app:1.0"), timeout=1)
    assert time.monotonic() - started < 3
    failed = assert_failed_at(result, "reachability", "dns_timeout")
    assert any("resolv.conf" in h for h in failed["hints"])


def test_closed_port_is_refused(world: World) -> None:
    ref = f"{REGISTRY}:{closed_port()}/ns/app:1.0"
    failed = assert_failed_at(world.run(ref), "reachability", "tcp_refused")
    assert "127.0.0.1" in failed["summary"]


def test_dropped_syn_is_a_tcp_timeout_with_the_acr_allowlist_hint(world: World) -> None:
    with blackhole_port() as port:
        started = time.monotonic()
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", timeout=1)
        elapsed = time.monotonic() - started
    failed = assert_failed_at(result, "reachability", "tcp_timeout")
    assert elapsed < 4
    assert any("access control" in h for h in failed["hints"])


def test_private_ca_without_ca_file_is_untrusted(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), ca=False)
    failed = assert_failed_at(result, "reachability", "tls_untrusted")
    assert failed["evidence"]["presented_certificate"]["issuer"] == "CN=acrdiag unit-test CA"
    assert any("--ca-file" in h for h in failed["hints"])
    assert any("trust used: system store" in h for h in failed["hints"])
    # docker's directory is named host:port when the reference has a port
    where = f"/etc/docker/certs.d/{REGISTRY}:{world.registry.port}/ca.crt"
    assert any(where in h for h in failed["hints"])


def test_certificate_for_another_name_is_a_hostname_mismatch(world: World, pki: TestPki) -> None:
    with http_server(pki.issue("other", ["other.example.com"])) as server:
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0")
    failed = assert_failed_at(result, "reachability", "tls_hostname_mismatch")
    assert failed["evidence"]["presented_certificate"]["names"] == ["other.example.com"]
    assert failed["evidence"]["presented_certificate"]["name_matches"] is False


def test_expired_certificate(world: World, pki: TestPki) -> None:
    expired = pki.issue("expired", [REGISTRY], days=10, start_days_ago=20)
    with http_server(expired) as server:
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0")
    failed = assert_failed_at(result, "reachability", "tls_expired")
    assert failed["evidence"]["presented_certificate"]["days_left"] < 0


def test_certificate_expiring_soon_is_a_warning(world: World, pki: TestPki) -> None:
    soon = pki.issue("soon", [REGISTRY], days=6, start_days_ago=1)
    with http_server(soon) as server:
        server.expect_request("/v2/").respond_with_json({})
        server.expect_request("/v2/ns/app/manifests/1.0").respond_with_data("", status=404)
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0")
    step = result.step("reachability")
    assert step["status"] == "warn" and step["cause"] == "tls_expiring_soon"
    assert any("renew" in h for h in step["hints"])


def test_tls_to_a_plain_http_port_says_use_plain_http(world: World) -> None:
    with http_server(None) as server:
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0")
    failed = assert_failed_at(result, "reachability", "tls_error")
    assert "plain HTTP" in failed["summary"]
    assert any("--plain-http" in h for h in failed["hints"])


def test_plain_http_to_a_tls_port_says_drop_plain_http(world: World) -> None:
    result = world.run(world.ref("ns/app:1.0"), "--plain-http")
    failed = result.failed
    assert result.code == 11 and failed is not None
    assert any("drop --plain-http" in h for h in failed["hints"])


def test_plain_http_registry_is_reached_over_plain_http(world: World) -> None:
    with http_server(None) as server:
        server.expect_request("/v2/").respond_with_json(
            {}, headers={"Docker-Distribution-API-Version": "registry/2.0"}
        )
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0", "--plain-http")
    step = result.step("reachability")
    assert step["status"] == "pass" and "plain HTTP" in step["summary"]
    assert result.step("challenge")["summary"].startswith("no authentication required")


def test_plain_http_to_a_go_tls_port_names_the_tls_port(world: World) -> None:
    def go_tls_server(conn: socket.socket) -> None:
        read_request(conn)  # what Go's TLS server says to a plain HTTP request
        conn.sendall(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        )

    with raw_server(go_tls_server) as port:
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http")
    failed = assert_failed_at(result, "reachability", "protocol_error")
    assert "the port speaks TLS" in failed["summary"]
    assert any("drop --plain-http" in h for h in failed["hints"])


def _plain_registry(server: HTTPServer) -> None:
    api = {"Docker-Distribution-API-Version": "registry/2.0"}
    server.expect_request("/v2/").respond_with_json({}, headers=api)
    unknown = {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
    server.expect_request("/v2/ns/app/manifests/1.0").respond_with_json(unknown, status=404)
    server.expect_request("/v2/ns/app/tags/list").respond_with_json(unknown, status=404)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_localhost_without_tls_falls_back_to_plain_http_as_docker_does(
    world: World, host: str
) -> None:
    world.dns.records["localhost"] = ["127.0.0.1"]  # /etc/hosts, for --nameserver
    with http_server(None) as server:
        _plain_registry(server)
        result = world.run(f"{host}:{server.port}/ns/app:1.0", user=None)
    step = result.step("reachability")
    assert (step["status"], step["cause"]) == ("warn", "plain_http_fallback")
    assert "falls back to plain HTTP" in step["summary"]
    assert_failed_at(result, "manifest", "name_unknown")  # the run went on over plain HTTP


def test_a_name_that_resolves_to_loopback_gets_no_fallback(world: World) -> None:
    with http_server(None) as server:
        _plain_registry(server)
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0", user=None)
    assert_failed_at(result, "reachability", "tls_error")


def _v2_answer(world: World, response: Response) -> RunResult:
    world.route("registry", "GET", "/v2/", lambda request: response)
    return world.run(world.ref("ns/app:1.0"))


def test_404_on_v2_is_not_a_registry(world: World) -> None:
    result = _v2_answer(world, Response("not here", status=404))
    assert_failed_at(result, "reachability", "not_a_registry")


def test_html_page_without_api_header_is_not_a_registry(world: World) -> None:
    page = Response("<html><title>Portal login</title></html>", content_type="text/html")
    result = _v2_answer(world, page)
    failed = assert_failed_at(result, "reachability", "not_a_registry")
    assert any("captive portal" in h for h in failed["hints"])


def test_403_on_acr_names_the_access_control_list(world: World) -> None:
    result = _v2_answer(world, Response("denied", status=403))
    failed = assert_failed_at(result, "reachability", "forbidden")
    assert any("allowlist" in h for h in failed["hints"])


def test_503_is_a_server_error(world: World) -> None:
    body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]})
    result = _v2_answer(world, Response(body, status=503))
    assert_failed_at(result, "reachability", "server_error")


def test_redirect_on_v2_is_followed_like_docker_and_shown(world: World) -> None:
    world.route(
        "registry",
        "GET",
        "/login",
        lambda r: Response("<html><title>Sign in</title></html>", content_type="text/html"),
    )
    result = _v2_answer(world, Response("", status=302, headers={"Location": "/login?next=/v2/"}))
    failed = assert_failed_at(result, "reachability", "not_a_registry")
    assert "/login?next=" in failed["evidence"]["v2"]["redirected_to"]
    assert [r["status"] for r in failed["evidence"]["requests"]] == [302, 200]


def test_redirect_loop_on_v2_is_too_many_redirects(world: World) -> None:
    result = _v2_answer(world, Response("", status=302, headers={"Location": "/v2/"}))
    assert_failed_at(result, "reachability", "too_many_redirects")


def test_insecure_turns_the_untrusted_ca_into_a_warning(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), "--insecure", ca=False)
    assert result.code == 0
    step = result.step("reachability")
    assert step["status"] == "warn" and step["cause"] == "tls_verify_disabled"
    assert result.report["verdict"]["status"] == "warn"
    assert result.report["environment"]["trust"] == "verification disabled (--insecure)"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_failure_renders_for_people_with_cause_and_hint(world: World, fmt: str) -> None:
    ref = f"{REGISTRY}:{closed_port()}/ns/app:1.0"
    result = world.run(ref, fmt=fmt)
    assert result.code == 11
    assert "tcp_refused" in result.stdout
    assert "nothing accepts connections" in result.stdout
    assert INSTANCE not in result.stdout  # not learned before step 2: never guessed


def test_nxdomain_for_a_well_known_public_endpoint_blames_dns_not_spelling(world: World) -> None:
    result = world.run(f"registry.cn-shanghai.aliyuncs.com:{world.registry.port}/ns/app:1.0")
    failed = assert_failed_at(result, "reachability", "dns_nxdomain")
    assert any("public registry endpoint" in h and "@223.5.5.5" in h for h in failed["hints"])
    assert result.report["support"]["registry_kind"] == "acr-personal"


def test_a_stalled_tls_handshake_is_not_blamed_on_tcp(world: World) -> None:
    def silent(conn: socket.socket) -> None:
        time.sleep(4)  # accepts TCP, never answers the ClientHello

    with raw_server(silent) as port:
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", timeout=1.5, user=None)
    failed = assert_failed_at(result, "reachability", "read_timeout")
    assert failed["evidence"]["failure"]["phase"] == "tls"
    assert "did not complete the TLS handshake" in failed["summary"]
    assert not any("firewall" in h for h in failed["hints"])


def test_dns_comparison_that_answers_late_still_reaches_the_report(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system resolver decides and the run goes on; the direct DNS answer, arriving
    after the connection, is still shown beside it, with the disagreement it reveals."""
    from acrdiag.net import dns as netdns

    world.healthy()
    real = socket.getaddrinfo

    def system(host: str, *args: object, **kwargs: object) -> object:
        return real("127.0.0.1" if host.endswith(".aliyuncs.com") else host, *args, **kwargs)

    def late_dns(host: str, servers: object, budget: float) -> object:
        time.sleep(0.2)
        return {"A": ["10.9.9.9"]}, {"AAAA": "no answer"}, "10.0.0.2"

    monkeypatch.setattr(socket, "getaddrinfo", system)
    monkeypatch.setattr(netdns, "_query_dns", late_dns)
    argv = world.argv(world.ref("ns/app:1.0"))
    at = argv.index("--nameserver")
    result = invoke(argv[:at] + argv[at + 2 :], PASSWORD + "\n")
    assert result.code == 0
    shown = result.step("reachability")["evidence"]["dns"]
    assert shown["decided_by"] == "system resolver (getaddrinfo)"
    assert shown["addresses"] == ["127.0.0.1"]
    assert shown["dns"]["A"] == ["10.9.9.9"]
    assert "different addresses" in shown["note"]
    storage = result.step("oss_resolution")["evidence"]["dns"]
    assert storage["dns"]["A"] == ["10.9.9.9"] and "address_classes" in storage
