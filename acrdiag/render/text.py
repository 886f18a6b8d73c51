"""The terminal report: a table of the seven steps, the failing step, a block for support."""

from __future__ import annotations

from typing import IO

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from acrdiag.model import Report, Status, StepResult
from acrdiag.render.common import (
    MARKS,
    attention,
    environment_lines,
    flatten,
    host_hints,
    host_lines,
    next_steps,
    runtime_lines,
    step_time,
    support_lines,
    verdict_text,
)
from acrdiag.render.labels import label

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
        # None lets rich honour NO_COLOR (and TERM=dumb) on a terminal.
        no_color=True if color is False else None,
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
        console.print(_step_panel(step, report.lang))
    if report.runtime is not None:
        console.print(_runtime_panel(report))
    console.print(_support_panel(report))
    console.print(_verdict_line(report))


def _steps_table(report: Report) -> Table:
    lang = report.lang
    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column(label("step", lang))
    table.add_column(label("status", lang))
    table.add_column(label("time", lang), justify="right")
    table.add_column(label("summary", lang), overflow="fold")
    for step in report.steps:
        shown = label(step.status.value, lang)
        status = Text(f"{MARKS[step.status]} {shown}", style=STYLES[step.status])
        table.add_row(str(step.number), step.id.value, status, step_time(step), step.summary)
    return table


def _step_panel(step: StepResult, lang: str) -> Panel:
    parts: list[RenderableType] = [Text(step.summary)]
    if step.explanation is not None:
        meaning = [(label("what it means", lang), step.explanation.meaning)]
        parts += [Text(""), _two_columns(meaning)]
    evidence = flatten(step.evidence)
    if step.phases_s:
        phases = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in step.phases_s.items())
        evidence.append((label("timings", lang), phases))
    if evidence:
        parts += [Text(f"\n{label('evidence', lang)}:", style="bold"), _two_columns(evidence, 2)]
    todo = next_steps(step)
    if todo:
        hints = [("•", hint) for hint in todo]
        parts += [Text(f"\n{label('what to do', lang)}:", style="bold"), _two_columns(hints, 2)]
    if step.explanation is not None and step.explanation.link:
        parts.append(_two_columns([(label("more", lang), step.explanation.link)], indent=2))
    title = f"{MARKS[step.status]} step {step.number} {step.id.value}: {step.status.value}"
    if step.cause:
        title += f" ({step.cause.value})"
    return Panel(Group(*parts), title=title, title_align="left", border_style=STYLES[step.status])


def _runtime_panel(report: Report) -> Panel:
    """The runtime's view, and every host it tries with how that host went."""
    lang = report.lang
    rows = [(label(name, lang), value) for name, value in runtime_lines(report)]
    parts: list[RenderableType] = [_two_columns(rows)]
    if report.hosts:
        parts += [Text("\n" + label("hosts, in the runtime's order:", lang), style="bold")]
        parts.append(_two_columns(host_lines(report), indent=2))
        for host in report.hosts:
            if host.status == "fail" and not host.decided:
                hints = [("•", f"{host.url}: {hint}") for hint in host_hints(host)]
                parts.append(_two_columns(hints, indent=2))
    title = label("what the runtime sees", lang)
    return Panel(Group(*parts), title=title, title_align="left")


def _two_columns(rows: list[tuple[str, str]], indent: int = 0) -> Table:
    """Label and text side by side: wrapped text stays in its column, under itself."""
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, text in rows:
        grid.add_row(" " * indent + (f"{name}:" if name != "•" else name), text)
    return grid


def _support_panel(report: Report) -> Panel:
    """Everything support asks for, and what acrdiag used, in the block a person pastes."""
    lang = report.lang
    rows = support_lines(report) + [(f"used {k}", v) for k, v in environment_lines(report)]
    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, text in rows:
        grid.add_row(label(name, lang), label(text, lang))
    title = label("for support (paste into the ticket)", lang)
    return Panel(grid, title=title, title_align="left")


def _verdict_line(report: Report) -> Text:
    """The verdict, once: the failing step's summary is in its panel above."""
    verdict = report.verdict
    style = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}[verdict.status]
    lang = report.lang
    return Text(
        f"{label(verdict.status.upper(), lang)}: {verdict_text(report)} "
        f"({label('exit', lang)} {verdict.exit_code}, {report.duration_s:.2f} s)",
        style=style,
    )
