"""URLs servers hand over (Location, realm): joined and judged without ever raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.net.urls import resolve_redirect, usable_http_url, with_query

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
