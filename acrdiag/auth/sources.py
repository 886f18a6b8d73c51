"""The places a credential can come from, tried in order: the first that has one wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from acrdiag.auth.credential import ANONYMOUS, Credential, CredentialKind
from acrdiag.auth.files import AuthFile


class CredentialSource(Protocol):
    def find(self, registry: str, repository: str) -> Credential | None:
        """The credential this source holds for ``registry`` (host[:port]) and
        ``repository``, if any."""
        ...


@dataclass(frozen=True)
class FlagCredentials:
    """--username with --password-stdin: the password already read from standard input."""

    username: str
    password: str = field(repr=False)

    def find(self, registry: str, repository: str) -> Credential | None:
        return Credential(
            CredentialKind.BASIC,
            f"--username {self.username} (password from stdin)",
            self.username,
            self.password,
        )


def resolve_credential(
    sources: Iterable[CredentialSource], registry: str, repository: str
) -> Credential:
    for source in sources:
        found = source.find(registry, repository)
        if found is not None:
            return found
    return ANONYMOUS


def file_sources(authfile: str | None, environ: Mapping[str, str]) -> list[CredentialSource]:
    """The credential files docker and containers read, in the order acrdiag tries them:
    --authfile (or REGISTRY_AUTH_FILE), docker's config.json, containers' auth.json."""
    home = Path(environ.get("HOME") or "~").expanduser()
    sources: list[CredentialSource] = []
    chosen = authfile or environ.get("REGISTRY_AUTH_FILE")
    if chosen:
        label = "--authfile" if authfile else "REGISTRY_AUTH_FILE"
        # Either shape: a docker config.json or a containers auth.json.
        sources.append(AuthFile(Path(chosen), label, docker=_looks_like_docker(Path(chosen))))
    docker_dir = environ.get("DOCKER_CONFIG")
    if docker_dir:
        sources.append(AuthFile(Path(docker_dir) / "config.json", "$DOCKER_CONFIG/config.json"))
    else:
        sources.append(AuthFile(home / ".docker" / "config.json", "docker's config.json"))
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        path = Path(runtime) / "containers" / "auth.json"
        sources.append(AuthFile(path, "containers auth.json", docker=False))
    path = home / ".config" / "containers" / "auth.json"
    sources.append(AuthFile(path, "containers auth.json", docker=False))
    return sources


def _looks_like_docker(path: Path) -> bool:
    return path.name == "config.json"
