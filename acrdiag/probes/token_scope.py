"""Step 4: the token grants pull on this repository, for this service, now.

The signature is not verified (only the registry can); the claims are read to
tell "no right" (an empty access list) and clock trouble apart, which the
registry's bare "unauthorized" does not. Times are judged by the registry's
clock (its Date header), which is the one that decides, not by the local clock.
"""

from __future__ import annotations

from typing import Any

from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.net.clocks import (
    LOCAL,
    REGISTRY_LEEWAY_S,
    SKEW_WARNING_S,
    JudgingClock,
    describe_offset,
)
from acrdiag.net.session import host_of
from acrdiag.probes.base import StepFailed, clock_hint
from acrdiag.registry.token import (
    TokenError,
    audience_matches,
    claim_time,
    decode_jwt,
    granted_actions,
    looks_like_jwt,
)


def run(ctx: RunContext) -> str:
    if ctx.facts.auth_scheme == "none":
        return "not required: the registry allows anonymous access"
    if ctx.facts.auth_scheme == "basic":
        return "not applicable: Basic authentication sends the credentials with every request"
    token = ctx.facts.token or ""
    if not looks_like_jwt(token):
        ctx.step.warn(Cause.OPAQUE_TOKEN, "the token is opaque (not a JWT)")
        return "the token is opaque (not a JWT): the manifest step shows whether it works"
    try:
        claims = decode_jwt(token).claims
    except TokenError as exc:
        ctx.step.warn(Cause.OPAQUE_TOKEN, f"the token looks like a JWT but does not decode: {exc}")
        return "the token does not decode: the manifest step shows whether it works"
    clock = _registry_clock(ctx)
    ctx.step.evidence["claims"] = _shown_claims(claims)
    ctx.step.evidence["local_time"] = ctx.now().isoformat()
    ctx.step.evidence["judged_by"] = {"clock": clock.name, "time": clock.now.isoformat()}
    ctx.facts.token_window = (claim_time(claims, "nbf"), claim_time(claims, "exp"))
    _check_times(ctx, claims, clock)
    _check_audience(ctx, claims)
    actions = _check_access(ctx, claims)
    return _summary(ctx, claims, actions, clock)


def _registry_clock(ctx: RunContext) -> JudgingClock:
    """The registry checks the token: its clock, else the token service's, else ours."""
    realm = ctx.facts.challenge.realm if ctx.facts.challenge else None
    return ctx.judging_clock(
        ("registry", host_of(ctx.facts.registry_url)), ("token service", host_of(realm or ""))
    )


def _shown_claims(claims: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {k: claims[k] for k in ("iss", "sub", "aud", "access") if k in claims}
    for name in ("iat", "nbf", "exp"):
        when = claim_time(claims, name)
        if when is not None:
            shown[name] = when.isoformat()
    return shown


def _check_times(ctx: RunContext, claims: dict[str, Any], clock: JudgingClock) -> None:
    nbf, iat, exp = claim_time(claims, "nbf"), claim_time(claims, "iat"), claim_time(claims, "exp")
    now, by = clock.now, clock.name
    if iat is not None:
        skew = (iat - now).total_seconds()
        ctx.step.evidence["clock_skew_s"] = round(skew, 1)
        if abs(skew) > SKEW_WARNING_S:
            ctx.step.warn(Cause.CLOCK_SKEW, _skew_text(skew, by), _skew_hint(by))
    if exp is not None and (now - exp).total_seconds() > REGISTRY_LEEWAY_S:
        raise StepFailed(
            Cause.EXPIRED,
            f"the token expired at {exp:%Y-%m-%d %H:%M:%S} UTC, "
            f"{(now - exp).total_seconds():.0f} s ago by {by}",
            [_skew_hint(by), "a token service issuing expired tokens has a wrong clock"],
        )
    if nbf is not None and (nbf - now).total_seconds() > REGISTRY_LEEWAY_S:
        ahead = (nbf - now).total_seconds()
        raise StepFailed(
            Cause.NOT_YET_VALID,
            f"the token is valid only from {nbf:%Y-%m-%d %H:%M:%S} UTC, {ahead:.0f} s from now "
            f"by {by}: the token service's clock runs ahead",
            [
                _skew_hint(by),
                "the registry compares nbf with its own clock: a token "
                "server ahead of the registry gives 'unauthorized' on every pull",
            ],
        )


def _skew_text(skew: float, by: str) -> str:
    """iat - now: who is off, by how much, judged against ``by``."""
    if by == LOCAL:
        return describe_offset(skew, "the local clock", "the token service's")
    whose = by.removeprefix("the ").removesuffix("'s clock")
    return describe_offset(-skew, "the token service's clock", f"the {whose}'s")


def _skew_hint(by: str) -> str:
    if by == LOCAL:
        return clock_hint() + ": tokens and signed storage URLs are checked by the servers' clocks"
    return (
        "the token service and the registry must agree on the time: sync the token service's "
        "clock (for a hosted registry, give support the times above)"
    )


def _check_audience(ctx: RunContext, claims: dict[str, Any]) -> None:
    service = ctx.facts.challenge.service if ctx.facts.challenge else None
    if service and "aud" in claims and not audience_matches(claims, service):
        raise StepFailed(
            Cause.WRONG_AUDIENCE,
            f"the token is for {claims.get('aud')!r}, the registry is {service!r}",
            [
                "the realm issues tokens for another registry: the registry's "
                "auth.token.service and the token service disagree"
            ],
        )


def _check_access(ctx: RunContext, claims: dict[str, Any]) -> set[str]:
    repository = ctx.reference.repository
    actions = granted_actions(claims, "repository", repository)
    ctx.step.evidence["granted_actions"] = sorted(actions)
    if "pull" in actions or "*" in actions:
        return actions
    access = claims.get("access")
    empty = not access
    summary = (
        f"the token grants nothing (empty access list) for repository:{repository}:pull"
        if empty
        else f"the token grants {sorted(actions) or 'no actions'} on {repository}, not pull"
    )
    raise StepFailed(Cause.SCOPE_MISSING, summary, _scope_hints(ctx))


def _scope_hints(ctx: RunContext) -> list[str]:
    repository = ctx.reference.repository
    credential = ctx.options.credential
    if not credential.present:
        return [
            f"anonymous pulls of {repository} are not allowed, or it does not exist: pass "
            f"credentials, the puller's ({credential.source} so far), with --username USER "
            "--password-stdin (ACR: make the repository public or log in)"
        ]
    return [
        f"the login ({credential.source}) works but {credential.who()} may not pull "
        f"{repository}, or the repository does not exist (token services grant an empty list "
        "for both)",
        "ACR: check the RAM policy (cr:PullRepository) or the instance's namespace permissions, "
        "and the repository name and namespace spelling",
    ]


def _summary(
    ctx: RunContext, claims: dict[str, Any], actions: set[str], clock: JudgingClock
) -> str:
    subject = claims.get("sub") or "anonymous"
    exp = claim_time(claims, "exp")
    left = f", {int((exp - clock.now).total_seconds())} s left" if exp else ""
    granted = ",".join(sorted(actions))
    return f"token for {subject!r} grants {granted} on {ctx.reference.repository}{left}"
