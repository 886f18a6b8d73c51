"""The engine's wiring from one run's options: trust, proxies, resolver and HTTP session.

Each call builds its own, sharing nothing, so concurrent runs (`acrdiag check`, `serve`)
cannot see each other's connections, clocks or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from acrdiag.context import RunOptions
from acrdiag.deadline import Deadline
from acrdiag.net.dns import HostResolver
from acrdiag.net.proxy import ProxyConfig
from acrdiag.net.session import HttpSession
from acrdiag.net.tls import Trust, build_trust


@dataclass
class Wiring:
    trust: Trust
    proxies: ProxyConfig
    resolver: HostResolver
    session: HttpSession


def wire(options: RunOptions, deadline: Deadline) -> Wiring:
    trust = build_trust(options.tls_files, options.insecure, options.insecure_why)
    proxies = options.proxy_config()
    resolver = HostResolver(options.nameservers, options.timeout, deadline)
    session = HttpSession(
        trust=trust,
        resolver=resolver,
        proxies=proxies,
        timeout=options.timeout,
        deadline=deadline,
        now=options.now,
    )
    return Wiring(trust, proxies, resolver, session)
