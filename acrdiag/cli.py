"""The command line. Thin: options in, exit code out; the work is imported lazily.

Every bad input ends as one line on stderr and exit code 2, before any
network traffic; typer's own usage errors are reshaped to match. The commands
themselves are in commands.py, imported only when one runs.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from acrdiag import __version__
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.stopping import Terminated


def main(argv: list[str] | None = None, env: Env | None = None) -> NoReturn:
    """The command line; ``env`` replaces the process's streams, environment and clock
    (tests pass their own)."""
    _tolerant_streams()
    if (sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(f"acrdiag {__version__}")  # a health check's liveness probe: no imports
        sys.exit(0)
    import typer

    from acrdiag.commands import app

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="acrdiag", standalone_mode=False, obj=env)
    except InputError as exc:
        _fail(str(exc))
    except Terminated:
        _fail("stopped (SIGTERM)", 143)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):
            _usage(exc)
        # Never a traceback: one line, redacted, and the internal-error code.
        from acrdiag.redact import redact_text

        first = (str(exc).strip().splitlines() or [""])[0][:300]
        _fail(f"internal error: {type(exc).__name__}: {redact_text(first, [])}", 1)
    sys.exit(result if isinstance(result, int) else 0)


def _tolerant_streams() -> None:
    """An ASCII locale or PYTHONIOENCODING must not turn a report into a traceback."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _usage(exc: Exception) -> NoReturn:
    """Typer/Click usage errors as one line (help text, when asked for, in full)."""
    message = str(exc.format_message())  # type: ignore[attr-defined]
    code = int(exc.exit_code)  # type: ignore[attr-defined]
    if type(exc).__name__ == "NoArgsIsHelpError":
        print(message, file=sys.stderr)
        sys.exit(code)
    if type(exc).__name__ == "Abort":
        sys.exit(130)
    _fail(message.splitlines()[0] if message else type(exc).__name__, code)


def _fail(message: str, code: int = 2) -> NoReturn:
    if sys.stderr is not None:
        print(f"acrdiag: error: {message}", file=sys.stderr)
    sys.exit(code)
