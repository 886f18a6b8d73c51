"""Ctrl-C and SIGTERM end a run the same way: the partial report is kept and written.

cron's `timeout`, systemd and Kubernetes stop a process with SIGTERM; without this
it would die without a report, and a reader would find yesterday's "ok".
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled wherever Ctrl-C is, but exits 143 (128 + 15) as the shell expects."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
