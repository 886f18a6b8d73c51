"""Unit-test fixtures: a fake DNS server, a test CA and three TLS servers forming a World."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.serving import WSGIRequestHandler

from tests.support.dns_server import FakeDns
from tests.support.pki import Issued, TestPki
from tests.support.world import REALM_HOST, REGISTRY, STORAGE_HOST, World

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "REQUEST_METHOD",
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def server_cert(pki: TestPki) -> Issued:
    names = [
        REGISTRY,
        REALM_HOST,
        STORAGE_HOST,
        "oss-cn-hangzhou.aliyuncs.com",
        "localhost",
        "127.0.0.1",
        "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
    ]
    return pki.issue("servers", names)


def _tls(issued: Issued) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    return context


@pytest.fixture(scope="session")
def fake_dns() -> Iterator[FakeDns]:
    server = FakeDns()
    yield server
    server.close()


def _server(issued: Issued) -> Iterator[HTTPServer]:
    # Threaded: concurrent runs (acrdiag check) must not queue behind one slow answer.
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=_tls(issued), threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="session")
def registry_server(server_cert: Issued) -> Iterator[HTTPServer]:
    yield from _server(server_cert)


@pytest.fixture(scope="session")
def realm_server(server_cert: Issued) -> Iterator[HTTPServer]:
    yield from _server(server_cert)


@pytest.fixture(scope="session")
def storage_server(server_cert: Issued) -> Iterator[HTTPServer]:
    yield from _server(server_cert)


# Where acrdiag looks for credentials (README "Credentials"): none but a test's own.
CREDENTIAL_VARIABLES = ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in (*PROXY_VARIABLES, *CREDENTIAL_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def world(
    registry_server: HTTPServer,
    realm_server: HTTPServer,
    storage_server: HTTPServer,
    fake_dns: FakeDns,
    pki: TestPki,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    for server in (registry_server, realm_server, storage_server):
        server.clear()
    fake_dns.reset()
    world = World(registry_server, realm_server, storage_server, fake_dns, str(pki.ca_file))
    # Every server's Date header follows the world's clock (server_clock_offset_s).
    monkeypatch.setattr(
        WSGIRequestHandler,
        "date_time_string",
        lambda handler, timestamp=None: world.date_header(getattr(handler, "path", "")),
    )
    yield world
    for server in (registry_server, realm_server, storage_server):
        server.clear()


@pytest.fixture
def tmp_file(tmp_path: Path) -> Path:
    return tmp_path / "report.json"
