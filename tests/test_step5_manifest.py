"""Step 5, manifest: registry error codes, platforms, digests (exit 15)."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug import Request, Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.world import Blob, Image, World, index_of, sha256


def _manifest_answer(world: World, response: Response, reference: str = "1.0") -> None:
    world.route("registry", "GET", f"/v2/ns/app/manifests/{reference}", lambda r: response)


def _errors(status: int, code: str, message: str, **headers: str) -> Response:
    body = json.dumps({"errors": [{"code": code, "message": message}]})
    return Response(body, status=status, content_type="application/json", headers=headers)


def test_index_selects_the_requested_platform(world: World) -> None:
    images = world.healthy()
    result = world.run(world.ref("ns/app:1.0"), "--platform", "linux/arm64", "--blob", "smallest")
    assert_passed(result)
    step = result.step("manifest")
    assert step["evidence"]["selected_platform"] == "linux/arm64/v8"
    assert step["evidence"]["platform_manifest"]["digest"] == images[1].manifest.digest
    assert step["evidence"]["blob"]["digest"] == images[1].config.digest
    assert step["evidence"]["blob"]["chosen_by"] == "smallest"


def test_accept_header_lists_oci_and_docker_types(world: World) -> None:
    world.healthy()
    world.run(world.ref("ns/app:1.0"))
    accept = next(
        r.headers["Accept"] for r in world.requests["registry"] if "/manifests/" in r.path
    )
    for media_type in (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media_type in accept


def test_largest_blob_is_the_biggest_layer(world: World) -> None:
    big = Blob("application/vnd.oci.image.layer.v1.tar+gzip", b"x" * 70_000)
    small = Blob("application/vnd.oci.image.layer.v1.tar+gzip", b"y" * 1000)
    image = Image("amd64", layers=[small, big])
    world.serve_image("ns/app", "1.0", image)
    result = world.run(world.ref("ns/app:1.0"), "--blob", "largest")
    assert_passed(result)
    assert result.step("manifest")["evidence"]["blob"]["digest"] == big.digest
    assert result.step("blob_fetch")["evidence"]["download"]["bytes"] == 70_000


def test_pull_by_digest_is_verified(world: World) -> None:
    images = world.healthy()
    digest = images[0].manifest.digest
    world.serve_manifest("ns/app", digest, images[0].manifest)
    assert_passed(world.run(world.ref(f"ns/app@{digest}")))


def test_401_with_token_is_unauthorized(world: World) -> None:
    world.healthy()
    _manifest_answer(world, _errors(401, "UNAUTHORIZED", "authentication required"))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "unauthorized")
    assert "authentication required" in failed["summary"]
    # Step 4 found the token valid: the summary says so, against the registry's clock.
    assert re.search(
        r"refused the token step 4 found valid from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d UTC, "
        r"with the registry's clock at \d\d:\d\d:\d\d",
        failed["summary"],
    )


def test_insufficient_scope_hint(world: World) -> None:
    world.healthy()
    response = _errors(
        401,
        "UNAUTHORIZED",
        "access to the requested resource is not authorized",
        **{"WWW-Authenticate": 'Bearer realm="x",error="insufficient_scope"'},
    )
    _manifest_answer(world, response)
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "unauthorized")
    assert any("insufficient_scope" in h for h in failed["hints"])


def test_403_is_denied(world: World) -> None:
    world.healthy()
    _manifest_answer(world, _errors(403, "DENIED", "requested access to the resource is denied"))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "denied")


def test_missing_tag_lists_the_tags_that_exist(world: World) -> None:
    world.healthy()
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/tags/list",
        lambda r: Response(
            json.dumps({"name": "ns/app", "tags": ["1.0", "latest"]}),
            content_type="application/json",
        ),
    )
    result = world.run(world.ref("ns/app:2.0"))
    failed = assert_failed_at(result, "manifest", "manifest_unknown")
    assert failed["evidence"]["tags_seen"] == ["1.0", "latest"]
    assert any("1.0, latest" in h for h in failed["hints"])


def test_missing_repository_is_name_unknown_via_the_tag_list(world: World) -> None:
    world.healthy()
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/manifests/1.0",
        lambda r: _errors(404, "MANIFEST_UNKNOWN", "manifest unknown"),
    )
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/tags/list",
        lambda r: _errors(404, "NAME_UNKNOWN", "repository name not known to registry"),
    )
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "name_unknown")
    assert "does not exist" in failed["summary"]


def test_docker_hub_rate_limit_shows_its_headers(world: World) -> None:
    world.healthy()
    _manifest_answer(
        world,
        _errors(
            429,
            "TOOMANYREQUESTS",
            "You have reached your pull rate limit",
            **{
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "0;w=21600",
                "docker-ratelimit-source": "203.0.113.7",
            },
        ),
    )
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "rate_limited")
    assert failed["evidence"]["rate_limit"]["ratelimit-remaining"] == "0;w=21600"
    assert any("remaining 0;w=21600" in h for h in failed["hints"])


def test_platform_missing_lists_what_the_index_has(world: World) -> None:
    world.serve_index("ns/app", "1.0", [Image("amd64")])
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), "--platform", "linux/s390x"),
        "manifest",
        "platform_missing",
    )
    assert "linux/amd64" in failed["summary"]
    assert failed["evidence"]["platforms"] == ["linux/amd64"]


def test_schema1_manifest_is_refused_like_docker(world: World) -> None:
    body = json.dumps(
        {
            "schemaVersion": 1,
            "name": "ns/app",
            "tag": "1.0",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(b"a")}],
            "history": [{"v1Compatibility": "{}"}],
        }
    ).encode()
    world.serve_manifest(
        "ns/app", "1.0", Blob("application/vnd.docker.distribution.manifest.v1+prettyjws", body)
    )
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "schema1_deprecated")


def test_docker_content_digest_that_lies_is_digest_mismatch(world: World) -> None:
    images = world.healthy()

    def lying(request: Request) -> Response:
        return Response(
            images[0].manifest.data,
            content_type=images[0].manifest.media_type,
            headers={"Docker-Content-Digest": sha256(b"something else")},
        )

    world.route("registry", "GET", "/v2/ns/app/manifests/1.0", lying)
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "digest_mismatch")
    assert sha256(b"something else") in failed["summary"]


def test_content_not_matching_the_requested_digest(world: World) -> None:
    images = world.healthy()
    wanted = sha256(b"what the user asked for")
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/manifests/{wanted}",
        lambda r: Response(images[0].manifest.data, content_type=images[0].manifest.media_type),
    )
    failed = assert_failed_at(
        world.run(world.ref(f"ns/app@{wanted}")), "manifest", "digest_mismatch"
    )
    assert wanted in failed["summary"]


@pytest.mark.parametrize(
    "media_type",
    ["application/vnd.example.unknown+json", "application/vnd.cncf.helm.config.v1+json"],
)
def test_unknown_media_type(world: World, media_type: str) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": media_type}).encode()
    world.serve_manifest("ns/app", "1.0", Blob(media_type, body))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "unsupported_media_type")


def test_manifest_over_containerds_cap_is_refused(world: World) -> None:
    world.healthy()
    _manifest_answer(
        world,
        Response(
            b"{" + b" " * 4_400_000 + b"}",
            content_type="application/vnd.oci.image.manifest.v1+json",
        ),
    )
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "response_too_large")
    assert "4,393,216" in failed["summary"]


def test_blob_flag_with_unknown_digest_says_which_blobs_exist(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), "--blob", sha256(b"not in this image"))
    assert_failed_at(result, "manifest", "blob_unknown")


def test_index_entry_that_is_an_index_is_unsupported(world: World) -> None:
    inner = index_of([Image("amd64")])
    outer = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [inner.descriptor(platform={"os": "linux", "architecture": "amd64"})],
    }
    outer_blob = Blob("application/vnd.oci.image.index.v1+json", json.dumps(outer).encode())
    world.serve_manifest("ns/app", "1.0", outer_blob)
    world.serve_manifest("ns/app", inner.digest, inner)
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "manifest", "unsupported_media_type")
