"""Step 1: the registry host resolves, accepts TCP and TLS, and answers GET /v2/ as a registry."""

from __future__ import annotations

import ipaddress
from typing import Any

from acrdiag.catalogue import hint
from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.hints import lookup_hints
from acrdiag.kinds import RegistryKind
from acrdiag.net.clocks import SKEW_WARNING_S, describe_offset
from acrdiag.net.connections import ConnectionInfo
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import Exchange, host_of
from acrdiag.net.tls import (
    EXPIRY_WARNING_DAYS,
    certificate_facts,
    fetch_chain,
    parse_certificate,
)
from acrdiag.probes.base import StepFailed, clock_hint, net_failed
from acrdiag.redact import redact_url

API_VERSION_HEADER = "Docker-Distribution-API-Version"


def run(ctx: RunContext) -> str:
    ref = ctx.reference
    host = ref.api_host
    scheme = "http" if ctx.plain_http else "https"
    port = ref.port or (80 if ctx.plain_http else 443)
    netloc = f"[{host}]" if ":" in host else host
    ctx.facts.registry_url = f"{scheme}://{netloc}" + (f":{ref.port}" if ref.port else "")
    ctx.environment.proxies["registry"] = ctx.proxies.explain(ctx.api_url + "/")

    proxy = ctx.proxies.proxy_for(ctx.api_url + "/")
    if proxy is None:
        _resolve(ctx, host)
    else:  # the proxy resolves the name, as it does for docker
        ctx.step.evidence["dns"] = {"host": host, "decided_by": f"the proxy {redact_url(proxy)}"}

    problems = ctx.options.tls_files.problems
    if problems:  # docker refuses to pull from this registry before any request
        raise StepFailed(
            Cause.TLS_ERROR,
            f"docker refuses this registry's certs.d: {'; '.join(problems)}",
            ["give each client certificate (.cert) its key (.key, same name), or remove it"],
        )
    ping = _ping(ctx, host, port)
    ctx.facts.ping = ping
    _compare_clocks(ctx, ping)
    _check_ping(ctx, ping)
    return _summary(ctx, ping)


def _compare_clocks(ctx: RunContext, ping: Exchange) -> None:
    """The local clock against the registry's: evidence, and a warning that says what it breaks."""
    reading = ctx.session.clocks.readings.get(host_of(ping.url))
    if reading is None:
        return
    ctx.step.evidence["clock"] = {
        "registry_date": reading.server_time.isoformat(),
        "local_time": reading.local_time.isoformat(),
        "offset_s": round(reading.offset_s),
    }
    if abs(reading.offset_s) > SKEW_WARNING_S:
        skew = describe_offset(reading.offset_s, "the local clock", "the registry's")
        ctx.step.warn(
            Cause.CLOCK_SKEW,
            f"{skew}: tokens and signed URLs are judged by the servers' clocks, so pulls still "
            "work; TLS certificates are judged by the local clock, so their validity here "
            "may be misjudged",
            clock_hint(),
        )


def _resolve(ctx: RunContext, host: str) -> None:
    lookup = ctx.resolver.lookup(host)
    ctx.step.evidence["dns"] = lookup.evidence()
    if lookup.cause is not None:
        hints = lookup_hints(ctx, host, lookup.cause, "registry")
        raise StepFailed(lookup.cause, lookup.detail, hints)


def _ping(ctx: RunContext, host: str, port: int) -> Exchange:
    try:
        ping = ctx.session.fetch(ctx.api_url + "/")
    except NetFailure as failure:
        fallback = _plain_http_fallback(ctx, host, failure)
        if fallback is not None:
            return fallback
        if failure.phase == "tls":
            _show_rejected_certificate(ctx, host, port)
        raise net_failed(ctx, failure, "registry") from failure
    if ping.connection is not None:
        ctx.step.evidence["connection"] = _connection_evidence(ctx, ping.connection, host)
    if not ctx.trust.verify and not ctx.plain_http:
        ctx.step.warn(
            Cause.TLS_VERIFY_DISABLED,
            f"TLS verification is off ({ctx.options.insecure_why})",
            "docker verifies certificates unless the registry is in insecure-registries"
            if ctx.options.insecure_why == "--insecure"
            else "the runtime's configuration turns verification off for this host",
        )
    return ping


def _plain_http_fallback(ctx: RunContext, host: str, failure: NetFailure) -> Exchange | None:
    """docker's insecure registries (localhost and 127.0.0.0/8 by default, or the runtime's
    own list): when TLS fails there, it tries plain HTTP. So does acrdiag, and says so;
    None when that fails too."""
    configured = ctx.options.http_fallback
    allowed = _insecure_by_default(host) if configured is None else configured
    if ctx.plain_http or failure.phase != "tls" or not allowed:
        return None
    plain = "http://" + ctx.facts.registry_url.removeprefix("https://")
    try:
        ping = ctx.session.fetch(plain + ctx.options.api_path + "/")
    except NetFailure:
        return None
    ctx.facts.registry_url = plain
    ctx.step.evidence["plain_http_fallback"] = {"tls_failure": failure.message}
    why = (
        "the runtime lists it as an insecure registry"
        if configured
        else "docker treats localhost and 127.0.0.0/8 as insecure registries"
    )
    ctx.step.warn(
        Cause.PLAIN_HTTP_FALLBACK,
        f"{host} does not speak TLS ({failure.message}); {why} and falls back to plain "
        "HTTP: so did acrdiag",
        "containerd and CRI-O do not unless configured: give them a TLS registry, or "
        "configure it as insecure there too",
    )
    return ping


def _insecure_by_default(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback


def _connection_evidence(ctx: RunContext, info: ConnectionInfo, host: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": info.address,
        "port": info.port,
        "tcp_s": round(info.tcp_s, 4),
    }
    if info.tls_version:
        out["tls"] = {
            "version": info.tls_version,
            "handshake_s": round(info.tls_s or 0, 4),
            "trust": ctx.trust.description,
        }
        cert = certificate_facts(info.peer_cert, info.cert_der)
        if cert is not None:
            out["tls"]["certificate"] = cert.evidence(host, ctx.now())
            days = cert.days_left(ctx.now())
            if days < 0:  # only reachable with --insecure
                ctx.step.warn(
                    Cause.TLS_EXPIRED,
                    f"the certificate of {host} expired {-days:.1f} days ago",
                    "docker refuses it: renew the certificate",
                )
            elif days < EXPIRY_WARNING_DAYS:
                ctx.step.warn(
                    Cause.TLS_EXPIRING_SOON,
                    f"the certificate of {host} expires in {days:.1f} days",
                    f"renew the certificate of {host} before {cert.not_after:%Y-%m-%d}",
                )
    return out


def _show_rejected_certificate(ctx: RunContext, host: str, port: int) -> None:
    """Evidence only: a second, unverified handshake, skipped when proxied or out of time."""
    lookup = ctx.resolver.lookup(host)
    # Connect and handshake each get this much, so both fit in what the deadline leaves.
    budget = min(ctx.options.timeout, 5.0, (ctx.session.deadline.remaining() - 0.2) / 2)
    if not lookup.addresses or budget <= 0 or ctx.proxies.proxy_for(ctx.facts.registry_url):
        return
    chain = [parse_certificate(der) for der in fetch_chain(lookup.addresses[0], port, host, budget)]
    shown = [cert.evidence(host, ctx.now()) for cert in chain if cert is not None]
    if shown:
        ctx.step.evidence["presented_certificate"] = shown[0]
    if len(shown) > 1:  # the intermediates tell which CA the trust above lacks
        ctx.step.evidence["presented_chain"] = [
            {k: c[k] for k in ("subject", "issuer", "not_after") if k in c} for c in shown
        ]


def _check_ping(ctx: RunContext, ping: Exchange) -> None:
    status = ping.status
    api_version = ping.headers.get(API_VERSION_HEADER)
    ctx.step.evidence["v2"] = {
        "status": status,
        "api_version": api_version,
        "content_type": ping.headers.get("content-type"),
    }
    if ping.url != ctx.api_url + "/":
        ctx.step.evidence["v2"]["redirected_to"] = redact_url(ping.url)
    if status in (200, 401):
        if api_version is None and _looks_like_web_page(ping):
            raise StepFailed(
                Cause.NOT_A_REGISTRY,
                f"/v2/ answered {status} with a web page and no {API_VERSION_HEADER} header",
                _not_registry_hints(ctx),
            )
        return
    if status == 403:
        raise StepFailed(Cause.FORBIDDEN, "/v2/ answered 403 Forbidden", _forbidden_hints(ctx))
    if status == 404:
        raise StepFailed(
            Cause.NOT_A_REGISTRY,
            "/v2/ answered 404: this host does not serve the registry API",
            _not_registry_hints(ctx),
        )
    if status == 400 and ctx.plain_http and _tls_port_said(ping):
        raise StepFailed(
            Cause.PROTOCOL_ERROR,
            "/v2/ answered 400: the port speaks TLS, and acrdiag spoke plain HTTP to it",
            ["drop --plain-http: this registry speaks https on this port"],
        )
    if status >= 500:
        raise StepFailed(
            Cause.SERVER_ERROR,
            f"/v2/ answered {status}: the registry is failing",
            [hint("retry_then_ticket")],
        )
    detail = f"/v2/ answered {status}"
    if 300 <= status < 400:
        detail += f" redirecting to {redact_url(ping.headers.get('location', '(no Location)'))}"
    raise StepFailed(Cause.HTTP_ERROR, detail, _redirect_hints(ctx, status))


def _tls_port_said(ping: Exchange) -> bool:
    """What TLS servers answer a plain request with: Go's "Client sent an HTTP request to an
    HTTPS server", nginx's "The plain HTTP request was sent to HTTPS port"."""
    text = ping.body[:2048].decode("utf-8", "replace").lower()
    return "request to an https server" in text or "sent to https port" in text


def _looks_like_web_page(ping: Exchange) -> bool:
    return "html" in ping.headers.get("content-type", "").lower()


def _not_registry_hints(ctx: RunContext) -> list[str]:
    return [
        f"{ctx.reference.api_host} answers HTTP but not the registry API at /v2/: check the "
        "host name and port, and whether a captive portal or proxy answers instead"
    ]


def _forbidden_hints(ctx: RunContext) -> list[str]:
    if ctx.profile.kind is RegistryKind.ACR_EE:
        return [
            "ACR Enterprise refuses sources not in its access control: add your egress IP to "
            "the internet allowlist (public endpoint) or link your VPC (VPC endpoint)"
        ]
    return ["the registry refuses this client before authentication: an IP allowlist or WAF"]


def _redirect_hints(ctx: RunContext, status: int) -> list[str]:
    if 300 <= status < 400 and ctx.plain_http:
        return ["the registry redirects plain HTTP elsewhere (usually to https): drop --plain-http"]
    return ["a registry answers /v2/ with 200 or 401; this looks like another service"]


def _summary(ctx: RunContext, ping: Exchange) -> str:
    info = ping.connection
    where = f" ({info.address})" if info else ""
    over = f" over {info.tls_version}" if info and info.tls_version else ""
    if ctx.plain_http:
        over = " over plain HTTP"
    return f"{ctx.reference.registry}{where} answers /v2/ with {ping.status}{over}"
