"""Step 6, oss_resolution: the redirect names bucket, endpoint and expiry (exit 16)."""

from __future__ import annotations

import json
import time

from werkzeug import Request, Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.world import BUCKET, STORAGE_HOST, World, oss_error


def _blob_answer(world: World, response: Response) -> str:
    images = world.healthy()
    digest = images[0].config.digest
    world.route("registry", "GET", f"/v2/ns/app/blobs/{digest}", lambda r: response)
    return digest


def test_redirect_fills_bucket_endpoint_and_type(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"))
    support = assert_passed(result)["support"]
    assert support["bucket"] == BUCKET
    assert support["storage_endpoint"] == "oss-cn-hangzhou.aliyuncs.com"
    assert support["storage_endpoint_type"] == "public"
    redirect = result.step("oss_resolution")["evidence"]["redirect"]
    assert redirect["signature"] == "oss-v1"
    assert 1700 < redirect["expires_in_s"] <= 1800
    assert "REDACTED" in redirect["url"] and "c2lnbmF0dXJl" not in result.stdout
    classes = result.step("oss_resolution")["evidence"]["dns"]["address_classes"]
    assert classes == {"127.0.0.1": "loopback"}


def test_blob_unknown(world: World) -> None:
    body = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]})
    _blob_answer(world, Response(body, status=404, content_type="application/json"))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "oss_resolution", "blob_unknown")


def test_redirect_without_location(world: World) -> None:
    _blob_answer(world, Response("", status=307))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "oss_resolution", "no_location")


def test_redirect_to_a_file_url_is_unusable(world: World) -> None:
    _blob_answer(world, Response("", status=307, headers={"Location": "file:///etc/passwd"}))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "oss_resolution", "no_location")
    assert "unusable" in failed["summary"]


def test_storage_host_not_in_dns(world: World) -> None:
    world.healthy()
    del world.dns.records[STORAGE_HOST]
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "oss_resolution", "dns_nxdomain")
    assert result.report["support"]["bucket"] == BUCKET
    assert any("storage must be reachable too" in h for h in failed["hints"])


def test_storage_dns_timeout(world: World) -> None:
    world.healthy()
    world.dns.silent.add(STORAGE_HOST)
    started = time.monotonic()
    result = world.run(world.ref("ns/app:1.0"), timeout=1)
    assert time.monotonic() - started < 4
    assert_failed_at(result, "oss_resolution", "dns_timeout")


def test_internal_oss_endpoint_from_a_vpc_pull_gets_the_vpc_dns_hint(world: World) -> None:
    images = world.healthy()
    digest = images[0].config.digest
    internal = f"{BUCKET}.oss-cn-hangzhou-internal.aliyuncs.com"
    location = world.signed_url(digest).replace(STORAGE_HOST, internal)
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{digest}",
        lambda r: Response("", status=307, headers={"Location": location}),
    )
    vpc = "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    world.dns.records[vpc] = ["127.0.0.1"]
    result = world.run(f"{vpc}:{world.registry.port}/ns/app:1.0", "--insecure")
    failed = assert_failed_at(result, "oss_resolution", "dns_nxdomain")
    assert result.report["support"]["storage_endpoint_type"] == "internal"
    assert any("inside the VPC" in h for h in failed["hints"])


def test_url_expired_when_the_registry_sent_it_warns_and_storage_decides(world: World) -> None:
    images = world.healthy()
    digest = images[0].config.digest
    stale = world.signed_url(digest, expires=int(time.time()) - 600)
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{digest}",
        lambda r: Response("", status=307, headers={"Location": stale}),
    )
    world.route(
        "storage",
        "GET",
        world.storage_path(digest),
        lambda r: oss_error(403, "AccessDenied", "Request has expired.", "0002-00000069"),
    )
    result = world.run(world.ref("ns/app:1.0"))
    step6 = result.step("oss_resolution")
    assert step6["status"] == "warn" and step6["cause"] == "url_expired"
    assert "by the registry's Date on the redirect" in step6["summary"]
    assert any("signing clock" in h for h in step6["hints"])
    assert_failed_at(result, "blob_fetch", "url_expired")


def test_a_redirect_replayed_by_a_cache_is_a_stale_redirect(world: World) -> None:
    images = world.healthy()
    digest = images[0].config.digest
    issued = int(time.time()) - 7200  # stored two hours ago, with its 20-minute URL
    old = world.signed_url(digest, expires=issued + 1200)
    path = f"/v2/ns/app/blobs/{digest}"
    world.fixed_dates[path] = issued
    world.route(
        "registry", "GET", path, lambda r: Response("", status=307, headers={"Location": old})
    )
    world.route(
        "storage",
        "GET",
        world.storage_path(digest),
        lambda r: oss_error(403, "AccessDenied", "Request has expired.", "0002-00000069"),
    )
    result = world.run(world.ref("ns/app:1.0"))
    step6 = result.step("oss_resolution")
    assert step6["status"] == "warn" and step6["cause"] == "stale_redirect"
    assert "replays a stored answer" in step6["summary"]
    assert not any("local clock" in h for h in step6["hints"])
    failed = assert_failed_at(result, "blob_fetch", "url_expired")
    assert not any("sync the local clock" in h for h in failed["hints"])


def test_url_about_to_expire_warns(world: World) -> None:
    world.healthy()
    world.url_lifetime_s = 30
    result = world.run(world.ref("ns/app:1.0"))
    step = result.step("oss_resolution")
    assert step["status"] == "warn" and step["cause"] == "url_expiring"
    assert result.code == 0


def test_path_style_sigv4_redirect_as_the_cncf_s3_driver_sends_it(world: World) -> None:
    images = world.healthy()
    blob = images[0].config
    endpoint = "oss-cn-hangzhou.aliyuncs.com"
    world.dns.records[endpoint] = ["127.0.0.1"]
    path = f"/{BUCKET}{world.storage_path(blob.digest)}"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    location = (
        f"https://{endpoint}:{world.storage.port}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAEXAMPLE%2F20261125%2Fcn-hangzhou%2Fs3%2Faws4_request"
        f"&X-Amz-Date={stamp}&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{blob.digest}",
        lambda r: Response("", status=307, headers={"Location": location}),
    )
    world.route("storage", "GET", path, lambda r: Response(blob.data))
    result = world.run(world.ref("ns/app:1.0"))
    support = assert_passed(result)["support"]
    assert (support["bucket"], support["storage_endpoint"]) == (BUCKET, endpoint)
    assert result.step("oss_resolution")["evidence"]["redirect"]["signature"] == "aws-sigv4"
    assert "0123456789abcdef0123456789abcdef" not in result.stdout


def test_registry_serving_the_blob_itself_passes_without_a_second_request(world: World) -> None:
    images = world.healthy()
    blob = images[0].config
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{blob.digest}",
        lambda r: Response(blob.data, content_type="application/octet-stream"),
    )
    result = world.run(world.ref("ns/app:1.0"), "--blob", "smallest")
    assert_passed(result)
    assert "itself" in result.step("oss_resolution")["summary"]
    blob_gets = [r for r in world.requests["registry"] if "/blobs/" in r.path]
    assert len(blob_gets) == 1
    assert result.report["support"]["bucket"] is None


def test_a_registry_serving_every_blob_itself_has_each_verified(world: World) -> None:
    image = world.healthy()[0]
    for blob in image.blobs:
        world.route(
            "registry",
            "GET",
            f"/v2/ns/app/blobs/{blob.digest}",
            lambda r, data=blob.data: Response(data, content_type="application/octet-stream"),
        )
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    assert "serves 2 blobs itself" in result.step("oss_resolution")["summary"]
    shown = result.step("blob_fetch")["evidence"]["blobs"]
    assert [b["outcome"] for b in shown] == ["verified", "verified"]
    assert world.requests["storage"] == []


def test_blob_request_carries_the_token(world: World) -> None:
    world.healthy()
    world.run(world.ref("ns/app:1.0"))
    request: Request = next(r for r in world.requests["registry"] if "/blobs/" in r.path)
    assert request.headers["Authorization"].split()[1] in world.tokens
