"""The steps of a pull, in order: the one list that gives each step its number and exit code.

Step N is the Nth entry here, and a run that fails first at step N exits 10 + N.
The engine takes the list as a parameter, so a test can run its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acrdiag.kinds import StepId
from acrdiag.probes import reachability
from acrdiag.probes.base import Probe

if TYPE_CHECKING:
    from acrdiag.context import RunContext


@dataclass(frozen=True)
class Step:
    id: StepId
    probe: Probe


# Steps 2 to 7's modules (and the registry parsers they use) are imported when step 1
# starts, beside its network waits (engine.py), not before the first request.
_LATER = {
    StepId.CHALLENGE: "acrdiag.probes.challenge",
    StepId.AUTH_ENDPOINT: "acrdiag.probes.auth_endpoint",
    StepId.TOKEN_SCOPE: "acrdiag.probes.token_scope",
    StepId.MANIFEST: "acrdiag.probes.manifest",
    StepId.OSS_RESOLUTION: "acrdiag.probes.oss_resolution",
    StepId.BLOB_FETCH: "acrdiag.probes.blob_fetch",
}
LATER_PROBES = tuple(_LATER.values())


def _imported(module: str) -> Probe:
    """The ``run`` of ``module``, imported when the step runs if not already."""

    def run(ctx: RunContext) -> str:
        probe: Probe = importlib.import_module(module).run
        return probe(ctx)

    run.__qualname__ = f"{module}.run"
    return run


PULL_STEPS: tuple[Step, ...] = (
    Step(StepId.REACHABILITY, reachability.run),
    *(Step(step, _imported(module)) for step, module in _LATER.items()),
)
