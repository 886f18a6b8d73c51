"""Report to outputs: the --output file (atomically, first) and standard output."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.model import Report
from acrdiag.options import check_output
from acrdiag.render.formats import format_for_file, render
from acrdiag.report_io import write_atomic


def stdout_format(chosen: str | None, env: Env) -> str:
    """--format, else text on a terminal and JSON for pipes and cron."""
    if chosen:
        return chosen
    return "text" if env.stdout is not None and env.stdout.isatty() else "json"


def replace_output(output: Path | None, report: Report) -> None:
    """A run that never started still replaces --output, so that a cron reader never takes
    yesterday's "ok" for today's; unless --output itself is what is wrong."""
    if output is None:
        return
    with contextlib.suppress(InputError, OSError):
        check_output(output)
        write_atomic(output, render(report, format_for_file(output)))


def emit(report: Report, output: Path | None, chosen: str | None, env: Env) -> None:
    """The file first, so a closed or full stdout never costs the report."""
    if output is not None:
        try:
            write_atomic(output, render(report, format_for_file(output)))
        except OSError as exc:
            say(env, f"cannot write {output}: {exc.strerror or exc}")
    stdout = env.stdout
    if stdout is None:
        return
    fmt = stdout_format(chosen, env)
    try:
        if fmt == "text":
            from acrdiag.render.text import render_text

            render_text(report, stdout)
        else:
            stdout.write(render(report, fmt))
        stdout.flush()
    except (BrokenPipeError, SystemExit):
        # `acrdiag run ... | head`: the reader left (rich turns that into SystemExit);
        # the exit code still tells the verdict.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
    except OSError as exc:
        say(env, f"cannot write the report to standard output: {exc.strerror or exc}")


def say(env: Env, message: str) -> None:
    if env.stderr is not None:
        print(f"acrdiag: error: {message}", file=env.stderr)
