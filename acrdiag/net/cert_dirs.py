"""The CAs and client certificates a registry's pull trusts: --ca-file, --cert-dir, and the
per-registry directories docker and containers read (certs.d).

docker reads /etc/docker/certs.d/<host[:port]>/, containers (podman, skopeo, CRI-O) also
/etc/containers/certs.d/ and ~/.config/containers/certs.d/: every *.crt is a CA, and a
*.cert with the *.key of the same name is the client certificate for mutual TLS. docker
uses that TLS configuration for every request of the pull, the token service and the
storage redirect included, and so does acrdiag.
"""

from __future__ import annotations

import ssl
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
    """The certs.d directory for ``registry`` (host[:port], as the reference names it):
    docker reads only its own; containers the first that exists. docker's first."""
    roots = [etc / "docker" / "certs.d", etc / "containers" / "certs.d"]
    if home is not None:
        roots.append(home / ".config" / "containers" / "certs.d")
    return [root / registry for root in roots if (root / registry).is_dir()][:1]


class TlsFileError(ValueError):
    """A file the user named (--ca-file, --cert-dir) that cannot be loaded."""


def resolve_tls_files(
    registry: str,
    *,
    ca_file: Path | None,
    cert_dir: Path | None,
    etc: Path,
    home: Path | None,
) -> TlsFiles:
    """--cert-dir replaces the certs.d directory, as skopeo's does; --ca-file adds to it.
    A file the user named must load (TlsFileError); one certs.d holds is skipped when it
    does not, as docker skips it."""
    named = cert_dir is not None
    directories = [cert_dir] if cert_dir is not None else cert_dirs(registry, etc, home)
    cas: list[Path] = []
    origins: list[str] = []
    problems: list[str] = []
    client: tuple[Path, Path] | None = None
    for directory in directories:
        found_cas, found_client, found_problems = _read_dir(directory)
        usable = [ca for ca in found_cas if _loads(ca, None, named)]
        if found_client is not None and not _loads(*found_client, named):
            problems.append(f"{found_client[0]} and {found_client[1].name} do not load as a pair")
            found_client = None
        names = [p.name for p in usable] + ([found_client[0].name] if found_client else [])
        names += [f"ignored {p.name}: not a certificate" for p in found_cas if p not in usable]
        if names:
            origins.append(
                f"{'--cert-dir' if named else 'certs.d'} {directory} ({', '.join(names)})"
            )
        cas += usable
        client = client or found_client
        problems += found_problems
    if ca_file is not None:
        given = ca_files(ca_file)
        for ca in given:
            _loads(ca, None, strict=True)
        cas += given
        origins.append(f"--ca-file {ca_file}")
    return TlsFiles(tuple(cas), client, tuple(origins), tuple(problems))


def _loads(path: Path, key: Path | None, strict: bool) -> bool:
    """Whether ``path`` loads as a CA (no key) or, with its key, as a client certificate."""
    try:
        # A bare context: the system store is not needed to check that a file loads.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if key is None:
            context.load_verify_locations(cafile=str(path))
        else:
            context.load_cert_chain(str(path), str(key))
    except (OSError, ssl.SSLError, ValueError) as exc:
        if strict:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TlsFileError(f"{path}: cannot load certificates ({reason})") from exc
        return False
    return True


def _read_dir(directory: Path) -> tuple[list[Path], tuple[Path, Path] | None, list[str]]:
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        return [], None, [f"{directory}: {exc.strerror or exc}"]
    cas = [p for p in files if p.suffix == ".crt"]
    client = None
    problems = []
    # docker refuses a directory with a certificate but not its key, or a key alone.
    for cert in (p for p in files if p.suffix == ".cert"):
        key = cert.with_suffix(".key")
        if key.is_file():
            client = client or (cert, key)
        else:
            problems.append(f"{cert} has no {key.name}")
    for key in (p for p in files if p.suffix == ".key"):
        if not key.with_suffix(".cert").is_file():
            problems.append(f"{key} has no {key.with_suffix('.cert').name}")
    return cas, client, problems
