"""Token service responses, JWT claims and scopes (docker token-auth spec).

Nothing here verifies a signature: acrdiag only reads what the token service
granted, to explain why the registry will or will not accept the token.
"""

from __future__ import annotations

import base64
import calendar
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# token.md: "If omitted, a default of 60 seconds should be assumed."
DEFAULT_EXPIRES_IN = 60
# What an Authorization header can carry after "Bearer ": visible ASCII.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
# Go decodes expires_in into an int (int64): a larger number fails the whole token response.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DAYS_IN_400_YEARS = 146097
# What a message quotes of a server's value; nothing in these messages is a secret.
_SHOWN_MAX = 80
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*=*", re.ASCII)
# scope.md: resourcetype [ "(" resourceclass ")" ], each /[a-z0-9]+(?:[._-][a-z0-9]+)*/.
_RESOURCE_TYPE = re.compile(
    r"([a-z0-9]+(?:[._-][a-z0-9]+)*)(?:\(([a-z0-9]+(?:[._-][a-z0-9]+)*)\))?", re.ASCII
)
# The spec says /[a-z]*/, but "*" and vendor actions ("metadata_read") occur in practice.
_ACTION = re.compile(r"[A-Za-z0-9_*.-]+", re.ASCII)


class TokenError(ValueError):
    """A token response, JWT or scope that cannot be read."""


class NoTokenError(TokenError):
    """Valid JSON object, but without a non-empty "token" or "access_token" string."""


@dataclass(frozen=True)
class TokenResponse:
    token: str
    expires_in: int | None
    issued_at: datetime | None
    has_refresh_token: bool
    # Values docker accepts but acrdiag cannot use, one sentence each (never the token).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]


@dataclass(frozen=True)
class Scope:
    resource_type: str
    resource_class: str | None
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        kind = self.resource_type
        if self.resource_class is not None:
            kind += f"({self.resource_class})"
        return f"{kind}:{self.name}:{','.join(self.actions)}"


def parse_token_response(body: bytes) -> TokenResponse:
    """Read a token service's JSON answer."""
    document = _load_json(body)
    if not isinstance(document, dict):
        raise TokenError(f"token response is not a JSON object but {_json_kind(document)}")
    token = _non_empty_str(document.get("token")) or _non_empty_str(document.get("access_token"))
    if token is None:
        keys = ", ".join(_one_line(key) for key in sorted(document)[:10]) or "none"
        raise NoTokenError(
            f"token response has no non-empty 'token' or 'access_token' string (keys: {keys})"
        )
    if not _HEADER_SAFE.fullmatch(token):
        # Never echo it: it is a secret even when malformed.
        raise TokenError("the token holds spaces or control characters no HTTP header can carry")
    problems: list[str] = []
    return TokenResponse(
        token=token,
        expires_in=_expires_in(document.get("expires_in")),
        issued_at=_issued_at(document.get("issued_at"), problems),
        has_refresh_token=_non_empty_str(document.get("refresh_token")) is not None,
        problems=tuple(problems),
    )


def looks_like_jwt(token: str) -> bool:
    """True if `token` is three base64url segments whose header is a JSON object with "alg"."""
    try:
        return "alg" in decode_jwt(token).header
    except TokenError:
        return False


def decode_jwt(token: str) -> Jwt:
    """Decode a compact JWS without verifying it."""
    dots = token.count(".")  # counted, not split: a hostile token may be a million dots
    if dots != 2:
        raise TokenError(f"a JWT has 3 dot-separated parts, this token has {dots + 1}")
    parts = token.split(".")
    header = _decode_segment(parts[0], "header")
    claims = _decode_segment(parts[1], "claims")
    # The signature is not checked, but it must at least be base64url (empty for alg "none").
    if not _BASE64URL.fullmatch(parts[2]):
        raise TokenError("JWT signature is not base64url")
    return Jwt(header, claims)


def parse_scopes(text: str) -> list[Scope]:
    """Parse space-separated scopes such as `repository:ns/app:pull,push`."""
    return [_parse_scope(item) for item in text.split()]


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def granted_actions(claims: dict[str, Any], resource_type: str, name: str) -> set[str]:
    """Union of the actions the "access" claim grants on one resource ("*" included as is)."""
    access = claims.get("access")
    granted: set[str] = set()
    if not isinstance(access, list):
        return granted
    for entry in access:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") != resource_type or entry.get("name") != name:
            continue
        actions = entry.get("actions")
        if isinstance(actions, list):
            granted.update(action for action in actions if isinstance(action, str))
    return granted


def audience_matches(claims: dict[str, Any], service: str) -> bool:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return audience == service
    if isinstance(audience, list):
        return service in [item for item in audience if isinstance(item, str)]
    return False


def claim_time(claims: dict[str, Any], name: str) -> datetime | None:
    """A NumericDate claim (exp, nbf, iat) as an aware UTC datetime."""
    value = claims.get(name)
    # bool is an int subclass, and true is not a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # Only floats can be NaN or infinite; math.isfinite(10**400) would raise OverflowError.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _load_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except RecursionError:
        raise TokenError("token response is not JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise TokenError(f"token response is not JSON ({_one_line(exc)})") from None


def _expires_in(value: object) -> int | None:
    if value is None:
        return None
    # docker decodes into an int and fails on anything else, so do we.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TokenError(f"expires_in is not an integer: {_one_line(value)}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise TokenError(f"expires_in {_one_line(value)} is out of range for a 64-bit integer")
    return value


def _issued_at(value: object, problems: list[str]) -> datetime | None:
    """issued_at as Go's time.Time reads it (strict RFC 3339); None if absent or unusable."""
    if value is None:
        return None
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise TokenError(f"issued_at is not an RFC 3339 time: {_one_line(value)}")
    numbers = (int(group or 0) for group in match.group(1, 2, 3, 4, 5, 6, 9, 10))
    year, month, day, hour, minute, second, zone_hours, zone_minutes = numbers
    # Go's parseRFC3339 ranges: outside them, docker's token request fails too.
    if not (
        1 <= month <= 12
        and 1 <= day <= _days_in(year, month)
        and hour <= 23
        and minute <= 59
        and second <= 59
        and zone_hours <= 23
        and zone_minutes <= 59
    ):
        raise TokenError(f"issued_at is not a valid time: {_one_line(value)}")
    # Go keeps nanoseconds and drops further digits; Python keeps microseconds.
    micro = int((match.group(7) or "")[:6].ljust(6, "0"))
    offset = timedelta(hours=zone_hours, minutes=zone_minutes)
    zone = timezone(-offset if match.group(8) == "-" else offset)
    # Python has no year 0, but the Gregorian calendar repeats every 400 years: read it as
    # year 400 and move back, so that 0000-12-31T23:00:00-01:00 is still 0001-01-01T00:00Z.
    shift = timedelta(days=_DAYS_IN_400_YEARS) if year == 0 else timedelta(0)
    try:
        local = datetime(year or 400, month, day, hour, minute, second, micro, zone)
        return local.astimezone(UTC) - shift
    except (ValueError, OverflowError):
        # Before year 1 or after 9999 once in UTC: Go holds such a time and docker uses the
        # token, so this is a remark about the time, not a failure.
        shown = _clip(match.string)  # digits and separators only: the regex allows no more
        problems.append(f"issued_at {shown} is outside the range acrdiag can represent; ignored")
        return None


def _days_in(year: int, month: int) -> int:
    # Year 0 is a leap year in Go's proleptic Gregorian calendar; calendar.isleap(0) agrees.
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _decode_segment(segment: str, what: str) -> dict[str, Any]:
    if not segment or not _BASE64URL.fullmatch(segment):
        raise TokenError(f"JWT {what} is not base64url")
    stripped = segment.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
        value = json.loads(raw)
    except (ValueError, RecursionError):  # binascii.Error is a ValueError
        raise TokenError(f"JWT {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"JWT {what} is not a JSON object but {_json_kind(value)}")
    return value


def _parse_scope(item: str) -> Scope:
    # The name may hold "host:port", so only the first and last ':' are separators.
    kind, sep, rest = item.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        raise TokenError(f"scope {_one_line(item)} is not 'type:name:actions'")
    match = _RESOURCE_TYPE.fullmatch(kind)
    if match is None:
        raise TokenError(f"scope {_one_line(item)} has an invalid resource type")
    parsed = tuple(action for action in actions.split(",") if action)
    if not all(_ACTION.fullmatch(action) for action in parsed):
        raise TokenError(f"scope {_one_line(item)} has an invalid action")
    return Scope(match.group(1), match.group(2), name, parsed)


def _non_empty_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_kind(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _one_line(value: object) -> str:
    if isinstance(value, str):
        value = value[: _SHOWN_MAX + 1]  # repr of the whole of a 1 MB string is wasted work
    try:
        text = str(value) if isinstance(value, BaseException) else repr(value)
    except RecursionError:
        return "(deeply nested value)"
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return "(an integer too long to show)"
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."
