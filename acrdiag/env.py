"""Everything a run reads from its process, in one object tests can replace (as httpie's
Environment): standard streams, environment variables and the clock."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Env:
    stdin: IO[str] | None = None
    stdout: IO[str] | None = None
    stderr: IO[str] | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    now: Callable[[], datetime] = utc_now
    etc: Path = Path("/etc")  # where docker's and containers' certs.d live
    # Where the container runtime's processes and sockets are looked for (--runtime auto).
    proc: Path = Path("/proc")
    root: Path = Path("/")

    @classmethod
    def from_process(cls) -> Env:
        return cls(sys.stdin, sys.stdout, sys.stderr, dict(os.environ))
