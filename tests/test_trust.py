"""The trust a puller has: certs.d CAs and client certificates, --cert-dir, --ca-file as a
directory; used for every request of the pull and named in the report."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.pki import Issued, TestPki
from tests.support.world import REGISTRY, World


def _certs_d(root: Path, registry: str, ca: Path, client: Issued | None = None) -> Path:
    directory = root / registry
    directory.mkdir(parents=True)
    shutil.copy(ca, directory / "ca.crt")
    if client is not None:
        shutil.copy(client.cert, directory / "client.cert")
        shutil.copy(client.key, directory / "client.key")
    return directory


def test_a_ca_only_docker_certs_d_holds_makes_the_whole_pull_work(
    world: World, tmp_path: Path, pki: TestPki
) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    _certs_d(tmp_path / "etc" / "docker" / "certs.d", registry, pki.ca_file)
    # No --ca-file: the token service and storage are trusted through it too, as docker does.
    result = world.run(world.ref("ns/app:1.0"), ca=False, etc=tmp_path / "etc")
    assert_passed(result)
    trust = result.report["environment"]["trust"]
    assert f"certs.d {tmp_path}/etc/docker/certs.d/{registry} (ca.crt)" in trust


def test_without_certs_d_the_private_ca_is_untrusted(world: World, tmp_path: Path) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), ca=False, etc=tmp_path / "etc")
    assert_failed_at(result, "reachability", "tls_untrusted")


def test_a_ca_file_may_be_a_directory(world: World, tmp_path: Path, pki: TestPki) -> None:
    world.healthy()
    cas = tmp_path / "cas"
    cas.mkdir()
    shutil.copy(pki.ca_file, cas / "lab.crt")
    result = world.run(world.ref("ns/app:1.0"), "--ca-file", str(cas), ca=False)
    assert_passed(result)


@pytest.fixture
def mtls_registry(pki: TestPki, server_cert: Issued) -> Iterator[HTTPServer]:
    """A registry that requires a client certificate signed by the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert.cert, server_cert.key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki.ca_file)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/v2/").respond_with_json(
        {}, headers={"Docker-Distribution-API-Version": "registry/2.0"}
    )
    unknown = {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}
    server.expect_request("/v2/ns/app/manifests/1.0").respond_with_json(unknown, status=404)
    server.expect_request("/v2/ns/app/tags/list").respond_with_json(unknown, status=404)
    server.start()
    yield server
    server.stop()


def test_a_client_certificate_from_cert_dir_passes_mutual_tls(
    world: World, tmp_path: Path, pki: TestPki, mtls_registry: HTTPServer
) -> None:
    reference = f"{REGISTRY}:{mtls_registry.port}/ns/app:1.0"
    client = pki.issue("client", ["puller-node"])
    cert_dir = _certs_d(tmp_path, "dir", pki.ca_file, client)
    result = world.run(reference, "--cert-dir", str(cert_dir), ca=False, user=None)
    assert_failed_at(result, "manifest", "name_unknown")  # past TLS, to the registry's answer
    assert "client.cert" in result.report["environment"]["trust"]
    without = world.run(reference, user=None)
    assert without.code == 11  # the server asks for a certificate nobody sent


def test_a_client_cert_without_its_key_fails_step_1_as_docker_refuses(
    world: World, tmp_path: Path, pki: TestPki
) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    directory = _certs_d(tmp_path / "etc" / "docker" / "certs.d", registry, pki.ca_file)
    shutil.copy(pki.issue("lonely", ["x"]).cert, directory / "lonely.cert")
    result = world.run(world.ref("ns/app:1.0"), ca=False, etc=tmp_path / "etc")
    failed = assert_failed_at(result, "reachability", "tls_error")
    assert "lonely.cert has no lonely.key" in failed["summary"]
    assert world.requests["registry"] == []  # docker refuses before any request


def test_a_broken_crt_in_certs_d_is_skipped_as_docker_skips_it(
    world: World, tmp_path: Path, pki: TestPki
) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    directory = _certs_d(tmp_path / "etc" / "docker" / "certs.d", registry, pki.ca_file)
    (directory / "zz-old.crt").write_text("")
    result = world.run(world.ref("ns/app:1.0"), ca=False, etc=tmp_path / "etc")
    assert_passed(result)
    assert "ignored zz-old.crt" in result.report["environment"]["trust"]


def test_only_the_first_certs_d_directory_is_read(
    world: World, tmp_path: Path, pki: TestPki
) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    (tmp_path / "etc" / "docker" / "certs.d" / registry).mkdir(parents=True)  # docker's, empty
    _certs_d(tmp_path / "etc" / "containers" / "certs.d", registry, pki.ca_file)
    result = world.run(world.ref("ns/app:1.0"), ca=False, etc=tmp_path / "etc")
    assert_failed_at(result, "reachability", "tls_untrusted")  # docker would not trust it either


def test_a_broken_cert_dir_file_is_bad_input(world: World, tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "ca.crt").write_text("not a certificate")
    result = world.run(world.ref("ns/app:1.0"), "--cert-dir", str(directory))
    assert result.code == 2 and "ca.crt: cannot load certificates" in result.stderr


def test_a_rejected_certificate_shows_the_chain_the_server_presents(
    world: World, tmp_path: Path, pki: TestPki, server_cert: Issued
) -> None:
    bundle = tmp_path / "chain.pem"  # the leaf, then the CA that issued it
    bundle.write_bytes(server_cert.cert.read_bytes() + pki.ca_file.read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(bundle, server_cert.key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/v2/").respond_with_json({})
    server.start()
    try:
        result = world.run(f"{REGISTRY}:{server.port}/ns/app:1.0", ca=False, user=None)
    finally:
        server.stop()
    failed = assert_failed_at(result, "reachability", "tls_untrusted")
    chain = failed["evidence"]["presented_chain"]
    assert [c["issuer"] for c in chain] == ["CN=acrdiag unit-test CA"] * 2
    assert chain[1]["subject"] == "CN=acrdiag unit-test CA"


def test_one_trust_context_per_set_of_files_until_a_file_changes(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check` and `serve` load the system store once, yet see a renewed CA or an updated
    system store (update-ca-certificates) on their next diagnosis."""
    import os

    from acrdiag.net.cert_dirs import TlsFiles
    from acrdiag.net.tls import build_trust

    store = tmp_path / "system.pem"
    shutil.copy(pki.ca_file, store)
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    ca = tmp_path / "extra.crt"
    shutil.copy(pki.ca_file, ca)
    files = TlsFiles(cas=(ca,))
    first = build_trust(files, insecure=False).context
    assert build_trust(files, insecure=False).context is first
    assert build_trust(files, insecure=True).context is not first
    os.utime(ca, ns=(1, 1))  # the CA file replaced
    renewed = build_trust(files, insecure=False).context
    assert renewed is not first
    store.write_text(store.read_text() + "\n")  # the system store updated
    assert build_trust(files, insecure=False).context is not renewed
