"""The runtime's view turned into what acrdiag runs: the options of each host it would try.

Each host is spoken to as the runtime speaks to it: its own scheme, path, TLS settings
(its certs.d directory, hosts.toml ``ca``/``client``/``skip_verify``), headers, containerd's
``ns`` parameter, and the runtime's proxy variables instead of the shell's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import SplitResult, urlsplit

from acrdiag.auth import Credential
from acrdiag.context import RunOptions
from acrdiag.fallback import Attempt, PullPlan
from acrdiag.net.cert_dirs import TlsFiles
from acrdiag.reference import (
    DEFAULT_REGISTRY,
    DEFAULT_TAG,
    DOCKER_HUB_API_HOST,
    ImageReference,
    ReferenceError,
    parse_reference,
)
from acrdiag.runtime.hosts import PullHost
from acrdiag.runtime.proxies import VARIABLES
from acrdiag.runtime.view import RuntimeView

TlsFor = Callable[[str], TlsFiles]  # the certs.d files of a registry host[:port]
# The credential the runtime would use at a host: (registry host[:port], repository).
CredentialFor = Callable[[str, str], Credential]


def pull_plan(
    base: RunOptions,
    view: RuntimeView,
    tls_for: TlsFor,
    credential_for: CredentialFor | None = None,
) -> PullPlan:
    """The attempts of the runtime's plan; one attempt, today's own view, without a plan."""
    environ = _runtime_environ(base, view.proxy_environ)
    plan = view.plan
    if plan is None:
        return PullPlan(view.info, [], base=base)
    image = _resolved_image(base.reference, plan.image)
    base = replace(base, environ=environ, reference=image, image=image)
    per_host = credential_for if view.per_host_credentials else None
    attempts = [_attempt(base, host, tls_for, per_host) for host in plan.hosts]
    return PullPlan(view.info, attempts, blocked=plan.blocked, base=base)


def _resolved_image(given: ImageReference, resolved: str | None) -> ImageReference:
    """The image the runtime pulls: a short name through registries.conf's aliases or search
    registries is not docker's docker.io/library/ one."""
    if not resolved:
        return given
    try:
        image = parse_reference(resolved)
    except ReferenceError:
        return given
    return replace(
        image,
        given=given.given,
        tag=image.tag if image.digest or image.tag != DEFAULT_TAG else given.tag,
        digest=image.digest or given.digest,
    )


def _runtime_environ(base: RunOptions, runtime: Mapping[str, str] | None) -> Mapping[str, str]:
    """The shell's variables with the runtime's proxy variables in place of its own, unless
    --proxy or --no-proxy decided."""
    if runtime is None or base.proxy is not None:
        return base.environ
    names = {name for pair in VARIABLES for name in pair}
    kept = {k: v for k, v in base.environ.items() if k not in names}
    return {**kept, **runtime}


def _attempt(
    base: RunOptions, host: PullHost, tls_for: TlsFor, credential_for: CredentialFor | None
) -> Attempt:
    url = urlsplit(host.url if "://" in host.url else f"https://{host.url}")
    problem = _url_problem(url)
    if problem is not None:
        return Attempt(host, base, (), f"the runtime cannot use {host.url!r}: {problem}")
    reference = _reference_at(base.reference, url.netloc.lower(), host.repository)
    path = url.path.rstrip("/")
    settings: list[str] = []
    tls = tls_for(reference.registry) if reference.registry != base.reference.registry else None
    tls = _with_host_files(tls or base.tls_files, host, settings)
    if host.override_path:
        settings.append(f"override_path: the API root is {path or '/'}")
    if host.skip_verify:
        settings.append("skip_verify: certificates not verified")
    if host.insecure:
        settings.append("insecure registry: unverified TLS, then plain http")
    if host.namespace:
        settings.append(f"ns={host.namespace} on every request")
    settings += [f"header {name}" for name, _ in host.headers]
    options = replace(
        base,
        reference=reference,
        image=base.image or base.reference,
        plain_http=base.plain_http or url.scheme == "http",
        insecure=base.insecure or host.skip_verify or host.insecure,
        tls_files=tls,
        api_path=path if host.override_path else f"{path}/v2",
        namespace=host.namespace,
        headers=host.headers,
        http_fallback=True if host.insecure else base.http_fallback,
        insecure_why=_insecure_why(base, host),
    )
    if credential_for is not None:  # containers/image and containerd: each host's own
        credential = credential_for(reference.registry, reference.repository)
        options = replace(options, credential=credential)
    return Attempt(host, options, tuple(settings))


def _insecure_why(base: RunOptions, host: PullHost) -> str:
    if base.insecure:
        return base.insecure_why
    if host.skip_verify:
        return f"skip_verify/insecure in {host.origin}"
    if host.insecure:
        return f"an insecure registry in {host.origin}"
    return base.insecure_why


def _url_problem(url: SplitResult) -> str | None:
    """Why a host URL is unusable (the runtime fails that host and moves on), or None."""
    if url.scheme not in ("http", "https"):
        return f"scheme {url.scheme!r} is neither http nor https"
    try:
        port = url.port
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if not url.hostname or url.netloc.endswith(":") or port == 0:
        return "it names no host, or an empty port"
    return None


def _reference_at(image: ImageReference, netloc: str, repository: str | None) -> ImageReference:
    """The image as this host is asked for it: the image's own registry name where the host
    is its API host (so docker.io stays Docker Hub), else the host itself."""
    own = image.api_host + (f":{image.port}" if image.port else "")
    registry = image.registry if netloc in (own, image.registry.lower()) else netloc
    if netloc == DOCKER_HUB_API_HOST:
        registry = DEFAULT_REGISTRY
    return replace(image, registry=registry, repository=repository or image.repository)


def _with_host_files(tls: TlsFiles, host: PullHost, settings: list[str]) -> TlsFiles:
    if not host.ca and host.client is None:
        return tls
    origins = list(tls.origins)
    if host.ca:
        origins.append(f"{host.origin}: ca {', '.join(str(p) for p in host.ca)}")
        settings.append(f"ca {', '.join(str(p) for p in host.ca)}")
    client = tls.client
    if host.client is not None:
        cert, key = host.client
        client = (cert, key or cert)  # a key inside the certificate file
        origins.append(f"{host.origin}: client {cert}")
        settings.append(f"client certificate {cert}")
    return replace(tls, cas=(*tls.cas, *host.ca), client=client, origins=tuple(origins))
