from __future__ import annotations

import string
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from acrdiag.redact import REDACTED, redact_headers, redact_text, redact_url

OSS_V1 = (
    "https://cri-te7dg2c239ujvd3e-registry.oss-cn-hangzhou.aliyuncs.com/docker/registry/v2/blobs"
    "/sha256/4a/4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8/data"
    "?Expires=1700000000&OSSAccessKeyId=LTAI5tQp8sJ9xYzAbCdEfGh&Signature=Wq3%2BtP0v%2FkR8%3D"
)
LAB_S3 = (
    "https://oss-cn-hangzhou.aliyuncs.com/cri-abc-registry/docker/registry/v2/blobs/sha256/4a"
    "/4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8/data"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261125%2Fcn-hangzhou%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261125T080000Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=3f1c0e5a9b7d2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            OSS_V1,
            OSS_V1.split("?")[0] + "?Expires=1700000000&OSSAccessKeyId=LTAI…&Signature=[REDACTED]",
            id="oss-v1-keeps-expiry-and-key-family",
        ),
        pytest.param(
            "https://aliregistry.oss-cn-hangzhou.aliyuncs.com/x/data?x-oss-signature-version="
            "OSS4-HMAC-SHA256&x-oss-credential=LTAI5tQp8sJ9%2F20241203%2Fcn-hangzhou%2Foss%2F"
            "aliyun_v4_request&x-oss-date=20241203T121212Z&x-oss-expires=1800"
            "&x-oss-signature=9e8d7c6b5a",
            "https://aliregistry.oss-cn-hangzhou.aliyuncs.com/x/data?x-oss-signature-version="
            "OSS4-HMAC-SHA256&x-oss-credential=[REDACTED]&x-oss-date=20241203T121212Z"
            "&x-oss-expires=1800&x-oss-signature=[REDACTED]",
            id="oss-v4",
        ),
        pytest.param(
            LAB_S3,
            LAB_S3.split("?")[0] + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[REDACTED]"
            "&X-Amz-Date=20261125T080000Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=[REDACTED]",
            id="s3-driver-sigv4",
        ),
        pytest.param(
            "https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:4abc?se=2024-05-01T10"
            "%3A05%3A00Z&sig=k3Jd%2Bq0%3D&sp=r&spr=https&sr=b&sv=2019-12-12",
            "https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:4abc?se=2024-05-01T10"
            "%3A05%3A00Z&sig=[REDACTED]&sp=r&spr=https&sr=b&sv=2019-12-12",
            id="ghcr-sas",
        ),
        pytest.param(
            "https://dockerauth.cn-hangzhou.aliyuncs.com/auth?account=shop-dev&scope=repository"
            "%3Ashop%2Fapp%3Apull&service=registry.aliyuncs.com%3Acn-hangzhou%3Achina%3Acri-te7dg2c239ujvd3e",
            "https://dockerauth.cn-hangzhou.aliyuncs.com/auth?account=shop-dev&scope=repository"
            "%3Ashop%2Fapp%3Apull&service=registry.aliyuncs.com%3Acn-hangzhou%3Achina%3Acri-te7dg2c239ujvd3e",
            id="token-realm-query-is-not-secret",
        ),
        pytest.param(
            "https://alice:s3cr3t-pass@registry.example.com:5000/v2/",
            "https://[REDACTED]@registry.example.com:5000/v2/",
            id="userinfo",
        ),
        pytest.param(
            "http://proxyuser:Pr0xyPass@squid.corp.local:3128",
            "http://[REDACTED]@squid.corp.local:3128",
            id="proxy-credentials",
        ),
        pytest.param(
            "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256"
            "/4a/4abc/data?verify=1700003600-Qx7Zb%2FkPq9",
            "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256"
            "/4a/4abc/data?verify=[REDACTED]",
            id="docker-hub-cdn-token",
        ),
        pytest.param(
            "https://cdn01.quay.io/quayio-production-s3/sha256/4a/4abc?Expires=1714557600"
            "&Signature=Zm9vYmFy~bGl6&Key-Pair-Id=APKAJ67PQLWGCSP66DGA",
            "https://cdn01.quay.io/quayio-production-s3/sha256/4a/4abc?Expires=1714557600"
            "&Signature=[REDACTED]&Key-Pair-Id=[REDACTED]",
            id="quay-cloudfront",
        ),
        pytest.param(
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?expires=1700000000&signature=abc",
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?expires=1700000000&signature=[REDACTED]",
            id="keys-case-insensitive",
        ),
        pytest.param(
            "https://b.example/x?Expires=1700000000;Signature=abc",
            "https://b.example/x?Expires=1700000000;Signature=[REDACTED]",
            id="semicolon-separator-cannot-smuggle",
        ),
        pytest.param(
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?OSSAccessKeyId=STS.NUaBcDeFgH&Signature=s"
            "&security-token=CAIS8gF1q6Ft5B2yfSjIr5",
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?OSSAccessKeyId=STS.…&Signature=[REDACTED]"
            "&security-token=[REDACTED]",
            id="sts-key-family",
        ),
        pytest.param(
            "https://b.s3.amazonaws.com/x?X-Amz-Security-Token=IQoJb3JpZ2luX2Vj&n=100&last=v1",
            "https://b.s3.amazonaws.com/x?X-Amz-Security-Token=[REDACTED]&n=100&last=v1",
            id="sts-session-token",
        ),
        pytest.param(
            "https://app.example/callback#access_token=ya29.a0Af",
            "https://app.example/callback#[REDACTED]",
            id="fragment",
        ),
        pytest.param(
            "https://b.example/x?Signature=&Expires=1",
            "https://b.example/x?Signature=&Expires=1",
            id="empty-signature-stays-visible",
        ),
        pytest.param(
            "https://b.example/x?ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "https://b.example/x?[REDACTED]",
            id="bare-token-in-query",
        ),
        pytest.param(
            "http://[::1/x?Signature=abc&Expires=1",
            "http://[::1/x?Signature=[REDACTED]&Expires=1",
            id="unparseable-still-redacted",
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


DIAGNOSTIC_HEADERS = {
    "Docker-Content-Digest": "sha256:"
    "4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8",
    "WWW-Authenticate": 'Bearer realm="https://dockerauth.cn-hangzhou.aliyuncs.com/auth",'
    'service="registry.aliyuncs.com:cn-hangzhou:26842"',
    "x-oss-request-id": "5C3D9175B6FC201293AD1234",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
            {"Authorization": "Bearer [REDACTED]"},
            id="bearer-keeps-scheme",
        ),
        pytest.param(
            [("authorization", "Basic c2hvcEBjbG91ZDpodW50ZXIy")],
            {"authorization": "Basic [REDACTED]"},
            id="basic",
        ),
        pytest.param(
            {"Proxy-Authorization": "Basic dXNlcjpwYXNz"},
            {"Proxy-Authorization": "Basic [REDACTED]"},
            id="proxy-authorization",
        ),
        pytest.param(
            {"Authorization": "negotiate"},
            {"Authorization": REDACTED},
            id="lone-word-is-the-credential",
        ),
        pytest.param(
            {"Authorization": "raw-token-without-scheme secret-part"},
            {"Authorization": REDACTED},
            id="unknown-scheme-not-echoed",
        ),
        pytest.param(
            {
                "Cookie": "session=abc",
                "X-Registry-Auth": "eyJ1c2VybmFtZSI6ImEifQ==",
                "X-Oss-Security-Token": "CAIS8gF1q6Ft5B2yfSjIr5",
                "X-Amz-Security-Token": "IQoJb3JpZ2luX2Vj",
                "X-Auth-Token": "t0k3n",
            },
            {
                "Cookie": REDACTED,
                "X-Registry-Auth": REDACTED,
                "X-Oss-Security-Token": REDACTED,
                "X-Amz-Security-Token": REDACTED,
                "X-Auth-Token": REDACTED,
            },
            id="secret-headers",
        ),
        pytest.param(
            {"Location": OSS_V1},
            {"Location": redact_url(OSS_V1)},
            id="location-through-redact-url",
        ),
        pytest.param(
            {"Link": '</v2/shop/app/tags/list?n=100&last=v1.2&sig=abc>; rel="next"'},
            {"Link": '</v2/shop/app/tags/list?n=100&last=v1.2&sig=[REDACTED]>; rel="next"'},
            id="link",
        ),
        pytest.param(
            [("Set-Cookie", "a=1"), ("set-cookie", "b=2")],
            {"Set-Cookie": f"{REDACTED}, {REDACTED}"},
            id="repeated-joined",
        ),
        pytest.param(
            DIAGNOSTIC_HEADERS,
            DIAGNOSTIC_HEADERS,
            id="diagnostic-headers-untouched",
        ),
    ],
)
def test_redact_headers(
    headers: dict[str, str] | list[tuple[str, str]], expected: dict[str, str]
) -> None:
    assert redact_headers(headers) == expected


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param(
            'Get "https://aliregistry-cn-shenzhen.oss-cn-shenzhen.aliyuncs.com/docker/registry/v2/'
            "blobs/sha256/4a/4abc/data?Expires=1700000000&OSSAccessKeyId=LTAI5tQp8sJ9&Signature="
            'Wq3%2BtP0v": dial tcp: i/o timeout',
            [],
            'Get "https://aliregistry-cn-shenzhen.oss-cn-shenzhen.aliyuncs.com/docker/registry/v2/'
            "blobs/sha256/4a/4abc/data?Expires=1700000000&OSSAccessKeyId=LTAI…&Signature="
            '[REDACTED]": dial tcp: i/o timeout',
            id="go-error-quoting-signed-url",
        ),
        pytest.param(
            "token service said: invalid token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
            [],
            "token service said: invalid token [REDACTED]",
            id="jwt",
        ),
        pytest.param(
            "login failed for shop@cloud with hunter2-pass (hunter2%2Dpass)",
            ["hunter2-pass", "abc"],
            "login failed for shop@cloud with [REDACTED] (hunter2%2Dpass)",
            id="literal-secret-short-ones-ignored",
        ),
        pytest.param(
            "redirect query was Signature=abc123&X-Amz-Signature=def456 sig=ghi789",
            [],
            "redirect query was Signature=[REDACTED]&X-Amz-Signature=[REDACTED] sig=[REDACTED]",
            id="signature-fragments",
        ),
        pytest.param(
            "sent Authorization: Bearer opaque.gcr.token to storage",
            [],
            "sent Authorization: Bearer [REDACTED] to storage",
            id="authorization-in-text",
        ),
        pytest.param(
            "<Code>InvalidArgument</Code><ArgumentName>Authorization</ArgumentName>"
            "<ArgumentValue>Bearer opaque-token</ArgumentValue>",
            [],
            "<Code>InvalidArgument</Code><ArgumentName>Authorization</ArgumentName>"
            "<ArgumentValue>[REDACTED]</ArgumentValue>",
            id="s3-error-body-echoes-header",
        ),
    ],
)
def test_redact_text(text: str, secrets: list[str], expected: str) -> None:
    assert redact_text(text, secrets) == expected


def test_redact_text_catches_url_encoded_password() -> None:
    # Passwords reach error text percent-encoded when they were put in a URL.
    out = redact_text("proxy http://u:p%40ss%2Fw0rd@proxy:3128 refused", ["p@ss/w0rd"])
    assert "p%40ss%2Fw0rd" not in out
    assert "p@ss/w0rd" not in out


_SAFE_KEYS = {
    "expires",
    "x-oss-expires",
    "x-oss-date",
    "x-oss-signature-version",
    "x-oss-traffic-limit",
    "x-amz-algorithm",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-goog-algorithm",
    "x-goog-date",
    "x-goog-expires",
    "x-goog-signedheaders",
    "se",
    "st",
    "sp",
    "sv",
    "sr",
    "spr",
    "service",
    "scope",
    "account",
    "digest",
    "n",
    "last",
    "mount",
    "from",
    "response-content-type",
    "response-content-disposition",
    "ossaccesskeyid",
}
# Secrets use characters that never occur in [REDACTED], keys or the fixed URL parts below.
_SECRET = st.text(string.ascii_lowercase + string.digits + "+=%._~", min_size=8, max_size=40)
_KEY = st.text(string.ascii_uppercase + "-", min_size=1, max_size=24).filter(
    lambda k: k.lower() not in _SAFE_KEYS
)


@given(params=st.lists(st.tuples(_KEY, _SECRET), min_size=1, max_size=6), extra=st.text())
def test_no_secret_query_value_survives(params: list[tuple[str, str]], extra: str) -> None:
    assume(all(secret not in extra for _, secret in params))
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"https://h.test/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&{query}"
    for out in (redact_url(url), redact_text(f"{extra} {url} {extra}", [])):
        assert all(secret not in out for _, secret in params)


_SECRET_HEADER = st.sampled_from(
    [
        "Authorization",
        "proxy-authorization",
        "COOKIE",
        "Set-Cookie",
        "X-Amz-Security-Token",
        "x-oss-security-token",
        "X-Registry-Auth",
        "X-Auth-Token",
    ]
)


@given(
    headers=st.lists(
        st.tuples(
            _SECRET_HEADER, st.sampled_from(["", "Bearer ", "Basic ", "AWS4-HMAC-SHA256 "]), _SECRET
        ),
        min_size=1,
        max_size=5,
    )
)
def test_no_secret_header_value_survives(headers: list[tuple[str, str, str]]) -> None:
    out = redact_headers([(name, prefix + secret) for name, prefix, secret in headers])
    assert all(secret not in value for value in out.values() for _, _, secret in headers)


@given(prefix=st.text(), secret=_SECRET, suffix=st.text())
def test_literal_secret_never_survives_free_text(prefix: str, secret: str, suffix: str) -> None:
    assert secret not in redact_text(prefix + secret + suffix, [secret])


@given(url=st.text())
def test_redact_url_accepts_anything(url: str) -> None:
    assert isinstance(redact_url(url), str)


# -- hostile text: redaction stays linear -------------------------------------------------
# A server chooses most of the text redacted, so a pattern that backtracks is a way to make
# a run outlive its deadline (a 90 KB challenge parameter took 26 s). Bounds are absolute
# and wide: linear redaction of 1 MB takes tens of milliseconds, quadratic takes minutes.
_HOSTILE_UNITS = [
    "a",
    "eyJ",
    "eyJa.",
    "1a",
    "a:",
    "https:",
    "Signature=",
    "authorization: ",
    "Bearer ",
    "<ArgumentValue>",
    "%2",
    "a@",
    "?&",
]


def _best_of_three(text: str) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        redact_text(text, ["a-known-secret-value"])
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.mark.parametrize("unit", _HOSTILE_UNITS)
def test_redacting_a_megabyte_of_hostile_text_is_fast(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    assert _best_of_three(text) < 1.0


@settings(max_examples=25, deadline=None)
@given(unit=st.text(min_size=1, max_size=12), secret=_SECRET)
def test_hostile_text_of_100_kb_is_redacted_fast_and_keeps_no_secret(
    unit: str, secret: str
) -> None:
    text = unit * (100_000 // len(unit)) + secret + unit * 10
    started = time.perf_counter()
    out = redact_text(text, [secret])
    assert time.perf_counter() - started < 1.0
    assert secret not in out


def test_redaction_time_grows_linearly() -> None:
    # Four times the text: about four times the time if linear, sixteen if quadratic.
    small, large = ("eyJa" + "1a" * 10) * 5_000, ("eyJa" + "1a" * 10) * 20_000
    assert _best_of_three(large) / max(_best_of_three(small), 1e-4) < 8


def test_a_megabyte_secret_is_redacted_by_plain_search() -> None:
    token = "t" + "0123456789abcdef" * 65_536
    started = time.perf_counter()
    out = redact_text(f"Bearer {token} and again {token}", [token])
    assert time.perf_counter() - started < 1.0
    assert token[:64] not in out and out.count("[REDACTED]") == 2
