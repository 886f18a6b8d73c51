"""Exit codes: a small stable enum (README "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    # Typer/Click usage errors exit 2 too; keep 2 for every kind of bad input.
    USAGE = 2
    # A run that fails first at step N (acrdiag.steps) exits STEP_BASE + N.
    STEP_BASE = 10
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
    TERMINATED = 143  # SIGTERM (cron's timeout, systemd, Kubernetes): 128 + 15

    @staticmethod
    def for_step(number: int) -> int:
        return ExitCode.STEP_BASE + number
