"""Servers' clocks, read from the Date header of their answers.

The registry, not the client, decides whether a token is valid, and storage
whether a signed URL has expired: each by its own clock. So acrdiag judges
times by the clock of the server that decides, and treats the local clock's
offset from it as evidence, not as the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Beyond this the local clock's offset from a server is worth a warning.
SKEW_WARNING_S = 60
# distribution checks nbf and exp with 60 s of leeway either way.
REGISTRY_LEEWAY_S = 60
# A redirect whose Date is this much older than its registry's clock was replayed.
STALE_AFTER_S = 300
LOCAL = "the local clock (no server sent a Date header)"


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware UTC time, or None when absent or unreadable."""
    if not value or len(value) > 64:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": RFC 5322's "unknown zone"; HTTP dates are GMT
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


@dataclass(frozen=True)
class ClockReading:
    host: str
    server_time: datetime
    local_time: datetime

    @property
    def offset_s(self) -> float:
        """How far the server's clock is ahead of the local one (negative: behind)."""
        return (self.server_time - self.local_time).total_seconds()


class ServerClocks:
    """The first Date each host sent; a later answer may be a cached replay."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.now = now
        self.readings: dict[str, ClockReading] = {}

    def note(self, host: str, date_header: str | None) -> None:
        if host in self.readings:
            return
        server_time = parse_http_date(date_header)
        if server_time is not None:
            self.readings[host] = ClockReading(host, server_time, self.now())

    def time_at(self, host: str) -> datetime | None:
        """What ``host``'s clock says now, if it sent a Date."""
        reading = self.readings.get(host)
        if reading is None:
            return None
        return self.now() + (reading.server_time - reading.local_time)


@dataclass(frozen=True)
class JudgingClock:
    """The time a decision is judged by, and whose clock gave it."""

    now: datetime
    name: str


def describe_offset(offset_s: float, whose: str, than: str) -> str:
    """'the local clock is 3600 s behind the registry's', for offset = their - ours."""
    direction = "behind" if offset_s > 0 else "ahead of"
    return f"{whose} is {abs(offset_s):.0f} s {direction} {than}"
