"""A step's row while a run goes on: plain data, made into the report's StepResult when the
report is built, so that the run's steps never wait for pydantic (the engine imports it
beside the first steps' network waits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acrdiag.causes import Cause
from acrdiag.kinds import Status, StepId

if TYPE_CHECKING:
    from acrdiag.model import StepResult


@dataclass
class Row:
    id: StepId
    number: int
    status: Status
    summary: str
    cause: Cause | None = None  # the failure's, or the first warning's
    evidence: dict[str, Any] = field(default_factory=dict)
    hints: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    warnings: list[tuple[Cause, str]] = field(default_factory=list)  # each with its cause

    def result(self) -> StepResult:
        from acrdiag.model import StepResult, StepWarning

        return StepResult(
            id=self.id,
            number=self.number,
            status=self.status,
            cause=self.cause,
            summary=self.summary,
            evidence=self.evidence,
            hints=self.hints,
            duration_s=self.duration_s,
            phases_s=self.phases_s,
            warnings=[StepWarning(cause=c, message=m) for c, m in self.warnings],
        )


def to_results(rows: list[Row]) -> list[StepResult]:
    return [row.result() for row in rows]
