"""The steps of a pull, in order: the one list that gives each step its number and exit code.

Step N is the Nth entry here, and a run that fails first at step N exits 10 + N.
The engine takes the list as a parameter, so a test can run its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from acrdiag.kinds import StepId
from acrdiag.probes import (
    auth_endpoint,
    blob_fetch,
    challenge,
    manifest,
    oss_resolution,
    reachability,
    token_scope,
)
from acrdiag.probes.base import Probe


@dataclass(frozen=True)
class Step:
    id: StepId
    probe: Probe


PULL_STEPS: tuple[Step, ...] = (
    Step(StepId.REACHABILITY, reachability.run),
    Step(StepId.CHALLENGE, challenge.run),
    Step(StepId.AUTH_ENDPOINT, auth_endpoint.run),
    Step(StepId.TOKEN_SCOPE, token_scope.run),
    Step(StepId.MANIFEST, manifest.run),
    Step(StepId.OSS_RESOLUTION, oss_resolution.run),
    Step(StepId.BLOB_FETCH, blob_fetch.run),
)
