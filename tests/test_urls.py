"""URLs servers hand over (Location, realm): joined and judged without ever raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.net.urls import (
    is_downgrade,
    resolve_redirect,
    same_origin,
    split_userinfo,
    usable_http_url,
    with_query,
)

BASE = "https://shop-registry.cn-hangzhou.cr.aliyuncs.com/v2/ns/app/blobs/sha256:ab"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?Expires=1",
            "https://b.oss-cn-hangzhou.aliyuncs.com/x?Expires=1",
        ),
        (
            "/v2/ns/app/blobs/other",
            "https://shop-registry.cn-hangzhou.cr.aliyuncs.com/v2/ns/app/blobs/other",
        ),
        ("  http://cdn.example.com/a  ", "http://cdn.example.com/a"),
        ("http://[oops/blob", None),
        ("https://host:99999/x", None),
        ("file:///etc/passwd", None),
        ("ftp://mirror.example.com/blob", None),
        # A scheme makes a Location absolute (Go): no host is "no Host in request URL",
        # not a path on the current host, as urljoin would have it.
        ("https:///v2/ns/app/blobs/other", None),
        ("https:/v2/ns/app/blobs/other", None),
        ("HTTPS://cdn.example.com/a", "HTTPS://cdn.example.com/a"),
    ],
)
def test_resolve_redirect(location: str, expected: str | None) -> None:
    assert resolve_redirect(BASE, location) == expected


@pytest.mark.parametrize(
    ("realm", "usable"),
    [
        ("https://dockerauth.cn-hangzhou.aliyuncs.com/auth", True),
        ("https://[::1/token", False),
        ("/token", False),
        ("https://[::1]:8443/token", True),
        ("gopher://x/", False),
    ],
)
def test_usable_http_url(realm: str, usable: bool) -> None:
    assert usable_http_url(realm) is usable


@pytest.mark.parametrize(
    ("realm", "expected"),
    [
        ("https://a/token", "https://a/token?scope=s"),
        ("https://a/token?x=1", "https://a/token?x=1&scope=s"),
        ("https://a/token?", "https://a/token?scope=s"),
    ],
)
def test_with_query(realm: str, expected: str) -> None:
    assert with_query(realm, {"scope": "s"}) == expected


@given(st.text(max_size=200))
def test_resolve_redirect_never_raises(location: str) -> None:
    result = resolve_redirect(BASE, location)
    assert result is None or usable_http_url(result)


@pytest.mark.parametrize(
    ("url", "bare", "had"),
    [
        ("https://u:p@h.example/x?y=1", "https://h.example/x?y=1", True),
        ("https://u@h.example:8443/x", "https://h.example:8443/x", True),
        ("https://h.example/x@y", "https://h.example/x@y", False),
        ("https://[::1/x", "https://[::1/x", False),
    ],
)
def test_split_userinfo(url: str, bare: str, had: bool) -> None:
    assert split_userinfo(url) == (bare, had)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://r.example/v2/", "https://R.example:443/x", True),
        ("https://r.example/v2/", "https://r.example:5000/x", False),
        ("https://r.example/v2/", "http://r.example/x", False),
        ("https://r.example/v2/", "https://sub.r.example/x", False),
        ("https://r.example:99999/", "https://r.example:99999/", False),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same


def test_only_https_to_http_is_a_downgrade() -> None:
    assert is_downgrade("https://a/x", "http://a/x")
    assert is_downgrade("HTTPS://a/x", "HTTP://b/x")
    assert not is_downgrade("http://a/x", "http://a/y")
    assert not is_downgrade("http://a/x", "https://a/x")
    assert not is_downgrade("https://a/x", "https://b/x")
