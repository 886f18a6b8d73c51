"""The hosts a runtime tries for one image, in its order: the plan every reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class HostRole(StrEnum):
    MIRROR = "mirror"
    UPSTREAM = "upstream"


# containerd's host capabilities: "resolve" turns a tag into a digest, "pull" fetches by digest.
PULL = "pull"
RESOLVE = "resolve"
PUSH = "push"


@dataclass(frozen=True)
class PullHost:
    """One host the runtime would try.

    ``url`` is scheme://host[:port][/path] as configured (scheme defaults to https).
    Requests go to ``url + "/v2"`` unless ``override_path``, in which case ``url``'s path
    is the API root itself (containerd's override_path).
    """

    url: str
    role: HostRole
    origin: str  # where it was configured: a file and key, or "default"
    capabilities: frozenset[str] = frozenset({PULL, RESOLVE})
    override_path: bool = False
    skip_verify: bool = False  # hosts.toml skip_verify, registries.conf insecure
    # docker's insecure-registries, registries.conf insecure: unverified TLS, then plain http.
    insecure: bool = False
    ca: tuple[Path, ...] = ()
    client: tuple[Path, Path | None] | None = None  # certificate, key (None: key in the cert)
    headers: tuple[tuple[str, str], ...] = ()  # hosts.toml [header]: sent on every request
    # The repository at this host when it differs from the image's (registries.conf
    # location remapping a prefix); None: the image's own repository.
    repository: str | None = None
    # containerd sends ?ns=<registry> to hosts other than the image's own registry.
    namespace: str | None = None


@dataclass(frozen=True)
class HostPlan:
    """What a runtime's configuration says about pulling one image."""

    hosts: tuple[PullHost, ...]
    files: tuple[str, ...] = ()  # the configuration files read, for the report
    warnings: tuple[str, ...] = ()  # files that could not be read or used, and why
    blocked: str | None = None  # the runtime refuses this registry (registries.conf blocked)
    notes: tuple[str, ...] = ()  # what shaped the plan, e.g. "short name resolved by alias"
    # A short name rewritten by the runtime: the image each host is asked for.
    image: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)
