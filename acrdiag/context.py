"""The one context the engine passes from probe to probe."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from acrdiag.causes import Cause
from acrdiag.kinds import StepId
from acrdiag.net.clocks import LOCAL, JudgingClock
from acrdiag.registry.profiles import RegistryProfile, profile_of
from acrdiag.run_options import RunOptions as RunOptions

if TYPE_CHECKING:
    import httpx

    from acrdiag.net.dns import HostResolver
    from acrdiag.net.proxy import ProxyConfig
    from acrdiag.net.session import Exchange, HttpSession
    from acrdiag.net.tls import Trust
    from acrdiag.reference import ImageReference
    from acrdiag.registry.challenge import Challenge
    from acrdiag.registry.manifests import Descriptor, ParsedManifest
    from acrdiag.registry.storage import StorageLocation


@dataclass(frozen=True)
class BlobRoute:
    """Where step 6 found a blob: a storage URL (``url`` may be signed: never show it
    unredacted), or the registry itself when ``location`` is None."""

    blob: Descriptor
    status: int
    url: str | None = field(default=None, repr=False)
    location: StorageLocation | None = None
    date: str | None = None  # the redirect's Date header


@dataclass
class Facts:
    """What earlier steps learned, for later steps. Secret fields stay out of repr."""

    registry_url: str = ""
    ping: Exchange | None = None
    auth_scheme: str | None = None  # "none" | "bearer" | "basic"
    challenge: Challenge | None = None
    service: str | None = None  # of a usable Bearer challenge: names an ACR instance
    authorization: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_window: tuple[datetime | None, datetime | None] = (None, None)  # nbf, exp
    manifest: ParsedManifest | None = None
    image_platform: str | None = None  # the index entry's, or what the config says
    blobs: list[Descriptor] = field(default_factory=list)  # to fetch, in order
    routes: list[BlobRoute] = field(default_factory=list)
    redirect_url: str | None = field(default=None, repr=False)
    redirect: StorageLocation | None = None
    direct_blob: httpx.Response | None = field(default=None, repr=False)  # open, body unread


@dataclass
class StepRecord:
    """What a probe gathers while it runs; the engine turns it into a StepResult."""

    id: StepId
    number: int
    evidence: dict[str, Any] = field(default_factory=dict)
    hints: list[str] = field(default_factory=list)
    warnings: list[tuple[Cause, str]] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_ids: list[tuple[str, str]] = field(default_factory=list)

    def warn(self, cause: Cause, message: str, hint: str | None = None) -> None:
        # Many blobs can show one fault many times (each redirect expired): say it once.
        if any(known is cause for known, _ in self.warnings):
            return
        self.warnings.append((cause, message))
        if hint:
            self.hint(hint)

    def hint(self, text: str) -> None:
        if text not in self.hints:
            self.hints.append(text)

    def add_phase(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def add_request(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)

    def add_request_id(self, header: str, value: str) -> None:
        if (header, value) not in self.request_ids:
            self.request_ids.append((header, value))


@dataclass
class RunEnvironment:
    """What the run used (the report's ``environment``), filled in as the steps go."""

    resolver: str | None = None
    trust: str | None = None
    proxies: dict[str, str] = field(default_factory=dict)
    credentials: str | None = None


@dataclass
class RunContext:
    options: RunOptions
    session: HttpSession
    resolver: HostResolver
    trust: Trust
    proxies: ProxyConfig
    resources: ExitStack
    facts: Facts = field(default_factory=Facts)
    environment: RunEnvironment = field(default_factory=RunEnvironment)
    request_ids: list[tuple[StepId, str, str]] = field(default_factory=list)  # step, header, value
    secrets: set[str] = field(default_factory=set, repr=False)
    step: StepRecord = field(default_factory=lambda: StepRecord(StepId.REACHABILITY, 1))

    @property
    def reference(self) -> ImageReference:
        return self.options.reference

    def judging_clock(self, *servers: tuple[str, str]) -> JudgingClock:
        """Now by the clock of the first (name, host) that sent a Date, else the local one."""
        for name, host in servers:
            server_time = self.session.clocks.time_at(host)
            if server_time is not None:
                return JudgingClock(server_time, f"the {name}'s clock")
        return JudgingClock(self.now(), LOCAL)

    @property
    def api_url(self) -> str:
        """The API root step 1 settled on: ``https://host/v2`` for most registries."""
        return self.facts.registry_url + self.options.api_path

    def repository_url(self, path: str, repository: str | None = None) -> str:
        """``<api>/<repository>/<path>``, with containerd's ns parameter on a mirror."""
        url = f"{self.api_url}/{repository or self.reference.repository}/{path}"
        if self.options.namespace:
            url += ("&" if "?" in url else "?") + f"ns={quote(self.options.namespace)}"
        return url

    @property
    def plain_http(self) -> bool:
        """The registry is spoken to in plain HTTP: --plain-http, or docker's fallback for
        localhost (step 1 decides)."""
        if self.facts.registry_url:
            return self.facts.registry_url.startswith("http:")
        return self.options.plain_http

    @property
    def profile(self) -> RegistryProfile:
        """What the registry is, from what the steps have learned so far."""
        return profile_of(self.reference.api_host, self.facts.service)

    def now(self) -> datetime:
        return self.session.clocks.now()

    def keep_secret(self, value: str | None, min_length: int = 4) -> None:
        """Keep ``value`` out of every output (shorter server values would blank out words)."""
        if value and len(value) >= min_length:
            self.secrets.add(value)
