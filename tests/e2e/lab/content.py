"""Small deterministic OCI images for the lab: same bytes, same digests on every start."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

_EPOCH = 1704067200  # 2024-01-01T00:00:00Z, used for every timestamp in the content
_CREATED = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class Blob:
    """Any content-addressed object: a layer, a config, a manifest or an index."""

    digest: str
    size: int
    media_type: str
    data: bytes = field(repr=False, compare=False)

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def _blob(data: bytes, media_type: str) -> Blob:
    return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media_type, data)


@dataclass(frozen=True)
class Manifest:
    """One platform's image manifest with its config and layers."""

    platform: str  # "linux/amd64", "linux/arm64/v8"
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def size(self) -> int:
        return self.manifest.size

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


@dataclass(frozen=True)
class Image:
    """A tagged image as seeded: an index with platform manifests, or one plain manifest."""

    repository: str
    tag: str
    top: Blob  # what the tag points at: the index, or the plain manifest
    index: Blob | None
    manifests: dict[str, Manifest]  # by platform, in index order

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def digest(self) -> str:
        return self.top.digest

    @property
    def size(self) -> int:
        return self.top.size

    @property
    def media_type(self) -> str:
        return self.top.media_type

    @property
    def platforms(self) -> list[str]:
        return list(self.manifests)

    def manifest(self, platform: str = "linux/amd64") -> Manifest:
        return self.manifests[platform]

    @property
    def blobs(self) -> list[Blob]:
        """Configs and layers, each once."""
        seen: dict[str, Blob] = {}
        for m in self.manifests.values():
            for b in m.blobs:
                seen.setdefault(b.digest, b)
        return list(seen.values())


def _stream(seed: str, n: int) -> bytes:
    """n pseudo-random bytes derived from seed (incompressible, so layers have real size)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _EPOCH
            tar.addfile(info)
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, _EPOCH
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _layer(files: dict[str, bytes]) -> tuple[Blob, str]:
    """A gzip tar layer and its diff ID (digest of the uncompressed tar)."""
    raw = _tar(files)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(raw)
    return _blob(buf.getvalue(), OCI_LAYER_GZIP), "sha256:" + hashlib.sha256(raw).hexdigest()


def _json(obj: object) -> bytes:
    return json.dumps(obj, indent=2).encode() + b"\n"


def _platform(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    out = {"architecture": parts[1], "os": parts[0]}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


def _manifest(repository: str, platform: str, base_kib: int) -> Manifest:
    slug = f"{repository}/{platform}"
    base, base_diff = _layer(
        {"usr/share/acrdiag-lab/base.bin": _stream(f"base/{platform}", base_kib * 1024)}
    )
    app, app_diff = _layer(
        {f"srv/{repository.replace('/', '-')}/hello.txt": f"hello from {slug}\n".encode()}
    )
    plat = _platform(platform)
    config = _blob(
        _json(
            {
                "created": _CREATED,
                **plat,
                "config": {"Cmd": ["/bin/true"], "Env": ["PATH=/usr/bin:/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]},
                "history": [
                    {"created": _CREATED, "created_by": "acrdiag lab base"},
                    {"created": _CREATED, "created_by": f"acrdiag lab {slug}"},
                ],
            }
        ),
        OCI_CONFIG,
    )
    layers = (base, app)
    manifest = _blob(
        _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": _descriptor(config),
                "layers": [_descriptor(b) for b in layers],
            }
        ),
        OCI_MANIFEST,
    )
    return Manifest(platform, manifest, config, layers)


def _descriptor(blob: Blob) -> dict[str, object]:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}


def _image(repository: str, tag: str, platforms: list[str], indexed: bool, base_kib: int) -> Image:
    manifests = {p: _manifest(repository, p, base_kib) for p in platforms}
    if not indexed:
        (only,) = manifests.values()
        return Image(repository, tag, only.manifest, None, manifests)
    index = _blob(
        _json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {**_descriptor(m.manifest), "platform": _platform(p)}
                    for p, m in manifests.items()
                ],
            }
        ),
        OCI_INDEX,
    )
    return Image(repository, tag, index, index, manifests)


def build_images() -> dict[str, Image]:
    """The seeded images, keyed by "repository:tag"."""
    images = [
        _image("ns/app", "1.0", ["linux/amd64", "linux/arm64/v8"], indexed=True, base_kib=96),
        _image("ns/single", "1.0", ["linux/amd64"], indexed=True, base_kib=64),
        _image("ns/plain", "1.0", ["linux/amd64"], indexed=False, base_kib=64),
        _image(
            "public/hello", "latest", ["linux/amd64", "linux/arm64/v8"], indexed=True, base_kib=16
        ),
    ]
    return {i.name: i for i in images}
