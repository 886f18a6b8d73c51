"""OSS and S3-style XML error bodies: what storage said, and the cause code it maps to.

The RequestId and EC are what Alibaba Cloud support asks for, so they are kept
even when the body itself is refused. The body comes from whatever host the
redirect pointed at, so it is treated as hostile: size and DTD checks run
before any XML parser sees it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from acrdiag.causes import Cause

MAX_ERROR_BODY = 64 * 1024  # go-containerregistry caps error bodies the same way

_EC_EXPIRED = "0002-00000069"
_EC_SIGNATURE = "0002-00000040"
_EC_AUTH_CONFLICT = "0002-00000039"
_FIELDS = {
    "Code": "code",
    "Message": "message",
    "RequestId": "request_id",
    "HostId": "host_id",
    "EC": "ec",
}
_REQUEST_ID_HEADERS = ("x-oss-request-id", "x-amz-request-id", "x-ms-request-id")
_DTD_MARKERS = ("<!DOCTYPE", "<!ENTITY")
_EXPIRED_MESSAGES = re.compile(
    r"request has expired|not valid in the specified time frame|token has expired", re.I
)
_MISSING_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "BlobNotFound", "ContainerNotFound", "ResourceNotFound"}
)


@dataclass(frozen=True)
class StorageError:
    code: str | None
    message: str | None
    request_id: str | None
    host_id: str | None
    ec: str | None


def parse_storage_error(
    body: bytes, headers: Mapping[str, str] | None = None
) -> StorageError | None:
    """The error storage returned, from the body and/or headers; None when neither says anything."""
    fields = _body_fields(body)
    lowered = {k.lower(): v.strip() for k, v in (headers or {}).items()}
    if not fields.get("ec"):
        fields["ec"] = lowered.get("x-oss-ec", "")
    if not fields.get("request_id"):
        fields["request_id"] = next((lowered[h] for h in _REQUEST_ID_HEADERS if lowered.get(h)), "")
    if not any(fields.values()):
        return None
    return StorageError(
        code=fields.get("code") or None,
        message=fields.get("message") or None,
        request_id=fields.get("request_id") or None,
        host_id=fields.get("host_id") or None,
        ec=fields.get("ec") or None,
    )


def _body_fields(body: bytes) -> dict[str, str]:
    if len(body) > MAX_ERROR_BODY:
        return {}
    # The DTD check and the parser must read the same characters. Given bytes, expat honours
    # the body's own encoding (UTF-16 without a BOM, an encoding="..." declaration), so a DTD
    # spelled in UTF-16 passed a byte search. Given a str, expat is told UTF-8, but still
    # switches to UTF-16 when it sees a NUL byte, which XML never allows: refuse those.
    # S3, OSS and Azure all answer in UTF-8; Azure starts with a byte order mark.
    text = body.decode("utf-8-sig", errors="replace")
    if not text.lstrip().startswith("<") or "\x00" in text:
        return {}
    upper = text.upper()
    if any(marker in upper for marker in _DTD_MARKERS):
        return {}  # entity expansion (billion laughs) needs a DTD; refuse before parsing
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError, LookupError):
        return {}
    if _local_name(root.tag) != "Error":
        return {}
    fields: dict[str, str] = {}
    for child in root:
        name = _FIELDS.get(_local_name(child.tag))
        if name is not None and name not in fields:
            fields[name] = (child.text or "").strip()
    return fields


def _local_name(tag: object) -> str:
    # Azure and some S3 clones namespace the root; comments and PIs have non-str tags.
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def classify_storage_error(err: StorageError, status: int) -> Cause:
    """Map storage's error to a cause; the message is checked because OSS and AWS share wording."""
    code = err.code or ""
    message = err.message or ""
    if err.ec == _EC_EXPIRED or code == "ExpiredToken" or _EXPIRED_MESSAGES.search(message):
        return Cause.URL_EXPIRED
    if err.ec == _EC_SIGNATURE or code == "SignatureDoesNotMatch":
        return Cause.SIGNATURE_MISMATCH
    if _is_auth_conflict(err, code, message):
        return Cause.AUTH_HEADER_CONFLICT
    if code in _MISSING_CODES or status == 404:
        return Cause.STORAGE_OBJECT_MISSING
    if code == "AccessDenied" or status == 403:
        return Cause.ACCESS_DENIED
    if 500 <= status <= 599:
        return Cause.SERVER_ERROR
    return Cause.HTTP_ERROR


def _is_auth_conflict(err: StorageError, code: str, message: str) -> bool:
    if err.ec == _EC_AUTH_CONFLICT or "only one auth mechanism allowed" in message.lower():
        return True
    return code == "InvalidArgument" and "authorization" in message.lower()
