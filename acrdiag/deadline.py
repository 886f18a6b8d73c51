"""The run's overall deadline, shared by every network operation."""

from __future__ import annotations

import time
from collections.abc import Callable


class DeadlineExceeded(Exception):
    """The run's --deadline ran out."""


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds
        self.seconds = seconds

    def cancel(self) -> None:
        """End the run now: every wait clamped to this deadline ends (Ctrl-C, a crash)."""
        self._end = float("-inf")

    def remaining(self) -> float:
        return self._end - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.expired():
            raise DeadlineExceeded(f"the run's deadline of {self.seconds:g} s ran out")

    def clamp(self, timeout: float | None) -> float:
        """The smaller of ``timeout`` and what is left; raises when nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded(f"the run's deadline of {self.seconds:g} s ran out")
        return left if timeout is None else min(timeout, left)
