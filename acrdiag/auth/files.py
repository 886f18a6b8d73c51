"""Credentials from the files docker, podman, skopeo and CRI-O keep them in.

docker: $DOCKER_CONFIG/config.json or ~/.docker/config.json, with "auths" entries
(base64 "auth", or "username"/"password", or an "identitytoken"), "credHelpers" per
registry and a default "credsStore" (both run docker-credential-<name>: helpers.py).
containers (podman, skopeo, CRI-O): the same shape in auth.json, where an "auths" key
may also name a namespace or repository ("registry/ns/repo"), most specific first.
A file the puller cannot use is skipped, with a note, as docker skips it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acrdiag.auth.credential import Credential, CredentialKind, Skipped
from acrdiag.auth.helpers import NotFound, run_helper

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
MAX_FILE = 4 * 1024 * 1024

Found = Credential | Skipped | None


@dataclass(frozen=True)
class AuthFile:
    """One credentials file; ``label`` is how the report names it."""

    path: Path
    label: str
    namespaces: bool = False  # containers' auth.json: keys may name a namespace
    helper_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def find(self, registry: str, repository: str) -> Found:
        document = _load(self.path)
        if document is None:
            return None
        where = f"{self.label} {self.path}"
        if isinstance(document, str):
            return Skipped(f"{where} {document}: docker warns and pulls without it")
        helper = _helper_for(document, registry)
        if helper is not None:
            found = run_helper(helper, _server_url(registry), self.helper_timeout, self.environ)
            if isinstance(found, NotFound):  # docker then pulls anonymously, auths unread
                return Skipped(
                    f"{found.source} has nothing for {registry}: docker pulls anonymously"
                )
            return found
        return self._from_auths(document, registry, repository, where)

    def _from_auths(
        self, document: dict[str, Any], registry: str, repository: str, where: str
    ) -> Found:
        auths = document.get("auths")
        if not isinstance(auths, dict):
            return None
        for key in _candidate_keys(registry, repository, self.namespaces):
            entry = _entry(auths, key, self.namespaces)
            if entry is not None:
                return auth_entry_credential(
                    entry, f"{where} (entry {key!r})", file_time(self.path)
                )
        return None


def _load(path: Path) -> dict[str, Any] | str | None:
    """The file's JSON object; None when there is no file; a reason when it is unusable."""
    try:
        if not path.exists():
            return None
        if not path.is_file():
            return "is not a file"
        if path.stat().st_size > MAX_FILE:
            return "is too large to be a credentials file"
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return "is not valid JSON"
    return document if isinstance(document, dict) else "is not a JSON object"


def _helper_for(document: dict[str, Any], registry: str) -> str | None:
    """credHelpers for this registry wins over credsStore, as in docker's GetCredentialsStore."""
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
    return DOCKER_HUB_KEY if registry in DOCKER_HUB_NAMES else registry


def _candidate_keys(registry: str, repository: str, namespaces: bool) -> list[str]:
    """containers/image: the repository, its namespaces, then the registry; docker: the
    registry only."""
    keys = []
    if namespaces:
        parts = repository.split("/")
        keys = [f"{registry}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    return [*keys, registry, _server_url(registry)]


def _entry(auths: dict[str, Any], key: str, namespaces: bool) -> dict[str, Any] | None:
    """An "auths" entry for ``key``, stored keys taken scheme and path tolerant: docker
    keeps only the host ("https://host:5000/v1/" is host:5000, its ConvertToHostname);
    containers keeps a namespace path but drops a legacy "/v1/" or "/v2/"."""
    if isinstance(auths.get(key), dict):
        return dict(auths[key])
    wanted = key_host_path(key, namespaces)
    for stored, entry in auths.items():
        if isinstance(entry, dict) and key_host_path(str(stored), namespaces) == wanted:
            return dict(entry)
    return None


def key_host_path(key: str, keep_path: bool) -> tuple[str, str]:
    """An auths key as (host, path): Docker Hub's names as "docker.io", the scheme and a
    legacy "/v1/" or "/v2/" dropped; the path only where ``keep_path``."""
    host, _, path = key.split("://", 1)[-1].rstrip("/").partition("/")
    host = "docker.io" if host in DOCKER_HUB_NAMES else host
    path = "" if not keep_path or path in ("v1", "v2") else path
    return host, path


def auth_entry_credential(entry: object, where: str, stored_at: datetime | None = None) -> Found:
    """The credential of one "auths" entry (shared with pull secrets)."""
    if not isinstance(entry, dict):
        return Skipped(f"{where} is not an object")
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        user = entry.get("username") if isinstance(entry.get("username"), str) else None
        return Credential(CredentialKind.IDENTITY_TOKEN, where, user, token, stored_at=stored_at)
    username, password = _basic_pair(entry)
    if username is None or password is None:
        return Skipped(f"{where} holds no usable credential: docker pulls anonymously")
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
