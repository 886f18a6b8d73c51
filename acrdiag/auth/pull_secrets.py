"""Kubernetes image pull secrets, read as kubelet reads them.

A Secret of type kubernetes.io/dockerconfigjson (data ".dockerconfigjson": base64 of
{"auths": {...}}) or the legacy kubernetes.io/dockercfg (data ".dockercfg": base64 of
the bare map), in YAML or JSON, one or several documents, or a List. kubelet tries a
pod's secrets in the order the pod lists them; keys may hold a path and a "*." host.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acrdiag.auth.credential import Credential, failed
from acrdiag.auth.files import MAX_FILE, auth_entry_credential, file_time, normalize_key
from acrdiag.causes import Cause

_TYPES = {
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
    "kubernetes.io/dockercfg": ".dockercfg",
}


@dataclass(frozen=True)
class PullSecret:
    path: Path

    def find(self, registry: str, repository: str) -> Credential | None:
        label = f"--pull-secret {self.path}"
        try:
            auths = _auths(self.path)
        except ValueError as exc:
            return failed(label, str(exc), Cause.CREDENTIAL_FILE_INVALID)
        stored_at = file_time(self.path)
        for key, entry in _matching(auths, registry, repository):
            found = auth_entry_credential(entry, f"{label} (entry {key!r})", stored_at)
            if found is not None:
                return found
        return None


def _auths(path: Path) -> dict[str, Any]:
    """Every secret's "auths" in the file, in order (a later key does not override)."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise ValueError("is too large to be a Secret")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from exc
    merged: dict[str, Any] = {}
    for secret in _secrets(text):
        for key, entry in _secret_auths(secret).items():
            merged.setdefault(key, entry)
    return merged


def _secrets(text: str) -> list[dict[str, Any]]:
    import yaml  # only for --pull-secret: keeps start-up light

    try:
        documents = list(yaml.safe_load_all(text))  # JSON is YAML
    except yaml.YAMLError as exc:
        raise ValueError(f"is neither YAML nor JSON ({str(exc).splitlines()[0][:120]})") from exc
    found: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            found += [i for i in document.get("items") or [] if isinstance(i, dict)]
        elif isinstance(document, dict):
            found.append(document)
    secrets = [s for s in found if s.get("type") in _TYPES]
    if not secrets:
        raise ValueError(
            "holds no Secret of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg"
        )
    return secrets


def _secret_auths(secret: dict[str, Any]) -> dict[str, Any]:
    field = _TYPES[secret["type"]]
    raw = None
    if isinstance(secret.get("stringData"), dict):
        raw = secret["stringData"].get(field)
    if raw is None and isinstance(secret.get("data"), dict) and field in secret["data"]:
        try:
            raw = base64.b64decode(str(secret["data"][field]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"data.{field} is not base64 of UTF-8") from exc
    if not isinstance(raw, str):
        raise ValueError(f"a {secret['type']} Secret without {field}")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{field} is not JSON") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{field} is not a JSON object")
    auths = document.get("auths", document) if field == ".dockerconfigjson" else document
    return auths if isinstance(auths, dict) else {}


def _matching(auths: dict[str, Any], registry: str, repository: str) -> list[tuple[str, Any]]:
    """kubelet's matching: host (a "*." label matches one label), then a path prefix of
    the repository; the longest key first."""
    image = f"{registry}/{repository}"
    hits = []
    for key, entry in auths.items():
        wanted = normalize_key(str(key), docker=False)
        host, _, path = wanted.partition("/")
        image_host, _, image_path = image.partition("/")
        if not _host_matches(host, image_host):
            continue
        if path and not (image_path == path or image_path.startswith(path + "/")):
            continue
        hits.append((str(key), entry))
    return sorted(hits, key=lambda hit: len(normalize_key(hit[0], docker=False)), reverse=True)


def _host_matches(pattern: str, host: str) -> bool:
    """kubelet: label by label, so "*.example.com" matches a.example.com, not a.b.example.com;
    a port must be the same."""
    pattern_name, _, pattern_port = pattern.partition(":")
    name, _, port = host.partition(":")
    labels, wanted = name.split("."), pattern_name.split(".")
    if pattern_port != port or len(labels) != len(wanted):
        return False
    return all(fnmatch.fnmatchcase(label, glob) for label, glob in zip(labels, wanted, strict=True))
