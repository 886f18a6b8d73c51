"""`acrdiag run`: arguments to options, one run, the report to its outputs."""

from __future__ import annotations

from collections.abc import Sequence

from acrdiag.catalogue import choose_language, language
from acrdiag.engine import Interrupted, bad_input_report
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.explain import explain_report
from acrdiag.options import RunArgs, build_options
from acrdiag.outputs import emit, replace_output
from acrdiag.runner import run_prepared
from acrdiag.steps import PULL_STEPS, Step
from acrdiag.stopping import sigterm_interrupts

__all__ = ["RunArgs", "execute"]


def execute(args: RunArgs, steps: Sequence[Step] = PULL_STEPS, env: Env | None = None) -> int:
    env = env or Env.from_process()
    if args.output is not None and str(args.output) == "-":
        args.output = None  # --output - is standard output, as for docker and curl
    with sigterm_interrupts():  # credential helpers run while options are built
        try:
            lang = choose_language(args.lang, env.environ)
            prepared = build_options(args, env, lambda: _password_from_stdin(env))
        except InputError as exc:
            report = bad_input_report(args.reference, str(exc), steps)
            replace_output(args.output, explain_report(report, language(env.environ)))
            raise
        except KeyboardInterrupt as stop:
            report = bad_input_report(
                args.reference, "stopped while reading credentials", steps, stop
            )
            replace_output(args.output, explain_report(report, lang))
            raise
        try:
            report = run_prepared(prepared, steps)
        except Interrupted as stop:
            report = stop.report
    report = explain_report(report, lang)
    emit(report, args.output, args.output_format, env)
    return report.verdict.exit_code


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
