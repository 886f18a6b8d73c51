"""`acrdiag run`: arguments to options, one run, the report to its outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from acrdiag.catalogue import Lang, choose_language, language
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.options import PreparedRun, RunArgs, build_options
from acrdiag.stopping import sigterm_interrupts

if TYPE_CHECKING:
    from acrdiag.steps import Step

__all__ = ["RunArgs", "execute"]


def execute(
    args: RunArgs,
    steps: Sequence[Step] | None = None,
    env: Env | None = None,
    on_options: Callable[[PreparedRun], None] | None = None,
) -> int:
    """The run's exit code; ``steps`` default to the pull's seven. ``on_options`` is called
    once the input is checked, before the engine is imported (the command line starts step
    1's first work there)."""
    env = env or Env.from_process()
    if args.output is not None and str(args.output) == "-":
        args.output = None  # --output - is standard output, as for docker and curl
    with sigterm_interrupts():  # credential helpers run while options are built
        try:
            lang = choose_language(args.lang, env.environ)
            prepared = build_options(args, env, lambda: _password_from_stdin(env))
        except InputError as exc:
            _write_bad_input(args, str(exc), steps, language(env.environ))
            raise
        except KeyboardInterrupt as stop:
            _write_bad_input(args, "stopped while reading credentials", steps, lang, stop)
            raise
        if on_options is not None:
            on_options(prepared)
        # The engine and httpx: imported once the input is known good (the report's models
        # import beside the steps, see engine.py).
        from acrdiag.engine import Interrupted
        from acrdiag.runner import run_prepared
        from acrdiag.steps import PULL_STEPS

        try:
            report = run_prepared(prepared, steps or PULL_STEPS)
        except Interrupted as stop:
            report = stop.report
    from acrdiag.explain import explain_report
    from acrdiag.outputs import emit

    report = explain_report(report, lang)
    emit(report, args.output, args.output_format, env)
    return report.verdict.exit_code


def _write_bad_input(
    args: RunArgs,
    message: str,
    steps: Sequence[Step] | None,
    lang: Lang,
    stop: KeyboardInterrupt | None = None,
) -> None:
    """--output still gets a report saying why the run did not start."""
    from acrdiag.engine import bad_input_report
    from acrdiag.explain import explain_report
    from acrdiag.outputs import replace_output
    from acrdiag.steps import PULL_STEPS

    report = bad_input_report(args.reference, message, steps or PULL_STEPS, stop)
    replace_output(args.output, explain_report(report, lang))


def _password_from_stdin(env: Env) -> str:
    stdin = env.stdin
    if stdin is None or stdin.closed:
        raise InputError("--password-stdin: standard input is closed")
    if stdin.isatty():  # typed by hand: do not echo it
        import getpass

        return getpass.getpass("Password: ")
    raw = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    try:
        password = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("--password-stdin: the password is not valid UTF-8") from exc
    return password.removesuffix("\n").removesuffix("\r")
