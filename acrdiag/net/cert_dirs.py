"""The CAs and client certificates a registry's pull trusts: --ca-file, --cert-dir, and the
per-registry directories docker and containers read (certs.d).

docker reads /etc/docker/certs.d/<host[:port]>/, containers (podman, skopeo, CRI-O) also
/etc/containers/certs.d/ and ~/.config/containers/certs.d/: every *.crt is a CA, and a
*.cert with the *.key of the same name is the client certificate for mutual TLS. docker
uses that TLS configuration for every request of the pull, the token service and the
storage redirect included, and so does acrdiag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    """Resolved before the run: extra CAs, a client certificate, and where they came from."""

    cas: tuple[Path, ...] = ()
    client: tuple[Path, Path] | None = None  # certificate, key
    origins: tuple[str, ...] = ()  # what the report names, e.g. "certs.d /etc/docker/certs.d/h"
    problems: tuple[str, ...] = ()


def ca_files(path: Path) -> list[Path]:
    """A --ca-file: one PEM file, or every *.crt and *.pem of a directory."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".crt", ".pem") and p.is_file())
    return [path]


def cert_dirs(registry: str, etc: Path, home: Path | None) -> list[Path]:
    """The existing certs.d directories for ``registry`` (host[:port], as the reference names
    it), docker's first."""
    roots = [etc / "docker" / "certs.d", etc / "containers" / "certs.d"]
    if home is not None:
        roots.append(home / ".config" / "containers" / "certs.d")
    return [root / registry for root in roots if (root / registry).is_dir()]


def resolve_tls_files(
    registry: str,
    *,
    ca_file: Path | None,
    cert_dir: Path | None,
    etc: Path,
    home: Path | None,
) -> TlsFiles:
    """--cert-dir replaces the certs.d directories, as skopeo's does; --ca-file adds to them."""
    cas: list[Path] = []
    origins: list[str] = []
    problems: list[str] = []
    client: tuple[Path, Path] | None = None
    directories = [cert_dir] if cert_dir is not None else cert_dirs(registry, etc, home)
    for directory in directories:
        found_cas, found_client, found_problems = _read_dir(directory)
        if found_cas or found_client:
            label = "--cert-dir" if cert_dir is not None else "certs.d"
            names = [p.name for p in found_cas] + ([found_client[0].name] if found_client else [])
            origins.append(f"{label} {directory} ({', '.join(names)})")
        cas += found_cas
        client = client or found_client
        problems += found_problems
    if ca_file is not None:
        cas += ca_files(ca_file)
        origins.append(f"--ca-file {ca_file}")
    return TlsFiles(tuple(cas), client, tuple(origins), tuple(problems))


def _read_dir(directory: Path) -> tuple[list[Path], tuple[Path, Path] | None, list[str]]:
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        return [], None, [f"{directory}: {exc.strerror or exc}"]
    cas = [p for p in files if p.suffix == ".crt"]
    client = None
    problems = []
    for cert in (p for p in files if p.suffix == ".cert"):
        key = cert.with_suffix(".key")
        if key.is_file():
            client = client or (cert, key)
        else:  # docker refuses such a directory: "missing key ... for client certificate"
            problems.append(f"{cert} has no {key.name}: docker refuses the pull")
    return cas, client, problems
