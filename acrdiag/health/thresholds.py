"""Latency thresholds: a step that passed but took longer than its threshold is a warning."""

from __future__ import annotations

from collections.abc import Mapping

from acrdiag.causes import Cause
from acrdiag.model import Report, Status, StepId, StepResult


def apply_thresholds(report: Report, thresholds: Mapping[StepId, float]) -> Report:
    """The report with each too-slow passing step turned into a slow_step warning; a pull
    that worked stays exit 0, its verdict a warning."""
    slow = [
        step
        for step in report.steps
        if step.status is Status.PASS
        and step.id in thresholds
        and step.duration_s > thresholds[step.id]
    ]
    if not slow:
        return report
    steps = [_slow(step, thresholds[step.id]) if step in slow else step for step in report.steps]
    update: dict[str, object] = {"steps": steps}
    if report.verdict.status == "ok":
        warned = sum(1 for step in steps if step.status is Status.WARN)
        update["verdict"] = report.verdict.model_copy(
            update={"status": "warn", "summary": f"the pull works with {warned} warning(s)"}
        )
    return report.model_copy(update=update)


def _slow(step: StepResult, limit: float) -> StepResult:
    message = f"took {step.duration_s:.2f} s, over the {limit:g} s threshold"
    return step.model_copy(
        update={
            "status": Status.WARN,
            "cause": Cause.SLOW_STEP,
            "summary": f"{step.summary} (warning: {message})",
            "evidence": {**step.evidence, "threshold_s": limit},
        }
    )
