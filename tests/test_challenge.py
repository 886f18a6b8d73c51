from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.registry.challenge import (
    Challenge,
    ChallengeError,
    parse_www_authenticate,
    pick_challenge,
)

ACR_EE_SERVICE = "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e"


@pytest.mark.parametrize(
    ("value", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
            "bearer",
            {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"},
        ),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/alpine:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
        ),
        (
            'Bearer realm="https://dockerauth.cn-hangzhou.aliyuncs.com/auth",'
            f'service="{ACR_EE_SERVICE}"',
            "bearer",
            {
                "realm": "https://dockerauth.cn-hangzhou.aliyuncs.com/auth",
                "service": ACR_EE_SERVICE,
            },
        ),
        (
            'Bearer realm="https://dockerauth.cn-hangzhou.aliyuncs.com/auth",'
            f'service="{ACR_EE_SERVICE}",scope="repository:ns/app:pull",error="insufficient_scope"',
            "bearer",
            {
                "realm": "https://dockerauth.cn-hangzhou.aliyuncs.com/auth",
                "service": ACR_EE_SERVICE,
                "scope": "repository:ns/app:pull",
                "error": "insufficient_scope",
            },
        ),
        (
            'Bearer realm="https://dockerauth.cn-hangzhou.aliyuncs.com/auth",'
            'service="registry.aliyuncs.com:cn-hangzhou:26842"',
            "bearer",
            {
                "realm": "https://dockerauth.cn-hangzhou.aliyuncs.com/auth",
                "service": "registry.aliyuncs.com:cn-hangzhou:26842",
            },
        ),
        (
            'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",'
            'service="ecr.amazonaws.com"',
            "basic",
            {
                "realm": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                "service": "ecr.amazonaws.com",
            },
        ),
        (
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
            'scope="repository:actions/runner:pull"',
            "bearer",
            {
                "realm": "https://ghcr.io/token",
                "service": "ghcr.io",
                "scope": "repository:actions/runner:pull",
            },
        ),
        (
            'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"',
            "bearer",
            {"realm": "https://harbor.example.com/service/token", "service": "harbor-registry"},
        ),
        (
            'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
            "bearer",
            {"realm": "https://quay.io/v2/auth", "service": "quay.io"},
        ),
        # Artifact Registry may leave out the service.
        (
            'Bearer realm="https://us-docker.pkg.dev/v2/token"',
            "bearer",
            {"realm": "https://us-docker.pkg.dev/v2/token"},
        ),
        # Case-insensitive scheme and names, loose whitespace, unquoted token values.
        (
            'BEARER  Realm = "https://gcr.io/v2/token" ,  Service=gcr.io',
            "bearer",
            {"realm": "https://gcr.io/v2/token", "service": "gcr.io"},
        ),
        # Commas and '=' inside quotes, backslash escapes, empty quoted values.
        (
            'Bearer realm="https://a.example/t?x=1,y=2",error_description="say \\"hi\\"\\\\",'
            'error=""',
            "bearer",
            {
                "realm": "https://a.example/t?x=1,y=2",
                "error_description": 'say "hi"\\',
                "error": "",
            },
        ),
        # Duplicated parameter: the last one wins, as in docker.
        ('Basic realm="first", realm="second"', "basic", {"realm": "second"}),
    ],
)
def test_single_challenge(value: str, scheme: str, params: dict[str, str]) -> None:
    assert parse_www_authenticate([value]) == [Challenge(scheme, params)]


def test_properties_expose_registry_parameters() -> None:
    [challenge] = parse_www_authenticate(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/alpine:pull",error="invalid_token",'
            'error_description="The access token expired"'
        ]
    )
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scope == "repository:library/alpine:pull"
    assert challenge.error == "invalid_token"
    assert challenge.error_description == "The access token expired"


def test_missing_parameters_are_none() -> None:
    [challenge] = parse_www_authenticate(['Bearer realm="https://us-docker.pkg.dev/v2/token"'])
    assert (challenge.service, challenge.scope, challenge.error) == (None, None, None)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            [
                'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                ' Basic realm="c"'
            ],
            [
                Challenge(
                    "bearer",
                    {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"},
                ),
                Challenge("basic", {"realm": "c"}),
            ],
        ),
        (
            ["Negotiate YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIGCSqGSIb3==, NTLM"],
            [
                Challenge(
                    "negotiate",
                    token68="YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIGCSqGSIb3==",
                ),
                Challenge("ntlm"),
            ],
        ),
        (
            ['Negotiate abc==, Basic realm="proxy"'],
            [Challenge("negotiate", token68="abc=="), Challenge("basic", {"realm": "proxy"})],
        ),
        (["Newauth a+b/c", "Basic"], [Challenge("newauth", token68="a+b/c"), Challenge("basic")]),
        # Duplicated headers arrive as a list; order is kept.
        (
            ['Basic realm="registry"', 'Bearer realm="https://ghcr.io/token",service="ghcr.io"'],
            [
                Challenge("basic", {"realm": "registry"}),
                Challenge("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io"}),
            ],
        ),
        # Empty list elements are allowed and empty values hold no challenge.
        ([' , Basic realm="x" ,, '], [Challenge("basic", {"realm": "x"})]),
        (["", "  "], []),
        ([], []),
    ],
)
def test_several_challenges(values: list[str], expected: list[Challenge]) -> None:
    assert parse_www_authenticate(values) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('Bearer realm="https://auth.docker.io/token', "unterminated quoted string at offset 13"),
        ('Bearer realm="x\\', "unterminated quoted string"),
        ('realm="https://auth.docker.io/token"', "parameter 'realm' has no authentication scheme"),
        ('Bearer realm="a" service="b"', "expected ',' after parameter 'realm'"),
        ("Bearer realm=https://auth.docker.io/token", "expected ',' after parameter 'realm'"),
        ('"Bearer"', "expected an authentication scheme at offset 0"),
        ('Bearer realm="a", ="b"', "expected an authentication scheme"),
        ('Bearer"x"', "unexpected '\"' after scheme 'Bearer'"),
        ('Bearer service="b", realm=, scope="c"', "parameter 'realm' has no value"),
        ("<html><body>401</body></html>", "expected an authentication scheme"),
        ('Bearer realm="a",service="b", Basic realm="c" x', "expected ',' after parameter 'realm'"),
    ],
)
def test_unparseable_headers(value: str, reason: str) -> None:
    with pytest.raises(ChallengeError) as info:
        parse_www_authenticate([value])
    assert reason in str(info.value)
    assert repr(value) in str(info.value)


def test_one_bad_value_among_several_fails() -> None:
    with pytest.raises(ChallengeError):
        parse_www_authenticate(['Bearer realm="ok"', 'Basic realm="broken'])


def test_long_header_is_shortened_in_the_message() -> None:
    with pytest.raises(ChallengeError) as info:
        parse_www_authenticate(['Bearer realm="' + "x" * 5000])
    assert len(str(info.value)) < 400


BEARER = Challenge("bearer", {"realm": "https://auth.docker.io/token"})
BASIC = Challenge("basic", {"realm": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/"})
NEGOTIATE = Challenge("negotiate")
NTLM = Challenge("ntlm")


@pytest.mark.parametrize(
    ("challenges", "picked"),
    [
        ([BASIC, BEARER], BEARER),
        ([NEGOTIATE, BASIC], BASIC),
        ([NEGOTIATE, NTLM], NEGOTIATE),
        ([NTLM, NEGOTIATE], NTLM),
        ([BASIC], BASIC),
        ([], None),
    ],
)
def test_pick_challenge_prefers_bearer_then_basic(
    challenges: list[Challenge], picked: Challenge | None
) -> None:
    assert pick_challenge(challenges) == picked


_HEADERISH = st.text(alphabet='BearBasic realm="=,\\ \t;:/Negotiatx+AZ09', max_size=80)


@given(st.lists(st.text(max_size=120) | _HEADERISH, max_size=3))
def test_parser_only_raises_challenge_error(values: list[str]) -> None:
    try:
        challenges = parse_www_authenticate(values)
    except ChallengeError:
        return
    for challenge in challenges:
        assert challenge.scheme == challenge.scheme.lower()
        assert challenge.scheme
        assert all(name == name.lower() for name in challenge.params)
