from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.registry.token import (
    DEFAULT_EXPIRES_IN,
    NoTokenError,
    Scope,
    TokenError,
    audience_matches,
    claim_time,
    decode_jwt,
    granted_actions,
    looks_like_jwt,
    parse_scopes,
    parse_token_response,
    pull_scope,
)

ACR_SERVICE = "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e"
IAT = 1714557600  # 2024-05-01T10:00:00Z
ISSUED = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _segment(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def make_jwt(claims: object, header: object | None = None, signature: str = "c2ln") -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": "PYYO:TEWU:V7JH"} if header is None else header
    return f"{_segment(header)}.{_segment(claims)}.{signature}"


# What ACR's token service grants for an EE pull (nbf = iat - 300, exp = iat + 600).
ACR_CLAIMS: dict[str, Any] = {
    "iss": "dockerauth.cn-hangzhou.aliyuncs.com",
    "sub": "",
    "aud": ACR_SERVICE,
    "exp": IAT + 600,
    "nbf": IAT - 300,
    "iat": IAT,
    "jti": "0b7e5f2c-3c1e-4a8f-9d1e-6f3b2a1c9d8e",
    "access": [{"type": "repository", "name": "ns/app", "actions": ["pull"]}],
}
ACR_JWT = make_jwt(ACR_CLAIMS)
NOT_UTF8 = base64.urlsafe_b64encode(b"\xff\xfe{").decode()


@pytest.mark.parametrize(
    ("body", "token", "expires_in", "issued_at", "refresh"),
    [
        # Docker Hub sends both names and nanosecond timestamps.
        (
            {
                "token": ACR_JWT,
                "access_token": ACR_JWT,
                "expires_in": 300,
                "issued_at": "2024-05-01T10:00:00.447581338Z",
            },
            ACR_JWT,
            300,
            datetime(2024, 5, 1, 10, 0, 0, 447581, tzinfo=UTC),
            False,
        ),
        # ACR: access_token only, no expires_in.
        ({"access_token": ACR_JWT}, ACR_JWT, None, None, False),
        # Harbor.
        (
            {"token": "eyJhbGciOi.x.y", "expires_in": 1800, "issued_at": "2024-05-01T10:00:00Z"},
            "eyJhbGciOi.x.y",
            1800,
            ISSUED,
            False,
        ),
        # An offset is converted to UTC.
        ({"token": "t", "issued_at": "2024-05-01T18:00:00+08:00"}, "t", None, ISSUED, False),
        ({"token": "t", "issued_at": "2024-05-01t10:00:00z"}, "t", None, ISSUED, False),
        # GCR's opaque OAuth token.
        ({"token": "ya29.c.b0Aaek", "expires_in": 3599}, "ya29.c.b0Aaek", 3599, None, False),
        # An empty "token" falls back to "access_token".
        ({"token": "", "access_token": "at"}, "at", None, None, False),
        ({"token": "t", "expires_in": None}, "t", None, None, False),
        ({"token": "t", "refresh_token": "kas9Da81Dfa8"}, "t", None, None, True),
        ({"token": "t", "refresh_token": ""}, "t", None, None, False),
    ],
)
def test_parse_token_response(
    body: dict[str, Any],
    token: str,
    expires_in: int | None,
    issued_at: datetime | None,
    refresh: bool,
) -> None:
    parsed = parse_token_response(json.dumps(body).encode())
    assert (parsed.token, parsed.expires_in, parsed.issued_at, parsed.has_refresh_token) == (
        token,
        expires_in,
        issued_at,
        refresh,
    )
    # Reported in UTC, whatever offset the token service used.
    if parsed.issued_at is not None:
        assert parsed.issued_at.isoformat().endswith("+00:00")


def test_default_expiry_is_the_spec_default() -> None:
    assert DEFAULT_EXPIRES_IN == 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'["token"]', "not a JSON object but an array"),
        (b'"eyJhbGciOiJSUzI1NiJ9"', "not a JSON object but a string"),
        (b"null", "not a JSON object but null"),
        (b'{"token": "t", "expires_in": "300"}', "expires_in is not an integer: '300'"),
        (b'{"token": "t", "expires_in": 60.5}', "expires_in is not an integer"),
        (b'{"token": "t", "expires_in": true}', "expires_in is not an integer"),
        (b'{"token": "t", "issued_at": "2024-05-01"}', "issued_at is not an RFC 3339 time"),
        (b'{"token": "t", "issued_at": 1714557600}', "issued_at is not an RFC 3339 time"),
        (b'{"token": "t", "issued_at": "2024-13-01T00:00:00Z"}', "issued_at is not a valid time"),
    ],
)
def test_bad_token_responses(body: bytes, message: str) -> None:
    with pytest.raises(TokenError) as info:
        parse_token_response(body)
    assert message in str(info.value)
    # Only a JSON object without a token is "no token"; broken answers are a different cause.
    assert not isinstance(info.value, NoTokenError)


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"token": ""}',
        b'{"token": 12345}',
        b'{"access_token": null}',
        # Docker Hub's 401 body from the token service.
        b'{"details": "incorrect username or password"}',
    ],
)
def test_no_token(body: bytes) -> None:
    with pytest.raises(NoTokenError, match="no non-empty 'token' or 'access_token'"):
        parse_token_response(body)


def test_no_token_message_lists_the_keys_received() -> None:
    with pytest.raises(NoTokenError, match="keys: 'details'"):
        parse_token_response(b'{"details": "incorrect username or password"}')


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (ACR_JWT, True),
        (make_jwt({"sub": ""}, {"alg": "ES256"}, signature=""), True),
        # GCR OAuth tokens have dots but are not JWTs.
        ("ya29.c.b0Aaekm1KfZ3lR2u0.9xYz", False),
        # GHCR anonymous tokens are plain base64.
        ("djE6YWN0aW9ucy9ydW5uZXI6MTcxNDU1NzYwMA==", False),
        (make_jwt({"sub": ""}, {"typ": "JWT"}), False),
        (ACR_JWT.rsplit(".", 1)[0], False),
        ("", False),
        ("..", False),
    ],
)
def test_looks_like_jwt(token: str, expected: bool) -> None:
    assert looks_like_jwt(token) is expected


def test_decode_jwt_reads_header_and_claims() -> None:
    jwt = decode_jwt(ACR_JWT)
    assert jwt.header["alg"] == "RS256"
    assert jwt.claims == ACR_CLAIMS


def test_decode_jwt_accepts_padded_segments() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode()
    claims = base64.urlsafe_b64encode(b'{"sub":"user"}').decode()
    assert "=" in header + claims
    assert decode_jwt(f"{header}.{claims}.sig").claims == {"sub": "user"}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc", "this token has 1"),
        ("a.b.c.d", "this token has 4"),
        (f".{_segment({})}.sig", "JWT header is not base64url"),
        (f"{_segment({'alg': 'RS256'})}.not+base64.sig", "JWT claims is not base64url"),
        (f"{_segment({'alg': 'RS256'})}.e30x.sig", "claims is not base64url-encoded JSON"),
        (f"{_segment([1])}.{_segment({})}.sig", "JWT header is not a JSON object but an array"),
        (f"{_segment({'alg': 'RS256'})}.{_segment('x')}.sig", "claims is not a JSON object"),
        (f"{_segment({'alg': 'RS256'})}.{_segment({})}.si/g", "signature is not base64url"),
        (f"{_segment({'alg': 'RS256'})}.{NOT_UTF8}.s", "claims is not base64url-encoded JSON"),
    ],
)
def test_decode_jwt_rejects_garbage(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message.replace("+", r"\+")):
        decode_jwt(token)


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("", []),
        (
            "repository:library/alpine:pull",
            [Scope("repository", None, "library/alpine", ("pull",))],
        ),
        (
            "repository:localhost:5000/ns/app:pull,push",
            [Scope("repository", None, "localhost:5000/ns/app", ("pull", "push"))],
        ),
        (
            "repository(plugin):vieux/sshfs:pull",
            [Scope("repository", "plugin", "vieux/sshfs", ("pull",))],
        ),
        ("registry:catalog:*", [Scope("registry", None, "catalog", ("*",))]),
        (
            "repository:ns/app:pull  repository:ns/base:pull,push",
            [
                Scope("repository", None, "ns/app", ("pull",)),
                Scope("repository", None, "ns/base", ("pull", "push")),
            ],
        ),
        # The grammar allows an empty action list.
        ("repository:ns/app:", [Scope("repository", None, "ns/app", ())]),
    ],
)
def test_parse_scopes(text: str, scopes: list[Scope]) -> None:
    assert parse_scopes(text) == scopes


@pytest.mark.parametrize(
    "text",
    [
        "repository:ns/app:pull",
        "repository:localhost:5000/ns/app:pull,push",
        "repository(plugin):vieux/sshfs:pull",
        "registry:catalog:*",
    ],
)
def test_scope_str_gives_back_the_wire_form(text: str) -> None:
    assert [str(scope) for scope in parse_scopes(text)] == [text]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("repository:ns/app", "is not 'type:name:actions'"),
        ("repository", "is not 'type:name:actions'"),
        ("repository::pull", "is not 'type:name:actions'"),
        ("Repository:ns/app:pull", "invalid resource type"),
        ("repository(:ns/app:pull", "invalid resource type"),
        ("repository:ns/app:pull;push", "invalid action"),
        ("repository:ns/app:pull repository:ns/app", "'repository:ns/app' is not"),
    ],
)
def test_parse_scopes_rejects(text: str, message: str) -> None:
    with pytest.raises(TokenError, match=message.replace("(", r"\(")):
        parse_scopes(text)


def test_pull_scope() -> None:
    scope = pull_scope("localhost:5000/ns/app")
    assert scope == "repository:localhost:5000/ns/app:pull"
    assert parse_scopes(scope) == [Scope("repository", None, "localhost:5000/ns/app", ("pull",))]


def _entry(name: str, actions: object, kind: str = "repository") -> dict[str, object]:
    return {"type": kind, "name": name, "actions": actions}


@pytest.mark.parametrize(
    ("access", "granted"),
    [
        ([_entry("ns/app", ["pull"])], {"pull"}),
        ([_entry("ns/app", ["pull"]), _entry("ns/app", ["push"])], {"pull", "push"}),
        ([_entry("ns/app", ["*"])], {"*"}),
        ([_entry("ns/other", ["pull"])], set()),
        ([_entry("ns/app", ["pull"], kind="registry")], set()),
        # Anonymous or unauthorized: the token service grants nothing instead of failing.
        ([], set()),
        (None, set()),
        ("repository:ns/app:pull", set()),
        ({"type": "repository", "name": "ns/app", "actions": ["pull"]}, set()),
        ([None, "x", 3, _entry("ns/app", "pull")], set()),
        ([_entry("ns/app", ["pull", 7, None]), "junk"], {"pull"}),
    ],
)
def test_granted_actions(access: object, granted: set[str]) -> None:
    claims = {"aud": ACR_SERVICE} if access is None else {"access": access}
    assert granted_actions(claims, "repository", "ns/app") == granted


@pytest.mark.parametrize(
    ("aud", "matches"),
    [
        (ACR_SERVICE, True),
        ("registry.docker.io", False),
        (["registry.docker.io", ACR_SERVICE], True),
        (["registry.docker.io"], False),
        ([1, None], False),
        (7, False),
        (None, False),
    ],
)
def test_audience_matches(aud: object, matches: bool) -> None:
    claims = {} if aud is None else {"aud": aud}
    assert audience_matches(claims, ACR_SERVICE) is matches


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IAT, ISSUED),
        (IAT + 0.5, datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("1714557600", None),
        (True, None),
        (None, None),
        (1e20, None),
        (float("nan"), None),
        (float("inf"), None),
        ([IAT], None),
    ],
)
def test_claim_time(value: object, expected: datetime | None) -> None:
    claims = {"iat": value}
    assert claim_time(claims, "iat") == expected


def test_claim_time_of_acr_token() -> None:
    claims = decode_jwt(ACR_JWT).claims
    nbf, iat, exp = (claim_time(claims, name) for name in ("nbf", "iat", "exp"))
    assert nbf is not None and iat is not None and exp is not None
    assert (iat - nbf).total_seconds() == 300
    assert (exp - iat).total_seconds() == 600
    assert claim_time(claims, "missing") is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_TOKEN_KEYS = st.sampled_from(
    ["token", "access_token", "expires_in", "issued_at", "refresh_token", "details"]
)
_TOKEN_VALUES = (
    _JSON
    | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
    | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?Z")
)


@given(
    st.binary(max_size=200)
    | st.dictionaries(_TOKEN_KEYS, _TOKEN_VALUES, max_size=5).map(
        lambda body: json.dumps(body).encode()
    )
)
def test_parse_token_response_only_raises_token_error(body: bytes) -> None:
    try:
        parsed = parse_token_response(body)
    except TokenError:
        return
    assert parsed.token
    assert parsed.issued_at is None or parsed.issued_at.tzinfo is UTC


@given(
    st.text(max_size=200)
    | st.tuples(_JSON, _JSON, st.text(max_size=10)).map(
        lambda parts: f"{_segment(parts[0])}.{_segment(parts[1])}.{parts[2]}"
    )
)
def test_decode_jwt_only_raises_token_error(token: str) -> None:
    try:
        jwt = decode_jwt(token)
    except TokenError:
        assert not looks_like_jwt(token)
        return
    assert isinstance(jwt.claims, dict)
    assert looks_like_jwt(token) is ("alg" in jwt.header)


@given(st.text(max_size=120) | st.from_regex(r"[a-z()]{1,12}:[a-z0-9:/._-]{0,20}:[a-z*,]{0,12}"))
def test_parse_scopes_only_raises_token_error(text: str) -> None:
    try:
        scopes = parse_scopes(text)
    except TokenError:
        return
    for scope in scopes:
        assert parse_scopes(str(scope)) == [scope]


@given(st.dictionaries(st.sampled_from(["access", "aud", "exp", "x"]), _JSON))
def test_claim_helpers_never_raise_on_odd_claims(claims: dict[str, Any]) -> None:
    assert isinstance(granted_actions(claims, "repository", "ns/app"), set)
    assert isinstance(audience_matches(claims, ACR_SERVICE), bool)
    exp = claim_time(claims, "exp")
    assert exp is None or exp.tzinfo is UTC
