from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.reference import (
    ImageReference,
    Platform,
    ReferenceError,
    digest_error,
    parse_platform,
    parse_reference,
)

DIGEST = "sha256:" + "4b7ce07002c69e8f3d704a9c5d6fd3053be500b7f1c69fc0d80990c2ad8dd412"
ACR_EE = "shop-registry.cn-hangzhou.cr.aliyuncs.com"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        # Docker Hub shorthands expand like `docker pull` does.
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("index.docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("index.docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("docker.io/grafana/grafana", "docker.io", "grafana/grafana", "latest", None),
        # ACR Enterprise, VPC and P2P endpoints, personal edition.
        (f"{ACR_EE}/ns/app:v1.2.3", ACR_EE, "ns/app", "v1.2.3", None),
        (
            "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com/ns/app",
            "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
            "ns/app",
            "latest",
            None,
        ),
        (
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/ns/app:1",
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001",
            "ns/app",
            "1",
            None,
        ),
        (
            "registry.cn-hangzhou.aliyuncs.com/acs/pause:3.9",
            "registry.cn-hangzhou.aliyuncs.com",
            "acs/pause",
            "3.9",
            None,
        ),
        (
            "crpi-k8x2b4c5d6e7f8g9.cn-hangzhou.personal.cr.aliyuncs.com/team/web",
            "crpi-k8x2b4c5d6e7f8g9.cn-hangzhou.personal.cr.aliyuncs.com",
            "team/web",
            "latest",
            None,
        ),
        # Other registries: no library/ prefix outside Docker Hub.
        ("ghcr.io/actions/runner:2.316.0", "ghcr.io", "actions/runner", "2.316.0", None),
        ("quay.io/prometheus/node-exporter", "quay.io", "prometheus/node-exporter", "latest", None),
        ("gcr.io/distroless/static", "gcr.io", "distroless/static", "latest", None),
        (
            "us-docker.pkg.dev/cloudrun/container/hello",
            "us-docker.pkg.dev",
            "cloudrun/container/hello",
            "latest",
            None,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web_app:prod",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "web_app",
            "prod",
            None,
        ),
        ("harbor.example.com/library/nginx", "harbor.example.com", "library/nginx", "latest", None),
        ("registry.k8s.io/pause", "registry.k8s.io", "pause", "latest", None),
        # localhost, IPv4, IPv6 and ports.
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None),
        ("192.168.1.10:5000/team/app", "192.168.1.10:5000", "team/app", "latest", None),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("[2001:db8::1]/app", "[2001:db8::1]", "app", "latest", None),
        # A ':' makes the first part a host even without a dot.
        ("myregistry:5000/app", "myregistry:5000", "app", "latest", None),
        # docker treats an uppercase first component as a registry host.
        ("MyRegistry/app", "MyRegistry", "app", "latest", None),
        # Without a '/', "localhost:5000" is image "localhost" with tag "5000", as in docker.
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),
        # Digests: tag None without a tag, both kept with both.
        ("alpine@" + DIGEST, "docker.io", "library/alpine", None, DIGEST),
        (f"{ACR_EE}/ns/app:v1@{DIGEST}", ACR_EE, "ns/app", "v1", DIGEST),
        # Separators allowed inside path components.
        ("a.b/x__y/z-w--v/q.r", "a.b", "x__y/z-w--v/q.r", "latest", None),
        ("a.b/app:_Tag.With-Caps", "a.b", "app", "_Tag.With-Caps", None),
    ],
)
def test_parse_reference_normalizes_like_docker(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.given, ref.registry, ref.repository, ref.tag, ref.digest) == (
        text,
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine@" + DIGEST, f"docker.io/library/alpine@{DIGEST}"),
        (f"{ACR_EE}/ns/app:v1@{DIGEST}", f"{ACR_EE}/ns/app:v1@{DIGEST}"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
    ],
)
def test_normalized_form(text: str, normalized: str) -> None:
    assert parse_reference(text).normalized == normalized


@pytest.mark.parametrize(
    ("text", "host", "port", "api_host"),
    [
        ("alpine", "docker.io", None, "registry-1.docker.io"),
        ("index.docker.io/library/alpine", "docker.io", None, "registry-1.docker.io"),
        (f"{ACR_EE}/ns/app", ACR_EE, None, ACR_EE),
        (
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/ns/app",
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com",
            65001,
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com",
        ),
        ("localhost:5000/app", "localhost", 5000, "localhost"),
        ("Registry.Example.COM:443/app", "Registry.Example.COM", 443, "registry.example.com"),
        ("[::1]:5000/app", "::1", 5000, "::1"),
        ("[2001:db8::1]/app", "2001:db8::1", None, "2001:db8::1"),
    ],
)
def test_host_port_and_api_host(text: str, host: str, port: int | None, api_host: str) -> None:
    ref = parse_reference(text)
    assert (ref.host, ref.port, ref.api_host) == (host, port, api_host)


@pytest.mark.parametrize(
    ("text", "manifest_ref"),
    [
        ("alpine", "latest"),
        ("ghcr.io/actions/runner:2.316.0", "2.316.0"),
        ("alpine@" + DIGEST, DIGEST),
        # The digest pins the content even when a tag is given too.
        ("alpine:3.19@" + DIGEST, DIGEST),
    ],
)
def test_manifest_ref_prefers_digest(text: str, manifest_ref: str) -> None:
    assert parse_reference(text).manifest_ref == manifest_ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference: it is empty"),
        ("ns/App", "invalid reference 'ns/App': repository name must be lowercase"),
        ("docker.io/Library/alpine", "repository name must be lowercase"),
        ("app:", "invalid reference 'app:': empty tag after ':'"),
        (f"{ACR_EE}/ns/app:", "empty tag after ':'"),
        (
            f"https://{ACR_EE}/ns/app",
            f"remove the scheme 'https://' (use '{ACR_EE}/ns/app')",
        ),
        ("http://localhost:5000/app", "remove the scheme 'http://'"),
        (" alpine", "whitespace or control character ' ' at position 0"),
        ("alpine\n", "whitespace or control character '\\n' at position 6"),
        ("alp\tine", "whitespace or control character '\\t' at position 3"),
        ("alp\x00ine", "control character '\\x00' at position 3"),
        ("alpine@sha256:abc", "a sha256 digest has 64 hex digits, this one has 3"),
        ("alpine@" + DIGEST.upper().replace("SHA256", "sha256"), "must be lowercase hex"),
        ("alpine@" + DIGEST + "0", "this one has 65"),
        ("alpine@", "empty digest after '@'"),
        ("alpine@4b7ce07002c69e8f", "expected 'algorithm:hex'"),
        ("alpine@md5:xyz", "at least 32 characters"),
        ("@" + DIGEST, "no repository name before '@'"),
        ("alpine:3.19:extra", "invalid tag '3.19:extra'"),
        ("alpine:-dev", "invalid tag '-dev'"),
        ("alpine:" + "a" * 129, "invalid tag"),
        ("ns//app", "empty path component"),
        ("ns/app/", "empty path component"),
        ("/app", "empty path component"),
        ("ns/-app", "invalid repository path component '-app'"),
        ("ns/app_", "invalid repository path component 'app_'"),
        ("ns/a___b", "invalid repository path component 'a___b'"),
        ("ns/alpïne", "invalid repository path component 'alpïne'"),
        ("-bad.example.com/app", "invalid registry host '-bad.example.com'"),
        ("::1/app", "invalid registry host '::1'"),
        ("[::1/app", "invalid registry host '[::1'"),
        ("[::g]:5000/app", "invalid registry host '[::g]:5000'"),
        ("[::1]5000/app", "invalid registry host '[::1]5000'"),
        ("localhost:http/app", "invalid registry port 'http'"),
        ("localhost:0/app", "invalid registry port '0'"),
        ("localhost:70000/app", "invalid registry port '70000'"),
        ("4b7ce07002c69e8f3d704a9c5d6fd3053be500b7f1c69fc0d80990c2ad8dd412", "image ID"),
        (f"{ACR_EE}/{'a' * 220}", "name is 262 characters long, the limit is 255"),
        # docker.io/library/ counts towards the limit.
        ("a" * 238, "name is 256 characters long"),
    ],
)
def test_invalid_references_explain_the_problem(text: str, message: str) -> None:
    with pytest.raises(ReferenceError) as info:
        parse_reference(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_name_of_exactly_255_characters_is_accepted() -> None:
    ref = parse_reference("a" * 237)
    assert len(f"{ref.registry}/{ref.repository}") == 255


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(ReferenceError) as info:
        parse_reference("Ns/" + "x" * 5000)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    ("digest", "problem"),
    [
        (DIGEST, None),
        ("sha512:" + "ab" * 64, None),
        ("blake3:" + "A" * 40, None),
        ("sha256:" + "a" * 63, "this one has 63"),
        ("SHA256:" + "a" * 64, "invalid digest algorithm 'SHA256'"),
        ("sha256", "expected 'algorithm:hex'"),
        ("sha512:abc", "at least 32 characters"),
    ],
)
def test_digest_error(digest: str, problem: str | None) -> None:
    found = digest_error(digest)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/x86-64", Platform("linux", "amd64")),
        ("linux/amd64/v1", Platform("linux", "amd64")),
        ("linux/amd64/v3", Platform("linux", "amd64", "v3")),
        ("linux/arm64", Platform("linux", "arm64", "v8")),
        ("linux/aarch64", Platform("linux", "arm64", "v8")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm64/8", Platform("linux", "arm64", "v8")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/armhf", Platform("linux", "arm", "v7")),
        ("linux/armel", Platform("linux", "arm", "v6")),
        ("linux/arm/6", Platform("linux", "arm", "v6")),
        ("linux/arm/v5", Platform("linux", "arm", "v5")),
        ("linux/i386", Platform("linux", "386")),
        ("linux/s390x", Platform("linux", "s390x")),
        ("Linux/AMD64", Platform("linux", "amd64")),
        ("windows/amd64", Platform("windows", "amd64")),
        ("macos/arm64", Platform("darwin", "arm64", "v8")),
    ],
)
def test_parse_platform_normalizes_like_containerd(text: str, platform: Platform) -> None:
    assert parse_platform(text) == platform


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/amd64", "linux/amd64"),
        ("linux/armel", "linux/arm/v6"),
    ],
)
def test_platform_str(text: str, shown: str) -> None:
    assert str(parse_platform(text)) == shown


@pytest.mark.parametrize(
    "text",
    ["", "linux", "armhf", "linux/", "/amd64", "linux/arm/v7/extra", "linux/amd 64", "linux/$arch"],
)
def test_parse_platform_rejects(text: str) -> None:
    with pytest.raises(ReferenceError, match="invalid platform"):
        parse_platform(text)


@pytest.mark.parametrize(
    ("wanted", "entry", "matches"),
    [
        ("linux/amd64", {"os": "linux", "architecture": "amd64"}, True),
        ("linux/amd64", {"os": "linux", "architecture": "amd64", "variant": "v3"}, True),
        ("linux/amd64/v3", {"os": "linux", "architecture": "amd64"}, False),
        ("linux/amd64/v3", {"os": "linux", "architecture": "amd64", "variant": "v3"}, True),
        ("linux/amd64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, False),
        ("linux/amd64", {"os": "windows", "architecture": "amd64"}, False),
        # arm64 entries may or may not spell out v8.
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, True),
        ("linux/arm64", {"os": "linux", "architecture": "arm64"}, True),
        ("linux/arm64/v8", {"os": "linux", "architecture": "arm64"}, True),
        ("linux/arm64", {"os": "linux", "architecture": "aarch64"}, True),
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v9"}, False),
        # 32-bit arm: v7 is the default, v6 is a different entry.
        ("linux/arm", {"os": "linux", "architecture": "arm", "variant": "v7"}, True),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm"}, True),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm", "variant": "v6"}, False),
        ("linux/arm/v6", {"os": "linux", "architecture": "arm", "variant": "v6"}, True),
        ("linux/386", {"os": "linux", "architecture": "386"}, True),
        # Attestation entries never match a real platform.
        ("linux/amd64", {"os": "unknown", "architecture": "unknown"}, False),
        # Malformed entries do not match instead of crashing.
        ("linux/amd64", {"architecture": "amd64"}, False),
        ("linux/amd64", {"os": "linux", "architecture": 64}, False),
        ("linux/amd64", {}, False),
    ],
)
def test_platform_matches_index_entries(
    wanted: str, entry: dict[str, object], matches: bool
) -> None:
    assert parse_platform(wanted).matches(entry) is matches


def test_platform_built_directly_gets_the_same_defaults() -> None:
    entry: dict[str, object] = {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert Platform("linux", "arm64").matches(entry)


@given(st.text(max_size=300))
def test_parse_reference_only_raises_reference_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ReferenceError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(ref, ImageReference)
        assert ref.tag is not None or ref.digest is not None


_COMPONENT = st.from_regex(r"[a-z0-9]{1,10}(?:[._-][a-z0-9]{1,10})?", fullmatch=True)


@given(
    registry=st.sampled_from(["", "docker.io/", f"{ACR_EE}/", "localhost:5000/", "[::1]:5000/"]),
    path=st.lists(_COMPONENT, min_size=1, max_size=3),
    tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_normalized_reference_parses_to_itself(
    registry: str, path: list[str], tag: str | None
) -> None:
    text = registry + "/".join(path) + (f":{tag}" if tag else "")
    ref = parse_reference(text)
    again = parse_reference(ref.normalized)
    assert again.normalized == ref.normalized
    assert (again.registry, again.repository, again.tag) == (ref.registry, ref.repository, ref.tag)


@given(st.text(max_size=60))
def test_parse_platform_only_raises_reference_error(text: str) -> None:
    try:
        platform = parse_platform(text)
    except ReferenceError:
        return
    assert parse_platform(str(platform)) == platform
