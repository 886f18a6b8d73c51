from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.causes import Cause
from acrdiag.registry.storage_errors import (
    StorageError,
    classify_storage_error,
    parse_storage_error,
)

OSS_EXPIRED = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>AccessDenied</Code>
  <Message>Request has expired.</Message>
  <RequestId>5C3D9175B6FC201293AD****</RequestId>
  <HostId>aliregistry.oss-cn-hangzhou.aliyuncs.com</HostId>
  <Expires>2023-11-14T22:13:20.000Z</Expires>
  <ServerTime>2023-11-14T22:43:02.000Z</ServerTime>
  <EC>0002-00000069</EC>
  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0002-00000069</RecommendDoc>
</Error>
"""
MISMATCH = (
    b"The request signature we calculated does not match the signature you provided."
    b" Check your key and signing method."
)
OSS_SIGNATURE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
    b"  <Code>SignatureDoesNotMatch</Code>\n"
    b"  <Message>" + MISMATCH + b"</Message>\n"
    b"  <RequestId>65F2B6E4C1D3A4313739****</RequestId>\n"
    b"  <HostId>cri-te7dg2c239ujvd3e-registry.oss-cn-hangzhou.aliyuncs.com</HostId>\n"
    b"  <OSSAccessKeyId>LTAI5tQp8sJ9xYzAbCdEfGh</OSSAccessKeyId>\n"
    b"  <SignatureProvided>Wq3+tP0v/kR8=</SignatureProvided>\n"
    b"  <StringToSign>GET\n\n\n1700000000\n/cri-te7dg2c239ujvd3e-registry/docker/registry/v2"
    b"/blobs/sha256/4a/4abc/data</StringToSign>\n"
    b"  <EC>0002-00000040</EC>\n</Error>\n"
)
# users-and-peers row 4 (apecloud/kubeblocks#5030): Personal Edition bucket refused by its ACL.
OSS_BUCKET_ACL = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>AccessDenied</Code>
  <Message>You have no right to access this object because of bucket acl.</Message>
  <RequestId>64A7F1E2B3C4D5E6F7081920</RequestId>
  <HostId>aliregistry.oss-cn-hangzhou.aliyuncs.com</HostId>
</Error>
"""
OSS_NO_SUCH_KEY = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchKey</Code>
  <Message>The specified key does not exist.</Message>
  <RequestId>6551D0E8E4C3A13637B1****</RequestId>
  <HostId>cri-te7dg2c239ujvd3e-registry.oss-cn-hangzhou.aliyuncs.com</HostId>
  <Key>docker/registry/v2/blobs/sha256/4a/4abc/data</Key>
  <EC>0026-00000001</EC>
</Error>
"""
# The classification rests on the EC; the OSS message text for it is not pinned here.
OSS_AUTH_CONFLICT = b"""<Error>
  <Code>InvalidArgument</Code>
  <Message>Unsupported Authorization Type</Message>
  <RequestId>6551D0E8E4C3A13637B2****</RequestId>
  <HostId>aliregistry.oss-cn-hangzhou.aliyuncs.com</HostId>
  <EC>0002-00000039</EC>
</Error>"""
AWS_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
    b"<X-Amz-Expires>1200</X-Amz-Expires><Expires>2026-11-25T08:20:00Z</Expires>"
    b"<ServerTime>2026-11-25T09:00:07Z</ServerTime><RequestId>4442587FB7D0A2F9</RequestId>"
    b"<HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId></Error>"
)
# renovatebot/renovate#3877: the registry's bearer token followed the 307 to S3.
AWS_ONE_AUTH = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the"
    b" X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization"
    b" header should be specified</Message><ArgumentName>Authorization</ArgumentName>"
    b"<ArgumentValue>Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln</ArgumentValue>"
    b"<RequestId>A1B2C3D4E5F60718</RequestId><HostId>Zx9y8w7v6u5t4s3r2q1p0o</HostId></Error>"
)
AWS_SIGNATURE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SignatureDoesNotMatch</Code><Message>" + MISMATCH + b"</Message>"
    b"<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
    b"<RequestId>0A1B2C3D4E5F6071</RequestId><HostId>q1w2e3r4t5</HostId></Error>"
)
AWS_NO_SUCH_BUCKET = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
    b"<BucketName>registry-bucket</BucketName><RequestId>7B8C9D0E1F2A3B4C</RequestId>"
    b"<HostId>a1s2d3f4</HostId></Error>"
)
AWS_SLOW_DOWN = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>5D6E7F8091A2B3C4</RequestId><HostId>z1x2c3</HostId></Error>"
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Error><Code>&lol9;</Code><RequestId>fake</RequestId></Error>"""
REGISTRY_JSON = (
    b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
)
PROXY_HTML = b"""<!DOCTYPE html><html><head><title>Access Denied</title></head>
<body><h1>Blocked by corporate proxy policy</h1></body></html>"""


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        pytest.param(
            OSS_EXPIRED,
            {"x-oss-request-id": "ignored-body-wins"},
            StorageError(
                "AccessDenied",
                "Request has expired.",
                "5C3D9175B6FC201293AD****",
                "aliregistry.oss-cn-hangzhou.aliyuncs.com",
                "0002-00000069",
            ),
            id="oss-expired",
        ),
        pytest.param(
            OSS_BUCKET_ACL,
            None,
            StorageError(
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
                "64A7F1E2B3C4D5E6F7081920",
                "aliregistry.oss-cn-hangzhou.aliyuncs.com",
                None,
            ),
            id="oss-bucket-acl",
        ),
        pytest.param(
            OSS_BUCKET_ACL,
            {"X-Oss-Ec": "0003-00000001", "Server": "AliyunOSS"},
            StorageError(
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
                "64A7F1E2B3C4D5E6F7081920",
                "aliregistry.oss-cn-hangzhou.aliyuncs.com",
                "0003-00000001",
            ),
            id="ec-from-header",
        ),
        pytest.param(
            AWS_EXPIRED,
            None,
            StorageError(
                "AccessDenied",
                "Request has expired",
                "4442587FB7D0A2F9",
                "eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran",
                None,
            ),
            id="aws-expired",
        ),
        pytest.param(
            b"",
            {"x-oss-request-id": "6551D0E8E4C3A13637B3", "x-oss-ec": "0002-00000069"},
            StorageError(None, None, "6551D0E8E4C3A13637B3", None, "0002-00000069"),
            id="head-response-headers-only",
        ),
        pytest.param(
            BILLION_LAUGHS,
            {"x-amz-request-id": "7B8C9D0E1F2A3B4D"},
            StorageError(None, None, "7B8C9D0E1F2A3B4D", None, None),
            id="billion-laughs-refused-headers-kept",
        ),
        pytest.param(
            b"<Error><Code>AccessDenied</Code>" + b" " * (64 * 1024) + b"</Error>",
            {"x-oss-request-id": "6551D0E8E4C3A13637B4"},
            StorageError(None, None, "6551D0E8E4C3A13637B4", None, None),
            id="oversized-body-refused",
        ),
        pytest.param(
            PROXY_HTML,
            {"x-oss-request-id": "6551D0E8E4C3A13637B5"},
            StorageError(None, None, "6551D0E8E4C3A13637B5", None, None),
            id="html-with-request-id",
        ),
        pytest.param(
            b'<Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Code>NoSuchKey</Code></Error>',
            None,
            StorageError("NoSuchKey", None, None, None, None),
            id="namespaced-root",
        ),
    ],
)
def test_parse_storage_error(
    body: bytes, headers: dict[str, str] | None, expected: StorageError
) -> None:
    assert parse_storage_error(body, headers) == expected


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(PROXY_HTML, {"Content-Type": "text/html"}, id="proxy-html"),
        pytest.param(BILLION_LAUGHS, None, id="billion-laughs"),
        pytest.param(b"<Error><Code>unterminated", None, id="broken-xml"),
        pytest.param(b"<ListBucketResult><Name>x</Name></ListBucketResult>", None, id="not-error"),
        pytest.param(b"", {}, id="empty"),
    ],
)
def test_nothing_useful_is_none(body: bytes, headers: dict[str, str] | None) -> None:
    assert parse_storage_error(body, headers) is None


def test_echoed_credentials_are_not_kept() -> None:
    # S3 and OSS echo the bearer token, key ID and signature; none of it belongs in a report.
    for body in (AWS_ONE_AUTH, OSS_SIGNATURE, AWS_SIGNATURE):
        err = parse_storage_error(body)
        assert err is not None
        shown = repr(err)
        assert "eyJ" not in shown and "LTAI5t" not in shown and "AKIA" not in shown
        assert "Wq3+" not in shown


@pytest.mark.parametrize(
    ("body", "status", "cause"),
    [
        pytest.param(OSS_EXPIRED, 403, Cause.URL_EXPIRED, id="oss-ec-expired"),
        pytest.param(AWS_EXPIRED, 403, Cause.URL_EXPIRED, id="aws-request-has-expired"),
        pytest.param(OSS_SIGNATURE, 403, Cause.SIGNATURE_MISMATCH, id="oss-signature"),
        pytest.param(AWS_SIGNATURE, 403, Cause.SIGNATURE_MISMATCH, id="aws-signature"),
        pytest.param(OSS_AUTH_CONFLICT, 400, Cause.AUTH_HEADER_CONFLICT, id="oss-ec-auth-conflict"),
        pytest.param(AWS_ONE_AUTH, 400, Cause.AUTH_HEADER_CONFLICT, id="s3-only-one-auth"),
        pytest.param(OSS_NO_SUCH_KEY, 404, Cause.STORAGE_OBJECT_MISSING, id="oss-no-such-key"),
        pytest.param(AWS_NO_SUCH_BUCKET, 404, Cause.STORAGE_OBJECT_MISSING, id="aws-no-bucket"),
        pytest.param(OSS_BUCKET_ACL, 403, Cause.ACCESS_DENIED, id="bucket-acl"),
        pytest.param(AWS_SLOW_DOWN, 503, Cause.SERVER_ERROR, id="slow-down"),
        pytest.param(
            b"<Error><Code>InvalidArgument</Code><Message>Invalid range</Message></Error>",
            400,
            Cause.HTTP_ERROR,
            id="other-400",
        ),
    ],
)
def test_classify_real_bodies(body: bytes, status: int, cause: Cause) -> None:
    err = parse_storage_error(body)
    assert err is not None
    assert classify_storage_error(err, status) is cause


@pytest.mark.parametrize(
    ("headers", "status", "cause"),
    [
        ({"x-oss-ec": "0002-00000069"}, 403, Cause.URL_EXPIRED),  # HEAD: no body, EC in header
        ({"x-oss-request-id": "6551D0E8E4C3A13637B6"}, 404, Cause.STORAGE_OBJECT_MISSING),
        ({"x-amz-request-id": "7B8C9D0E1F2A3B4E"}, 403, Cause.ACCESS_DENIED),
        ({"x-amz-request-id": "7B8C9D0E1F2A3B4F"}, 500, Cause.SERVER_ERROR),
    ],
)
def test_classify_from_status_and_headers(
    headers: dict[str, str], status: int, cause: Cause
) -> None:
    err = parse_storage_error(b"", headers)
    assert err is not None
    assert classify_storage_error(err, status) is cause


_XMLISH = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda fields: (
            "<Error>" + "".join(f"<{t}>{v}</{t}>" for t, v in fields) + "</Error>"
        ).encode("utf-8", "surrogatepass"),
        st.lists(
            st.tuples(
                st.sampled_from(["Code", "Message", "RequestId", "HostId", "EC", "X"]), st.text()
            ),
            max_size=6,
        ),
    ),
)


@given(
    body=_XMLISH,
    headers=st.one_of(st.none(), st.dictionaries(st.text(max_size=20), st.text(max_size=40))),
    status=st.integers(min_value=100, max_value=599),
)
def test_parse_and_classify_never_raise(
    body: bytes, headers: dict[str, str] | None, status: int
) -> None:
    err = parse_storage_error(body, headers)
    assert err is None or isinstance(err, StorageError)
    if err is not None:
        assert classify_storage_error(err, status) in set(Cause)


AZURE_SAS_EXPIRED = (
    b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><Error>'
    b"<Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. "
    b"Make sure the value of Authorization header is formed correctly including the "
    b"signature.\nRequestId:4c2f-0001\nTime:2026-12-03T10:00:00.0000000Z</Message>"
    b"<AuthenticationErrorDetail>Signed expiry time [Thu, 03 Dec 2026 09:00:00 GMT] must be "
    b"after signed start time [Thu, 03 Dec 2026 09:10:00 GMT]</AuthenticationErrorDetail></Error>"
)


@pytest.mark.parametrize(
    ("body", "status", "code", "message", "cause"),
    [
        # Azure Blob: the reason is in AuthenticationErrorDetail, not in Message.
        (AZURE_SAS_EXPIRED, 403, "AuthenticationFailed", "Server failed", Cause.URL_EXPIRED),
        # A CDN or front end answering JSON (GCS's shape).
        (
            b'{"error": {"code": 403, "message": "Access denied: signature expired"}}',
            403,
            "403",
            "Access denied",
            Cause.ACCESS_DENIED,
        ),
        (REGISTRY_JSON, 403, "DENIED", "requested access", Cause.ACCESS_DENIED),
        # Plain text: its first line is the message.
        (
            b"\n  upstream connect error or disconnect/reset\nmore",
            503,
            None,
            "upstream",
            Cause.SERVER_ERROR,
        ),
    ],
)
def test_error_bodies_other_than_oss_xml_are_read(
    body: bytes, status: int, code: str | None, message: str, cause: Cause
) -> None:
    error = parse_storage_error(body)
    assert error is not None and error.code == code
    assert error.message is not None and error.message.startswith(message)
    assert classify_storage_error(error, status) is cause
