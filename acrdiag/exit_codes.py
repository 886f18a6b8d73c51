"""Exit codes: a small stable enum (README "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    # Typer/Click usage errors exit 2 too; keep 2 for every kind of bad input.
    USAGE = 2
    REACHABILITY = 11
    CHALLENGE = 12
    AUTH_ENDPOINT = 13
    TOKEN_SCOPE = 14
    MANIFEST = 15
    OSS_RESOLUTION = 16
    BLOB_FETCH = 17
    INTERRUPTED = 130

    @classmethod
    def for_step(cls, number: int) -> ExitCode:
        return cls(10 + number)
