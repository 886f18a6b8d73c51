"""Step 2: what /v2/ asks for: no auth, Bearer (realm, service, scope) or Basic."""

from __future__ import annotations

from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.net.urls import usable_http_url
from acrdiag.probes.base import StepFailed
from acrdiag.redact import url_secrets
from acrdiag.registry.challenge import (
    Challenge,
    ChallengeError,
    parse_www_authenticate,
    pick_challenge,
)
from acrdiag.registry.profiles import bucket_hint

SUPPORTED = ("bearer", "basic")


def run(ctx: RunContext) -> str:
    ping = ctx.facts.ping
    assert ping is not None
    if ping.status == 200:
        ctx.facts.auth_scheme = "none"
        return "no authentication required: /v2/ answered 200"
    values = ping.headers.get_list("www-authenticate")
    if not values:
        raise StepFailed(
            Cause.MISSING_CHALLENGE,
            "/v2/ answered 401 without a WWW-Authenticate "
            "header, so no client can know how to log in",
            [
                "the registry or a proxy in front of it strips the header; check the "
                "reverse proxy configuration"
            ],
        )
    _keep_realm_secrets(ctx, values)
    ctx.step.evidence["www_authenticate"] = values[:4]
    try:
        challenges = parse_www_authenticate(values)
    except ChallengeError as exc:
        raise StepFailed(
            Cause.MALFORMED_CHALLENGE,
            f"WWW-Authenticate cannot be parsed: {exc}",
            [
                "the registry sends a header clients cannot parse; report it to the "
                "registry operator with the header value above"
            ],
        ) from exc
    ctx.step.evidence["challenges"] = [{"scheme": c.scheme, **c.params} for c in challenges]
    chosen = pick_challenge(challenges)
    if chosen is None or chosen.scheme not in SUPPORTED:
        schemes = ", ".join(c.scheme for c in challenges) or "none"
        raise StepFailed(
            Cause.UNSUPPORTED_SCHEME,
            f"the registry asks for {schemes}; docker and containerd speak only Bearer and Basic",
            ["pullers cannot log in to this registry as configured"],
        )
    ctx.facts.challenge = chosen
    ctx.facts.auth_scheme = chosen.scheme
    if chosen.scheme == "basic":
        return f"Basic authentication (realm {chosen.realm or 'unnamed'})"
    return _bearer(ctx, chosen)


def _keep_realm_secrets(ctx: RunContext, values: list[str]) -> None:
    """A realm may carry user:password; show it nowhere, however oddly it is quoted."""
    try:
        realms = [c.realm for c in parse_www_authenticate(values) if c.realm]
    except ChallengeError:
        return
    for realm in realms[:4]:
        for secret in url_secrets(realm):
            ctx.keep_secret(secret)
            # As it stands in the header: a quoted-string escapes '"' and '\\'.
            ctx.keep_secret(secret.replace("\\", "\\\\").replace('"', '\\"'))


def _bearer(ctx: RunContext, chosen: Challenge) -> str:
    realm = chosen.realm
    if not realm or not usable_http_url(realm):
        raise StepFailed(
            Cause.MALFORMED_CHALLENGE,
            f"the Bearer challenge has no usable realm "
            f"({realm!r}); clients cannot find the token service",
            ["the registry's auth.token.realm setting must be an absolute URL"],
        )
    _note_service(ctx, chosen)
    if realm.startswith("http:") and not ctx.plain_http:
        ctx.step.warn(
            Cause.INSECURE_REALM,
            f"the token service {realm} is plain http for an "
            "https registry: credentials would cross the network unencrypted",
            "configure an https realm on the registry",
        )
    ctx.environment.proxies["realm"] = ctx.proxies.explain(realm)
    service = f", service {chosen.service}" if chosen.service else ""
    return f"Bearer token from {realm}{service}"


def _note_service(ctx: RunContext, chosen: Challenge) -> None:
    ctx.facts.service = chosen.service
    profile = ctx.profile
    if profile.instance_id:
        ctx.step.evidence["instance_id_from"] = "challenge service"
    expected = bucket_hint(profile, profile.instance_id)
    if expected:
        ctx.step.evidence["expected_bucket"] = expected
