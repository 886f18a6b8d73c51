from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.reference import parse_platform
from acrdiag.registry.manifests import (
    ACCEPT,
    DOCKER_LIST,
    DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ManifestError,
    ParsedManifest,
    UnsupportedMediaTypeError,
    choose_blob,
    parse_manifest,
    platform_label,
    select_platform,
)

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# The gzip of an empty tar: the best known layer digest of all.
EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=3).encode()


def _platform_entry(arch: str, variant: str | None = None) -> dict[str, Any]:
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    return {
        "annotations": {
            "com.docker.official-images.bashbrew.arch": arch + (variant or ""),
            "org.opencontainers.image.base.name": "scratch",
            "org.opencontainers.image.created": "2024-04-30T19:28:43Z",
        },
        "digest": digest(f"image {arch} {variant}"),
        "mediaType": OCI_MANIFEST,
        "platform": platform,
        "size": 1022,
    }


def _attestation_entry(arch: str, variant: str | None = None) -> dict[str, Any]:
    return {
        "annotations": {
            "vnd.docker.reference.digest": digest(f"image {arch} {variant}"),
            "vnd.docker.reference.type": "attestation-manifest",
        },
        "digest": digest(f"attestation {arch} {variant}"),
        "mediaType": OCI_MANIFEST,
        "platform": {"architecture": "unknown", "os": "unknown"},
        "size": 840,
    }


PLATFORMS = [("amd64", None), ("arm", "v6"), ("arm", "v7"), ("arm64", "v8"), ("386", None)]
PLATFORMS += [("s390x", None)]

# What Docker Hub serves for an official image built with buildx: an OCI index in which
# each platform's manifest is followed by its provenance attestation.
DOCKER_HUB_INDEX: dict[str, Any] = {
    "manifests": [
        entry
        for arch, variant in PLATFORMS
        for entry in (_platform_entry(arch, variant), _attestation_entry(arch, variant))
    ],
    "mediaType": OCI_INDEX,
    "schemaVersion": 2,
}

# An older docker manifest list (no attestations, arm64 spelled with its variant).
DOCKER_MANIFEST_LIST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": DOCKER_LIST,
    "manifests": [
        {
            "mediaType": DOCKER_MANIFEST_V2,
            "size": 528,
            "digest": digest(f"list {arch} {variant}"),
            "platform": {"architecture": arch, "os": "linux"}
            | ({"variant": variant} if variant else {}),
        }
        for arch, variant in [*PLATFORMS, ("ppc64le", None)]
    ],
}

# A plain docker v2 image manifest (one layer, like alpine for one platform).
DOCKER_V2_MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": DOCKER_MANIFEST_V2,
    "config": {"mediaType": DOCKER_CONFIG, "size": 1471, "digest": digest("alpine config")},
    "layers": [{"mediaType": DOCKER_LAYER, "size": 3408729, "digest": digest("alpine layer")}],
}

# An OCI image manifest for a multi-layer image (nginx-like sizes); mediaType left out,
# as early OCI writers did.
NGINX_LAYER_SIZES = [29126484, 41405870, 627, 956, 393, 1209, 1397]
OCI_IMAGE_MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "config": {"mediaType": OCI_CONFIG, "size": 8584, "digest": digest("nginx config")},
    "layers": [
        {"mediaType": OCI_LAYER, "size": size, "digest": digest(f"nginx layer {index}")}
        for index, size in enumerate(NGINX_LAYER_SIZES)
    ],
    "annotations": {"org.opencontainers.image.base.name": "docker.io/library/debian:bookworm-slim"},
}

SCHEMA1_SIGNED: dict[str, Any] = {
    "schemaVersion": 1,
    "name": "library/hello-world",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": EMPTY_LAYER}, {"blobSum": digest("hello layer")}],
    "history": [{"v1Compatibility": '{"id":"e45a5af57b00","created":"2017-01-27T18:16:00Z"}'}],
    "signatures": [
        {
            "header": {
                "jwk": {
                    "crv": "P-256",
                    "kid": "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6",
                    "kty": "EC",
                    "x": "ZmRlZmF1bHQ",
                    "y": "ZmRlZmF1bHQ",
                },
                "alg": "ES256",
            },
            "signature": "dGVzdA",
            "protected": "eyJmb3JtYXRMZW5ndGgiOjEzMzN9",
        }
    ],
}

V2_WITH_CHARSET = "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"


def test_media_type_constants() -> None:
    assert ACCEPT.split(", ") == [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ]
    assert DOCKER_SCHEMA1 == "application/vnd.docker.distribution.manifest.v1+json"
    assert MAX_MANIFEST_BYTES == 4_393_216


@pytest.mark.parametrize(
    ("document", "content_type", "kind", "media_type"),
    [
        (DOCKER_HUB_INDEX, OCI_INDEX, "index", OCI_INDEX),
        (DOCKER_MANIFEST_LIST, DOCKER_LIST, "index", DOCKER_LIST),
        (DOCKER_V2_MANIFEST, DOCKER_MANIFEST_V2, "image", DOCKER_MANIFEST_V2),
        # Content-Type parameters are ignored.
        (DOCKER_V2_MANIFEST, V2_WITH_CHARSET, "image", DOCKER_MANIFEST_V2),
        ({**DOCKER_V2_MANIFEST, "mediaType": None}, V2_WITH_CHARSET, "image", DOCKER_MANIFEST_V2),
        (OCI_IMAGE_MANIFEST, f"{OCI_MANIFEST} ; charset=UTF-8", "image", OCI_MANIFEST),
        # The body's mediaType wins over the header.
        (DOCKER_HUB_INDEX, DOCKER_LIST, "index", OCI_INDEX),
        # Without either, the fields tell.
        (OCI_IMAGE_MANIFEST, None, "image", OCI_MANIFEST),
        ({**DOCKER_HUB_INDEX, "mediaType": ""}, None, "index", OCI_INDEX),
        ({**DOCKER_HUB_INDEX, "mediaType": ""}, "application/json", "index", OCI_INDEX),
        (OCI_IMAGE_MANIFEST, "text/plain; charset=utf-8", "image", OCI_MANIFEST),
        # Media types are case-insensitive.
        (OCI_IMAGE_MANIFEST, OCI_MANIFEST.upper(), "image", OCI_MANIFEST.upper()),
        # Schema 1, by header or by schemaVersion.
        (SCHEMA1_SIGNED, DOCKER_SCHEMA1_SIGNED, "schema1", DOCKER_SCHEMA1_SIGNED),
        (SCHEMA1_SIGNED, "application/json", "schema1", DOCKER_SCHEMA1_SIGNED),
        (SCHEMA1_SIGNED, None, "schema1", DOCKER_SCHEMA1_SIGNED),
        (
            {key: value for key, value in SCHEMA1_SIGNED.items() if key != "signatures"},
            None,
            "schema1",
            DOCKER_SCHEMA1,
        ),
        # A registry that labels a schema 1 body as v2 still serves schema 1.
        (SCHEMA1_SIGNED, DOCKER_MANIFEST_V2, "schema1", DOCKER_MANIFEST_V2),
    ],
)
def test_kind_and_media_type(
    document: dict[str, Any], content_type: str | None, kind: str, media_type: str
) -> None:
    parsed = parse_manifest(encode(document), content_type)
    assert (parsed.kind, parsed.media_type) == (kind, media_type)


def test_index_entries() -> None:
    parsed = parse_manifest(encode(DOCKER_HUB_INDEX), OCI_INDEX)
    assert len(parsed.manifests) == 12
    first = parsed.manifests[0]
    assert first == Descriptor(
        OCI_MANIFEST,
        digest("image amd64 None"),
        1022,
        {"architecture": "amd64", "os": "linux"},
        DOCKER_HUB_INDEX["manifests"][0]["annotations"],
    )
    assert (parsed.config, parsed.layers) == (None, ())


def test_image_manifest_config_and_layers() -> None:
    parsed = parse_manifest(encode(DOCKER_V2_MANIFEST), V2_WITH_CHARSET)
    assert parsed.config == Descriptor(DOCKER_CONFIG, digest("alpine config"), 1471)
    assert parsed.layers == (Descriptor(DOCKER_LAYER, digest("alpine layer"), 3408729),)
    assert parsed.manifests == ()


def test_schema1_has_no_blobs_to_offer() -> None:
    parsed = parse_manifest(encode(SCHEMA1_SIGNED), DOCKER_SCHEMA1_SIGNED)
    assert parsed == ParsedManifest("schema1", DOCKER_SCHEMA1_SIGNED)


@pytest.mark.parametrize(
    ("document", "content_type", "message"),
    [
        (
            {**OCI_IMAGE_MANIFEST, "mediaType": "application/vnd.oci.artifact.manifest.v1+json"},
            None,
            "unsupported manifest media type 'application/vnd.oci.artifact.manifest.v1+json'",
        ),
        (
            OCI_IMAGE_MANIFEST,
            "application/vnd.docker.plugin.v1+json",
            "unsupported manifest media type 'application/vnd.docker.plugin.v1+json'",
        ),
        (OCI_IMAGE_MANIFEST, "text/html", "unsupported manifest media type 'text/html'"),
    ],
)
def test_unsupported_media_types(
    document: dict[str, Any], content_type: str | None, message: str
) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as info:
        parse_manifest(encode(document), content_type)
    assert message in str(info.value)


def _with_layer(**changes: Any) -> dict[str, Any]:
    layer = {**DOCKER_V2_MANIFEST["layers"][0], **changes}
    return {**DOCKER_V2_MANIFEST, "layers": [layer]}


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != key}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Bad Gateway</body></html>", "manifest is not JSON"),
        (b"", "manifest is not JSON"),
        (b"\xff\xfe\xfa", "manifest is not JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b"[]", "manifest is not a JSON object"),
        (encode({**DOCKER_V2_MANIFEST, "mediaType": 2}), "mediaType is not a string"),
        (encode(_without(DOCKER_HUB_INDEX, "manifests")), "manifest has no 'manifests' list"),
        (encode({**DOCKER_HUB_INDEX, "manifests": {}}), "manifest has no 'manifests' list"),
        (encode(_without(DOCKER_V2_MANIFEST, "config")), "config is missing or not an object"),
        (encode({**DOCKER_V2_MANIFEST, "layers": None}), "manifest has no 'layers' list"),
        (encode({**DOCKER_V2_MANIFEST, "layers": ["x"]}), "layers[0] is missing or not an object"),
        (encode(_with_layer(digest="sha256:abc")), "layers[0] digest 'sha256:abc' is invalid"),
        (encode(_with_layer(digest=None)), "layers[0] has no digest"),
        (encode(_with_layer(size=-1)), "layers[0].size is not a non-negative integer: -1"),
        (encode(_with_layer(size="3408729")), "layers[0].size is not a non-negative integer"),
        (encode(_with_layer(size=True)), "layers[0].size is not a non-negative integer: True"),
        (encode(_with_layer(size=1.5)), "layers[0].size is not a non-negative integer"),
        (encode(_with_layer(mediaType=7)), "layers[0].mediaType is not a string"),
        (encode(_with_layer(platform="linux/amd64")), "layers[0].platform is not an object"),
        (encode(_with_layer(annotations={"a": 1})), "layers[0].annotations is not a map"),
        (encode(_with_layer(annotations=["a"])), "layers[0].annotations is not a map"),
        (encode({**DOCKER_V2_MANIFEST, "schemaVersion": 3}), "schemaVersion is 3, expected 2"),
        (encode({**DOCKER_V2_MANIFEST, "schemaVersion": "2"}), "schemaVersion is not an integer"),
        (encode(_without(SCHEMA1_SIGNED, "fsLayers")), "schema 1 manifest has no fsLayers"),
        (encode({"schemaVersion": 2}), "cannot tell the manifest type"),
    ],
)
def test_invalid_manifests(body: bytes, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(body, None)
    assert message in str(info.value)
    assert not isinstance(info.value, UnsupportedMediaTypeError)


def test_error_names_the_bad_index_entry() -> None:
    document = json.loads(encode(DOCKER_HUB_INDEX))
    document["manifests"][3]["size"] = -5
    with pytest.raises(ManifestError, match=r"manifests\[3\]\.size"):
        parse_manifest(encode(document), OCI_INDEX)


def _desc(platform: dict[str, Any] | None) -> Descriptor:
    return Descriptor(OCI_MANIFEST, digest("x"), 1, platform)


@pytest.mark.parametrize(
    ("platform", "label"),
    [
        ({"architecture": "arm64", "os": "linux", "variant": "v8"}, "linux/arm64/v8"),
        ({"architecture": "amd64", "os": "linux"}, "linux/amd64"),
        ({"architecture": "unknown", "os": "unknown"}, "unknown/unknown"),
        (
            {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5696"},
            "windows/amd64",
        ),
        ({"architecture": "arm", "os": "linux", "variant": ""}, "linux/arm"),
        ({"architecture": 64, "os": None}, "unknown/unknown"),
        (None, "unknown/unknown"),
    ],
)
def test_platform_label(platform: dict[str, Any] | None, label: str) -> None:
    assert platform_label(_desc(platform)) == label


HUB = parse_manifest(encode(DOCKER_HUB_INDEX), OCI_INDEX)
LIST = parse_manifest(encode(DOCKER_MANIFEST_LIST), DOCKER_LIST)


@pytest.mark.parametrize(
    ("index", "wanted", "chosen"),
    [
        (HUB, "linux/amd64", digest("image amd64 None")),
        (HUB, "linux/x86_64", digest("image amd64 None")),
        (HUB, "linux/arm64", digest("image arm64 v8")),
        (HUB, "linux/aarch64", digest("image arm64 v8")),
        (HUB, "linux/arm/v6", digest("image arm v6")),
        (HUB, "linux/arm", digest("image arm v7")),
        (HUB, "linux/armhf", digest("image arm v7")),
        (HUB, "linux/386", digest("image 386 None")),
        (HUB, "linux/s390x", digest("image s390x None")),
        (HUB, "linux/ppc64le", None),
        (HUB, "linux/riscv64", None),
        (HUB, "windows/amd64", None),
        (HUB, "linux/amd64/v3", None),
        (LIST, "linux/arm64/v8", digest("list arm64 v8")),
        (LIST, "linux/ppc64le", digest("list ppc64le None")),
        (LIST, "linux/arm/v5", None),
    ],
)
def test_select_platform(index: ParsedManifest, wanted: str, chosen: str | None) -> None:
    selected = select_platform(index, parse_platform(wanted))
    assert (selected.digest if selected else None) == chosen


def test_select_platform_skips_attestations_listed_first() -> None:
    document = json.loads(encode(DOCKER_HUB_INDEX))
    document["manifests"].reverse()
    index = parse_manifest(encode(document), None)
    selected = select_platform(index, parse_platform("linux/amd64"))
    assert selected is not None
    assert platform_label(selected) == "linux/amd64"
    assert selected.digest == digest("image amd64 None")


def test_select_platform_arm64_entry_without_variant() -> None:
    document = json.loads(encode(DOCKER_MANIFEST_LIST))
    del document["manifests"][3]["platform"]["variant"]
    selected = select_platform(
        parse_manifest(encode(document), None), parse_platform("linux/arm64")
    )
    assert selected is not None and selected.digest == digest("list arm64 v8")


def test_select_platform_needs_an_index() -> None:
    image = parse_manifest(encode(DOCKER_V2_MANIFEST), None)
    with pytest.raises(ManifestError, match="cannot select a platform in an image manifest"):
        select_platform(image, parse_platform("linux/amd64"))


NGINX = parse_manifest(encode(OCI_IMAGE_MANIFEST), None)


@pytest.mark.parametrize(
    ("manifest", "mode", "chosen"),
    [
        (NGINX, "smallest", digest("nginx layer 4")),
        (NGINX, "largest", digest("nginx layer 1")),
        (NGINX, digest("nginx layer 5"), digest("nginx layer 5")),
        (NGINX, digest("nginx config"), digest("nginx config")),
        # The config is the smallest blob of a typical single-layer image.
        (parse_manifest(encode(DOCKER_V2_MANIFEST), None), "smallest", digest("alpine config")),
        (parse_manifest(encode(DOCKER_V2_MANIFEST), None), "largest", digest("alpine layer")),
    ],
)
def test_choose_blob(manifest: ParsedManifest, mode: str, chosen: str) -> None:
    assert choose_blob(manifest, mode).digest == chosen


def test_choose_blob_ties_go_to_the_config() -> None:
    document = _with_layer(size=1471)
    manifest = parse_manifest(encode(document), None)
    assert choose_blob(manifest, "smallest").digest == digest("alpine config")
    assert choose_blob(manifest, "largest").digest == digest("alpine config")


@pytest.mark.parametrize(
    ("manifest", "mode", "message"),
    [
        (NGINX, EMPTY_LAYER, f"blob {EMPTY_LAYER} is neither the config nor a layer"),
        (NGINX, "sha256:abc", "invalid blob digest 'sha256:abc'"),
        (NGINX, "biggest", "unknown blob choice 'biggest'"),
        (HUB, "smallest", "an image index has no blobs to download"),
        (
            parse_manifest(encode(SCHEMA1_SIGNED), None),
            "smallest",
            "a schema 1 manifest has no blobs",
        ),
    ],
)
def test_choose_blob_errors(manifest: ParsedManifest, mode: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        choose_blob(manifest, mode)
    assert message in str(info.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
_DESCRIPTOR = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from([OCI_MANIFEST, OCI_LAYER, ""]) | _JSON,
        "digest": st.sampled_from([digest("a"), EMPTY_LAYER, "sha256:abc"]) | _JSON,
        "size": st.integers(min_value=-2, max_value=10**12) | _JSON,
        "platform": st.sampled_from([{"os": "linux", "architecture": "amd64"}]) | _JSON,
        "annotations": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | _JSON,
    },
)
_MANIFEST = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2, 3]) | _JSON,
        "mediaType": st.sampled_from([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, ""]) | _JSON,
        "manifests": st.lists(_DESCRIPTOR, max_size=3) | _JSON,
        "config": _DESCRIPTOR | _JSON,
        "layers": st.lists(_DESCRIPTOR, max_size=3) | _JSON,
        "fsLayers": _JSON,
    },
)
_CONTENT_TYPE = st.none() | st.sampled_from([V2_WITH_CHARSET, OCI_INDEX, "application/json"])


@given(st.binary(max_size=200) | _MANIFEST.map(encode), _CONTENT_TYPE | st.text(max_size=30))
def test_parse_manifest_only_raises_manifest_error(body: bytes, content_type: str | None) -> None:
    try:
        manifest = parse_manifest(body, content_type)
    except ManifestError:
        return
    if manifest.kind == "image":
        smallest = choose_blob(manifest, "smallest")
        assert smallest.size == min(
            blob.size for blob in (manifest.config, *manifest.layers) if blob
        )
    if manifest.kind == "index":
        for entry in manifest.manifests:
            assert "/" in platform_label(entry)
