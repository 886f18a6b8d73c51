"""Transport failures any hop can meet: cut connections, garbage, proxies that refuse."""

from __future__ import annotations

import socket

import pytest
from werkzeug import Response

from tests.support.assertions import assert_failed_at
from tests.support.pki import TestPki
from tests.support.servers import closed_port, http_server, raw_server, read_request
from tests.support.world import REALM_HOST, REGISTRY, STORAGE_HOST, World


def _hang_up(conn: socket.socket) -> None:
    read_request(conn)


def _garbage(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


def test_server_hanging_up_is_connection_reset(world: World) -> None:
    with raw_server(_hang_up) as port:
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http")
    failed = assert_failed_at(result, "reachability", "connection_reset")
    assert any("idle timeout" in h for h in failed["hints"])


def test_non_http_answer_is_protocol_error(world: World) -> None:
    with raw_server(_garbage) as port:
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http")
    failed = assert_failed_at(result, "reachability", "protocol_error")
    assert any("valid HTTP" in h for h in failed["hints"])


def _proxy_answer(status_line: bytes):  # type: ignore[no-untyped-def]
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(status_line + b"\r\nContent-Length: 0\r\n\r\n")

    return handle


@pytest.mark.parametrize(
    ("status_line", "cause"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required", "proxy_auth_required"),
        (b"HTTP/1.1 403 Forbidden", "proxy_refused"),
    ],
)
def test_proxy_refusing_the_tunnel(
    world: World, monkeypatch: pytest.MonkeyPatch, status_line: bytes, cause: str
) -> None:
    world.healthy()
    with raw_server(_proxy_answer(status_line)) as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", f"{REGISTRY},{REALM_HOST}")
        result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "blob_fetch", cause)
    assert failed["evidence"]["failure"]["proxy"] == f"http://127.0.0.1:{port}"


def test_proxy_credentials_never_reach_the_report(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.healthy()
    with raw_server(_proxy_answer(b"HTTP/1.1 407 Proxy Authentication Required")) as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://alice:proxy-pa55word@127.0.0.1:{port}")
        result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 11
    assert "proxy-pa55word" not in result.stdout


def test_untrusted_certificate_at_storage_fails_step_7(world: World, pki: TestPki) -> None:
    images = world.healthy()
    blob = images[0].config
    stranger = TestPki(pki.directory, name="some other CA")
    with http_server(stranger.issue("storage-other", [STORAGE_HOST])) as storage:
        location = world.signed_url(blob.digest).replace(str(world.storage.port), str(storage.port))
        world.route(
            "registry",
            "GET",
            f"/v2/ns/app/blobs/{blob.digest}",
            lambda r: Response("", status=307, headers={"Location": location}),
        )
        result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "blob_fetch", "tls_untrusted")
    assert failed["evidence"]["failure"]["host"] == STORAGE_HOST


def test_no_proxy_flag_goes_direct_whatever_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.healthy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    assert world.run(world.ref("ns/app:1.0")).code == 11  # the dead proxy, from the shell
    result = world.run(world.ref("ns/app:1.0"), "--no-proxy")
    assert result.code == 0
    assert set(result.report["environment"]["proxies"].values()) == {"direct: no proxy configured"}


def test_proxy_flag_is_used_for_every_hop(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.healthy()
    monkeypatch.setenv("NO_PROXY", "*")  # the shell says direct; the flag wins
    dead = f"http://127.0.0.1:{closed_port()}"
    result = world.run(world.ref("ns/app:1.0"), "--proxy", dead)
    failed = assert_failed_at(result, "reachability", "proxy_unreachable")
    assert "--proxy" in result.report["environment"]["proxies"]["registry"]
    assert failed["evidence"]["failure"]["proxy"] == dead
