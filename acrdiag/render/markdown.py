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
    next_steps,
    runtime_lines,
    step_time,
    support_lines,
    verdict_text,
)
from acrdiag.render.labels import label


def render_markdown(report: Report) -> str:
    target = report.target
    lang = report.lang

    def t(text: str) -> str:
        return label(text, lang)

    out = [
        f"# {t('acrdiag report')}: {_cell(target.normalized or target.reference)}",
        "",
        f"**{t(report.verdict.status.upper())}**: {_cell(verdict_text(report))} "
        f"({t('exit code')} {report.verdict.exit_code})",
        "",
        f"| # | {t('step')} | {t('status')} | {t('time')} | {t('summary')} |",
        "|---|---|---|---|---|",
    ]
    for step in report.steps:
        out.append(
            f"| {step.number} | {step.id.value} | {MARKS[step.status]} "
            f"{t(step.status.value)} | {step_time(step)} | {_cell(step.summary)} |"
        )
    for step in attention(report):
        out += ["", *_step_section(step, lang)]
    if report.runtime is not None:
        out += ["", f"## {t('What the runtime sees')}", ""]
        out += [f"- {t(name)}: {_cell(value)}" for name, value in runtime_lines(report)]
    if report.hosts:
        out += ["", t("Hosts, in the runtime's order:"), ""]
        out += [f"1. {mark}: {_cell(line)}" for mark, line in host_lines(report)]
        hints = [
            f"- {_cell(host.url)}: {_cell(hint)}"
            for host in report.hosts
            if host.status == "fail" and not host.decided
            for hint in host_hints(host)
        ]
        if hints:
            out += ["", t("What to do about the hosts that failed:"), "", *hints]
    out += ["", f"## {t('For support')}", "", "| | |", "|---|---|"]
    out += [f"| {t(k)} | {_cell(t(v))} |" for k, v in support_lines(report)]
    out += ["", f"## {t('What acrdiag used')}", ""]
    out += [f"- {t(name)}: {_cell(value)}" for name, value in environment_lines(report)]
    return "\n".join(out) + "\n"


def _step_section(step: StepResult, lang: str) -> list[str]:
    cause = f" (`{step.cause.value}`)" if step.cause else ""
    heading = "步骤" if lang == "zh" else "Step"
    lines = [
        f"## {heading} {step.number} {step.id.value}: {label(step.status.value, lang)}{cause}",
        "",
        _cell(step.summary),
        "",
    ]
    if step.explanation is not None:
        lines += [
            f"{label('what it means', lang).capitalize()}: {_cell(step.explanation.meaning)}",
            "",
        ]
    evidence = flatten(step.evidence)
    if evidence:
        # A server's text must not close the fence early.
        lines += ["```", *[f"{k}: {v}".replace("`", "'") for k, v in evidence], "```", ""]
    todo = next_steps(step)
    if todo:
        lines += [
            f"{label('what to do', lang).capitalize()}:",
            "",
            *[f"- {_cell(h)}" for h in todo],
        ]
    if step.explanation is not None and step.explanation.link:
        lines += ["", f"{label('more', lang).capitalize()}: {step.explanation.link}"]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
