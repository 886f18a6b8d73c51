"""One blob of step 7: fetched from where step 6 found it, streamed and hashed.

Runs in worker threads: what it records goes to the session's recorder for this
thread (a record of its own, merged in blob order), and it returns what it saw, or
raises StepFailed carrying it.
No credentials go to storage, ever: Authorization is sent only when a hop is the
registry's own origin (scheme, host and port), stricter than Go's same-host rule
(the OCI spec forbids forwarding it across hosts, and OSS/S3 reject a request
carrying both a signed URL and an Authorization header).
"""

from __future__ import annotations

import hashlib
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from acrdiag.causes import Cause
from acrdiag.context import BlobRoute, RunContext
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import DEFAULT_MAX_BODY, REDIRECT_STATUSES, host_of
from acrdiag.net.urls import same_origin
from acrdiag.probes.base import StepFailed, net_failed
from acrdiag.redact import redact_url, url_secrets
from acrdiag.registry.manifests import Descriptor
from acrdiag.registry.storage_errors import (
    StorageError,
    classify_storage_error,
    parse_storage_error,
)

# A ranged GET of this much proves an object exists and is readable.
PROBE_BYTES = 64 * 1024
_REDIRECT_HINTS = [
    "the storage or CDN behind the registry redirects wrongly; give support the "
    "hops above and the request IDs"
]
_STORAGE_HINTS = {
    Cause.URL_EXPIRED: [
        "storage judged the signed URL expired by its own clock (the local clock plays no "
        "part): the registry's and storage's clocks disagree, a cache replayed an old "
        "redirect (see step 6), or the download took longer than the URL's lifetime"
    ],
    Cause.SIGNATURE_MISMATCH: [
        "something between you and storage changed the signed URL (a "
        "proxy re-encoding the query string), or the registry's storage "
        "keys are wrong"
    ],
    Cause.AUTH_HEADER_CONFLICT: [
        "an Authorization header reached storage with the signed URL: a "
        "proxy or client forwards it across the redirect; it must not"
    ],
    Cause.ACCESS_DENIED: [
        "storage refused the signed URL: give support the instance ID, bucket "
        "and request ID below (bucket policy, ACL or VPC endpoint policy)"
    ],
    Cause.STORAGE_OBJECT_MISSING: [
        "the registry points at an object storage does not have: "
        "open a ticket with the bucket, digest and request ID below"
    ],
}


@dataclass
class Fetched:
    """What one blob's fetch showed: verified in full, or only reached (a ranged read)."""

    blob: Descriptor
    host: str
    outcome: Literal["verified", "reached"]
    received: int  # bytes
    seconds: float
    evidence: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None  # kept for a small config blob: it names the platform


# An image config is a few KB; one larger than this is not read for its platform.
MAX_CONFIG_KEPT = 1024 * 1024


def fetch(ctx: RunContext, route: BlobRoute, full: bool) -> Fetched:
    """Fetch ``route``'s blob: all of it, hashed (``full``), or its first bytes."""
    if route.location is None and ctx.facts.direct_blob is not None:
        return _read(ctx, ctx.facts.direct_blob, ctx.reference.api_host, route.blob, full)
    with ExitStack() as stack:
        response = _open(ctx, stack, route.url or _registry_url(ctx, route.blob), full)
        final = str(response.request.url)
        for value in url_secrets(final):
            ctx.keep_secret(value)
        if response.status_code in REDIRECT_STATUSES:
            raise StepFailed(
                Cause.PROTOCOL_ERROR,
                f"{host_of(final)} redirected to an unusable URL "
                f"{redact_url(response.headers.get('location', '(none)'))}",
                _REDIRECT_HINTS,
            )
        if response.status_code not in (200, 206):
            _storage_error(ctx, response)
        return _read(ctx, response, host_of(final), route.blob, full)


def _registry_url(ctx: RunContext, blob: Descriptor) -> str:
    return ctx.repository_url(f"blobs/{blob.digest}")


def _open(ctx: RunContext, stack: ExitStack, url: str, full: bool) -> httpx.Response:
    """The answer at the end of the redirects, closed with ``stack``."""
    registry = ctx.facts.registry_url
    headers = {} if full else {"Range": f"bytes=0-{PROBE_BYTES - 1}"}
    if same_origin(url, registry) and ctx.facts.authorization:
        headers["Authorization"] = ctx.facts.authorization
    try:
        response: httpx.Response = stack.enter_context(
            ctx.session.open_following(
                url, headers=headers, keep_authorization=lambda _, hop: same_origin(hop, registry)
            )
        )
    except NetFailure as failure:
        raise net_failed(ctx, failure, _hop(ctx, failure.host)) from failure
    return response


def _hop(ctx: RunContext, host: str) -> str:
    return "registry" if host == ctx.reference.api_host else "storage"


def _storage_error(ctx: RunContext, response: httpx.Response) -> None:
    status = response.status_code
    host = host_of(str(response.request.url))
    try:
        body = ctx.session.read_body(response, DEFAULT_MAX_BODY)
    except NetFailure:
        body = b""
    error = parse_storage_error(body, dict(response.headers))
    cause = classify_storage_error(error, status) if error else _by_status(status)
    shown: dict[str, Any] = {"status": status, "host": host}
    if error is not None:
        shown.update(
            {
                "code": error.code,
                "message": error.message,
                "ec": error.ec,
                "request_id": error.request_id,
                "host_id": error.host_id,
                "detail": error.detail,
            }
        )
        recorder = ctx.session.recorder  # this blob's own, in a worker thread
        if error.request_id and recorder is not None:
            recorder.add_request_id("RequestId", error.request_id)
    said = _what_storage_said(error)
    ec = f" (EC {error.ec})" if error and error.ec else ""
    raise StepFailed(
        cause,
        f"storage {host} answered {status}{said}{ec}",
        _STORAGE_HINTS.get(cause, []),
        {"storage_error": shown},
    )


def _what_storage_said(error: StorageError | None) -> str:
    if error is None or not (error.code or error.message):
        return ""
    text = ": ".join(part for part in (error.code, error.message) if part)
    return f" {text}" + (f" ({error.detail})" if error.detail else "")


def _by_status(status: int) -> Cause:
    if status == 403:
        return Cause.ACCESS_DENIED
    if status == 404:
        return Cause.STORAGE_OBJECT_MISSING
    return Cause.SERVER_ERROR if status >= 500 else Cause.HTTP_ERROR


def _read(
    ctx: RunContext, response: httpx.Response, host: str, blob: Descriptor, full: bool
) -> Fetched:
    """Stream the body: hashed and measured in full, or its first PROBE_BYTES."""
    hasher = hashlib.sha256()
    size = 0
    started = time.monotonic()
    config = ctx.facts.manifest.config if ctx.facts.manifest else None
    keep = full and config is not None and config.digest == blob.digest
    kept: list[bytes] = []
    try:
        for chunk in ctx.session.iter_raw(response):
            size += len(chunk)
            if keep and size <= MAX_CONFIG_KEPT:
                kept.append(chunk)
            if not full and size >= min(PROBE_BYTES, blob.size):
                break  # the object is there and readable: that is all a ranged read proves
            if size > blob.size:
                raise StepFailed(
                    Cause.SIZE_MISMATCH,
                    f"{host} sent more than the {blob.size:,} bytes the manifest declares",
                    corrupt_hints(ctx),
                    {"download": _progress(host, size, blob)},
                )
            hasher.update(chunk)
    except NetFailure as failure:
        _interrupted(ctx, failure, size, blob)
    elapsed = max(time.monotonic() - started, 1e-6)
    if not full:
        return Fetched(blob, host, "reached", size, elapsed, {"host": host, "bytes_read": size})
    fetched = _verified(ctx, blob, host, size, elapsed, "sha256:" + hasher.hexdigest())
    if keep and size <= MAX_CONFIG_KEPT:
        fetched.content = b"".join(kept)
    return fetched


def _verified(
    ctx: RunContext, blob: Descriptor, host: str, size: int, elapsed: float, digest: str
) -> Fetched:
    evidence = {
        "host": host,
        "bytes": size,
        "expected_bytes": blob.size,
        "seconds": round(elapsed, 4),
        "mb_per_s": round(size / elapsed / 1e6, 2),
        "sha256": digest,
    }
    if size != blob.size:
        raise StepFailed(
            Cause.SIZE_MISMATCH,
            f"{host} sent {size:,} bytes, the manifest declares {blob.size:,}",
            corrupt_hints(ctx),
            {"download": evidence},
        )
    if blob.digest.startswith("sha256:") and digest != blob.digest:
        raise StepFailed(
            Cause.DIGEST_MISMATCH,
            f"the blob from {host} hashes to {digest}, not {blob.digest}",
            corrupt_hints(ctx),
            {"download": evidence},
        )
    return Fetched(blob, host, "verified", size, elapsed, evidence)


def _progress(host: str, size: int, blob: Descriptor) -> dict[str, Any]:
    return {"host": host, "bytes": size, "expected_bytes": blob.size}


def _interrupted(ctx: RunContext, failure: NetFailure, size: int, blob: Descriptor) -> None:
    progress = f"after {size:,} of {blob.size:,} bytes"
    evidence = {"download": _progress(failure.host, size, blob)}
    if failure.cause is Cause.CONNECTION_RESET:
        raise StepFailed(
            Cause.TRUNCATED,
            f"the download from {failure.host} ended {progress}: {failure.message}",
            [
                "the connection to storage was cut: a proxy or "
                "firewall idle timeout, or an unstable path; "
                "docker retries, but this node's path is weak"
            ],
            evidence,
        )
    if failure.cause is Cause.READ_TIMEOUT:
        raise StepFailed(
            Cause.READ_TIMEOUT,
            f"the download from {failure.host} stalled {progress}",
            ["storage stopped sending: throughput to this host is the problem"],
            evidence,
        )
    failed = net_failed(ctx, failure, _hop(ctx, failure.host))
    failed.evidence.update(evidence)
    raise failed


def corrupt_hints(ctx: RunContext) -> list[str]:
    redirect = ctx.facts.redirect
    bucket = (redirect.bucket if redirect else None) or "the bucket"
    return [
        f"the object in {bucket} does not match its digest: storage corruption, or a caching "
        "proxy/CDN serving other content; open a ticket with the digest, bucket and request "
        "IDs below"
    ]
