"""The report as Markdown, for a support ticket."""

from __future__ import annotations

from acrdiag.model import Report, StepResult
from acrdiag.render.common import (
    MARKS,
    attention,
    environment_lines,
    flatten,
    host_hints,
    host_lines,
    runtime_lines,
    step_time,
    support_lines,
    verdict_text,
)


def render_markdown(report: Report) -> str:
    target = report.target
    out = [
        f"# acrdiag report: {_cell(target.normalized or target.reference)}",
        "",
        f"**{report.verdict.status.upper()}**: {_cell(verdict_text(report))} "
        f"(exit code {report.verdict.exit_code})",
        "",
        "| # | step | status | time | summary |",
        "|---|---|---|---|---|",
    ]
    for step in report.steps:
        out.append(
            f"| {step.number} | {step.id.value} | {MARKS[step.status]} "
            f"{step.status.value} | {step_time(step)} | {_cell(step.summary)} |"
        )
    for step in attention(report):
        out += ["", *_step_section(step)]
    if report.runtime is not None:
        out += ["", "## What the runtime sees", ""]
        out += [f"- {name}: {_cell(value)}" for name, value in runtime_lines(report)]
    if report.hosts:
        out += ["", "Hosts, in the runtime's order:", ""]
        out += [f"1. {mark}: {_cell(line)}" for mark, line in host_lines(report)]
        hints = [
            f"- {_cell(host.url)}: {_cell(hint)}"
            for host in report.hosts
            if host.status == "fail" and not host.decided
            for hint in host_hints(host)
        ]
        if hints:
            out += ["", "What to do about the hosts that failed:", "", *hints]
    out += ["", "## For support", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_cell(v)} |" for k, v in support_lines(report)]
    out += [
        "",
        "## What acrdiag used",
        "",
    ]
    out += [f"- {name}: {_cell(value)}" for name, value in environment_lines(report)]
    return "\n".join(out) + "\n"


def _step_section(step: StepResult) -> list[str]:
    cause = f" (`{step.cause.value}`)" if step.cause else ""
    lines = [
        f"## Step {step.number} {step.id.value}: {step.status.value}{cause}",
        "",
        _cell(step.summary),
        "",
    ]
    evidence = flatten(step.evidence)
    if evidence:
        # A server's text must not close the fence early.
        lines += ["```", *[f"{k}: {v}".replace("`", "'") for k, v in evidence], "```", ""]
    if step.hints:
        lines += ["What to do:", "", *[f"- {_cell(h)}" for h in step.hints]]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
