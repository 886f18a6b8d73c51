"""Step 7, blob_fetch: storage errors, digests, sizes, broken transfers, proxies (exit 17)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.pki import Issued
from tests.support.servers import (
    blackhole_port,
    closed_port,
    raw_server,
    read_request,
    tls_context,
)
from tests.support.world import (
    BUCKET,
    OCI_LAYER,
    REALM_HOST,
    REGISTRY,
    STORAGE_HOST,
    Blob,
    Image,
    World,
    oss_error,
)


def _store(world: World, response: Response) -> Image:
    images = world.healthy()
    path = world.storage_path(images[0].config.digest)
    world.route("storage", "GET", path, lambda r: response)
    return images[0]


def test_storage_gets_no_authorization_header(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    storage_request = world.requests["storage"][0]
    assert "Authorization" not in storage_request.headers
    ids = result.report["support"]["request_ids"]
    assert {
        "step": "blob_fetch",
        "header": "x-oss-request-id",
        "value": "65A1B2C3D4E5F60718293A4B",
    } in ids
    assert "sha256 verified" in result.step("blob_fetch")["summary"]


@pytest.mark.parametrize(
    ("code", "message", "ec", "cause"),
    [
        (
            "AccessDenied",
            "You have no right to access this object because of bucket acl.",
            "0003-00000001",
            "access_denied",
        ),
        ("AccessDenied", "Request has expired.", "0002-00000069", "url_expired"),
        (
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            "0002-00000040",
            "signature_mismatch",
        ),
        (
            "InvalidArgument",
            "Authorization header is invalid.",
            "0002-00000039",
            "auth_header_conflict",
        ),
    ],
)
def test_oss_error_bodies_become_causes_with_request_ids(
    world: World, code: str, message: str, ec: str, cause: str
) -> None:
    status = 400 if code == "InvalidArgument" else 403
    _store(world, oss_error(status, code, message, ec, request_id="5C3D9175B6FC201293AD4F1E"))
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "blob_fetch", cause)
    assert failed["evidence"]["storage_error"]["ec"] == ec
    assert f"EC {ec}" in failed["summary"]
    values = [r["value"] for r in result.report["support"]["request_ids"]]
    assert "5C3D9175B6FC201293AD4F1E" in values
    assert result.report["support"]["bucket"] == BUCKET


def test_missing_object_in_storage(world: World) -> None:
    _store(world, oss_error(404, "NoSuchKey", "The specified key does not exist.", "0026-00000001"))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "storage_object_missing")


def test_overwritten_object_is_a_digest_mismatch(world: World) -> None:
    image = Image("amd64")
    world.serve_index("ns/app", "1.0", [image])
    tampered = bytes(reversed(image.config.data))
    world.route(
        "storage", "GET", world.storage_path(image.config.digest), lambda r: Response(tampered)
    )
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "digest_mismatch")
    assert image.config.digest in failed["summary"]
    assert any(BUCKET in h for h in failed["hints"])


def test_short_object_is_a_size_mismatch(world: World) -> None:
    image = _store(world, Response(b"short"))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "size_mismatch")
    assert failed["evidence"]["download"] == {
        **failed["evidence"]["download"],
        "bytes": 5,
        "expected_bytes": image.config.size,
    }


def test_longer_object_stops_reading_at_the_declared_size(world: World) -> None:
    image = _store(world, Response(b"x" * 100_000))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "size_mismatch")
    assert f"{image.config.size:,}" in failed["summary"]


def test_connection_cut_mid_body_is_truncated(world: World) -> None:
    images = world.healthy()
    blob = images[0].layers[0]

    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % blob.size + blob.data[:1000]
        )

    with raw_server(cut) as port:
        location = (
            world.signed_url(blob.digest)
            .replace(f"{STORAGE_HOST}:{world.storage.port}", f"{STORAGE_HOST}:{port}")
            .replace("https://", "http://")
        )
        world.route(
            "registry",
            "GET",
            f"/v2/ns/app/blobs/{blob.digest}",
            lambda r: Response("", status=307, headers={"Location": location}),
        )
        result = world.run(world.ref("ns/app:1.0"), "--blob", "largest")
    failed = assert_failed_at(result, "blob_fetch", "truncated")
    assert f"after 1,000 of {blob.size:,} bytes" in failed["summary"]


def test_stalled_body_is_a_read_timeout_within_the_timeout(world: World) -> None:
    images = world.healthy()
    blob = images[0].config

    def stall(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nab" % blob.size)
        time.sleep(3)

    with raw_server(stall) as port:
        location = f"http://{STORAGE_HOST}:{port}{world.storage_path(blob.digest)}"
        world.route(
            "registry",
            "GET",
            f"/v2/ns/app/blobs/{blob.digest}",
            lambda r: Response("", status=307, headers={"Location": location}),
        )
        started = time.monotonic()
        result = world.run(world.ref("ns/app:1.0"), timeout=1)
        elapsed = time.monotonic() - started
    assert_failed_at(result, "blob_fetch", "read_timeout")
    assert elapsed < 3


def test_storage_port_closed_is_tcp_refused(world: World) -> None:
    images = world.healthy()
    blob = images[0].config
    location = world.signed_url(blob.digest).replace(str(world.storage.port), str(closed_port()))
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{blob.digest}",
        lambda r: Response("", status=307, headers={"Location": location}),
    )
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "tcp_refused")


def test_internal_storage_dropping_packets_says_same_region_only(world: World) -> None:
    images = world.healthy()
    blob = images[0].config
    internal = f"{BUCKET}.oss-cn-hangzhou-internal.aliyuncs.com"
    world.dns.records[internal] = ["127.0.0.1"]
    with blackhole_port() as port:
        location = f"http://{internal}:{port}{world.storage_path(blob.digest)}?Expires=9999999999"
        world.route(
            "registry",
            "GET",
            f"/v2/ns/app/blobs/{blob.digest}",
            lambda r: Response("", status=307, headers={"Location": location}),
        )
        result = world.run(world.ref("ns/app:1.0"), timeout=1)
    failed = assert_failed_at(result, "blob_fetch", "tcp_timeout")
    assert any("same region" in h for h in failed["hints"])


def test_redirect_loop_at_storage(world: World) -> None:
    image = _store(world, Response("", status=302))
    path = world.storage_path(image.config.digest)
    loop = f"https://{STORAGE_HOST}:{world.storage.port}{path}?again=1"
    world.route(
        "storage", "GET", path, lambda r: Response("", status=302, headers={"Location": loop})
    )
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "too_many_redirects")


def test_dead_proxy_for_storage_only_is_proxy_unreachable_with_no_proxy_hint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.healthy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", f"{REGISTRY},{REALM_HOST}")
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "blob_fetch", "proxy_unreachable")
    proxies = result.report["environment"]["proxies"]
    assert proxies["registry"].startswith("direct") and proxies["realm"].startswith("direct")
    assert "HTTPS_PROXY" in proxies["storage"]
    assert any("add oss-cn-hangzhou.aliyuncs.com to NO_PROXY" in h for h in failed["hints"])


# -- every blob the puller downloads --------------------------------------------------------


def _three_layers(world: World) -> Image:
    layers = [Blob(OCI_LAYER, bytes([65 + i]) * (100_000 + i)) for i in range(3)]
    image = Image("amd64", layers=layers)
    world.serve_image("ns/app", "1.0", image)
    return image


def test_a_corrupted_layer_that_is_not_the_config_fails_step_7(world: World) -> None:
    image = _three_layers(world)
    bad = image.layers[1]
    world.serve_blob("ns/app", bad, stored=b"X" + bad.data[1:])
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "blob_fetch", "digest_mismatch")
    assert failed["summary"].startswith(f"blob {bad.digest[:19]} (layer 2 of 3): ")
    outcomes = [b["outcome"] for b in failed["evidence"]["blobs"]]
    assert outcomes == ["verified", "verified", "failed", "verified"]


def test_a_layer_missing_from_storage_fails_step_7(world: World) -> None:
    image = _three_layers(world)
    gone = image.layers[2]
    world.route(
        "storage",
        "GET",
        world.storage_path(gone.digest),
        lambda r: oss_error(404, "NoSuchKey", "The specified key does not exist.", "0026-00000001"),
    )
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0")), "blob_fetch", "storage_object_missing"
    )
    assert "(layer 3 of 3)" in failed["summary"]


def test_past_max_download_a_blob_is_only_reached_with_a_ranged_read(world: World) -> None:
    image = _three_layers(world)
    result = world.run(world.ref("ns/app:1.0"), "--max-download", "150K")
    assert_passed(result)
    shown = result.step("blob_fetch")["evidence"]["blobs"]
    assert [b["outcome"] for b in shown] == ["verified", "verified", "reached", "reached"]
    ranged = [r for r in world.requests["storage"] if "Range" in r.headers]
    assert {r.headers["Range"] for r in ranged} == {"bytes=0-65535"}
    assert len(ranged) == 2
    assert "2 blobs only reached" in result.step("blob_fetch")["summary"]
    assert "past --max-download" in result.step("blob_fetch")["summary"]
    assert image.config.digest == shown[0]["digest"]


def test_blobs_no_bigger_than_a_ranged_read_are_verified_whatever_the_budget(
    world: World,
) -> None:
    world.healthy()  # a small config and a 48 KB layer
    result = world.run(world.ref("ns/app:1.0"), "--max-download", "0")
    assert_passed(result)
    shown = result.step("blob_fetch")["evidence"]["blobs"]
    assert {b["outcome"] for b in shown} == {"verified"}


def test_blob_all_downloads_everything_whatever_the_budget(world: World) -> None:
    _three_layers(world)
    result = world.run(world.ref("ns/app:1.0"), "--blob", "all", "--max-download", "1K")
    assert_passed(result)
    shown = result.step("blob_fetch")["evidence"]["blobs"]
    assert {b["outcome"] for b in shown} == {"verified"}
    assert not [r for r in world.requests["storage"] if "Range" in r.headers]


def test_blobs_are_fetched_three_at_a_time(world: World, server_cert: Issued) -> None:
    layers = [Blob(OCI_LAYER, bytes([65 + i]) * 1000) for i in range(6)]
    image = Image("amd64", layers=layers)
    world.serve_image("ns/app", "1.0", image)
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(request: Request) -> Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1
        data = next(b.data for b in image.blobs if world.storage_path(b.digest) == request.path)
        return Response(data, content_type="application/octet-stream")

    # A storage host that answers requests side by side, to see how many come at once.
    storage = HTTPServer(
        host="127.0.0.1", port=0, ssl_context=tls_context(server_cert), threaded=True
    )
    storage.expect_request(re.compile(".*")).respond_with_handler(slow)
    storage.start()
    try:
        for blob in image.blobs:
            location = world.signed_url(blob.digest).replace(
                f":{world.storage.port}/", f":{storage.port}/", 1
            )
            world.route(
                "registry",
                "GET",
                f"/v2/ns/app/blobs/{blob.digest}",
                lambda r, at=location: Response("", status=307, headers={"Location": at}),
            )
        assert_passed(world.run(world.ref("ns/app:1.0")))
    finally:
        storage.stop()
    assert peak[0] == 3  # docker's max-concurrent-downloads


@pytest.mark.parametrize("size", ["lots", "-1M", "1X"])
def test_a_bad_max_download_is_bad_input(world: World, size: str) -> None:
    result = world.run(world.ref("ns/app:1.0"), "--max-download", size)
    assert result.code == 2 and "--max-download" in result.stderr


def test_an_azure_sas_refusal_says_its_detail(world: World) -> None:
    body = (
        "\ufeff<?xml version='1.0' encoding='utf-8'?><Error><Code>AuthenticationFailed</Code>"
        "<Message>Server failed to authenticate the request.</Message>"
        "<AuthenticationErrorDetail>Signed expiry time [Thu, 03 Dec 2026 09:00:00 GMT] must be "
        "after signed start time</AuthenticationErrorDetail></Error>"
    )
    _store(world, Response(body, status=403, content_type="application/xml"))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "blob_fetch", "url_expired")
    assert "Signed expiry time" in failed["summary"]
    assert failed["evidence"]["storage_error"]["detail"].startswith("Signed expiry time")


def test_a_single_platform_image_for_another_platform_is_a_warning_as_docker_warns(
    world: World,
) -> None:
    world.serve_image("ns/app", "1.0", Image("arm64"))
    result = world.run(world.ref("ns/app:1.0"))  # --platform defaults to linux/amd64
    assert result.code == 0
    step = result.step("blob_fetch")
    assert (step["status"], step["cause"]) == ("warn", "platform_mismatch")
    assert "the image is linux/arm64, not the requested linux/amd64" in step["summary"]
    assert result.report["support"]["image_platform"] == "linux/arm64"


def test_the_support_block_names_the_platform_taken_from_an_index(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), "--platform", "linux/arm64")
    assert_passed(result)
    assert result.report["support"]["image_platform"] == "linux/arm64/v8"
