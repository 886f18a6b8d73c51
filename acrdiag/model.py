"""The report model: the one thing probes produce and renderers read. Its enums live in
kinds.py (no pydantic) and are re-exported here.

Field names are public API (see README "JSON report"); add fields freely,
rename none without bumping SCHEMA_VERSION. ``None`` means "not learned".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from acrdiag.causes import Cause
from acrdiag.kinds import RegistryKind as RegistryKind
from acrdiag.kinds import Status as Status
from acrdiag.kinds import StepId as StepId

# 2: per-hop network causes replaced realm_unresolvable, realm_unreachable,
# redirect_host_nxdomain and redirect_dns_timeout (README "Cause codes").
SCHEMA_VERSION = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Explanation(_Model):
    """A cause's catalogue entry in the report's language (README "Cause codes"), with what
    the registry's vendor adds first."""

    cause: Cause
    severity: Literal["failure", "warning"]
    meaning: str
    reasons: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    link: str | None = None


class StepWarning(_Model):
    cause: Cause
    message: str


class StepResult(_Model):
    id: StepId
    number: int
    status: Status
    cause: Cause | None = None  # the failure's, or the first warning's
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    hints: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    phases_s: dict[str, float] = Field(default_factory=dict)
    warnings: list[StepWarning] = Field(default_factory=list)  # every warning, own cause each
    explanation: Explanation | None = None


class Target(_Model):
    reference: str
    normalized: str | None = None
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    platform: str | None = None


class Verdict(_Model):
    status: Literal["ok", "warn", "fail"]
    failed_step: StepId | None = None
    failed_step_number: int | None = None
    cause: Cause | None = None
    summary: str
    exit_code: int
    explanation: Explanation | None = None


class RequestId(_Model):
    step: StepId
    header: str
    value: str


class Support(_Model):
    registry_kind: RegistryKind | None = None
    instance_id: str | None = None
    instance_name: str | None = None
    region: str | None = None
    endpoint_type: str | None = None
    bucket: str | None = None
    storage_endpoint: str | None = None
    storage_endpoint_type: str | None = None
    image_platform: str | None = None  # from the index entry, or the image's config
    request_ids: list[RequestId] = Field(default_factory=list)


class Environment(_Model):
    """What acrdiag used, so a reader can tell whether it saw what the puller sees."""

    resolver: str | None = None
    trust: str | None = None
    proxies: dict[str, str] = Field(default_factory=dict)
    credentials: str | None = None


class HostAttempt(_Model):
    """One host the container runtime would try for the image, and how it went there."""

    url: str
    role: Literal["mirror", "upstream"]
    configured_in: str  # the file and key that named it, or "default"
    image: str  # the image as this host is asked for it
    settings: list[str] = Field(default_factory=list)  # skip_verify, ca, override_path, ...
    status: Literal["ok", "warn", "fail", "not_tried"]
    decided: bool = False  # this host's steps are the report's top-level steps
    failed_step: StepId | None = None
    failed_step_number: int | None = None
    cause: Cause | None = None
    summary: str
    exit_code: int | None = None  # None: not tried
    duration_s: float = 0.0
    steps: list[StepResult] = Field(default_factory=list)


class RuntimeInfo(_Model):
    """Which container runtime's view the run took, why, and what that view holds."""

    name: Literal["docker", "containerd", "crio", "podman", "none"]
    chosen_because: str
    found: list[str] = Field(default_factory=list)  # sockets, processes, files seen
    config_files: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    proxy_source: str | None = None
    proxies: dict[str, str] = Field(default_factory=dict)  # the runtime's proxy variables
    shell_proxies: dict[str, str] = Field(default_factory=dict)  # acrdiag's own shell's
    proxy_differences: list[str] = Field(default_factory=list)


class ToolInfo(_Model):
    name: str = "acrdiag"
    version: str


class Report(_Model):
    schema_version: int = SCHEMA_VERSION
    tool: ToolInfo
    lang: Literal["en", "zh"] = "en"  # of the explanations and the text and Markdown labels
    target: Target
    started_at: datetime
    duration_s: float
    verdict: Verdict
    support: Support
    environment: Environment = Field(default_factory=Environment)
    runtime: RuntimeInfo | None = None  # None: --runtime none, acrdiag's own view only
    # Every host the runtime would try, in its order; ``steps`` are those of the host that
    # decided the verdict. Empty with --runtime none.
    hosts: list[HostAttempt] = Field(default_factory=list)
    steps: list[StepResult]

    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.status is Status.FAIL), None)


def json_schema() -> dict[str, object]:
    """The report's JSON Schema, as committed in acrdiag/report.schema.json."""
    return Report.model_json_schema(mode="serialization")


if __name__ == "__main__":  # python -m acrdiag.model > acrdiag/report.schema.json
    import json

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
