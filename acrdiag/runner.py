"""One prepared run to its report, whatever happens: the user's own view or the runtime's
hosts, Ctrl-C carried out as a partial report, a crash as an internal_error report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from acrdiag.deadline import Deadline
from acrdiag.engine import Interrupted, crash_report, diagnose
from acrdiag.options import PreparedRun
from acrdiag.steps import PULL_STEPS, Step

if TYPE_CHECKING:
    from acrdiag.model import Report


def run_prepared(
    prepared: PreparedRun, steps: Sequence[Step] = PULL_STEPS, deadline: Deadline | None = None
) -> Report:
    """The report; raises only Interrupted (carrying the partial report). ``deadline``: the
    caller's, to end the run from outside; else the options' --deadline."""
    try:
        return _diagnose(prepared, steps, deadline)
    except Interrupted:
        raise
    except Exception as exc:  # the engine never raises; if it does, still a report
        return crash_report(prepared.options, exc, steps)


def _diagnose(prepared: PreparedRun, steps: Sequence[Step], deadline: Deadline | None) -> Report:
    """The user's own view (--runtime none, or no runtime found), else the runtime's hosts
    in its order (README "What the runtime sees")."""
    view = prepared.view
    if view is None or view.plan is None:
        report = diagnose(prepared.options, steps, deadline)
        return report if view is None else report.model_copy(update={"runtime": view.info})
    # The runtime's hosts, one after another (imported only when a runtime has hosts).
    from acrdiag.fallback import diagnose_plan
    from acrdiag.host_options import pull_plan

    return diagnose_plan(
        pull_plan(prepared.options, view, prepared.tls_for, prepared.credential_for),
        steps,
        deadline,
    )
