"""Storage error bodies: what storage said, and the cause code it maps to.

OSS, S3 and Azure Blob answer XML (Azure adds AuthenticationErrorDetail); CDNs and
other front ends answer JSON or plain text. All of them are read.

The RequestId and EC are what Alibaba Cloud support asks for, so they are kept
even when the body itself is refused. The body comes from whatever host the
redirect pointed at, so it is treated as hostile: size and DTD checks run
before any XML parser sees it.
"""

from __future__ import annotations

import json
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
    "AuthenticationErrorDetail": "detail",  # Azure Blob: why a SAS was refused
}
_SHOWN_TEXT = 300
_REQUEST_ID_HEADERS = ("x-oss-request-id", "x-amz-request-id", "x-ms-request-id")
_DTD_MARKERS = ("<!DOCTYPE", "<!ENTITY")
_EXPIRED_MESSAGES = re.compile(
    r"request has expired|not valid in the specified time frame|token has expired"
    r"|signed expiry time|url (?:has )?expired",
    re.I,
)
# Azure: "Signature did not match. String to sign used was ...", "Signature fields not well formed"
_SIGNATURE_MESSAGES = re.compile(r"signature did not match|signature fields not well formed", re.I)
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
    detail: str | None = None


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
        detail=fields.get("detail") or None,
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
    if "\x00" in text:
        return {}
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _json_fields(stripped)
    if not stripped.startswith("<"):
        return _text_fields(stripped)
    return _xml_fields(text)


def _json_fields(text: str) -> dict[str, str]:
    """{"error": {"code", "message"}} (GCS, CDNs), {"code", "message"}, {"errors": [...]}."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if isinstance(document, dict) and isinstance(document.get("errors"), list):
        document = next((e for e in document["errors"] if isinstance(e, dict)), {})
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        document = document["error"]
    if not isinstance(document, dict):
        return {}
    lowered = {str(k).lower(): v for k, v in document.items()}
    fields = {
        "code": _scalar(lowered.get("code") or lowered.get("error")),
        "message": _scalar(lowered.get("message") or lowered.get("error_description")),
        "request_id": _scalar(lowered.get("requestid") or lowered.get("request_id")),
    }
    return {k: v for k, v in fields.items() if v}


def _scalar(value: object) -> str:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)[:_SHOWN_TEXT]
    return ""


def _text_fields(text: str) -> dict[str, str]:
    """A plain-text answer: its first line is the message."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return {"message": line[:_SHOWN_TEXT]} if line else {}


def _xml_fields(text: str) -> dict[str, str]:
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
    message = f"{err.message or ''} {err.detail or ''}"
    if err.ec == _EC_EXPIRED or code == "ExpiredToken" or _EXPIRED_MESSAGES.search(message):
        return Cause.URL_EXPIRED
    if (
        err.ec == _EC_SIGNATURE
        or code == "SignatureDoesNotMatch"
        or _SIGNATURE_MESSAGES.search(message)
    ):
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
