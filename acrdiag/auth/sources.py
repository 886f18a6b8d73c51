"""The places a credential can come from, tried in order: the first that has one wins."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from acrdiag.auth.credential import ANONYMOUS, Credential, CredentialKind, Skipped
from acrdiag.auth.files import AuthFile, Found


class CredentialSource(Protocol):
    def find(self, registry: str, repository: str) -> Found:
        """The credential this source holds for ``registry`` (host[:port]) and
        ``repository``; Skipped when it holds something the puller ignores; None."""
        ...


@dataclass(frozen=True)
class FlagCredentials:
    """--username with --password-stdin: the password already read from standard input."""

    username: str
    password: str = field(repr=False)

    def find(self, registry: str, repository: str) -> Found:
        return Credential(
            CredentialKind.BASIC,
            f"--username {self.username} (password from stdin)",
            self.username,
            self.password,
        )


def resolve_credential(
    sources: Iterable[CredentialSource], registry: str, repository: str
) -> Credential:
    """The first credential found, with notes of what was skipped on the way."""
    notes: list[str] = []
    for source in sources:
        try:
            found = source.find(registry, repository)
        except Exception as exc:  # a source is data a user wrote: never a traceback
            found = Skipped(f"a credential source could not be read ({type(exc).__name__})")
        if isinstance(found, Skipped):
            notes.append(found.note)
        elif found is not None:
            return replace(found, notes=(*notes, *found.notes))
    return replace(ANONYMOUS, notes=tuple(notes))


def file_sources(
    authfile: str | None, environ: Mapping[str, str], helper_timeout: float = 10.0
) -> list[CredentialSource]:
    """The credential files docker and containers read, in the order acrdiag tries them:
    --authfile (or REGISTRY_AUTH_FILE), docker's config.json, containers' auth.json
    (XDG_RUNTIME_DIR, else /run/containers/<uid>: root under cron has no XDG_RUNTIME_DIR;
    then XDG_CONFIG_HOME or ~/.config)."""
    home = Path(environ.get("HOME") or "~").expanduser()

    def file(path: Path, label: str, namespaces: bool) -> AuthFile:
        return AuthFile(path, label, namespaces, helper_timeout, environ)

    sources: list[CredentialSource] = []
    chosen = authfile or environ.get("REGISTRY_AUTH_FILE")
    if chosen:
        label = "--authfile" if authfile else "REGISTRY_AUTH_FILE"
        # Either shape: a docker config.json or a containers auth.json.
        sources.append(file(Path(chosen), label, Path(chosen).name != "config.json"))
    docker_dir = environ.get("DOCKER_CONFIG")
    docker = Path(docker_dir) if docker_dir else home / ".docker"
    label = "$DOCKER_CONFIG/config.json" if docker_dir else "docker's config.json"
    sources.append(file(docker / "config.json", label, False))
    runtime = environ.get("XDG_RUNTIME_DIR") or f"/run/containers/{os.getuid()}"
    sources.append(file(Path(runtime) / "containers" / "auth.json", "containers auth.json", True))
    config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    sources.append(file(config / "containers" / "auth.json", "containers auth.json", True))
    return sources
