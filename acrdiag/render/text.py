"""The terminal report: a table of the seven steps, the failing step, a block for support."""

from __future__ import annotations

from typing import IO

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from acrdiag.model import Report, Status, StepResult
from acrdiag.render.common import (
    MARKS,
    attention,
    environment_lines,
    flatten,
    step_time,
    support_lines,
)

STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.SKIPPED: "dim",
}


def render_text(
    report: Report, file: IO[str], color: bool | None = None, width: int | None = None
) -> None:
    # markup/highlight off: server messages may hold "[...]" that rich would eat.
    console = Console(
        file=file,
        markup=False,
        highlight=False,
        emoji=False,
        width=width,
        force_terminal=color,
        no_color=color is False,
        soft_wrap=False,
    )
    target = report.target
    console.print(
        Text(
            f"acrdiag {report.tool.version} · {target.normalized or target.reference}"
            f" ({target.platform})",
            style="bold",
        )
    )
    console.print(_steps_table(report))
    for step in attention(report):
        console.print(_step_panel(step))
    console.print(_support_panel(report))
    for name, value in environment_lines(report):
        console.print(Text(f"used {name}: {value}", style="dim"))
    console.print(_verdict_line(report))


def _steps_table(report: Report) -> Table:
    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("summary", overflow="fold")
    for step in report.steps:
        status = Text(f"{MARKS[step.status]} {step.status.value}", style=STYLES[step.status])
        table.add_row(str(step.number), step.id.value, status, step_time(step), step.summary)
    return table


def _step_panel(step: StepResult) -> Panel:
    parts: list[Text] = [Text(step.summary)]
    evidence = flatten(step.evidence)
    if evidence:
        parts.append(Text("\nevidence:", style="bold"))
        parts += [Text(f"  {k}: {v}") for k, v in evidence]
    if step.phases_s:
        phases = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in step.phases_s.items())
        parts.append(Text(f"  timings: {phases}"))
    if step.hints:
        parts.append(Text("\nwhat to do:", style="bold"))
        parts += [Text(f"  • {h}") for h in step.hints]
    title = f"{MARKS[step.status]} step {step.number} {step.id.value}: {step.status.value}"
    if step.cause:
        title += f" ({step.cause.value})"
    return Panel(Group(*parts), title=title, title_align="left", border_style=STYLES[step.status])


def _support_panel(report: Report) -> Panel:
    rows = support_lines(report)
    width = max(len(k) for k, _ in rows)
    lines = [Text(f"{k.ljust(width)}  {v}") for k, v in rows]
    return Panel(Group(*lines), title="for support (paste into the ticket)", title_align="left")


def _verdict_line(report: Report) -> Text:
    verdict = report.verdict
    style = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}[verdict.status]
    return Text(
        f"{verdict.status.upper()}: {verdict.summary} (exit {verdict.exit_code}, "
        f"{report.duration_s:.2f} s)",
        style=style,
    )
