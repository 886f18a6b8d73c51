"""The report's named kinds: step ids, statuses and registry kinds.

Plain enums, apart from the pydantic report model (model.py re-exports them), so that what
runs before the report is built imports no pydantic.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


class StepId(StrEnum):
    REACHABILITY = "reachability"
    CHALLENGE = "challenge"
    AUTH_ENDPOINT = "auth_endpoint"
    TOKEN_SCOPE = "token_scope"
    MANIFEST = "manifest"
    OSS_RESOLUTION = "oss_resolution"
    BLOB_FETCH = "blob_fetch"


class RegistryKind(StrEnum):
    """The registries acrdiag knows by name (README "The JSON report")."""

    ACR_EE = "acr-ee"
    ACR_PERSONAL = "acr-personal"
    DOCKERHUB = "dockerhub"
    GHCR = "ghcr"
    ECR = "ecr"
    GCR = "gcr"
    HARBOR = "harbor"
    QUAY = "quay"
    AZURE = "azure"
    GITLAB = "gitlab"
    ACR_MIRROR = "acr-mirror"  # Alibaba Cloud's registry accelerator, <id>.mirror.aliyuncs.com
    OTHER = "other"
