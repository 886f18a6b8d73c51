"""Registry error answers (401/403/404/429/5xx) as step failures, shared by steps 5 and 6."""

from __future__ import annotations

from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.net.session import Exchange, host_of
from acrdiag.probes.base import StepFailed, server_message
from acrdiag.registry.challenge import ChallengeError, parse_www_authenticate, pick_challenge
from acrdiag.registry.errors import first_code, parse_registry_errors

RATE_LIMIT_HEADERS = (
    "ratelimit-limit",
    "ratelimit-remaining",
    "docker-ratelimit-source",
    "retry-after",
)
_CODE_CAUSES = {
    "NAME_UNKNOWN": Cause.NAME_UNKNOWN,
    "MANIFEST_UNKNOWN": Cause.MANIFEST_UNKNOWN,
    "BLOB_UNKNOWN": Cause.BLOB_UNKNOWN,
    "DENIED": Cause.DENIED,
    "UNAUTHORIZED": Cause.UNAUTHORIZED,
    "TOOMANYREQUESTS": Cause.RATE_LIMITED,
}


def rate_limit(exchange: Exchange) -> dict[str, str]:
    return {h: exchange.headers[h] for h in RATE_LIMIT_HEADERS if h in exchange.headers}


def raise_for_status(ctx: RunContext, exchange: Exchange, what: str, not_found: Cause) -> None:
    """Raise StepFailed unless ``exchange`` is a success or redirect."""
    status = exchange.status
    if status < 400:
        return
    errors = parse_registry_errors(exchange.body)
    code = first_code(errors)
    said = server_message(exchange.body)
    ctx.step.evidence["error"] = {"status": status, "code": code, "message": said}
    limits = rate_limit(exchange)
    if limits:
        ctx.step.evidence["rate_limit"] = limits
    detail = f" ({said})" if said else ""
    if status == 429 or code == "TOOMANYREQUESTS":
        raise StepFailed(Cause.RATE_LIMITED, f"{what}: rate limited{detail}", _rate_hints(limits))
    if status == 401:
        raise StepFailed(
            Cause.UNAUTHORIZED,
            f"{what}: 401 unauthorized{detail}{_token_window(ctx)}",
            _unauthorized_hints(ctx, exchange),
        )
    if status == 403:
        raise StepFailed(
            Cause.DENIED,
            f"{what}: 403 denied{detail}",
            [
                "the registry denies this account the repository: check its "
                "permissions, or whether the repository is in another namespace"
            ],
        )
    if status == 404:
        cause = _CODE_CAUSES.get(code or "", not_found)
        raise StepFailed(
            cause,
            f"{what}: not found{detail}",
            ["check the repository, tag or digest against what was pushed"],
        )
    if status >= 500:
        raise StepFailed(
            Cause.SERVER_ERROR,
            f"{what}: the registry failed with {status}{detail}",
            [
                "retry later; if it persists, open a ticket with the request IDs "
                "below (a registry 500 often means it cannot reach its storage)"
            ],
        )
    raise StepFailed(
        _CODE_CAUSES.get(code or "", Cause.HTTP_ERROR),
        f"{what}: unexpected {status}{detail}",
        ["a proxy in front of the registry may answer instead of it: check the request IDs"],
    )


def _token_window(ctx: RunContext) -> str:
    """What step 4 found, against the registry's clock: the registry refused it anyway."""
    nbf, exp = ctx.facts.token_window
    if ctx.facts.auth_scheme != "bearer" or (nbf is None and exp is None):
        return ""
    clock = ctx.judging_clock(("registry", host_of(ctx.facts.registry_url)))
    start = f"{nbf:%H:%M:%S}" if nbf else "?"
    end = f"{exp:%H:%M:%S}" if exp else "?"
    return (
        f"; the registry refused the token step 4 found valid from {start} to {end} UTC, "
        f"with {clock.name} at {clock.now:%H:%M:%S}"
    )


def _unauthorized_hints(ctx: RunContext, exchange: Exchange) -> list[str]:
    error = None
    try:
        chosen = pick_challenge(
            parse_www_authenticate(exchange.headers.get_list("www-authenticate"))
        )
        error = chosen.error if chosen else None
    except ChallengeError:
        pass
    if error == "insufficient_scope":
        return [
            "the token lacks pull on this repository (insufficient_scope): check the "
            "account's permissions and the repository name"
        ]
    if ctx.facts.auth_scheme == "none":
        return [
            "/v2/ allowed anonymous access but this repository needs credentials: pass "
            "--username USER --password-stdin"
        ]
    return [
        "the registry did not accept the token the token service issued: clocks of the "
        "token service and registry may differ, or they disagree on issuer/service"
    ]


def _rate_hints(limits: dict[str, str]) -> list[str]:
    hints = [
        "wait for the rate-limit window to reset, or authenticate: authenticated pulls get a "
        "higher limit"
    ]
    if "ratelimit-remaining" in limits:
        hints.append(
            f"Docker Hub says: limit {limits.get('ratelimit-limit', '?')}, remaining "
            f"{limits['ratelimit-remaining']} (source {limits.get('docker-ratelimit-source', '?')})"
        )
    return hints
