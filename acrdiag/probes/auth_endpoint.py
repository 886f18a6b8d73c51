"""Step 3: the authorization service issues a token (Bearer) or accepts credentials (Basic)."""

from __future__ import annotations

import base64
from urllib.parse import urlencode, urlsplit

from acrdiag.auth import CredentialKind
from acrdiag.catalogue import hint
from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.kinds import RegistryKind
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import Exchange, host_of
from acrdiag.net.urls import is_downgrade, with_query
from acrdiag.probes.base import StepFailed, describe_body, net_failed, server_message
from acrdiag.redact import redact_url
from acrdiag.registry.token import (
    DEFAULT_EXPIRES_IN,
    NoTokenError,
    TokenError,
    decode_jwt,
    granted_actions,
    looks_like_jwt,
    parse_token_response,
    pull_scope,
)

MAX_TOKEN_BODY = 1024 * 1024
ACR_TEMPORARY_USER = "cr_temp_user"  # what GetAuthorizationToken hands out


def run(ctx: RunContext) -> str:
    """Dispatches on the registry's scheme; the credential's kind decides what is sent."""
    credential = ctx.options.credential
    for note in credential.notes:  # what the puller skips too: a warning, not a failure
        ctx.step.warn(
            Cause.CREDENTIAL_FILE_INVALID,
            note,
            "fix or remove it: docker, podman and kubelet skip it and pull without it",
        )
    if credential.kind is CredentialKind.FAILED:
        # docker asks its helpers and reads its files before any request: it fails here too.
        assert credential.cause is not None
        raise StepFailed(
            credential.cause,
            f"{credential.source}: {credential.problem}",
            _failed_source_hints(ctx),
        )
    if ctx.facts.auth_scheme == "none":
        return "not required: the registry allows anonymous access"
    if ctx.facts.auth_scheme == "basic":
        return _basic(ctx)
    return _bearer(ctx)


def _basic_header(ctx: RunContext) -> str | None:
    credential = ctx.options.credential
    if credential.kind is not CredentialKind.BASIC:
        return None
    pair = f"{credential.username}:{credential.secret}".encode()
    encoded = base64.b64encode(pair).decode()
    ctx.keep_secret(encoded)
    return f"Basic {encoded}"


def _basic(ctx: RunContext) -> str:
    header = _basic_header(ctx)
    if ctx.options.credential.kind is CredentialKind.IDENTITY_TOKEN:
        raise StepFailed(
            Cause.BAD_CREDENTIALS,
            f"{ctx.options.credential.source} holds an identity token, and this registry "
            "takes only Basic credentials",
            [hint("log_in_again")],
        )
    if header is None:
        raise StepFailed(
            Cause.AUTH_REQUIRED,
            "the registry wants Basic credentials and none were given",
            [_login_hint(ctx)],
        )
    try:
        ping = ctx.session.fetch(ctx.api_url + "/", headers={"Authorization": header})
    except NetFailure as failure:
        raise net_failed(ctx, failure, "registry") from failure
    ctx.step.evidence["status"] = ping.status
    if ping.status == 401:
        raise StepFailed(
            Cause.BAD_CREDENTIALS,
            f"the registry rejected the Basic credentials of {ctx.options.credential.who()}",
            _bad_credentials_hints(ctx),
        )
    if ping.status == 403:
        raise StepFailed(
            Cause.FORBIDDEN,
            "the registry refused the credentials (403)",
            ["the account is known but may not use this registry: check its permissions"],
        )
    if ping.status != 200:
        raise StepFailed(
            Cause.HTTP_ERROR,
            f"/v2/ with credentials answered {ping.status}",
            ["a registry answers /v2/ with 200 once the credentials are right"],
        )
    ctx.facts.authorization = header
    if is_downgrade(ctx.facts.registry_url, ping.url):
        # The session withheld the credentials there (insecure_redirect): nothing was checked.
        return f"/v2/ answered {ping.status} over plain http, where the credentials were not sent"
    return f"Basic credentials of {ctx.options.credential.who()} accepted"


def _bearer(ctx: RunContext) -> str:
    challenge = ctx.facts.challenge
    assert challenge is not None and challenge.realm is not None
    realm = challenge.realm
    if ctx.options.credential.kind is CredentialKind.IDENTITY_TOKEN:
        return _oauth_refresh(ctx, realm, challenge.service)
    params = {"scope": pull_scope(ctx.reference.repository)}
    if challenge.service:
        params = {"service": challenge.service, **params}
    if ctx.options.credential.username:
        params["account"] = ctx.options.credential.username
    url = with_query(realm, params)
    ctx.step.evidence["request"] = {"realm": redact_url(realm), **params}
    header = _basic_header(ctx)
    if header:
        _refuse_plain_http_realm(ctx, realm)
    try:
        answer = ctx.session.fetch(
            url,
            headers={"Authorization": header} if header else None,
            max_body=MAX_TOKEN_BODY,
            check_hop=lambda hop: _check_realm_redirect(ctx, hop, password=header is not None),
        )
    except NetFailure as failure:
        raise net_failed(ctx, failure, "realm") from failure
    ctx.step.evidence["status"] = answer.status
    _check_status(ctx, answer)
    return _take_token(ctx, answer, realm)


def _oauth_refresh(ctx: RunContext, realm: str, service: str | None) -> str:
    """docker login's identity token: POSTed to the realm as an OAuth2 refresh token
    (docker's token flow; a GET cannot carry it)."""
    credential = ctx.options.credential
    assert credential.secret is not None
    _refuse_plain_http_realm(ctx, realm)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credential.secret,
        "service": service or "",
        "scope": pull_scope(ctx.reference.repository),
        "client_id": "docker",  # what docker sends
    }
    ctx.step.evidence["request"] = {"realm": redact_url(realm), "method": "POST (OAuth2)"}
    try:
        with ctx.session.open(
            realm,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(),
        ) as response:
            answer = ctx.session.exchange(response, MAX_TOKEN_BODY)
    except NetFailure as failure:
        raise net_failed(ctx, failure, "realm") from failure
    ctx.step.evidence["status"] = answer.status
    _check_status(ctx, answer)
    return _take_token(ctx, answer, realm)


def _failed_source_hints(ctx: RunContext) -> list[str]:
    credential = ctx.options.credential
    if credential.cause is Cause.CREDENTIAL_HELPER_FAILED:
        return [
            "docker runs the same helper for this registry and fails the pull the same way: "
            "install it on the PATH, log in again (docker login), or remove it from "
            "credHelpers/credsStore in config.json"
        ]
    return [f"fix {credential.source}: docker and podman read it for every pull"]


def _refuse_plain_http_realm(ctx: RunContext, url: str, via: str = "") -> None:
    if urlsplit(url).scheme == "http" and not ctx.plain_http:
        raise StepFailed(
            Cause.INSECURE_REALM,
            f"refusing to send the password to the plain http realm {redact_url(url)}{via}",
            ["configure an https realm on the registry, or use --plain-http if this is a lab"],
        )


def _check_realm_redirect(ctx: RunContext, hop: str, *, password: bool) -> None:
    """Every realm URL reached, not only the first, meets the insecure-realm rule."""
    if password:
        _refuse_plain_http_realm(ctx, hop, " (the token service redirected there)")
    elif urlsplit(hop).scheme == "http" and not ctx.plain_http:
        ctx.step.warn(
            Cause.INSECURE_REALM,
            f"the token service redirected to the plain http URL {redact_url(hop)}: the token "
            "comes back unencrypted",
            "configure the token service to stay on https",
        )


def _check_status(ctx: RunContext, answer: Exchange) -> None:
    status = answer.status
    if status == 200:
        return
    said = server_message(answer.body)
    detail = f": {said}" if said else ""
    if said:
        ctx.step.evidence["server_message"] = said
    host = host_of(answer.url)
    if status == 401:
        if ctx.options.credential.present:
            raise StepFailed(
                Cause.BAD_CREDENTIALS,
                f"the token service {host} rejected the "
                f"credentials of {ctx.options.credential.who()}{detail}",
                [*_bad_credentials_hints(ctx), *_anonymous_hint(ctx)],
            )
        raise StepFailed(
            Cause.AUTH_REQUIRED,
            f"the token service {host} requires credentials{detail}",
            [_login_hint(ctx)],
        )
    if status == 403:
        raise StepFailed(
            Cause.FORBIDDEN,
            f"the token service {host} refused (403){detail}",
            [
                "the account exists but may not use this registry: check its "
                "permissions (RAM policy for ACR)"
            ],
        )
    if status == 429:
        raise StepFailed(
            Cause.RATE_LIMITED,
            f"the token service {host} is rate limiting{detail}",
            ["wait and retry; many nodes pulling at once share one limit"],
        )
    if status >= 500:
        raise StepFailed(
            Cause.SERVER_ERROR,
            f"the token service {host} failed with {status}{detail}",
            [hint("retry_then_ticket")],
        )
    raise StepFailed(
        Cause.BAD_RESPONSE,
        f"the token service {host} answered {status}{detail}",
        ["the realm URL in the challenge does not lead to a token service"],
    )


def _take_token(ctx: RunContext, answer: Exchange, realm: str) -> str:
    try:
        parsed = parse_token_response(answer.body)
    except NoTokenError as exc:
        raise StepFailed(
            Cause.NO_TOKEN,
            f"the token response holds no token: {exc}",
            ["the token service answered JSON without token/access_token"],
        ) from exc
    except TokenError as exc:
        raise StepFailed(
            Cause.BAD_RESPONSE,
            f"the token service answered 200 with something "
            f"that is not token JSON ({describe_body(answer)}): {exc}",
            ["a proxy or captive portal may answer for the token service"],
        ) from exc
    ctx.keep_secret(parsed.token)
    for problem in parsed.problems:  # docker accepts these answers: a finding, not a failure
        ctx.step.warn(Cause.BAD_RESPONSE, f"the token response's {problem}")
    ctx.facts.token = parsed.token
    ctx.facts.authorization = f"Bearer {parsed.token}"
    expires_in = parsed.expires_in
    ctx.step.evidence["token"] = {
        "kind": "jwt" if looks_like_jwt(parsed.token) else "opaque",
        "length": len(parsed.token),
        "expires_in": expires_in,
        "issued_at": parsed.issued_at.isoformat() if parsed.issued_at else None,
        "refresh_token": parsed.has_refresh_token,
    }
    lifetime = f"{expires_in} s" if expires_in is not None else f"{DEFAULT_EXPIRES_IN} s (default)"
    credential = ctx.options.credential
    who = f"for {credential.who()}" if credential.present else "anonymously"
    return f"token issued {who} by {host_of(realm)}, valid {lifetime}"


def _anonymous_hint(ctx: RunContext) -> list[str]:
    """One more request settles whether the pull would work without the credential."""
    challenge = ctx.facts.challenge
    if challenge is None or challenge.realm is None:
        return []
    params = {"scope": pull_scope(ctx.reference.repository)}
    if challenge.service:
        params = {"service": challenge.service, **params}
    try:
        answer = ctx.session.fetch(with_query(challenge.realm, params), max_body=MAX_TOKEN_BODY)
        token = parse_token_response(answer.body).token if answer.status == 200 else None
    except (NetFailure, TokenError):
        return []
    if token is None:
        ctx.step.evidence["anonymous_access"] = "refused"
        return []
    ctx.keep_secret(token)
    try:
        granted = granted_actions(decode_jwt(token).claims, "repository", ctx.reference.repository)
    except TokenError:
        return []  # opaque: only the registry knows
    works = "pull" in granted or "*" in granted
    ctx.step.evidence["anonymous_access"] = "works" if works else "refused"
    if not works:
        return []
    source = ctx.options.credential.source
    return [
        f"{ctx.reference.repository} can be pulled anonymously: the rejected credential is what "
        f"breaks the pull (the puller sends it); remove or renew it in {source}"
    ]


def _login_hint(ctx: RunContext) -> str:
    looked = f"no credentials were used ({ctx.options.credential.source})"
    if ctx.profile.kind is RegistryKind.ECR:
        return (
            f"{looked}: ECR needs user AWS and a password from `aws ecr get-login-password`, "
            "given with --username AWS --password-stdin"
        )
    return (
        f"{looked}: give the puller's with --username USER --password-stdin (ACR: the "
        "instance's access credential or a temporary token from GetAuthorizationToken)"
    )


def _bad_credentials_hints(ctx: RunContext) -> list[str]:
    credential = ctx.options.credential
    hints = [
        f"the credential from {credential.source} was rejected: check it against "
        "what the puller uses (docker login, the Kubernetes pull secret)"
    ]
    if credential.username == ACR_TEMPORARY_USER:
        age = ""
        if credential.stored_at is not None:
            hours = (ctx.now() - credential.stored_at).total_seconds() / 3600
            age = f"; this one was written {hours:.1f} hours ago"
        hints.append(
            "cr_temp_user is an ACR temporary credential (GetAuthorizationToken): it expires "
            f"after hours{age}; renew it (on ACK, aliyun-acr-credential-helper does)"
        )
    if ctx.profile.is_acr:
        hints.append(
            "ACR: the password is the instance's access credential, not the Alibaba "
            "Cloud account password; temporary tokens (cr_temp_user) expire"
        )
    return hints
