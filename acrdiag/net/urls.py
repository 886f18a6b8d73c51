"""URLs that servers hand us (Location, realm): joined and checked without ever raising."""

from __future__ import annotations

from urllib.parse import urlencode, urljoin, urlsplit


def usable_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def resolve_redirect(base: str, location: str) -> str | None:
    """The absolute URL a Location header points at, or None when no client could follow it."""
    try:
        target = urljoin(base, location.strip())
    except ValueError:
        return None
    return target if usable_http_url(target) else None


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended, whether or not it has a query already."""
    query = urlencode(params)
    if url.endswith(("?", "&")):
        return url + query
    return url + ("&" if urlsplit(url).query else "?") + query
