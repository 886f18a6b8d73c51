"""URLs that servers hand us (Location, realm): joined and checked without ever raising."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def usable_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and a valid port, that httpx can send to."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        httpx.URL(url)  # IDNA: "xn--reg-.example.com" is no host name (idna raises UnicodeError)
    except (ValueError, httpx.InvalidURL):  # UnicodeError is a ValueError
        return False
    return True


def resolve_redirect(base: str, location: str) -> str | None:
    """The absolute URL a Location header points at, or None when no client could follow it.

    A Location with a scheme is absolute, as in Go's URL.ResolveReference: Python's urljoin
    would read ``http:///path`` or ``http:/path`` as a path on the current host, where Go
    refuses the request ("no Host in request URL").
    """
    location = location.strip()
    try:
        target = location if _SCHEME.match(location) else urljoin(base, location)
    except ValueError:
        return None
    return target if usable_http_url(target) else None


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended, whether or not it has a query already."""
    query = urlencode(params)
    if url.endswith(("?", "&")):
        return url + query
    return url + ("&" if urlsplit(url).query else "?") + query


def split_userinfo(url: str) -> tuple[str, bool]:
    """``url`` without ``user:password@``, and whether it had any.

    httpx (like Go) turns userinfo into ``Authorization: Basic``; a URL a server handed us
    must never make acrdiag send credentials, so the userinfo is dropped before sending.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    if "@" not in parts.netloc:
        return url, False
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl(), True


def is_downgrade(source: str, target: str) -> bool:
    """True when a redirect leaves https for plain http: whatever it carries, anyone can read."""
    return source.lower().startswith("https:") and target.lower().startswith("http:")


def same_origin(a: str, b: str) -> bool:
    """Scheme, host and port all equal (default ports made explicit)."""
    origin = _origin(a)
    return origin is not None and origin == _origin(b)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    if default is None or not parts.hostname:
        return None
    return scheme, parts.hostname.rstrip(".").lower(), port or default
