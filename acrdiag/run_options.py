"""The validated options of one run: what options.py makes and the engine reads.

Apart from context.py (the run's mutable state), so that the command line checks its
input without importing the engine, httpx or pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from acrdiag.auth import ANONYMOUS, Credential
from acrdiag.env import utc_now
from acrdiag.net.cert_dirs import TlsFiles
from acrdiag.net.proxy import ProxyConfig

if TYPE_CHECKING:
    from acrdiag.reference import ImageReference, Platform


@dataclass
class RunOptions:
    """Validated input of one run; secrets are kept out of repr."""

    reference: ImageReference
    platform: Platform
    credential: Credential = ANONYMOUS
    timeout: float = 10.0
    deadline: float = 60.0
    tls_files: TlsFiles = field(default_factory=TlsFiles)
    insecure: bool = False
    plain_http: bool = False
    nameservers: list[tuple[str, int]] = field(default_factory=list)
    blob: str = "all"
    max_download: int | None = 256 * 1024 * 1024  # full downloads of "all"; None: no limit
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    now: Callable[[], datetime] = field(default=utc_now, repr=False)
    # --proxy URL (a string), --no-proxy (""), or None: the environment, with Go's rules.
    proxy: str | None = field(default=None, repr=False)
    # One host of the runtime's plan (README "What the runtime sees"): ``reference`` then
    # names the image at that host, and ``image`` the image as the user named it.
    image: ImageReference | None = None
    api_path: str = "/v2"  # the API root under the host: a mirror's path, or override_path
    namespace: str | None = None  # containerd's ?ns=<registry> on a mirror's requests
    headers: tuple[tuple[str, str], ...] = ()  # hosts.toml [header], sent to this host
    # Plain http after a TLS failure: None is docker's default (localhost, 127.0.0.0/8),
    # True an insecure registry of the runtime's, False a runtime that never falls back.
    http_fallback: bool | None = None
    insecure_why: str = "--insecure"  # what turned verification off, for the report

    def proxy_config(self) -> ProxyConfig:
        """--proxy, --no-proxy, or the environment's variables by Go's rules."""
        if self.proxy is None:
            return ProxyConfig.from_environ(self.environ)
        return ProxyConfig.given(self.proxy or None)
