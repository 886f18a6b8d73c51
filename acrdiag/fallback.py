"""Try the hosts of the runtime's plan in its order, as the runtime would: the first host that
pulls decides, and a mirror that failed before it is a warning (README "What the runtime sees").

docker, containerd and CRI-O all move on to the next host when one fails, whatever the
failure, so a broken mirror costs a pull nothing but time; when every host fails, the pull
fails, and the last host tried gives the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from acrdiag.causes import Cause
from acrdiag.context import RunOptions
from acrdiag.deadline import Deadline
from acrdiag.engine import Interrupted, diagnose, refused_report
from acrdiag.exit_codes import ExitCode
from acrdiag.model import HostAttempt, Report, RuntimeInfo, Verdict
from acrdiag.runtime.hosts import PullHost
from acrdiag.steps import PULL_STEPS, Step


@dataclass(frozen=True)
class Attempt:
    """One host of the plan and the options that speak to it as the runtime would."""

    host: PullHost
    options: RunOptions
    settings: tuple[str, ...] = ()  # what the runtime's configuration changes for this host
    problem: str | None = None  # why the runtime cannot use this host at all (a bad URL)


@dataclass
class PullPlan:
    runtime: RuntimeInfo
    attempts: list[Attempt]
    blocked: str | None = None  # the runtime refuses this image: nothing is tried
    base: RunOptions | None = field(default=None, repr=False)  # the user's own options


def diagnose_plan(
    plan: PullPlan, steps: Sequence[Step] = PULL_STEPS, deadline: Deadline | None = None
) -> Report:
    """The report of the whole plan; raises only Interrupted, carrying the partial report.
    One deadline covers every host: the user's --deadline is for the run."""
    base = plan.base or plan.attempts[0].options
    if plan.blocked is not None or not plan.attempts:
        why = plan.blocked or "the runtime's configuration leaves no host to pull from"
        report = refused_report(base, Cause.REGISTRY_BLOCKED, why, steps)
        return report.model_copy(update={"runtime": plan.runtime})
    deadline = deadline or Deadline(base.deadline)
    started = time.monotonic()
    reports: list[Report] = []
    for attempt in plan.attempts:
        if reports and deadline.remaining() <= 0.05:
            break  # the run's deadline is spent: later hosts are "not tried"
        try:
            reports.append(_attempt(attempt, steps, deadline))
        except Interrupted as stop:
            reports.append(stop.report)
            raise Interrupted(_combined(plan, reports, started)) from None
        if reports[-1].verdict.status != "fail":
            break
    return _combined(plan, reports, started)


def _attempt(attempt: Attempt, steps: Sequence[Step], deadline: Deadline) -> Report:
    if attempt.problem is not None:  # the runtime cannot use this host: it moves on
        return refused_report(attempt.options, Cause.REGISTRY_BLOCKED, attempt.problem, steps)
    return diagnose(attempt.options, steps, deadline)


def _combined(plan: PullPlan, reports: list[Report], started: float) -> Report:
    decided = _deciding(reports)
    hosts = [
        _attempt_row(attempt, reports[i] if i < len(reports) else None, i == decided)
        for i, attempt in enumerate(plan.attempts)
    ]
    top = reports[decided]
    return top.model_copy(
        update={
            "started_at": reports[0].started_at,
            "duration_s": round(time.monotonic() - started, 4),
            "target": reports[0].target.model_copy(),
            "verdict": _verdict(top, hosts, decided),
            "runtime": plan.runtime,
            "hosts": hosts,
        }
    )


def _deciding(reports: list[Report]) -> int:
    """The first host that pulled, else the last one tried."""
    for index, report in enumerate(reports):
        if report.verdict.status != "fail":
            return index
    return len(reports) - 1


def _attempt_row(attempt: Attempt, report: Report | None, decided: bool) -> HostAttempt:
    host = attempt.host
    common = {
        "url": host.url,
        "role": host.role.value,
        "configured_in": host.origin,
        "image": attempt.options.reference.normalized,
        "settings": list(attempt.settings),
    }
    if report is None:
        return HostAttempt(**common, status="not_tried", summary="not tried")  # type: ignore[arg-type]
    verdict = report.verdict
    return HostAttempt(
        **common,  # type: ignore[arg-type]
        status=verdict.status,
        decided=decided,
        failed_step=verdict.failed_step,
        failed_step_number=verdict.failed_step_number,
        cause=verdict.cause,
        summary=verdict.summary,
        exit_code=verdict.exit_code,
        duration_s=report.duration_s,
        steps=report.steps,
    )


def _verdict(top: Report, hosts: list[HostAttempt], decided: int) -> Verdict:
    failed_before = [h for h in hosts[:decided] if h.status == "fail"]
    if top.verdict.status == "fail":
        tried = [h for h in hosts if h.status == "fail"]
        untried = len(hosts) - len(tried)
        if len(tried) < 2 and not untried:
            return top.verdict
        counted = (
            f"all {len(tried)} hosts" if not untried else f"{len(tried)} of {len(hosts)} hosts"
        )
        summary = f"{counted} failed: {_listing(tried)}"
        if untried:
            summary += f"; {untried} not tried (the run's deadline ran out)"
        return top.verdict.model_copy(update={"summary": summary})
    if not failed_before:
        return top.verdict
    broken = _listing(failed_before)
    return Verdict(
        status="warn",
        cause=Cause.MIRROR_FAILED,
        summary=f"the pull works through {hosts[decided].url}, after {broken}",
        exit_code=int(ExitCode.OK),
    )


MAX_LISTED = 5


def _listing(hosts: list[HostAttempt]) -> str:
    """Each failure, the first few: ``hosts`` in the report has them all."""
    shown = "; ".join(_failure(h) for h in hosts[:MAX_LISTED])
    more = len(hosts) - MAX_LISTED
    return shown + (f"; and {more} more (see hosts)" if more > 0 else "")


def _failure(host: HostAttempt) -> str:
    where = f"step {host.failed_step_number} ({host.failed_step.value})" if host.failed_step else ""
    cause = host.cause.value if host.cause else "failed"
    return f"{host.role} {host.url} failed at {where}: {cause}".replace(" at : ", ": ")
