"""Where a blob redirect points: provider, bucket, region, endpoint type, signature, expiry.

Support asks for the bucket and whether the internal endpoint was used, and an
expired or soon-expiring signed URL explains many 403s, so all of it is read
from the Location header alone. Parsing works on the raw URL; only
``url_redacted`` and error messages are meant to be shown.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from acrdiag.redact import redact_url


class LocationError(ValueError):
    """The Location header cannot be used as a storage URL."""


@dataclass(frozen=True)
class StorageLocation:
    url_redacted: str
    scheme: str
    host: str
    port: int | None
    path: str
    provider: str
    bucket: str | None
    region: str | None
    endpoint_type: str
    signature: str
    expires_at: datetime | None
    path_digest: str | None
    traffic_limit: str | None
    # An expiry parameter that is present but unusable ("se=9999-12-31T23:59:59-01:00 is
    # outside ..."): names and values only, which sign nothing and are not secret.
    expiry_problem: str | None = None


@dataclass(frozen=True)
class _Endpoint:
    provider: str
    bucket: str | None = None
    region: str | None = None
    endpoint_type: str = "other"


_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_OSS_ENDPOINT = re.compile(r"(?P<vpc>vpc100-)?oss(?:-(?P<rest>[a-z0-9-]+))?")
_OSS_ACCELERATE = frozenset({"accelerate", "accelerate-overseas"})
_QUAY_CDN = re.compile(r"cdn\d*\.quay\.io")
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+")
_LAYOUT_DIGEST = re.compile(
    r"/blobs/(?P<alg>[a-z0-9]+)/(?P<prefix>[0-9a-f]{2})/(?P<hex>[0-9a-f]{64}|[0-9a-f]{128})/data$"
)
_DIRECT_DIGEST = re.compile(r"/blobs/(?P<alg>[a-z0-9]+):(?P<hex>[0-9a-f]{64}|[0-9a-f]{128})$")
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")
_COMPACT_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIGNING_HINTS = frozenset({"signature", "sig", "verify", "token", "policy", "googleaccessid"})
# What a message quotes of the Location or of one query value.
_SHOWN_MAX = 200
_VALUE_MAX = 80
_UNREADABLE = "is not a time acrdiag can read"
_OUT_OF_RANGE = "is outside the range acrdiag can represent"


def parse_location(
    location: str, base_url: str | None = None, registry_host: str | None = None
) -> StorageLocation:
    """Describe a blob redirect's target; raises LocationError when it is unusable."""
    url = _resolve(location, base_url)
    scheme, host, port, path, raw_query = _split(url)
    query = _query_map(raw_query)
    endpoint = _classify_host(host, path, _bare_host(registry_host))
    region = endpoint.region
    if region is None and endpoint.provider in ("aliyun-oss", "aws-s3"):
        region = _credential_region(query)  # accelerate and global endpoints name no region
    expires_at, expiry_problem = _expires_at(query)
    return StorageLocation(
        url_redacted=redact_url(url),
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        provider=endpoint.provider,
        bucket=endpoint.bucket,
        region=region,
        endpoint_type=endpoint.endpoint_type,
        signature=_signature(query),
        expires_at=expires_at,
        path_digest=_path_digest(path),
        traffic_limit=query.get("x-oss-traffic-limit"),
        expiry_problem=expiry_problem,
    )


def _resolve(location: str, base_url: str | None) -> str:
    location = location.strip()
    if base_url is None:
        return location
    try:
        return urljoin(base_url, location)
    except ValueError as exc:
        problem = _url_problem(exc)
        raise LocationError(f"cannot resolve Location {_shown_url(location)}: {problem}") from None


def _split(url: str) -> tuple[str, str, int | None, str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LocationError(
            f"cannot parse Location {_shown_url(url)}: {_url_problem(exc)}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise LocationError(f"Location {_shown_url(url)} is not an http or https URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise LocationError(f"Location {_shown_url(url)} has no host")
    if not _valid_host(host):
        raise LocationError(f"Location host {_shown(host, _SHOWN_MAX)} is not a valid host name")
    return scheme, host, port, parts.path, parts.query


def _url_problem(exc: ValueError) -> str:
    """urllib's complaint, described rather than echoed.

    Its messages quote the port (1 MB of it, if that is what came) or the whole netloc,
    password included ("netloc 'user:p\uff03ss@host' contains invalid characters ...").
    """
    text = str(exc)
    if text.startswith("Port") or "integer string conversion" in text:
        return "the port is not a number from 0 to 65535"
    if "NFKC" in text:
        return "the host part holds characters that normalize to '/', '?', '#', '@' or ':'"
    if "IPv6" in text:
        return "Invalid IPv6 URL"
    return "not a URL"


def _valid_host(host: str) -> bool:
    if ":" not in host:
        return _HOST_NAME.fullmatch(host) is not None
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _bare_host(host: str | None) -> str | None:
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _query_map(query: str) -> dict[str, str]:
    # Keys are case-insensitive in practice (OSS documents "Expires", clients send "expires").
    # parse_qsl(keep_blank_values=True) field by field, with the faster _unquote.
    out: dict[str, str] = {}
    for field in query.split("&"):
        if field:
            key, _, value = field.partition("=")
            out.setdefault(
                _unquote(key, plus=True).strip().lower(), _unquote(value, plus=True).strip()
            )
    return out


def _unquote(text: str, plus: bool = False) -> str:
    """urllib's unquote (UTF-8, errors replaced), in C time on any input.

    urllib.parse.unquote loops in Python over every "%" and raises and catches an exception
    for each one not followed by two hex digits: a 1 MB run of "%" took about half a second.
    Runs of escapes are decoded together so that multi-byte UTF-8 characters come out whole.
    """
    if plus and "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    return _ESCAPES.sub(_decode_escapes, text)


def _decode_escapes(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group().replace("%", "")).decode("utf-8", "replace")


def _first_segment(path: str) -> str | None:
    segment = _unquote(path.lstrip("/").split("/", 1)[0])
    return segment or None


def _classify_host(host: str, path: str, registry_host: str | None) -> _Endpoint:
    if registry_host is not None and host == registry_host:
        return _Endpoint("same-host")
    for classify in (_aliyun_oss, _aws_s3, _gcs, _azure_blob, _cdn):
        endpoint = classify(host, path)
        if endpoint is not None:
            return endpoint
    return _Endpoint("other", _layout_bucket(path))


def _layout_bucket(path: str) -> str | None:
    """A path-style bucket on any host (MinIO, Ceph, a private S3): distribution's storage
    layout puts docker/registry/v2 under it. Never guessed from a host label."""
    segments = [_unquote(s) for s in path.split("/")[1:8]]
    for index in range(1, len(segments) - 2):
        if segments[index : index + 3] == ["docker", "registry", "v2"]:
            return segments[0] or None
    return None


def _aliyun_oss(host: str, path: str) -> _Endpoint | None:
    if not host.endswith(".aliyuncs.com"):
        return None
    labels = host.removesuffix(".aliyuncs.com").split(".")
    match = _OSS_ENDPOINT.fullmatch(labels[-1])
    if match is None:
        return None
    # Virtual-hosted style names the bucket in the host; the s3 driver's path style, in the path.
    bucket = ".".join(labels[:-1]) or _first_segment(path)
    rest = match.group("rest") or ""
    if rest in _OSS_ACCELERATE:
        return _Endpoint("aliyun-oss", bucket, None, "accelerate")
    internal = match.group("vpc") is not None or rest == "internal" or rest.endswith("-internal")
    region = rest.removesuffix("-internal") if rest != "internal" else ""
    return _Endpoint("aliyun-oss", bucket, region or None, "internal" if internal else "public")


def _aws_s3(host: str, path: str) -> _Endpoint | None:
    suffix = next((s for s in (".amazonaws.com", ".amazonaws.com.cn") if host.endswith(s)), None)
    if suffix is None:
        return None
    labels = host.removesuffix(suffix).split(".")
    index = next((i for i, label in enumerate(labels) if _is_s3_label(label)), None)
    if index is None:
        return None
    s3_label, after = labels[index], labels[index + 1 :]
    endpoint_type = "public"
    region: str | None = None
    if s3_label == "s3-accelerate":
        endpoint_type = "accelerate"
    elif s3_label == "s3-external-1":
        region = "us-east-1"
    elif s3_label.startswith("s3-"):
        region = s3_label.removeprefix("s3-")  # legacy dash form: bucket.s3-us-west-2
    else:
        region = next((a for a in after if _REGION.fullmatch(a)), None)
    if after and after[-1] == "vpce":
        endpoint_type = "internal"  # interface VPC endpoint
    own = [label for label in labels[:index] if not label.startswith("vpce-")]
    bucket = ".".join(own) or _first_segment(path)
    return _Endpoint("aws-s3", bucket, region, endpoint_type)


def _is_s3_label(label: str) -> bool:
    return label == "s3" or (label.startswith("s3-") and not label.startswith("s3-website"))


def _gcs(host: str, path: str) -> _Endpoint | None:
    if host == "storage.googleapis.com":
        return _Endpoint("gcs", _first_segment(path), None, "public")
    if host.endswith(".storage.googleapis.com"):
        return _Endpoint("gcs", host.removesuffix(".storage.googleapis.com"), None, "public")
    return None


def _azure_blob(host: str, path: str) -> _Endpoint | None:
    suffix = next(
        (s for s in (".blob.core.windows.net", ".blob.core.chinacloudapi.cn") if host.endswith(s)),
        None,
    )
    if suffix is None:
        return None
    labels = host.removesuffix(suffix).split(".")
    # The storage account is what DNS and firewalls see; the container is the first path segment.
    internal = "privatelink" in labels
    return _Endpoint("azure-blob", labels[0], None, "internal" if internal else "public")


def _cdn(host: str, path: str) -> _Endpoint | None:
    if host.endswith(".cloudflare.docker.com"):
        return _Endpoint("cloudflare", None, None, "cdn")
    if host.endswith(".r2.cloudflarestorage.com"):
        # Docker Hub's R2 bucket: docker-images-prod.<account>.r2.cloudflarestorage.com
        labels = host.removesuffix(".r2.cloudflarestorage.com").split(".")
        bucket = labels[0] if len(labels) > 1 else _first_segment(path)
        return _Endpoint("cloudflare", bucket, None, "public")
    if _QUAY_CDN.fullmatch(host) or host.endswith(".cloudfront.net"):
        return _Endpoint("cloudfront", None, None, "cdn")
    if host == "githubusercontent.com" or host.endswith(".githubusercontent.com"):
        return _Endpoint("github", None, None, "cdn")
    return None


def _credential_region(query: dict[str, str]) -> str | None:
    # <key id>/<yyyymmdd>/<region>/<service>/<terminator>
    credential = query.get("x-amz-credential") or query.get("x-oss-credential") or ""
    fields = credential.split("/")
    if len(fields) >= 5 and _REGION.fullmatch(fields[2]):
        return fields[2]
    return None


def _signature(query: dict[str, str]) -> str:
    keys = query.keys()
    if (
        "x-oss-credential" in keys
        or query.get("x-oss-signature-version", "").upper() == "OSS4-HMAC-SHA256"
    ):
        return "oss-v4"
    if keys & {"x-amz-algorithm", "x-amz-credential", "x-amz-signature"}:
        return "aws-sigv4"
    if keys & {"x-goog-algorithm", "x-goog-credential", "x-goog-signature"}:
        return "gcs-v4"
    if "ossaccesskeyid" in keys:
        return "oss-v1"
    if "awsaccesskeyid" in keys:
        return "aws-sigv2"
    if "key-pair-id" in keys:
        return "cloudfront"
    if "sig" in keys and keys & {"se", "sv"}:
        return "azure-sas"
    if keys & _SIGNING_HINTS or any(k.startswith("x-oss-") for k in keys):
        return "unknown"
    return "none"


# (expiry, problem): the problem names the parameter whose value is present but unusable.
_Expiry = tuple[datetime | None, str | None]


def _expires_at(query: dict[str, str]) -> _Expiry:
    # V4 schemes sign a start time plus a lifetime; the older ones an absolute Unix time.
    for date_key, ttl_key in (
        ("x-oss-date", "x-oss-expires"),
        ("x-amz-date", "x-amz-expires"),
        ("x-goog-date", "x-goog-expires"),
    ):
        if date_key in query and ttl_key in query:
            return _after(date_key, query[date_key], ttl_key, query[ttl_key])
    for key in ("expires", "x-oss-expires"):  # x-oss-expires alone: OSS V2, absolute
        if key in query:
            return _unix_time(key, query[key])
    if "se" in query:
        return _iso_time("se", query["se"])
    return None, None


def _unix_time(key: str, value: str) -> _Expiry:
    if not _UNIX_SECONDS.fullmatch(value):
        return None, _expiry_problem(_param(key, value), _UNREADABLE)
    try:
        return datetime.fromtimestamp(int(value), tz=UTC), None
    except (OverflowError, OSError, ValueError):
        return None, _expiry_problem(_param(key, value), _OUT_OF_RANGE)


def _compact_date(value: str) -> datetime | None:
    if not _COMPACT_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:  # no such day, or year 0000
        return None


def _after(date_key: str, date: str, ttl_key: str, seconds: str) -> _Expiry:
    start = _compact_date(date)
    if start is None:
        return None, _expiry_problem(_param(date_key, date), _UNREADABLE)
    if not _UNIX_SECONDS.fullmatch(seconds):
        return None, _expiry_problem(_param(ttl_key, seconds), _UNREADABLE)
    try:
        return start + timedelta(seconds=int(seconds)), None
    except OverflowError:  # 99991231T235959Z plus any lifetime is in year 10000
        both = f"{_param(date_key, date)} plus {_param(ttl_key, seconds)}"
        return None, _expiry_problem(both, _OUT_OF_RANGE)


def _iso_time(key: str, value: str) -> _Expiry:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, _expiry_problem(_param(key, value), _UNREADABLE)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), None  # Azure SAS times are UTC by definition
    try:
        return parsed.astimezone(UTC), None
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC
        return None, _expiry_problem(_param(key, value), _OUT_OF_RANGE)


def _param(key: str, value: str) -> str:
    # Only expiry parameters get here: their values sign nothing, so showing them leaks nothing.
    return f"{key}={_printable(value, _VALUE_MAX)}"


def _expiry_problem(what: str, reason: str) -> str:
    return f"{what} {reason}; expiry unknown"


def _path_digest(path: str) -> str | None:
    path = _unquote(path)
    layout = _LAYOUT_DIGEST.search(path)
    if layout is not None and layout.group("hex").startswith(layout.group("prefix")):
        return f"{layout.group('alg')}:{layout.group('hex')}"
    direct = _DIRECT_DIGEST.search(path)  # GHCR: /ghcr1/blobs/sha256:<hex>
    if direct is not None:
        return f"{direct.group('alg')}:{direct.group('hex')}"
    return None


def _shown_url(url: str) -> str:
    # Redact first, then cut: cutting first could leave half a signature unrecognised.
    return _shown(redact_url(url), _SHOWN_MAX)


def _shown(text: str, limit: int) -> str:
    """`text` quoted on one line, with at most `limit` of its characters."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else shown + "..."


def _printable(text: str, limit: int) -> str:
    """`text` unquoted but on one line (control characters escaped), at most `limit` of it."""
    head = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit]
    )
    return head if len(text) <= limit else head + "..."


_ALIBABA_INTERNAL = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)


def classify_address(ip: str) -> str:
    """Where an address lives; internal OSS endpoints resolve into 100.64.0.0/10."""
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return "other"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _ALIBABA_INTERNAL:
        return "alibaba-internal"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if any(address in network for network in _PRIVATE):
        return "private"
    # Python calls multicast "global"; nobody downloads a blob from it.
    if address.is_global and not address.is_multicast:
        return "public"
    return "other"
