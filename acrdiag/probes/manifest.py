"""Step 5: the manifest (and, for an index, the platform's manifest) is there and intact."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import Exchange
from acrdiag.probes.base import StepFailed, human_size, net_failed, short_digest
from acrdiag.probes.registry_status import raise_for_status, rate_limit
from acrdiag.registry.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ManifestError,
    ParsedManifest,
    UnsupportedMediaTypeError,
    choose_blobs,
    parse_manifest,
    platform_label,
    select_platform,
)

MAX_TAGS_SHOWN = 20


def run(ctx: RunContext) -> str:
    ref = ctx.reference
    top, top_digest = _fetch(ctx, ref.manifest_ref, ref.digest, None)
    ctx.step.evidence["manifest"] = _describe(top, top_digest)
    image, image_digest, via = top, top_digest, ""
    if top.kind == "index":
        chosen = _select(ctx, top)
        image, image_digest = _fetch(ctx, chosen.digest, chosen.digest, chosen.size)
        ctx.step.evidence["platform_manifest"] = _describe(image, image_digest)
        via = f" → {platform_label(chosen)} {short_digest(image_digest)}"
        if image.kind != "image":
            raise StepFailed(
                Cause.UNSUPPORTED_MEDIA_TYPE,
                f"the index entry for "
                f"{platform_label(chosen)} is a {image.kind}, not an image manifest",
                ["docker and containerd do not follow nested indexes: push a flat index"],
            )
    if image.kind == "schema1":
        raise StepFailed(
            Cause.SCHEMA1_DEPRECATED,
            f"{ref.normalized} is a Docker schema 1 manifest",
            [
                "docker 20.10+ and containerd 2 refuse schema 1 images: rebuild and push "
                "the image with a current docker/buildx"
            ],
        )
    ctx.facts.blobs = _choose_blobs(ctx, image)
    ctx.facts.manifest = image
    total = sum(layer.size for layer in image.layers)
    layers = _plural(len(image.layers), "layer")
    return f"{_name(ctx)}: {_kind_text(top)}{via}; {layers}, {human_size(total)}"


def _name(ctx: RunContext) -> str:
    ref = ctx.reference
    if ref.digest:
        return f"{ref.repository}@{short_digest(ref.digest)}"
    return f"{ref.repository}:{ref.tag}"


def _fetch(
    ctx: RunContext, reference: str, want_digest: str | None, want_size: int | None
) -> tuple[ParsedManifest, str]:
    url = ctx.repository_url(f"manifests/{reference}")
    headers = {"Accept": ACCEPT}
    if ctx.facts.authorization:
        headers["Authorization"] = ctx.facts.authorization
    try:
        answer = ctx.session.fetch(url, headers=headers, max_body=MAX_MANIFEST_BYTES)
    except NetFailure as failure:
        if failure.cause is Cause.RESPONSE_TOO_LARGE:
            raise StepFailed(
                failure.cause,
                f"the manifest {reference} is larger than "
                f"{MAX_MANIFEST_BYTES:,} bytes; containerd refuses it",
                ["rebuild the image with fewer layers or index entries"],
            ) from failure
        raise net_failed(ctx, failure, "registry") from failure
    limits = rate_limit(answer)
    if limits:
        ctx.step.evidence["rate_limit"] = limits
    if answer.status == 404:
        _explain_missing(ctx, answer, reference)
    raise_for_status(ctx, answer, f"manifest {reference}", Cause.MANIFEST_UNKNOWN)
    if answer.status != 200:
        raise StepFailed(
            Cause.HTTP_ERROR,
            f"manifest {reference}: unexpected {answer.status}",
            ["a registry answers a manifest GET with 200 or an error code"],
        )
    digest = _verify(answer, want_digest, want_size)
    try:
        parsed = parse_manifest(answer.body, answer.headers.get("content-type"))
    except UnsupportedMediaTypeError as exc:
        raise StepFailed(
            Cause.UNSUPPORTED_MEDIA_TYPE,
            f"manifest {reference}: {exc}",
            ["docker and containerd accept OCI and Docker v2 manifests only"],
        ) from exc
    except ManifestError as exc:
        raise StepFailed(
            Cause.BAD_RESPONSE,
            f"manifest {reference} is invalid: {exc}",
            ["pullers refuse this manifest too: re-push the image"],
        ) from exc
    return parsed, digest


def _verify(answer: Exchange, want_digest: str | None, want_size: int | None) -> str:
    digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
    said = answer.headers.get("docker-content-digest")
    if said and said.startswith("sha256:") and said != digest:
        raise StepFailed(
            Cause.DIGEST_MISMATCH,
            f"the registry says the manifest is {said} but its body hashes to {digest}",
            ["a proxy or the registry altered the manifest: pullers will refuse it"],
        )
    if want_digest and want_digest.startswith("sha256:") and want_digest != digest:
        raise StepFailed(
            Cause.DIGEST_MISMATCH,
            f"asked for {want_digest}, got content hashing to {digest}",
            ["pullers verify this and will refuse the image"],
        )
    if want_size is not None and len(answer.body) != want_size:
        raise StepFailed(
            Cause.SIZE_MISMATCH,
            f"the index says {want_size} bytes, the manifest has {len(answer.body)}",
            ["pullers refuse a manifest whose size differs from its descriptor: re-push"],
        )
    return digest


def _explain_missing(ctx: RunContext, answer: Exchange, reference: str) -> None:
    """Tell "no such repository" from "no such tag": the manifest 404 alone often doesn't."""
    repository = ctx.reference.repository
    url = ctx.repository_url("tags/list?n=100", repository)
    headers = {"Authorization": ctx.facts.authorization} if ctx.facts.authorization else None
    try:
        tags = ctx.session.fetch(url, headers=headers)
    except NetFailure:
        return
    if tags.status == 404:
        raise StepFailed(
            Cause.NAME_UNKNOWN,
            f"repository {repository} does not exist in {ctx.reference.registry}",
            _name_hints(ctx),
        )
    if tags.status != 200:
        return
    try:
        names = json.loads(tags.body).get("tags") or []
    except (ValueError, AttributeError, RecursionError):
        names = []
    names = names if isinstance(names, list) else []
    shown = [str(n)[:128] for n in names[:MAX_TAGS_SHOWN]]
    ctx.step.evidence["tags_seen"] = shown
    what = f"tag {reference}" if not reference.startswith("sha256:") else f"digest {reference}"
    raise StepFailed(
        Cause.MANIFEST_UNKNOWN,
        f"{what} is not in {repository}",
        [
            f"tags in {repository}: {', '.join(shown) or 'none'}"
            + (" …" if len(names) > MAX_TAGS_SHOWN else "")
        ],
    )


def _name_hints(ctx: RunContext) -> list[str]:
    hints = [f"check the namespace and repository name {ctx.reference.repository!r}"]
    if ctx.profile.is_acr:
        hints.append(
            "ACR repositories live in one instance and region: the image may be in "
            "another instance, region or namespace"
        )
    return hints


def _select(ctx: RunContext, index: ParsedManifest) -> Descriptor:
    wanted = ctx.options.platform
    chosen = select_platform(index, wanted)
    available = [platform_label(d) for d in index.manifests]
    ctx.step.evidence["platforms"] = available
    if chosen is None:
        raise StepFailed(
            Cause.PLATFORM_MISSING,
            f"{_name(ctx)} has no {wanted} image; it has {', '.join(available) or 'none'}",
            [
                f"pull with --platform set to one of: {', '.join(available)}, or "
                f"build and push a {wanted} variant (docker buildx --platform)"
            ],
        )
    ctx.step.evidence["selected_platform"] = platform_label(chosen)
    ctx.facts.image_platform = platform_label(chosen)
    return chosen


def _choose_blobs(ctx: RunContext, image: ParsedManifest) -> list[Descriptor]:
    try:
        blobs = choose_blobs(image, ctx.options.blob)
    except ManifestError as exc:
        raise StepFailed(
            Cause.BLOB_UNKNOWN,
            f"--blob {ctx.options.blob}: {exc}",
            ["use --blob all, smallest, largest, or a digest listed in the manifest"],
        ) from exc
    shown = [_blob_evidence(blob, ctx.options.blob) for blob in blobs]
    if len(blobs) == 1:
        ctx.step.evidence["blob"] = shown[0]
    else:
        ctx.step.evidence["blobs"] = shown
    return blobs


def _blob_evidence(blob: Descriptor, chosen_by: str) -> dict[str, Any]:
    return {
        "digest": blob.digest,
        "size": blob.size,
        "media_type": blob.media_type,
        "chosen_by": chosen_by,
    }


def _describe(manifest: ParsedManifest, digest: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": manifest.kind,
        "media_type": manifest.media_type,
        "digest": digest,
    }
    if manifest.kind == "index":
        out["entries"] = len(manifest.manifests)
    elif manifest.kind == "image":
        out["config"] = manifest.config.digest if manifest.config else None
        out["layers"] = len(manifest.layers)
        out["size"] = sum(layer.size for layer in manifest.layers)
    return out


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _kind_text(manifest: ParsedManifest) -> str:
    if manifest.kind == "index":
        return f"index of {len(manifest.manifests)} manifests"
    return "image manifest" if manifest.kind == "image" else manifest.kind
