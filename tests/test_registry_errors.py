from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.registry.errors import RegistryError, first_code, parse_registry_errors


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        # Docker Hub, anonymous pull of a private or missing repository.
        (
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
            b'"detail":[{"Type":"repository","Class":"","Name":"ns/private","Action":"pull"}]}]}\n',
            [
                RegistryError(
                    "UNAUTHORIZED",
                    "authentication required",
                    [{"Type": "repository", "Class": "", "Name": "ns/private", "Action": "pull"}],
                )
            ],
        ),
        (
            b'{"errors":[{"code":"DENIED",'
            b'"message":"requested access to the resource is denied"}]}',
            [RegistryError("DENIED", "requested access to the resource is denied")],
        ),
        (
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
            b'"detail":{"Tag":"v9"}}]}',
            [RegistryError("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "v9"})],
        ),
        (
            b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate '
            b"limit. You may increase the limit by authenticating and upgrading: "
            b'https://www.docker.com/increase-rate-limit"}]}',
            [
                RegistryError(
                    "TOOMANYREQUESTS",
                    "You have reached your pull rate limit. You may increase the limit by "
                    "authenticating and upgrading: https://www.docker.com/increase-rate-limit",
                )
            ],
        ),
        # Several errors keep their order.
        (
            b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"},'
            b'{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}',
            [
                RegistryError("NAME_UNKNOWN", "repository name not known to registry"),
                RegistryError("BLOB_UNKNOWN", "blob unknown to registry"),
            ],
        ),
        # Lower-case codes are normalized, odd types are coerced to text.
        (
            b'{"errors":[{"code":"denied","message":403}]}',
            [RegistryError("DENIED", "403")],
        ),
        (
            b'{"errors":[{"code":null,"message":["a","b"]}]}',
            [RegistryError("", '["a", "b"]')],
        ),
        (b'{"errors":[{}]}', [RegistryError("", "")]),
        # Entries that are not objects are skipped.
        (
            b'{"errors":["oops", null, {"code":"UNSUPPORTED","message":"x"}]}',
            [RegistryError("UNSUPPORTED", "x")],
        ),
        # UTF-16 JSON is still JSON.
        (
            '{"errors":[{"code":"DENIED","message":"拒绝"}]}'.encode("utf-16"),
            [RegistryError("DENIED", "拒绝")],
        ),
    ],
)
def test_parse_registry_errors(body: bytes, errors: list[RegistryError]) -> None:
    assert parse_registry_errors(body) == errors


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><head><title>403 Forbidden</title></head><body>nginx</body></html>",
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>',
        b"\xff\xfe\xfd",
        b"[" * 100_000,
        b"null",
        b'[{"code":"DENIED"}]',
        b'{"errors":{"code":"DENIED"}}',
        b'{"errors":"DENIED"}',
        # Quay's and the token service's older shapes are not registry errors.
        b'{"error": "Invalid bearer token format"}',
        b'{"details": "incorrect username or password"}',
        b'{"errors": []}',
    ],
)
def test_other_bodies_give_no_errors(body: bytes) -> None:
    assert parse_registry_errors(body) == []


def test_at_most_twenty_errors_are_kept() -> None:
    entries = [{"code": f"CODE_{index}", "message": "m"} for index in range(50)]
    errors = parse_registry_errors(json.dumps({"errors": entries}).encode())
    assert len(errors) == 20
    assert errors[0].code == "CODE_0"
    assert errors[-1].code == "CODE_19"


def test_skipped_entries_do_not_count_towards_the_limit() -> None:
    entries: list[Any] = ["junk"] * 30 + [{"code": "DENIED", "message": "m"}]
    assert parse_registry_errors(json.dumps({"errors": entries}).encode()) == [
        RegistryError("DENIED", "m")
    ]


@pytest.mark.parametrize(
    ("errors", "code"),
    [
        ([RegistryError("DENIED", "m"), RegistryError("UNAUTHORIZED", "m")], "DENIED"),
        ([RegistryError("", "no code"), RegistryError("NAME_UNKNOWN", "m")], "NAME_UNKNOWN"),
        ([RegistryError("", "no code")], None),
        ([], None),
    ],
)
def test_first_code(errors: list[RegistryError], code: str | None) -> None:
    assert first_code(errors) == code


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["code", "message", "detail", "x"]), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.binary(max_size=200)
    | _JSON.map(lambda value: json.dumps({"errors": value}).encode())
    | _JSON.map(lambda value: json.dumps(value).encode())
)
def test_parse_registry_errors_never_raises(body: bytes) -> None:
    errors = parse_registry_errors(body)
    assert len(errors) <= 20
    for error in errors:
        assert isinstance(error.code, str) and error.code == error.code.upper()
        assert isinstance(error.message, str)
