"""Step 6: the registry redirects the blob to storage; the storage host resolves.

The redirect names the bucket, the storage endpoint and whether it is the
internal (VPC) or public one: what support asks for, and where most
"the registry works but the pull hangs" cases break.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from acrdiag.causes import Cause
from acrdiag.context import BlobRoute, RunContext
from acrdiag.evidence import shorten
from acrdiag.hints import lookup_hints
from acrdiag.net.clocks import LOCAL, STALE_AFTER_S, JudgingClock, parse_http_date
from acrdiag.net.dns import Lookup
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import DEFAULT_MAX_BODY, REDIRECT_STATUSES, host_of
from acrdiag.net.urls import resolve_redirect
from acrdiag.probes.base import StepFailed, clock_hint, net_failed, short_digest
from acrdiag.probes.registry_status import raise_for_status
from acrdiag.redact import redact_url, url_secrets
from acrdiag.registry.manifests import Descriptor
from acrdiag.registry.storage import (
    LocationError,
    StorageLocation,
    classify_address,
    parse_location,
)

EXPIRY_WARNING_S = 60


def run(ctx: RunContext) -> str:
    blobs = ctx.facts.blobs
    # One blob's open answer is kept for step 7 (no second request); several would each
    # hold a connection, so then step 7 asks again.
    routes = [_route(ctx, blob, keep_open=len(blobs) == 1) for blob in blobs]
    ctx.facts.routes = routes
    ctx.step.evidence["blobs"] = [_route_evidence(r) for r in routes]
    redirected = [r for r in routes if r.location is not None]
    if not redirected:
        ctx.environment.proxies["storage"] = "none: the registry serves blobs itself"
        return f"the registry serves {_blobs_text(blobs)} itself (200, no redirect)"
    first = redirected[0]
    assert first.location is not None and first.url is not None
    ctx.facts.redirect_url, ctx.facts.redirect = first.url, first.location
    summary = _resolve(ctx, first, redirected[1:])
    return summary if len(blobs) == 1 else f"{summary}; {_blobs_text(blobs)}"


def _blobs_text(blobs: list[Descriptor]) -> str:
    if len(blobs) == 1:
        return short_digest(blobs[0].digest)
    return f"{len(blobs)} blobs"


def _route(ctx: RunContext, blob: Descriptor, keep_open: bool) -> BlobRoute:
    """Where the registry sends the puller for ``blob``: storage, or nowhere (200)."""
    url = ctx.repository_url(f"blobs/{blob.digest}")
    # The session asks for identity: if the registry serves the blob itself, step 7 hashes
    # exactly these bytes.
    headers = {}
    if ctx.facts.authorization:
        headers["Authorization"] = ctx.facts.authorization
    try:
        response = ctx.resources.enter_context(ctx.session.open(url, headers=headers))
    except NetFailure as failure:
        raise net_failed(ctx, failure, "registry") from failure
    status = response.status_code
    ctx.step.evidence.setdefault("status", status)
    if status == 200:
        if keep_open:
            ctx.facts.direct_blob = response  # step 7 reads it: no second request
        else:
            response.close()
        return BlobRoute(blob, status)
    if status not in REDIRECT_STATUSES:
        answer = ctx.session.exchange(response, DEFAULT_MAX_BODY)
        raise_for_status(ctx, answer, f"blob {short_digest(blob.digest)}", Cause.BLOB_UNKNOWN)
        raise StepFailed(
            Cause.HTTP_ERROR,
            f"blob {short_digest(blob.digest)}: unexpected {status}",
            ["a registry answers a blob GET with 200 or a redirect to storage"],
        )
    ctx.session.finish(response)  # the registry's connection serves the next blob's redirect
    absolute, location = _location(ctx, url, response.headers.get("location"))
    return BlobRoute(blob, status, absolute, location, response.headers.get("date"))


def _route_evidence(route: BlobRoute) -> dict[str, Any]:
    out: dict[str, Any] = {"digest": route.blob.digest, "size": route.blob.size}
    out["status"] = route.status
    if route.location is not None:
        out["host"] = route.location.host
    return out


def _location(ctx: RunContext, url: str, header: str | None) -> tuple[str, StorageLocation]:
    if not header:
        raise StepFailed(
            Cause.NO_LOCATION,
            "the registry answered a redirect without a Location header",
            ["the registry's storage redirect is misconfigured"],
        )
    _keep_signature(ctx, header)
    absolute = resolve_redirect(url, header)
    try:
        if absolute is None:
            shown = shorten(redact_url(header), 200)
            raise LocationError(f"{shown} is not an http(s) URL with a host httpx can send to")
        location = parse_location(absolute, registry_host=ctx.reference.api_host)
    except LocationError as exc:
        raise StepFailed(
            Cause.NO_LOCATION,
            f"the redirect's Location is unusable: {exc}",
            ["the registry's storage redirect is misconfigured"],
        ) from exc
    return absolute, location


def _keep_signature(ctx: RunContext, url: str) -> None:
    for value in url_secrets(url):
        ctx.keep_secret(value)


def _issue_clock(ctx: RunContext, date: str | None) -> JudgingClock:
    """When the registry issued the redirect: its Date, else its clock now, else ours.

    A Date far older than the registry's clock is a cached answer replayed (a stale
    redirect), not a wrong local clock: say so.
    """
    registry = host_of(ctx.facts.registry_url)
    issued = parse_http_date(date)
    registry_now = ctx.session.clocks.time_at(registry)
    if issued is None:
        return ctx.judging_clock(("registry", registry))
    if registry_now is not None and (age := (registry_now - issued).total_seconds()) > (
        STALE_AFTER_S
    ):
        ctx.step.warn(
            Cause.STALE_REDIRECT,
            f"the redirect's Date ({issued:%Y-%m-%d %H:%M:%S} UTC) is {age:.0f} s older than "
            "the registry's clock: a cache between you and the registry replays a stored answer",
            "caches must not store blob redirects (they carry short-lived signed URLs): fix "
            "the caching proxy or CDN in front of the registry",
        )
    return JudgingClock(issued, "the registry's Date on the redirect")


def _resolve(ctx: RunContext, first: BlobRoute, others: list[BlobRoute]) -> str:
    location, url = first.location, first.url or ""
    assert location is not None
    clock = _issue_clock(ctx, first.date)
    now = clock.now
    ctx.step.evidence["redirect"] = _redirect_evidence(location, now)
    ctx.step.evidence["redirect"]["judged_by"] = {"clock": clock.name, "time": now.isoformat()}
    ctx.environment.proxies["storage"] = ctx.proxies.explain(url)
    where = ""
    for route in (first, *others):
        assert route.location is not None
        if route is not first:
            clock = _issue_clock(ctx, route.date)
        _check_expiry(ctx, route.location, clock)
        _check_object(ctx, route)
        where = where or _reach(ctx, route)
    bucket = f"bucket {location.bucket} on " if location.bucket else ""
    left = _lifetime_text(location, now)
    kind = location.endpoint_type
    return f"{first.status} → {bucket}{location.host} ({kind}, {where}){left}"


def _reach(ctx: RunContext, route: BlobRoute) -> str:
    """How the storage host is reached: its addresses, once per host, or the proxy."""
    assert route.location is not None and route.url is not None
    proxy = ctx.proxies.proxy_for(route.url)
    if proxy is not None:  # the proxy resolves the name, as it does for docker
        where = f"via proxy {redact_url(proxy)}"
        ctx.step.evidence.setdefault("dns", {"host": route.location.host, "decided_by": where})
        return where
    return ", ".join(_resolve_storage(ctx, route.location)[:2])


def _redirect_evidence(location: StorageLocation, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "url": location.url_redacted,
        "host": location.host,
        "provider": location.provider,
        "bucket": location.bucket,
        "region": location.region,
        "endpoint_type": location.endpoint_type,
        "signature": location.signature,
    }
    if location.expiry_problem:
        out["expiry_problem"] = location.expiry_problem
    if location.expires_at is not None:
        out["expires_at"] = location.expires_at.isoformat()
        out["expires_in_s"] = round((location.expires_at - now).total_seconds())
    if location.traffic_limit:
        out["traffic_limit"] = location.traffic_limit
    return out


def _check_expiry(ctx: RunContext, location: StorageLocation, clock: JudgingClock) -> None:
    if location.expires_at is None:
        return
    left = (location.expires_at - clock.now).total_seconds()
    if left <= 0:
        # Storage checks expiry with its own clock, so step 7 decides; this says why it may fail.
        ctx.step.warn(
            Cause.URL_EXPIRED,
            f"the signed storage URL had expired {-left:.0f} s before it was issued, by "
            f"{clock.name}",
            _expired_hint(ctx, clock),
        )
        return
    if left < EXPIRY_WARNING_S:
        ctx.step.warn(
            Cause.URL_EXPIRING,
            f"the signed storage URL expires in {left:.0f} s",
            "a slow download or a clock ahead of the registry's makes it fail: sync the "
            "clock and check the bandwidth",
        )


def _expired_hint(ctx: RunContext, clock: JudgingClock) -> str:
    if clock.name == LOCAL:
        return "the local clock is ahead of the registry's by more than the URL's lifetime: " + (
            clock_hint()
        )
    if any(cause is Cause.STALE_REDIRECT for cause, _ in ctx.step.warnings):
        return "the replayed redirect carries a URL signed long ago: bypass or fix the cache"
    return (
        "the registry signs URLs that are expired when it sends them: its signing clock or "
        "its storage settings are wrong; give support the times above"
    )


def _resolve_storage(ctx: RunContext, location: StorageLocation) -> list[str]:
    lookup = ctx.resolver.lookup(location.host)  # once per host and run (see net/dns.py)
    evidence = lookup.evidence()
    evidence["address_classes"] = {a: classify_address(a) for a in lookup.addresses[:8]}
    ctx.step.evidence.setdefault("dns", evidence)
    if not lookup.ok:
        _dns_failed(ctx, location, lookup)
    return lookup.addresses


def _check_object(ctx: RunContext, route: BlobRoute) -> None:
    """Registry storage paths name the blob: one naming another blob is a registry fault."""
    location, blob = route.location, route.blob
    if location and location.path_digest and location.path_digest != blob.digest:
        ctx.step.warn(
            Cause.DIGEST_MISMATCH,
            f"the redirect points at the object of {short_digest(location.path_digest)}, "
            f"not {short_digest(blob.digest)}",
            "the registry's storage links are inconsistent: give support the digests",
        )


def _dns_failed(ctx: RunContext, location: StorageLocation, lookup: Lookup) -> NoReturn:
    assert lookup.cause is not None
    cause = lookup.cause
    hints = lookup_hints(ctx, location.host, lookup.cause, "storage")
    if location.endpoint_type == "internal" and ctx.profile.endpoint_type == "vpc":
        hints.append(
            "pulls through the -vpc registry endpoint are redirected to internal OSS: "
            "this host must resolve inside the VPC (default VPC DNS 100.100.2.136/138)"
        )
    elif location.endpoint_type == "public":
        hints.append(
            "the registry resolves but object storage does not: a DNS filter or split "
            f"DNS blocks {location.host}; storage must be reachable too"
        )
    raise StepFailed(cause, lookup.detail, hints)


def _lifetime_text(location: StorageLocation, now: datetime) -> str:
    if location.expires_at is None:
        return ""
    minutes = (location.expires_at - now).total_seconds() / 60
    return f", URL valid {minutes:.0f} min" if minutes >= 1 else ", URL valid <1 min"
