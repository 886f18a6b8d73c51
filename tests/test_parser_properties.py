"""Every parser of server input is total, linear and keeps its messages short.

Total: it returns a value or raises its own error type, so that a hostile or broken server
yields a report and never a traceback (OverflowError, RecursionError, ValueError from int(),
...). Linear: a 1 MB header or body costs about what reading it costs. Short: an error
message quotes at most ~200 characters of what the server sent, and never the token.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acrdiag.reference import (
    ImageReference,
    Platform,
    ReferenceError,
    parse_platform,
    parse_reference,
)
from acrdiag.registry.challenge import (
    MAX_CHALLENGES,
    Challenge,
    ChallengeError,
    parse_www_authenticate,
    pick_challenge,
)
from acrdiag.registry.errors import MAX_ERRORS, RegistryError, parse_registry_errors
from acrdiag.registry.manifests import (
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ManifestError,
    ParsedManifest,
    UnsupportedMediaTypeError,
    parse_manifest,
    platform_label,
)
from acrdiag.registry.storage import LocationError, StorageLocation, parse_location
from acrdiag.registry.storage_errors import StorageError, parse_storage_error
from acrdiag.registry.token import (
    Jwt,
    TokenError,
    TokenResponse,
    claim_time,
    decode_jwt,
    parse_scopes,
    parse_token_response,
)
from tests.support.strategies import (
    INT64_MAX,
    KIB,
    Rfc3339,
    big_strings,
    deep_json,
    invalid_rfc3339_times,
    json_values,
    nested_json,
    non_finite_floats,
    repeated,
    rfc3339_times,
    to_json,
    unix_seconds,
)

# An error message may quote ~200 characters of server input; escaping can turn one character
# into up to ten ("\U0001f600"), so the bound for arbitrary text is generous. Any parser that
# echoes its whole input still fails it by far on the 100 KB+ inputs.
MESSAGE_MAX = 2600
SHORT_MESSAGE_MAX = 300  # for printable ASCII input, where nothing needs escaping
SECRET = "S3cretT0kenValue"  # marks a value that must never reach a message

FEW = settings(max_examples=60)
SOME = settings(max_examples=150)
# Each example is 100 KB to 1 MB; hypothesis' 200 ms deadline would measure the machine.
BIG = settings(max_examples=12, deadline=None)

_DATETIME_MIN = datetime.min.replace(tzinfo=UTC)
_DATETIME_MAX = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGEST = "sha256:" + "a" * 64


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8


def _expected_instant(time_: Rfc3339) -> datetime | None:
    """What `time_` means in UTC, or None when Python's datetime cannot hold it."""
    seconds = time_.epoch_seconds()
    low = (_DATETIME_MIN - _EPOCH).total_seconds()
    high = (_DATETIME_MAX - _EPOCH).total_seconds()
    if not low <= seconds <= high:
        return None
    return _EPOCH + timedelta(seconds=seconds, microseconds=time_.micros)


# --- WWW-Authenticate ------------------------------------------------------------------------

_HEADERISH = st.text(alphabet='BearBasic realm="=,\\ \t;:/Negotiatx+AZ09', max_size=120)


@SOME
@given(st.lists(st.text(max_size=200) | _HEADERISH, max_size=3))
def test_challenge_parser_returns_or_raises_challenge_error(values: list[str]) -> None:
    try:
        challenges = parse_www_authenticate(values)
    except ChallengeError as exc:
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert all(isinstance(challenge, Challenge) for challenge in challenges)


@BIG
@given(
    prefix=st.sampled_from(["", "Bearer ", 'Bearer realm="', "Bearer realm=x,", "Basic , "]),
    big=big_strings(),
)
def test_challenge_parser_on_big_headers(prefix: str, big: str) -> None:
    try:
        challenges = parse_www_authenticate([prefix + big])
    except ChallengeError as exc:
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert len(challenges) <= MAX_CHALLENGES


def test_a_90_kb_quoted_value_is_read_whole() -> None:
    value = "a" * (90 * KIB)
    [challenge] = parse_www_authenticate([f'Bearer realm="{value}",service="x"'])
    assert challenge.realm == value and challenge.service == "x"


def test_a_90_kb_escaped_value_is_unescaped() -> None:
    [challenge] = parse_www_authenticate(['Bearer realm="' + '\\"' * (45 * KIB) + '"'])
    assert challenge.realm == '"' * (45 * KIB)


def test_a_90_kb_parameter_name_is_not_echoed_whole() -> None:
    name = "n" * (90 * KIB)
    with pytest.raises(ChallengeError, match="parameter 'nnn") as info:
        parse_www_authenticate([f'Bearer realm="r", {name}=, x'])
    assert len(str(info.value)) <= SHORT_MESSAGE_MAX + 100


def test_a_flood_of_challenges_keeps_the_first_few_and_still_finds_bearer() -> None:
    header = 'Bearer realm="https://auth/token"' + ", Negotiate" * 200_000
    challenges = parse_www_authenticate([header])
    assert len(challenges) == MAX_CHALLENGES
    picked = pick_challenge(challenges)
    assert picked is not None and picked.realm == "https://auth/token"


def test_a_syntax_error_after_the_kept_challenges_is_still_reported() -> None:
    with pytest.raises(ChallengeError, match="unterminated"):
        parse_www_authenticate(["Negotiate, " * (MAX_CHALLENGES * 2) + 'Bearer realm="open'])


# --- token responses -------------------------------------------------------------------------


def _token_body(**fields: object) -> bytes:
    return to_json({"token": SECRET, **fields})


@SOME
@given(rfc3339_times())
def test_every_rfc3339_issued_at_go_accepts_is_read_or_reported(time_: Rfc3339) -> None:
    # docker decodes issued_at into a Go time.Time, which holds any year 0000-9999: a time that
    # Python's datetime cannot hold must not fail a token docker would use.
    parsed = parse_token_response(_token_body(issued_at=time_.text))
    expected = _expected_instant(time_)
    if expected is None:
        assert parsed.issued_at is None
        [problem] = parsed.problems
        assert time_.text[:40] in problem and "outside the range" in problem
    else:
        assert parsed.issued_at == expected and parsed.problems == ()


@FEW
@given(invalid_rfc3339_times())
def test_issued_at_go_refuses_is_a_token_error(text: str) -> None:
    with pytest.raises(TokenError, match="issued_at"):
        parse_token_response(_token_body(issued_at=text))


@SOME
@given(st.one_of(unix_seconds(), non_finite_floats(), json_values()))
def test_expires_in_is_an_int64_or_a_token_error(value: object) -> None:
    # Go decodes expires_in into an int: anything else fails docker's token request.
    body = _token_body(expires_in=value)
    is_int64 = type(value) is int and -(2**63) <= value <= INT64_MAX
    if value is None or is_int64:
        assert parse_token_response(body).expires_in == value
    else:
        with pytest.raises(TokenError, match="expires_in") as info:
            parse_token_response(body)
        assert len(str(info.value)) <= MESSAGE_MAX


@SOME
@given(
    key=st.sampled_from(["token", "access_token"]),
    token=st.sampled_from([SECRET, SECRET + " \n", "\x00" + SECRET]),
    others=st.dictionaries(
        st.sampled_from(["token", "access_token", "expires_in", "issued_at", "refresh_token"]),
        json_values(),
    ),
)
def test_token_response_is_total_and_never_echoes_the_token(
    key: str, token: str, others: dict[str, object]
) -> None:
    try:
        parsed = parse_token_response(to_json({**others, key: token}))
    except TokenError as exc:
        assert SECRET not in str(exc)
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert isinstance(parsed, TokenResponse)
    assert all(SECRET not in problem and len(problem) <= 200 for problem in parsed.problems)


@BIG
@given(big_strings())
def test_token_response_on_big_bodies(big: str) -> None:
    for body in (_bytes(big), _bytes('{"token": "' + big + '"}'), _token_body(issued_at=big)):
        try:
            parse_token_response(body)
        except TokenError as exc:
            assert len(str(exc)) <= MESSAGE_MAX


@SOME
@given(st.one_of(unix_seconds(), non_finite_floats(), json_values()))
def test_claim_time_is_a_utc_datetime_or_none(value: object) -> None:
    got = claim_time({"exp": value}, "exp")
    assert got is None or got.tzinfo is UTC
    if type(value) is int and -62135596800 <= value <= 253402300799:
        assert got == _EPOCH + timedelta(seconds=value)


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_JWT_HEAD = _segment(b'{"alg":"RS256"}')


@FEW
@given(
    header=st.one_of(json_values().map(to_json), deep_json(), st.binary(max_size=40)),
    claims=st.one_of(json_values().map(to_json), deep_json(), st.binary(max_size=40)),
)
def test_decode_jwt_is_total(header: bytes, claims: bytes) -> None:
    try:
        jwt = decode_jwt(f"{_segment(header)}.{_segment(claims)}.c2ln")
    except TokenError as exc:
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert isinstance(jwt, Jwt)


@pytest.mark.parametrize("depth", [600, 2000])
def test_deeply_nested_jwt_claims_decode_or_are_a_token_error(depth: int) -> None:
    claims = b'{"a":' * depth + b"1" + b"}" * depth
    token = f"{_JWT_HEAD}.{_segment(claims)}.c2ln"
    try:
        assert decode_jwt(token).header == {"alg": "RS256"}
    except TokenError as exc:
        assert "claims" in str(exc)


@FEW
@given(st.text(max_size=200) | big_strings(max_size=200 * KIB))
def test_parse_scopes_is_total(text: str) -> None:
    try:
        parse_scopes(text)
    except TokenError as exc:
        assert len(str(exc)) <= MESSAGE_MAX


def test_issued_at_before_year_one_in_utc_is_a_problem_not_a_failure() -> None:
    parsed = parse_token_response(_token_body(issued_at="0001-01-01T00:00:00+01:00"))
    assert parsed.token == SECRET and parsed.issued_at is None
    assert parsed.problems == (
        "issued_at 0001-01-01T00:00:00+01:00 is outside the range acrdiag can represent; ignored",
    )


def test_issued_at_after_year_9999_in_utc_is_a_problem_not_a_failure() -> None:
    parsed = parse_token_response(_token_body(issued_at="9999-12-31T23:59:59-01:00"))
    assert parsed.issued_at is None and len(parsed.problems) == 1


def test_issued_at_in_year_0_that_is_year_1_in_utc_is_read() -> None:
    # Found by the property above: Python has no year 0, but this instant is in year 1.
    parsed = parse_token_response(_token_body(issued_at="0000-12-31T23:00:00-01:00"))
    assert parsed.issued_at == datetime(1, 1, 1, tzinfo=UTC) and parsed.problems == ()


def test_claim_time_of_a_400_digit_number_is_none() -> None:
    assert claim_time({"exp": 10**400}, "exp") is None


# --- manifests -------------------------------------------------------------------------------


def _image(size: object, **extra: object) -> bytes:
    layer = {"mediaType": "application/octet-stream", "digest": _DIGEST, "size": size}
    config = {"mediaType": "application/json", "digest": _DIGEST, "size": 1}
    return to_json({"mediaType": OCI_MANIFEST, "config": config, "layers": [layer], **extra})


@SOME
@given(unix_seconds())
def test_descriptor_size_is_an_int64_or_a_manifest_error(size: int | float) -> None:
    # ocispec.Descriptor.Size is an int64: containerd refuses a manifest with a larger size.
    if type(size) is int and 0 <= size <= INT64_MAX:
        manifest = parse_manifest(_image(size), None)
        assert manifest.layers[0].size == size
        return
    with pytest.raises(ManifestError, match=r"layers\[0\]\.size") as info:
        parse_manifest(_image(size), None)
    assert len(str(info.value)) <= SHORT_MESSAGE_MAX


@SOME
@given(
    document=st.dictionaries(
        st.sampled_from(
            ["mediaType", "schemaVersion", "config", "layers", "manifests", "fsLayers"]
        ),
        json_values(),
    ),
    content_type=st.none() | st.text(max_size=60),
)
def test_parse_manifest_is_total(document: dict[str, object], content_type: str | None) -> None:
    try:
        manifest = parse_manifest(to_json(document), content_type)
    except ManifestError as exc:
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert isinstance(manifest, ParsedManifest)
    for desc in manifest.manifests:
        assert len(platform_label(desc)) <= 200


@FEW
@given(deep_json())
def test_deep_manifests_are_a_manifest_error(body: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(body, OCI_MANIFEST)


@BIG
@given(big=big_strings(), where=st.sampled_from(["mediaType", "body", "content-type"]))
def test_parse_manifest_on_big_input(big: str, where: str) -> None:
    body, content_type = _image(1), OCI_MANIFEST
    if where == "mediaType":
        body = to_json({"mediaType": big, "config": {}, "layers": []})
    elif where == "body":
        body = _bytes(big)
    else:
        body, content_type = to_json({"config": {}, "layers": []}), big
    try:
        parse_manifest(body, content_type)
    except ManifestError as exc:
        assert len(str(exc)) <= MESSAGE_MAX


@FEW
@given(
    os_name=st.text(max_size=20) | big_strings(max_size=200 * KIB),
    arch=st.text(max_size=20) | big_strings(max_size=200 * KIB),
    variant=st.none() | st.text(max_size=20) | big_strings(max_size=200 * KIB),
)
def test_platform_label_is_bounded(os_name: str, arch: str, variant: str | None) -> None:
    platform = {"os": os_name, "architecture": arch, "variant": variant}
    desc = Descriptor("x", _DIGEST, 1, platform)
    assert len(platform_label(desc)) <= 3 * 64 + 2


def test_a_size_of_10_to_the_400_is_out_of_range() -> None:
    with pytest.raises(ManifestError, match=r"size 1000.* is out of range") as info:
        parse_manifest(_image(10**400), None)
    assert len(str(info.value)) <= SHORT_MESSAGE_MAX


def test_the_largest_int64_size_is_accepted() -> None:
    assert parse_manifest(_image(INT64_MAX), None).layers[0].size == INT64_MAX


def test_an_integer_too_long_for_python_is_a_manifest_error() -> None:
    body = b'{"schemaVersion": 2, "size": ' + b"9" * 5000 + b"}"
    with pytest.raises(ManifestError, match="not JSON"):
        parse_manifest(body, OCI_MANIFEST)


def test_a_200_kb_media_type_is_shortened_in_the_message() -> None:
    media_type = "application/vnd.evil+" + "x" * (200 * KIB)
    with pytest.raises(UnsupportedMediaTypeError, match=r"application/vnd\.evil\+xxx") as info:
        parse_manifest(to_json({"mediaType": media_type}), None)
    assert len(str(info.value)) < SHORT_MESSAGE_MAX


def test_a_200_kb_platform_is_shortened_with_a_marker() -> None:
    index = {
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": _DIGEST,
                "size": 1,
                "platform": {"os": "linux", "architecture": "a" * (200 * KIB)},
            }
        ],
    }
    label = platform_label(parse_manifest(to_json(index), None).manifests[0])
    assert label.startswith("linux/aaa") and label.endswith("…") and len(label) <= 80


# --- storage redirects -----------------------------------------------------------------------

_AZURE = "https://acct.blob.core.windows.net/c/b?sv=2019-12-12&sig=" + SECRET
_OSS = "https://bucket.oss-cn-hangzhou.aliyuncs.com/b?OSSAccessKeyId=k&Signature=" + SECRET
_OSS4 = "https://bucket.oss-cn-hangzhou.aliyuncs.com/b?x-oss-signature=" + SECRET


def _assert_expiry_consistent(location: StorageLocation, named: str) -> None:
    # Present but unusable is said, once, with the parameter's name and never the signature.
    assert (location.expires_at is None) == (location.expiry_problem is not None)
    if location.expiry_problem is not None:
        assert location.expiry_problem.startswith(named)
        assert SECRET not in location.expiry_problem
        assert len(location.expiry_problem) <= 300
    else:
        assert location.expires_at is not None and location.expires_at.tzinfo is not None


@SOME
@given(rfc3339_times())
def test_azure_expiry_is_a_time_or_a_problem(time_: Rfc3339) -> None:
    location = parse_location(f"{_AZURE}&se={quote(time_.text, safe='')}")
    _assert_expiry_consistent(location, "se=")
    if location.expires_at is not None:
        assert location.expires_at == _expected_instant(time_)


@SOME
@given(st.one_of(unix_seconds(), st.text(max_size=30)))
def test_unix_expiry_is_a_time_or_a_problem(value: object) -> None:
    location = parse_location(f"{_OSS}&Expires={quote(str(value), safe='')}")
    _assert_expiry_consistent(location, "expires=")


@SOME
@given(
    date=rfc3339_times().map(lambda t: f"{t.year:04d}{t.month:02d}{t.day:02d}T235959Z"),
    ttl=st.one_of(unix_seconds(), st.text(max_size=12)),
)
def test_v4_expiry_is_a_time_or_a_problem(date: str, ttl: object) -> None:
    query = f"&x-oss-date={date}&x-oss-expires={quote(str(ttl), safe='')}"
    _assert_expiry_consistent(parse_location(_OSS4 + query), "x-oss-")


_URLISH = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}{path}?{query}&Signature={SECRET}",
    st.sampled_from(["http", "https", "ftp", ""]),
    st.text(max_size=40) | st.just("[::1") | st.just("h:99999"),
    st.text(max_size=40),
    st.text(max_size=80),
)


@SOME
@given(location=st.text(max_size=200) | _URLISH, base=st.none() | _URLISH)
def test_parse_location_is_total_and_hides_signatures(location: str, base: str | None) -> None:
    try:
        parsed = parse_location(location, base_url=base)
    except LocationError as exc:
        assert SECRET not in str(exc)
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert isinstance(parsed, StorageLocation)
    assert parsed.expiry_problem is None or SECRET not in parsed.expiry_problem


@BIG
@given(
    prefix=st.sampled_from(["https://", "https://h:", "https://h/?", "https://h/?se=", "/"]),
    big=big_strings(),
)
def test_parse_location_on_big_input(prefix: str, big: str) -> None:
    try:
        parse_location(prefix + big, base_url="https://registry.example/v2/")
    except LocationError as exc:
        assert len(str(exc)) <= MESSAGE_MAX


def test_azure_expiry_in_year_10000_utc_is_a_problem_not_a_crash() -> None:
    location = parse_location(f"{_AZURE}&se=9999-12-31T23:59:59-01:00")
    assert location.expires_at is None
    assert location.expiry_problem == (
        "se=9999-12-31T23:59:59-01:00 is outside the range acrdiag can represent; expiry unknown"
    )


def test_v4_expiry_past_year_9999_is_a_problem_not_a_crash() -> None:
    location = parse_location(_OSS4 + "&x-oss-date=99991231T235959Z&x-oss-expires=60")
    assert location.expires_at is None
    assert location.expiry_problem is not None and "outside the range" in location.expiry_problem


def test_an_unreadable_expiry_is_named() -> None:
    location = parse_location(f"{_OSS}&Expires=1714557600000")  # milliseconds, not seconds
    assert location.expiry_problem == "expires=1714557600000 is not a time acrdiag can read;" + (
        " expiry unknown"
    )


@pytest.mark.parametrize(
    ("location", "base"),
    [
        (f"https://user:{SECRET}\uff03@host/b", None),  # urllib quotes the netloc in its error
        ("/b", f"https://user:{SECRET}\uff03@host/v2/"),
        ("https://host:" + "a" * (100 * KIB) + "/b", None),  # and the port, however long
    ],
)
def test_urllib_complaints_are_described_not_echoed(location: str, base: str | None) -> None:
    with pytest.raises(LocationError) as info:
        parse_location(location, base_url=base)
    assert SECRET not in str(info.value) and len(str(info.value)) <= SHORT_MESSAGE_MAX


def test_a_1_mb_location_is_shortened_in_the_message() -> None:
    with pytest.raises(LocationError) as info:
        parse_location("https://h:99999/" + "a" * (1024 * KIB))
    assert len(str(info.value)) <= SHORT_MESSAGE_MAX


# --- storage and registry error bodies -------------------------------------------------------

_XMLISH = st.text(alphabet="<>/ErorCdMsgqI!=\"'?&;xmlDOCTYPEENTITY é\x00\ufeff", max_size=200)


@SOME
@given(
    body=st.binary(max_size=300) | _XMLISH.map(_bytes) | deep_json(200),
    headers=st.none() | st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=3),
)
def test_parse_storage_error_never_raises(body: bytes, headers: dict[str, str] | None) -> None:
    result = parse_storage_error(body, headers)
    assert result is None or isinstance(result, StorageError)


@BIG
@given(big_strings())
def test_parse_storage_error_on_big_bodies(big: str) -> None:
    parse_storage_error(_bytes("<Error><Code>" + big[: 60 * KIB] + "</Code></Error>"))
    parse_storage_error(_bytes(big), {"x-oss-ec": big})


def test_a_dtd_in_utf16_is_refused_like_any_other() -> None:
    # A byte search for "<!DOCTYPE" does not see UTF-16, but expat reads it.
    document = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE Error [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<Error><Code>&b;</Code></Error>"
    )
    assert parse_storage_error(document.encode("utf-16-le")) is None


def test_an_azure_body_with_a_byte_order_mark_is_read() -> None:
    body = b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed'
    body += b"</Code><Message>Signature fields not well formed.</Message></Error>"
    assert parse_storage_error(body) == StorageError(
        "AuthenticationFailed", "Signature fields not well formed.", None, None, None
    )


@SOME
@given(
    st.one_of(
        st.binary(max_size=200),
        deep_json(),
        st.lists(
            st.fixed_dictionaries(
                {"code": json_values(), "message": json_values(), "detail": json_values()}
            ),
            max_size=30,
        ).map(lambda errors: to_json({"errors": errors})),
    )
)
def test_parse_registry_errors_never_raises(body: bytes) -> None:
    errors = parse_registry_errors(body)
    assert len(errors) <= MAX_ERRORS
    assert all(isinstance(e.code, str) and isinstance(e.message, str) for e in errors)


@pytest.mark.parametrize("field", ["code", "message", "detail"])
def test_a_600_deep_error_field_is_kept_not_raised(field: str) -> None:
    deep = nested_json(600).decode()
    body = f'{{"errors": [{{"code": "DENIED", "message": "m", "{field}": {deep}}}]}}'
    [error] = parse_registry_errors(body.encode())
    assert isinstance(error, RegistryError)
    if field == "detail":
        assert isinstance(error.detail, list)
    else:
        assert getattr(error, field).startswith("[[[")


def test_huge_numbers_in_an_error_are_text() -> None:
    body = b'{"errors": [{"code": 1e999, "message": ' + b"9" * 400 + b"}]}"
    [error] = parse_registry_errors(body)
    assert error.code == "INFINITY" and error.message == "9" * 400


# --- references and platforms ----------------------------------------------------------------


@SOME
@given(st.text(max_size=300) | st.from_regex(r"[a-z0-9.:/@_\[\]-]{1,80}", fullmatch=True))
def test_parse_reference_is_total(text: str) -> None:
    try:
        reference = parse_reference(text)
    except ReferenceError as exc:
        assert len(str(exc)) <= MESSAGE_MAX
        return
    assert isinstance(reference, ImageReference)


@SOME
@given(st.text(max_size=100) | st.from_regex(r"[a-zA-Z0-9/._-]{1,40}", fullmatch=True))
def test_parse_platform_is_total(text: str) -> None:
    try:
        assert isinstance(parse_platform(text), Platform)
    except ReferenceError as exc:
        assert len(str(exc)) <= MESSAGE_MAX


@BIG
@given(
    prefix=st.sampled_from(["", "host:", "host:5000/", "a@sha256:", "linux/"]), big=big_strings()
)
def test_references_and_platforms_on_big_input(prefix: str, big: str) -> None:
    for parse in (parse_reference, parse_platform):
        try:
            parse(prefix + big)
        except ReferenceError as exc:
            assert len(str(exc)) <= MESSAGE_MAX


def test_a_5000_digit_port_is_a_reference_error() -> None:
    with pytest.raises(ReferenceError, match="invalid registry port"):
        parse_reference("registry:" + "1" * 5000 + "/app")


def test_a_port_with_leading_zeros_is_still_a_port() -> None:
    assert parse_reference("localhost:0005000/app").port == 5000


# --- linear time -----------------------------------------------------------------------------


# (name, a call on 1 MB of the worst pattern found for that parser, the errors it may raise)
_LINEAR_CASES: list[tuple[str, Callable[[], object], tuple[type[Exception], ...]]] = [
    ("challenge ,a", lambda: parse_www_authenticate([repeated(",a")]), (ChallengeError,)),
    (
        "challenge a=a,",
        lambda: parse_www_authenticate(["B " + repeated("a=a,")]),
        (ChallengeError,),
    ),
    (
        "challenge quoted",
        lambda: parse_www_authenticate(['B r="' + repeated("\\")]),
        (ChallengeError,),
    ),
    (
        "challenge a,",
        lambda: parse_www_authenticate(["B a=b, " + repeated("a,")]),
        (ChallengeError,),
    ),
    ("token body [", lambda: parse_token_response(repeated("[").encode()), (TokenError,)),
    (
        "token issued_at",
        lambda: parse_token_response(_token_body(issued_at="2024-01-01T00:00:00." + repeated("9"))),
        (TokenError,),
    ),
    ("jwt dots", lambda: decode_jwt(repeated(".")), (TokenError,)),
    ("jwt eyJ", lambda: decode_jwt(f"{_JWT_HEAD}.{repeated('eyJ')}.!"), (TokenError,)),
    ("scopes", lambda: parse_scopes(repeated("a-") + "!:n:pull"), (TokenError,)),
    ("manifest [", lambda: parse_manifest(repeated("[").encode(), None), (ManifestError,)),
    (
        "manifest mediaType",
        lambda: parse_manifest(to_json({"mediaType": repeated("a")}), None),
        (ManifestError,),
    ),
    ("location %", lambda: parse_location("https://h/?" + repeated("%")), (LocationError,)),
    ("location a=", lambda: parse_location("https://h/?" + repeated("a=&")), (LocationError,)),
    ("location path", lambda: parse_location("https://h/blobs/" + repeated("0")), (LocationError,)),
    (
        "location host",
        lambda: parse_location("https://" + repeated("a-.") + "!/"),
        (LocationError,),
    ),
    (
        "storage error",
        lambda: parse_storage_error(repeated("<").encode(), {"x": repeated("a")}),
        (),
    ),
    ("registry errors", lambda: parse_registry_errors(repeated("[").encode()), ()),
    ("reference a/", lambda: parse_reference(repeated("a/") + "A"), (ReferenceError,)),
    ("reference a-", lambda: parse_reference("h/" + repeated("a-") + "!"), (ReferenceError,)),
    ("reference host", lambda: parse_reference(repeated("a-a.") + "-/x"), (ReferenceError,)),
    ("reference surrogate", lambda: parse_reference(repeated("\ud800")), (ReferenceError,)),
    ("platform", lambda: parse_platform("linux/" + repeated("a.") + "!"), (ReferenceError,)),
]


@pytest.mark.parametrize(
    ("call", "errors"),
    [pytest.param(call, errors, id=name) for name, call, errors in _LINEAR_CASES],
)
def test_a_1_mb_adversarial_input_takes_well_under_two_seconds(
    call: Callable[[], object], errors: tuple[type[Exception], ...]
) -> None:
    # An absolute bound with a wide margin rather than a ratio of two timings: each case takes
    # well under 0.5 s on a laptop, while quadratic behaviour on 1 MB (10**12 steps) takes
    # minutes, so even a slow, loaded CI machine cannot turn one into the other.
    start = time.perf_counter()
    with contextlib.suppress(*errors):
        call()
    assert time.perf_counter() - start < 2.0
