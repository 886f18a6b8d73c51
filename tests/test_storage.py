from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.registry.storage import (
    LocationError,
    StorageLocation,
    classify_address,
    parse_location,
)

HEX = "4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8"
LAYOUT = f"/docker/registry/v2/blobs/sha256/4a/{HEX}/data"
OSS_V1_QUERY = "?Expires=1700000000&OSSAccessKeyId=LTAI5tQp8sJ9xYzAbCdEfGh&Signature=Wq3%2BtP0v%3D"
OSS_V4_QUERY = (
    "?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20241203T121212Z&x-oss-expires=1800"
    "&x-oss-credential=LTAI5tQp8sJ9%2F20241203%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
    "&x-oss-signature=9e8d7c6b5a4f3e2d1c0b"
)
SIGV4_QUERY = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261125%2Fcn-hangzhou%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261125T080000Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=3f1c0e5a9b7d2c4e6f8a0b1c3d5e7f9a"
)
ECR_QUERY = (
    "?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20240501T100000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600"
    "&X-Amz-Credential=ASIAQ3EGXXXXXXXX%2F20240501%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Signature=0b1c2d3e4f"
)
SIGV2_QUERY = "?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1714557600&Signature=vjbyPxybdZaNmGa%2B"
GCS_QUERY = (
    "?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=gcr%40proj.iam.gserviceaccount.com"
    "%2F20240101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20240101T000000Z"
    "&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=5f3e"
)
SAS_QUERY = "?sv=2019-12-12&sr=b&sp=r&se=2024-05-01T10%3A05%3A00Z&sig=k3Jd%2Bq0%3D"
CLOUDFRONT_QUERY = "?Expires=1714557600&Signature=Zm9vYmFy~bGl6&Key-Pair-Id=APKAJ67PQLWGCSP66DGA"

T_1700000000 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
T_1714557600 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


# (location, provider, bucket, region, endpoint_type, signature, expires_at)
CASES = [
    pytest.param(
        f"https://cri-te7dg2c239ujvd3e-registry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "cri-te7dg2c239ujvd3e-registry",
        "cn-hangzhou",
        "public",
        "oss-v1",
        T_1700000000,
        id="ee-public-oss-v1",
    ),
    pytest.param(
        f"http://cri-te7dg2c239ujvd3e-registry.oss-cn-hangzhou-internal.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "cri-te7dg2c239ujvd3e-registry",
        "cn-hangzhou",
        "internal",
        "oss-v1",
        T_1700000000,
        id="ee-vpc-internal-oss",
    ),
    pytest.param(
        f"https://aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "aliregistry",
        "cn-hangzhou",
        "public",
        "oss-v1",
        T_1700000000,
        id="personal-hangzhou",
    ),
    pytest.param(
        f"https://aliregistry-cn-shenzhen.oss-cn-shenzhen.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "aliregistry-cn-shenzhen",
        "cn-shenzhen",
        "public",
        "oss-v1",
        T_1700000000,
        id="personal-shenzhen",
    ),
    pytest.param(
        f"https://aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V4_QUERY}",
        "aliyun-oss",
        "aliregistry",
        "cn-hangzhou",
        "public",
        "oss-v4",
        datetime(2024, 12, 3, 12, 42, 12, tzinfo=UTC),
        id="oss-v4-date-plus-expires",
    ),
    pytest.param(
        f"https://cri-te7dg2c239ujvd3e-registry.oss-accelerate.aliyuncs.com{LAYOUT}{OSS_V4_QUERY}",
        "aliyun-oss",
        "cri-te7dg2c239ujvd3e-registry",
        "cn-hangzhou",
        "accelerate",
        "oss-v4",
        datetime(2024, 12, 3, 12, 42, 12, tzinfo=UTC),
        id="accelerate-region-from-credential",
    ),
    pytest.param(
        f"https://cri-te7dg2c239ujvd3e-registry.oss-accelerate-overseas.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "cri-te7dg2c239ujvd3e-registry",
        None,
        "accelerate",
        "oss-v1",
        T_1700000000,
        id="accelerate-overseas",
    ),
    pytest.param(
        f"http://aliregistry.vpc100-oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
        "aliyun-oss",
        "aliregistry",
        "cn-hangzhou",
        "internal",
        "oss-v1",
        T_1700000000,
        id="legacy-vpc100",
    ),
    pytest.param(
        f"https://oss-cn-hangzhou.aliyuncs.com/cri-abc-registry{LAYOUT}{SIGV4_QUERY}",
        "aliyun-oss",
        "cri-abc-registry",
        "cn-hangzhou",
        "public",
        "aws-sigv4",
        datetime(2026, 11, 25, 8, 20, tzinfo=UTC),
        id="s3-driver-path-style",
    ),
    pytest.param(
        f"https://registry-bucket.s3.amazonaws.com{LAYOUT}{SIGV4_QUERY}",
        "aws-s3",
        "registry-bucket",
        "cn-hangzhou",
        "public",
        "aws-sigv4",
        datetime(2026, 11, 25, 8, 20, tzinfo=UTC),
        id="s3-global-region-from-credential",
    ),
    pytest.param(
        f"https://registry-bucket.s3.us-west-2.amazonaws.com{LAYOUT}{SIGV2_QUERY}",
        "aws-s3",
        "registry-bucket",
        "us-west-2",
        "public",
        "aws-sigv2",
        T_1714557600,
        id="s3-regional-sigv2",
    ),
    pytest.param(
        f"https://registry-bucket.s3-us-west-2.amazonaws.com{LAYOUT}{SIGV2_QUERY}",
        "aws-s3",
        "registry-bucket",
        "us-west-2",
        "public",
        "aws-sigv2",
        T_1714557600,
        id="s3-legacy-dash-region",
    ),
    pytest.param(
        f"https://s3.us-west-2.amazonaws.com/registry-bucket{LAYOUT}{SIGV2_QUERY}",
        "aws-s3",
        "registry-bucket",
        "us-west-2",
        "public",
        "aws-sigv2",
        T_1714557600,
        id="s3-path-style",
    ),
    pytest.param(
        f"https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/1c3a-123456789012-9f1e/{HEX}{ECR_QUERY}",
        "aws-s3",
        "prod-us-east-1-starport-layer-bucket",
        "us-east-1",
        "public",
        "aws-sigv4",
        datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        id="ecr-starport",
    ),
    pytest.param(
        f"https://storage.googleapis.com/artifacts.my-project.appspot.com/containers/images/sha256:{HEX}{GCS_QUERY}",
        "gcs",
        "artifacts.my-project.appspot.com",
        None,
        "public",
        "gcs-v4",
        datetime(2024, 1, 1, 0, 15, tzinfo=UTC),
        id="gcr-gcs",
    ),
    pytest.param(
        f"https://weumanagedprod.blob.core.windows.net/ab12cd-container/docker/registry/v2/blobs/sha256/4a/{HEX}/data{SAS_QUERY}",
        "azure-blob",
        "weumanagedprod",
        None,
        "public",
        "azure-sas",
        datetime(2024, 5, 1, 10, 5, tzinfo=UTC),
        id="azure-sas",
    ),
    pytest.param(
        f"https://production.cloudflare.docker.com/registry-v2{LAYOUT}?verify=1700003600-Qx7Zb%2FkPq9",
        "cloudflare",
        None,
        None,
        "cdn",
        "unknown",
        None,
        id="docker-hub-cdn",
    ),
    pytest.param(
        f"https://cdn01.quay.io/quayio-production-s3/sha256/4a/{HEX}{CLOUDFRONT_QUERY}",
        "cloudfront",
        None,
        None,
        "cdn",
        "cloudfront",
        T_1714557600,
        id="quay-cloudfront",
    ),
    pytest.param(
        f"https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:{HEX}{SAS_QUERY}",
        "github",
        None,
        None,
        "cdn",
        "azure-sas",
        datetime(2024, 5, 1, 10, 5, tzinfo=UTC),
        id="ghcr",
    ),
    pytest.param(
        f"https://minio.corp.example:9000/registry{LAYOUT}",
        "other",
        "registry",  # path style: distribution's layout names the bucket on any host
        None,
        "other",
        "none",
        None,
        id="unknown-host-unsigned",
    ),
]


@pytest.mark.parametrize(
    ("location", "provider", "bucket", "region", "endpoint_type", "signature", "expires_at"),
    CASES,
)
def test_parse_location_real_redirects(
    location: str,
    provider: str,
    bucket: str | None,
    region: str | None,
    endpoint_type: str,
    signature: str,
    expires_at: datetime | None,
) -> None:
    loc = parse_location(location)
    assert (loc.provider, loc.bucket, loc.region) == (provider, bucket, region)
    assert (loc.endpoint_type, loc.signature, loc.expires_at) == (
        endpoint_type,
        signature,
        expires_at,
    )


@pytest.mark.parametrize(
    ("location", "digest"),
    [
        (
            f"https://aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
            f"sha256:{HEX}",
        ),
        (
            f"https://oss-cn-hangzhou.aliyuncs.com/cri-abc-registry{LAYOUT}{SIGV4_QUERY}",
            f"sha256:{HEX}",
        ),
        (
            f"https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:{HEX}{SAS_QUERY}",
            f"sha256:{HEX}",
        ),
        # the two-hex directory must be the digest's own prefix
        (
            f"https://b.oss-cn-hangzhou.aliyuncs.com/docker/registry/v2/blobs/sha256/ff/{HEX}/data",
            None,
        ),
        (
            f"https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/1c3a/{HEX}",
            None,
        ),
    ],
)
def test_path_digest_names_the_blob(location: str, digest: str | None) -> None:
    assert parse_location(location).path_digest == digest


def test_signed_values_are_redacted_but_expiry_kept() -> None:
    loc = parse_location(f"https://aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}")
    assert "Wq3" not in loc.url_redacted
    assert "LTAI5tQp8sJ9xYzAbCdEfGh" not in loc.url_redacted
    assert "Expires=1700000000" in loc.url_redacted
    assert "OSSAccessKeyId=LTAI…" in loc.url_redacted
    assert "Wq3" not in repr(loc)


def test_traffic_limit_reported() -> None:
    loc = parse_location(
        f"https://aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}"
        "&x-oss-traffic-limit=819200"
    )
    assert loc.traffic_limit == "819200"


@pytest.mark.parametrize(
    ("location", "base_url", "registry_host", "host", "provider"),
    [
        pytest.param(
            f"/v2/library/nginx/blobs/sha256:{HEX}?token=s3cret-token",
            "https://harbor.corp.example/v2/library/nginx/blobs/sha256:" + HEX,
            "harbor.corp.example",
            "harbor.corp.example",
            "same-host",
            id="relative-location-served-by-registry",
        ),
        pytest.param(
            f"https://Registry.Example.COM:5000/storage{LAYOUT}",
            None,
            "registry.example.com:5000",
            "registry.example.com",
            "same-host",
            id="same-host-ignores-case-and-port",
        ),
        pytest.param(
            f"//aliregistry.oss-cn-hangzhou.aliyuncs.com{LAYOUT}{OSS_V1_QUERY}",
            "https://registry.cn-hangzhou.aliyuncs.com/v2/",
            "registry.cn-hangzhou.aliyuncs.com",
            "aliregistry.oss-cn-hangzhou.aliyuncs.com",
            "aliyun-oss",
            id="scheme-relative",
        ),
    ],
)
def test_relative_and_same_host(
    location: str, base_url: str | None, registry_host: str, host: str, provider: str
) -> None:
    loc = parse_location(location, base_url=base_url, registry_host=registry_host)
    assert (loc.host, loc.provider) == (host, provider)
    assert "s3cret" not in loc.url_redacted


def test_explicit_port_kept() -> None:
    loc = parse_location("https://oss-cn-hangzhou.aliyuncs.com:8443/bucket/x")
    assert (loc.port, loc.bucket) == (8443, "bucket")


@pytest.mark.parametrize(
    "query",
    [
        "?Expires=soon&OSSAccessKeyId=LTAI5t&Signature=x",
        "?Expires=99999999999999999999",
        "?X-Amz-Date=yesterday&X-Amz-Expires=1200&X-Amz-Signature=x",
        "?X-Amz-Date=20261125T080000Z&X-Amz-Expires=-5&X-Amz-Signature=x",
        "?X-Amz-Date=20261399T080000Z&X-Amz-Expires=1200&X-Amz-Signature=x",
        "?sv=2019-12-12&se=tomorrow&sig=x",
        "?Expires=١٧٠٠٠٠٠٠٠٠",
    ],
)
def test_unreadable_expiry_is_unknown_not_an_error(query: str) -> None:
    loc = parse_location(f"https://registry-bucket.s3.us-west-2.amazonaws.com/x{query}")
    assert loc.expires_at is None


@pytest.mark.parametrize(
    ("location", "base_url", "message"),
    [
        pytest.param(
            f"/v2/x/blobs/sha256:{HEX}",
            None,
            "is not an http or https URL",
            id="relative-without-base",
        ),
        pytest.param(
            "ftp://mirror.example/blob?Signature=s3cret",
            None,
            "is not an http or https URL",
            id="ftp",
        ),
        pytest.param(
            "https:///docker/registry?Signature=s3cret", None, "has no host", id="no-host"
        ),
        pytest.param(
            "https://oss-cn-hangzhou.aliyuncs.com:99999/b?Signature=s3cret",
            None,
            "cannot parse",
            id="port-out-of-range",
        ),
        pytest.param("https://[::1/b?Signature=s3cret", None, "cannot parse", id="broken-ipv6"),
        pytest.param("https://bad host.example/b", None, "not a valid host", id="space-in-host"),
        pytest.param("/b?Signature=s3cret", "http://[::1/v2/", "cannot resolve", id="broken-base"),
    ],
)
def test_unusable_location_raises_without_leaking(
    location: str, base_url: str | None, message: str
) -> None:
    with pytest.raises(LocationError, match=message) as info:
        parse_location(location, base_url=base_url)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("100.118.28.51", "alibaba-internal"),  # oss-cn-hangzhou-internal
        ("100.100.2.136", "alibaba-internal"),  # Alibaba Cloud DNS
        ("10.0.3.7", "private"),
        ("172.17.0.2", "private"),
        ("192.168.1.20", "private"),
        ("fd00:ec2::254", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("120.55.105.209", "public"),  # registry.cn-hangzhou from users-and-peers row 7
        ("2408:4000:200::21", "public"),
        ("::ffff:100.118.28.51", "alibaba-internal"),
        ("224.0.0.1", "other"),
        ("registry.cn-hangzhou.aliyuncs.com", "other"),
        ("", "other"),
    ],
)
def test_classify_address(ip: str, kind: str) -> None:
    assert classify_address(ip) == kind


_URLISH = st.one_of(
    st.text(),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}://{host}{path}?{query}",
        st.sampled_from(["http", "https", "HTTPS", "ftp", ""]),
        st.text(max_size=40),
        st.text(max_size=40),
        st.text(max_size=80),
    ),
)


@given(
    location=_URLISH, base=st.one_of(st.none(), _URLISH), registry=st.one_of(st.none(), st.text())
)
def test_parse_location_returns_or_raises_location_error(
    location: str, base: str | None, registry: str | None
) -> None:
    try:
        loc = parse_location(location, base_url=base, registry_host=registry)
    except LocationError:
        return
    assert isinstance(loc, StorageLocation)
    assert loc.scheme in ("http", "https") and loc.host
    assert loc.expires_at is None or loc.expires_at.tzinfo is not None


@given(ip=st.one_of(st.text(), st.ip_addresses().map(str)))
def test_classify_address_total(ip: str) -> None:
    assert classify_address(ip) in {
        "alibaba-internal",
        "private",
        "loopback",
        "link-local",
        "public",
        "other",
    }


@pytest.mark.parametrize(
    ("location", "bucket"),
    [
        # MinIO or Ceph behind a private name, path style, as the s3 driver writes it
        (
            "https://minio.corp.example:9000/registry-blobs/docker/registry/v2/blobs/sha256/ab/"
            + "ab" * 32
            + "/data?X-Amz-Signature=abc",
            "registry-blobs",
        ),
        # with a root directory under the bucket
        (
            "https://s3.internal/bkt/root/docker/registry/v2/blobs/sha256/ab/"
            + "ab" * 32
            + "/data",
            "bkt",
        ),
        # virtual-hosted style on an unknown host: the label is not known to be a bucket
        (
            "https://bkt.storage.example/docker/registry/v2/blobs/sha256/ab/" + "ab" * 32 + "/data",
            None,
        ),
        ("https://cdn.example.com/some/blob", None),
    ],
)
def test_a_path_style_bucket_is_read_on_any_host(location: str, bucket: str | None) -> None:
    parsed = parse_location(location)
    assert parsed.provider == "other" and parsed.bucket == bucket
