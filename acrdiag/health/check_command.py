"""`acrdiag check PATH...`: every target of the definitions, concurrently, then the outputs:
a summary table or JSON Lines on stdout, a Prometheus textfile, one JSON report per target."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acrdiag.catalogue import choose_language
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.exit_codes import ExitCode
from acrdiag.explain import explain_report
from acrdiag.health.definitions import load
from acrdiag.health.runner import Outcome, run_targets
from acrdiag.outputs import say
from acrdiag.render.formats import render
from acrdiag.report_io import write_atomic
from acrdiag.steps import PULL_STEPS, Step
from acrdiag.stopping import Terminated, sigterm_interrupts

MAX_CONCURRENCY = 64


@dataclass
class CheckArgs:
    paths: list[Path]
    concurrency: int = 4
    output_format: str | None = None  # table | json; None: table on a terminal, else json
    prometheus: Path | None = None
    output_dir: Path | None = None
    lang: str | None = None  # of the reports' explanations; None: the locale's


def execute_check(args: CheckArgs, env: Env, steps: Sequence[Step] = PULL_STEPS) -> int:
    _check_args(args)
    lang = choose_language(args.lang, env.environ)
    definitions = load(args.paths)  # DefinitionError: exit 2, nothing run
    started = time.time()

    def explained(outcome: Outcome) -> Outcome:
        return Outcome(outcome.target, explain_report(outcome.report, lang))

    with sigterm_interrupts():
        outcomes, stop = run_targets(
            definitions.targets,
            env,
            args.concurrency,
            steps,
            lambda o: _save(args, explained(o), env),
        )
    outcomes = [explained(o) for o in outcomes]
    for outcome in outcomes:  # the stopped ones too: a reader never sees yesterday's
        _save(args, outcome, env)
    if args.prometheus is not None:
        pairs = [(o.target.name, o.report) for o in outcomes]
        from acrdiag.health.metrics import textfile  # prometheus_client: only for --prometheus

        _write(args.prometheus, textfile(pairs, started).decode(), env)
    _print(outcomes, args, env)
    return _exit_code(outcomes, stop)


def _check_args(args: CheckArgs) -> None:
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise InputError(f"--concurrency must be 1 to {MAX_CONCURRENCY}, not {args.concurrency}")
    if args.output_format not in (None, "table", "json"):
        raise InputError(f"--format must be table or json, not {args.output_format!r}")
    if args.prometheus is not None:
        if args.prometheus.suffix != ".prom":
            raise InputError(
                f"--prometheus {args.prometheus}: node_exporter's textfile collector reads "
                "only *.prom files"
            )
        _writable_dir(args.prometheus.parent, f"--prometheus {args.prometheus}")
    if args.output_dir is not None:
        _writable_dir(args.output_dir, f"--output-dir {args.output_dir}")


def _writable_dir(directory: Path, flag: str) -> None:
    if not directory.is_dir():
        raise InputError(f"{flag}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"{flag}: directory {directory} is not writable")


def _save(args: CheckArgs, outcome: Outcome, env: Env) -> None:
    if args.output_dir is not None:
        _write(args.output_dir / f"{outcome.target.name}.json", render(outcome.report, "json"), env)


def _write(path: Path, text: str, env: Env) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        say(env, f"cannot write {path}: {exc.strerror or exc}")


def _print(outcomes: list[Outcome], args: CheckArgs, env: Env) -> None:
    stdout = env.stdout
    if stdout is None:
        return
    fmt = args.output_format or ("table" if stdout.isatty() else "json")
    with contextlib.suppress(BrokenPipeError, SystemExit):
        if fmt == "json":
            for outcome in outcomes:  # JSON Lines: one full report per target
                stdout.write(json.dumps(outcome.report.model_dump(mode="json")) + "\n")
        else:
            from acrdiag.health.summary import render_summary

            render_summary(outcomes, stdout)
        stdout.flush()


def _exit_code(outcomes: list[Outcome], stop: KeyboardInterrupt | None) -> int:
    """A stop's code; else that of the first failing target in file order; else 0."""
    if isinstance(stop, Terminated):
        return int(ExitCode.TERMINATED)
    if stop is not None:
        return int(ExitCode.INTERRUPTED)
    for outcome in outcomes:
        if outcome.report.verdict.status == "fail":
            return outcome.report.verdict.exit_code
    return int(ExitCode.OK)
