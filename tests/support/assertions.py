"""Assertions every step test shares: where it failed, how it exits, what it skipped."""

from __future__ import annotations

from typing import Any

from acrdiag.steps import PULL_STEPS
from tests.support.world import RunResult

STEPS = [step.id.value for step in PULL_STEPS]


def assert_failed_at(result: RunResult, step: str, cause: str) -> dict[str, Any]:
    """The run stopped at ``step`` with ``cause``: exit 10+N, later steps skipped, a hint given."""
    report = result.report
    number = STEPS.index(step) + 1
    assert result.code == 10 + number, result.stdout
    assert report["verdict"]["failed_step"] == step
    assert report["verdict"]["failed_step_number"] == number
    assert report["verdict"]["cause"] == cause
    failed = result.step(step)
    assert failed["status"] == "fail" and failed["cause"] == cause
    assert [s["status"] for s in report["steps"][number:]] == ["skipped"] * (7 - number)
    assert failed["hints"], "a failing step always says what to do"
    return failed


def assert_passed(result: RunResult) -> dict[str, Any]:
    assert result.code == 0, result.stdout
    report = result.report
    assert report["verdict"]["exit_code"] == 0
    assert all(s["status"] in ("pass", "warn") for s in report["steps"])
    return report
