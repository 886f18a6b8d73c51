"""Hypothesis strategies for hostile server input: calendar edges, huge numbers, big strings.

The parsers under test read what registries, token services and object storage send, so the
values here are what a broken or hostile server can send, weighted to the edges where real
bugs were found: a time one hour before year 1, a size past int64, a 1 MB run of one
character that makes a backtracking or per-character parser stall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import strategies as st

# Years where Python's datetime, 32-bit time_t or Go's parser change behaviour.
EDGE_YEARS = (0, 1, 2, 1969, 1970, 2038, 9998, 9999)
INT64_MAX = 2**63 - 1

# Adversarial units for big strings: each is a known worst case for some parser (base64
# and JWT segments, query strings, backslash escapes, percent-escapes, JSON nesting, lists).
ADVERSARIAL_UNITS = (
    "a",
    "eyJ",
    "a=",
    ",a",
    "a,",
    "\\",
    "%",
    "[",
    "{",
    '"',
    "a=a,",
    "a-",
    "a.",
    "a/",
    "0",
    "&",
    " ",
    "\t",
    "\x00",
    "\ud800",
    "é",
)
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Rfc3339:
    """An RFC 3339 time's fields and text, so that a test can compute what it means."""

    text: str
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    micros: int
    offset_minutes: int  # east of UTC

    def epoch_seconds(self) -> int:
        """Seconds since 1970-01-01T00:00:00Z, computed without datetime (any year 0-9999)."""
        days = days_from_civil(self.year, self.month, self.day)
        local = days * 86400 + self.hour * 3600 + self.minute * 60 + self.second
        return local - self.offset_minutes * 60


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm)."""
    if month <= 2:
        year -= 1  # count from March, so that the leap day ends the year
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _edge_or_any(edges: tuple[int, ...], low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


@st.composite
def rfc3339_times(draw: st.DrawFn) -> Rfc3339:
    """Well-formed RFC 3339 times that Go's time.Time accepts, weighted to the calendar's edges."""
    year = draw(_edge_or_any(EDGE_YEARS, 0, 9999))
    month = draw(_edge_or_any((1, 2, 12), 1, 12))
    last = days_in_month(year, month)
    day = draw(_edge_or_any((1, 28, last), 1, last))
    hour = draw(_edge_or_any((0, 23), 0, 23))
    minute = draw(_edge_or_any((0, 59), 0, 59))
    second = draw(_edge_or_any((0, 59), 0, 59))
    digits = draw(st.sampled_from(("", "1", "123", "123456", "123456789", "1234567891234")))
    zone_hours = draw(_edge_or_any((0, 1, 23), 0, 23))
    zone_minutes = draw(_edge_or_any((0, 59), 0, 59))
    sign = draw(st.sampled_from("+-"))
    offset = (zone_hours * 60 + zone_minutes) * (1 if sign == "+" else -1)
    if offset == 0 and draw(st.booleans()):
        zone = draw(st.sampled_from("Zz"))
    else:
        zone = f"{sign}{zone_hours:02d}:{zone_minutes:02d}"
    separator = draw(st.sampled_from("Tt")) if draw(st.booleans()) else "T"
    fraction = f".{digits}" if digits else ""
    text = (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction}{zone}"
    )
    micros = int(digits[:6].ljust(6, "0")) if digits else 0
    return Rfc3339(text, year, month, day, hour, minute, second, micros, offset)


# Field values Go's parseRFC3339 refuses, in an otherwise well-formed time.
_INVALID_FIELDS = (
    ("2024-13-01T00:00:00Z", "month 13"),
    ("2024-00-10T00:00:00Z", "month 0"),
    ("2024-01-32T00:00:00Z", "day 32"),
    ("2024-01-00T00:00:00Z", "day 0"),
    ("2023-02-29T00:00:00Z", "February 29 in a common year"),
    ("1900-02-29T00:00:00Z", "February 29 in a century year"),
    ("2024-04-31T00:00:00Z", "April 31"),
    ("2024-01-01T24:00:00Z", "hour 24"),
    ("2024-01-01T00:60:00Z", "minute 60"),
    ("2016-12-31T23:59:60Z", "leap second"),
    ("2024-01-01T00:00:00+24:00", "offset hour 24"),
    ("2024-01-01T00:00:00+00:60", "offset minute 60"),
)
# Not RFC 3339 at all: Go fails these before looking at any field.
_MALFORMED = (
    "",
    "2024-01-01",
    "2024-01-01T00:00:00",
    "2024-01-01 00:00:00Z",
    "2024-1-1T00:00:00Z",
    "24-01-01T00:00:00Z",
    "+12024-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00,5Z",
    "2024-01-01T00:00:00+0100",
    "2024-01-01T00:00:00+01",
    "2024-01-01T00:00:00UTC",
    "2024-01-01T00:00:00Z ",
    "２０２４-01-01T00:00:00Z",
    "1714557600",
)


def invalid_rfc3339_times() -> st.SearchStrategy[str]:
    """Strings Go's time.Time refuses: impossible fields (month 13, :60, ...) or wrong shape."""
    return st.one_of(
        st.sampled_from([text for text, _ in _INVALID_FIELDS]),
        st.sampled_from(_MALFORMED),
    )


def unix_seconds() -> st.SearchStrategy[int | float]:
    """NumericDate values at the edges: 0, -1, 2**31, 2**63, 10**400, floats; JSON-encodable."""
    edges: tuple[int | float, ...] = (
        0,
        -1,
        2**31 - 1,
        2**31,
        2**32,
        253402300799,  # 9999-12-31T23:59:59Z
        253402300800,
        -62135596800,  # 0001-01-01T00:00:00Z
        -62135596801,
        INT64_MAX,
        2**63,
        -(2**63),
        10**400,
        -(10**400),
        0.5,
        -0.5,
        1e308,
        -1e308,
        5e-324,
        253402300799.9999999,
    )
    return st.one_of(
        st.sampled_from(edges),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def non_finite_floats() -> st.SearchStrategy[float]:
    """inf and nan: Python's json reads and writes them (Infinity, NaN); servers send them."""
    return st.sampled_from((float("inf"), float("-inf"), float("nan")))


def big_strings(min_size: int = 100 * KIB, max_size: int = MIB) -> st.SearchStrategy[str]:
    """100 KB to 1 MB of one adversarial unit repeated, sometimes with a different last char."""
    return st.builds(
        _repeat,
        st.sampled_from(ADVERSARIAL_UNITS),
        st.integers(min_size, max_size),
        st.sampled_from(("", "!", "=", '"', ",", "\x01")),
    )


def _repeat(unit: str, size: int, tail: str) -> str:
    return unit * (size // len(unit)) + tail


def repeated(unit: str, size: int = MIB) -> str:
    """`size` characters of `unit` repeated: the deterministic form of big_strings."""
    return _repeat(unit, size, "")


def deep_json(max_depth: int = 2000) -> st.SearchStrategy[bytes]:
    """Arrays or objects nested up to `max_depth` levels, closed or left open."""
    return st.builds(
        nested_json,
        st.integers(1, max_depth),
        st.sampled_from(("array", "object")),
        st.booleans(),
    )


def nested_json(depth: int, kind: str = "array", closed: bool = True) -> bytes:
    opener, closer = ("[", "]") if kind == "array" else ('{"a":', "}")
    text = opener * depth + "1" + (closer * depth if closed else "")
    return text.encode()


def json_values(max_leaves: int = 20) -> st.SearchStrategy[object]:
    """Any JSON value a server can send, with huge numbers and non-finite floats among them."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        unix_seconds(),
        non_finite_floats(),
        st.text(max_size=40),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=10), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def to_json(value: object) -> bytes:
    """Encode as a server would; Python writes inf and nan as Infinity and NaN."""
    return json.dumps(value).encode()
