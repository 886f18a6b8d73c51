"""Writing report files atomically: a reader sees the old file or the whole new one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` (or the file a symlink names) in one step, keeping its mode.

    A device or FIFO (``--output /dev/stdout``) cannot be replaced: it is written to.
    """
    target = Path(os.path.realpath(path))
    existing = target.stat() if target.exists() else None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    # mkstemp creates 0600; a new report gets the mode a plain open() would give it.
    mask = os.umask(0)
    os.umask(mask)
    return mask
