"""Manifest media types, manifest parsing, platform selection and blob choice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from acrdiag.reference import Platform, digest_error

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# Schema 1 is offered last so that a registry only falls back to it when it has nothing else;
# acrdiag asks for it at all to report such images instead of failing on a 404.
ACCEPT = ", ".join(
    (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST_V2, DOCKER_SCHEMA1_SIGNED)
)

# containerd's MaxManifestSize: 4 * 1048 * 1048 bytes, which is not 4 MiB.
MAX_MANIFEST_BYTES = 4 * 1048 * 1048
# ocispec.Descriptor.Size is an int64: Go's JSON decoder refuses a larger size, so containerd
# and docker refuse the whole manifest.
MAX_DESCRIPTOR_SIZE = 2**63 - 1
# What messages and labels quote of a server's string (a mediaType can be 200 KB).
_SHOWN_MAX = 80
_LABEL_PART_MAX = 64

Kind = Literal["index", "image", "schema1"]
_KIND_NAMES: dict[Kind, str] = {
    "index": "an image index",
    "image": "an image manifest",
    "schema1": "a schema 1 manifest",
}

_KINDS: dict[str, Kind] = {
    OCI_INDEX: "index",
    DOCKER_LIST: "index",
    OCI_MANIFEST: "image",
    DOCKER_MANIFEST_V2: "image",
    DOCKER_SCHEMA1: "schema1",
    DOCKER_SCHEMA1_SIGNED: "schema1",
}
# Content types that say nothing about the format; old registries send them for schema 1.
_UNINFORMATIVE_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})


class ManifestError(ValueError):
    """A manifest that cannot be used."""


class UnsupportedMediaTypeError(ManifestError):
    """A manifest in a format that docker and containerd do not pull."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class ParsedManifest:
    kind: Kind
    media_type: str
    manifests: tuple[Descriptor, ...] = ()
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse a manifest GET body; `content_type` is the response's Content-Type header."""
    document = _load(body)
    version = _schema_version(document)
    media_type = _media_type(document, content_type)
    if version == 1 or _KINDS.get(media_type.lower()) == "schema1":
        return _schema1(document, media_type)
    kind = _KINDS.get(media_type.lower())
    if kind is None:
        raise UnsupportedMediaTypeError(f"unsupported manifest media type {_quoted(media_type)}")
    if version not in (None, 2):
        raise ManifestError(f"schemaVersion is {_short(version)}, expected 2")
    if kind == "index":
        return ParsedManifest(kind, media_type, manifests=_descriptors(document, "manifests"))
    return ParsedManifest(
        kind,
        media_type,
        config=_descriptor(document.get("config"), "config"),
        layers=_descriptors(document, "layers"),
    )


def platform_label(desc: Descriptor) -> str:
    """ "os/arch[/variant]" of an index entry as the registry wrote it (each part capped)."""
    platform = desc.platform or {}
    os_name = _label_part(platform.get("os"))
    arch = _label_part(platform.get("architecture"))
    variant = platform.get("variant")
    label = f"{os_name}/{arch}"
    return f"{label}/{_label_part(variant)}" if isinstance(variant, str) and variant else label


def config_platform(body: bytes) -> dict[str, Any] | None:
    """The platform an image config names ({"os", "architecture", "variant"}), if it does."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    platform = {k: document.get(k) for k in ("os", "architecture", "variant")}
    platform = {k: v for k, v in platform.items() if isinstance(v, str) and v}
    return platform if "os" in platform and "architecture" in platform else None


def select_platform(index: ParsedManifest, platform: Platform) -> Descriptor | None:
    """The first index entry for `platform`, as docker would pick it; None if there is none."""
    if index.kind != "index":
        raise ManifestError(
            f"cannot select a platform in {_KIND_NAMES[index.kind]}: only an index lists platforms"
        )
    for desc in index.manifests:
        if desc.platform is not None and platform.matches(desc.platform):
            return desc
    return None


def choose_blobs(manifest: ParsedManifest, mode: str) -> list[Descriptor]:
    """The blobs to fetch: "all" (config, then layers, each digest once, as docker fetches
    them) or the one choose_blob() picks."""
    if mode != "all":
        return [choose_blob(manifest, mode)]
    choose_blob(manifest, "smallest")  # the same error for a manifest without blobs
    assert manifest.config is not None
    unique: dict[str, Descriptor] = {}
    for desc in (manifest.config, *manifest.layers):
        unique.setdefault(desc.digest, desc)
    return list(unique.values())


def choose_blob(manifest: ParsedManifest, mode: str) -> Descriptor:
    """The blob to download: "smallest", "largest" or a given digest, from config + layers."""
    if manifest.kind != "image" or manifest.config is None:
        raise ManifestError(
            f"{_KIND_NAMES[manifest.kind]} has no blobs to download; select an image manifest first"
        )
    candidates = (manifest.config, *manifest.layers)
    # min/max keep the first of equal sizes, so ties go to the config.
    if mode == "smallest":
        return min(candidates, key=lambda desc: desc.size)
    if mode == "largest":
        return max(candidates, key=lambda desc: desc.size)
    if ":" not in mode:
        raise ManifestError(
            f"unknown blob choice {_quoted(mode)}: use smallest, largest or a digest"
        )
    problem = digest_error(mode)
    if problem is not None:
        raise ManifestError(f"invalid blob digest {_quoted(mode)}: {problem}")
    for desc in candidates:
        if desc.digest == mode:
            return desc
    raise ManifestError(f"blob {mode} is neither the config nor a layer of this manifest")


def _load(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except RecursionError:
        raise ManifestError("manifest is not JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int over 4300 digits
        raise ManifestError(f"manifest is not JSON ({_clip(str(exc))})") from None
    if not isinstance(document, dict):
        raise ManifestError("manifest is not a JSON object")
    return document


def _media_type(document: dict[str, Any], content_type: str | None) -> str:
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestError("manifest mediaType is not a string")
    if declared:
        return declared
    # Parameters such as "; charset=utf-8" do not change the format.
    header = (content_type or "").split(";", 1)[0].strip()
    if header.lower() not in _UNINFORMATIVE_TYPES:
        return header
    return _infer_media_type(document)


def _infer_media_type(document: dict[str, Any]) -> str:
    # Early OCI writers left mediaType out; the fields still tell the kind apart.
    if document.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1_SIGNED if "signatures" in document else DOCKER_SCHEMA1
    if "manifests" in document:
        return OCI_INDEX
    if "config" in document and "layers" in document:
        return OCI_MANIFEST
    raise ManifestError("cannot tell the manifest type: no mediaType, Content-Type or known fields")


def _schema_version(document: dict[str, Any]) -> int | None:
    version = document.get("schemaVersion")
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        raise ManifestError(f"schemaVersion is not an integer: {_short(version)}")
    return version


def _schema1(document: dict[str, Any], media_type: str) -> ParsedManifest:
    # Layers stay empty: schema 1 lists blobs without sizes, and pullers refuse it anyway.
    if not isinstance(document.get("fsLayers"), list):
        raise ManifestError("schema 1 manifest has no fsLayers list")
    return ParsedManifest("schema1", media_type)


def _descriptors(document: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    items = document.get(key)
    if not isinstance(items, list):
        raise ManifestError(f"manifest has no '{key}' list")
    return tuple(_descriptor(item, f"{key}[{index}]") for index, item in enumerate(items))


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestError(f"{where} is missing or not an object")
    media_type = value.get("mediaType", "")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str):
        raise ManifestError(f"{where}.mediaType is not a string")
    if not isinstance(digest, str):
        raise ManifestError(f"{where} has no digest")
    problem = digest_error(digest)
    if problem is not None:
        raise ManifestError(f"{where} digest {_short(digest)} is invalid: {problem}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestError(f"{where}.size is not a non-negative integer: {_short(size)}")
    if size > MAX_DESCRIPTOR_SIZE:
        raise ManifestError(
            f"{where}.size {_short(size)} is out of range: containerd reads sizes as 64-bit"
            f" integers, at most {MAX_DESCRIPTOR_SIZE}"
        )
    return Descriptor(media_type, digest, size, _platform(value, where), _annotations(value, where))


def _platform(value: dict[str, Any], where: str) -> dict[str, Any] | None:
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestError(f"{where}.platform is not an object")
    return platform


def _annotations(value: dict[str, Any], where: str) -> dict[str, str] | None:
    annotations = value.get("annotations")
    if annotations is None:
        return None
    if not isinstance(annotations, dict) or not all(
        isinstance(item, str) for item in annotations.values()
    ):
        raise ManifestError(f"{where}.annotations is not a map of strings")
    return annotations


def _label_part(value: object) -> str:
    if not isinstance(value, str) or not value:
        return "unknown"
    return value if len(value) <= _LABEL_PART_MAX else value[: _LABEL_PART_MAX - 1] + "…"


def _quoted(text: str) -> str:
    """`text` in quotes for a message: one line, at most about _SHOWN_MAX characters."""
    shown = repr(text[: _SHOWN_MAX + 1])[1:-1]  # escapes control characters and newlines
    return f"'{_clip(shown)}'"


def _short(value: object) -> str:
    if isinstance(value, str):
        value = value[: _SHOWN_MAX + 1]  # repr of all of a 200 KB string is wasted work
    try:
        text = repr(value)
    except RecursionError:
        return "(deeply nested value)"
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return "(an integer too long to show)"
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."
