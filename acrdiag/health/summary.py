"""`acrdiag check`'s table: one row per target, in the definitions' order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from acrdiag.health.runner import Outcome
from acrdiag.model import Report, Status

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def render_summary(outcomes: Sequence[Outcome], file: IO[str]) -> None:
    console = Console(file=file, markup=False, highlight=False, emoji=False, soft_wrap=False)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("target", "verdict", "failed at", "time", "slowest step"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for outcome in outcomes:
        report = outcome.report
        verdict = report.verdict
        table.add_row(
            outcome.target.name,
            Text(verdict.status, style=STYLES[verdict.status]),
            _failed_at(report),
            f"{report.duration_s:.2f} s",
            _slowest(report),
        )
    console.print(table)
    failed = sum(o.report.verdict.status == "fail" for o in outcomes)
    console.print(f"{len(outcomes)} target(s), {failed} failing")


def _failed_at(report: Report) -> str:
    verdict = report.verdict
    if verdict.failed_step is not None:
        cause = verdict.cause.value if verdict.cause else "?"
        return f"{verdict.failed_step_number} {verdict.failed_step.value}: {cause}"
    if verdict.cause is not None:  # not run (bad input, stopped), or a warning's cause
        return verdict.cause.value
    warned = [s for s in report.steps if s.status is Status.WARN and s.cause]
    return ", ".join(f"{s.id.value}: {s.cause.value}" for s in warned if s.cause) or ""


def _slowest(report: Report) -> str:
    ran = [s for s in report.steps if s.status is not Status.SKIPPED]
    if not ran:
        return ""
    slowest = max(ran, key=lambda s: s.duration_s)
    return f"{slowest.id.value} {slowest.duration_s:.2f} s"
