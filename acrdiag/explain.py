"""Explanations in the report: each failing or warning step, and the verdict, get their cause's
catalogue entry in the chosen language, with the registry's vendor knowledge first."""

from __future__ import annotations

from acrdiag.catalogue import Lang, entry, profile_key
from acrdiag.causes import Cause
from acrdiag.model import Explanation, Report, Status, StepResult


def explain_report(report: Report, lang: Lang) -> Report:
    profile = profile_key(report.support.registry_kind)
    steps = [_explained(step, lang, profile) for step in report.steps]
    verdict = report.verdict
    if verdict.cause is not None:
        verdict = verdict.model_copy(
            update={"explanation": explanation(verdict.cause, lang, profile)}
        )
    return report.model_copy(update={"lang": lang, "steps": steps, "verdict": verdict})


def explanation(cause: Cause, lang: Lang, profile: str | None = None) -> Explanation | None:
    found = entry(cause)
    if found is None:
        return None
    text = found.explain(lang, profile)
    return Explanation(
        cause=cause,
        severity="warning" if found.severity == "warning" else "failure",
        meaning=text.meaning,
        reasons=list(text.reasons),
        next_steps=list(text.next_steps),
        link=text.link,
    )


def _explained(step: StepResult, lang: Lang, profile: str | None) -> StepResult:
    if step.cause is None or step.status not in (Status.FAIL, Status.WARN):
        return step
    return step.model_copy(update={"explanation": explanation(step.cause, lang, profile)})
