"""Credentials from the files docker, podman, skopeo and CRI-O keep them in.

docker: $DOCKER_CONFIG/config.json or ~/.docker/config.json, with "auths" entries
(base64 "auth", or "username"/"password", or an "identitytoken"), "credHelpers" per
registry and a default "credsStore" (both run docker-credential-<name>: helpers.py).
containers (podman, skopeo, CRI-O): the same "auths" shape in auth.json, where a key
may also name a namespace or repository ("registry/ns/repo"), most specific first.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acrdiag.auth.credential import Credential, CredentialKind, failed
from acrdiag.auth.helpers import run_helper
from acrdiag.causes import Cause

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
MAX_FILE = 4 * 1024 * 1024


@dataclass(frozen=True)
class AuthFile:
    """One credentials file; ``label`` is how the report names it."""

    path: Path
    label: str
    docker: bool = True  # docker's config.json: credHelpers and credsStore apply
    helper_timeout: float = 10.0

    def find(self, registry: str, repository: str) -> Credential | None:
        document = _load(self.path)
        if document is None:
            return None
        if isinstance(document, str):  # unreadable: say so, and use nothing from it
            return _file_invalid(f"{self.label} {self.path}", document)
        if self.docker:
            helper = _helper_for(document, registry)
            if helper is not None:
                found = run_helper(helper, _server_url(registry), self.helper_timeout)
                if found is not None:
                    return found
        return self._from_auths(document, registry, repository)

    def _from_auths(
        self, document: dict[str, Any], registry: str, repository: str
    ) -> Credential | None:
        auths = document.get("auths")
        if not isinstance(auths, dict):
            return None
        for key in _candidate_keys(registry, repository, self.docker):
            entry = _entry(auths, key, self.docker)
            if entry is not None:
                where = f"{self.label} {self.path} (entry {key!r})"
                return auth_entry_credential(entry, where, file_time(self.path))
        return None


def _load(path: Path) -> dict[str, Any] | str | None:
    """The file's JSON object; None when there is no file; a reason when it is unusable."""
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_FILE:
            return "is too large to be a credentials file"
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except (ValueError, RecursionError):
        return "is not valid JSON (docker warns 'Error loading config file' and pulls without it)"
    return document if isinstance(document, dict) else "is not a JSON object"


def _helper_for(document: dict[str, Any], registry: str) -> str | None:
    helpers = document.get("credHelpers")
    if isinstance(helpers, dict):
        for key in (registry, _server_url(registry)):
            name = helpers.get(key)
            if isinstance(name, str) and name:
                return name
    store = document.get("credsStore")
    return store if isinstance(store, str) and store else None


def _server_url(registry: str) -> str:
    """The key docker uses for a registry: Docker Hub's is its old index URL."""
    return DOCKER_HUB_KEY if registry in _DOCKER_HUB_NAMES else registry


def _candidate_keys(registry: str, repository: str, docker: bool) -> list[str]:
    """containers/image: the repository, its namespaces, then the registry; docker: the
    registry only."""
    keys = []
    if not docker:
        parts = repository.split("/")
        keys = [f"{registry}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    return [*keys, registry, _server_url(registry)]


def _entry(auths: dict[str, Any], key: str, docker: bool) -> dict[str, Any] | None:
    """An "auths" entry for ``key``, stored keys taken scheme and path tolerant: docker
    keeps only the host ("https://host:5000/v1/" is host:5000, its ConvertToHostname);
    containers keeps a namespace path but drops a legacy "/v1/" or "/v2/"."""
    if isinstance(auths.get(key), dict):
        return dict(auths[key])
    wanted = normalize_key(key, docker)
    for stored, entry in auths.items():
        if isinstance(entry, dict) and normalize_key(str(stored), docker) == wanted:
            return dict(entry)
    return None


def normalize_key(key: str, docker: bool) -> str:
    if key == DOCKER_HUB_KEY:
        return key
    host, _, path = key.split("://", 1)[-1].rstrip("/").partition("/")
    host = DOCKER_HUB_KEY if host in _DOCKER_HUB_NAMES else host
    return host if docker or path in ("", "v1", "v2") else f"{host}/{path}"


def auth_entry_credential(
    entry: object, where: str, stored_at: datetime | None = None
) -> Credential | None:
    """The credential of one "auths" entry (shared with pull secrets)."""
    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken")
    username, password = _basic_pair(entry)
    if isinstance(token, str) and token:
        return Credential(
            CredentialKind.IDENTITY_TOKEN, where, username, token, stored_at=stored_at
        )
    if username is None or password is None:
        return _file_invalid(where, "has neither auth nor username and password") if entry else None
    return Credential(CredentialKind.BASIC, where, username, password, stored_at=stored_at)


def file_time(path: Path) -> datetime | None:
    """When the file was last written: how old a temporary password in it is."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _basic_pair(entry: dict[str, Any]) -> tuple[str | None, str | None]:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        name, sep, secret = decoded.partition(":")
        return (name, secret) if sep else (None, None)
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return user, password
    return None, None


def _file_invalid(source: str, problem: str) -> Credential:
    return failed(source, problem, Cause.CREDENTIAL_FILE_INVALID)
