"""Kubernetes image pull secrets, read as kubelet reads them.

A Secret of type kubernetes.io/dockerconfigjson (data ".dockerconfigjson": base64 of
{"auths": {...}}) or the legacy kubernetes.io/dockercfg (data ".dockercfg": base64 of
the bare map), in YAML or JSON, one or several documents, or a List. kubelet tries a
pod's secrets in the order the pod lists them, and skips one it cannot read.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acrdiag.auth.credential import Skipped
from acrdiag.auth.files import MAX_FILE, Found, auth_entry_credential, file_time, key_host_path

_TYPES = {
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
    "kubernetes.io/dockercfg": ".dockercfg",
}


class SecretError(ValueError):
    """A pull secret kubelet could not use; the message never quotes its content."""


@dataclass(frozen=True)
class PullSecret:
    path: Path

    def find(self, registry: str, repository: str) -> Found:
        label = f"--pull-secret {self.path}"
        try:
            auths = _auths(self.path)
        except SecretError as exc:
            return Skipped(f"{label} {exc}: kubelet skips it")
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
            raise SecretError("is too large to be a Secret")
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise SecretError(f"cannot be read ({exc.strerror or exc})") from exc
    merged: dict[str, Any] = {}
    for secret in _secrets(text):
        for key, entry in _secret_auths(secret).items():
            merged.setdefault(str(key), entry)
    return merged


def _secrets(text: str) -> list[dict[str, Any]]:
    import yaml  # only for --pull-secret: keeps start-up light

    try:
        documents = list(yaml.safe_load_all(text))  # JSON is YAML
    except yaml.MarkedYAMLError as exc:
        # The position only: the problem text can quote the file, secrets included.
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SecretError(f"is neither YAML nor JSON{where}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        raise SecretError("is neither YAML nor JSON") from None
    found: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            items = document.get("items")
            found += [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        elif isinstance(document, dict):
            found.append(document)
    secrets = [s for s in found if isinstance(s.get("type"), str) and s["type"] in _TYPES]
    if not secrets:
        raise SecretError(
            "holds no Secret of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg"
        )
    return secrets


def _secret_auths(secret: dict[str, Any]) -> dict[str, Any]:
    field = _TYPES[secret["type"]]
    raw = None
    string_data, data = secret.get("stringData"), secret.get("data")
    if isinstance(string_data, dict):
        raw = string_data.get(field)
    if raw is None and isinstance(data, dict) and field in data:
        try:
            raw = base64.b64decode(str(data[field]), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretError(f"data.{field} is not base64 of UTF-8") from None
    if not isinstance(raw, str):
        raise SecretError(f"is a {secret['type']} Secret without {field}")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise SecretError(f"{field} is not JSON") from None
    if not isinstance(document, dict):
        raise SecretError(f"{field} is not a JSON object")
    auths = document.get("auths", document) if field == ".dockerconfigjson" else document
    return auths if isinstance(auths, dict) else {}


def _matching(auths: dict[str, Any], registry: str, repository: str) -> list[tuple[str, Any]]:
    """kubelet's matching: the host (a "*" label matches one label, the port must be the
    same), then the key's path as a prefix of the repository; the most specific key first."""
    image_host, _ = key_host_path(registry, keep_path=False)
    hits = []
    for key, entry in auths.items():
        host, path = key_host_path(key, keep_path=True)
        if not _host_matches(host, image_host):
            continue
        if path and not (repository == path or repository.startswith(path + "/")):
            continue
        hits.append((key, entry, len(path)))
    return [(key, entry) for key, entry, _ in sorted(hits, key=lambda hit: -hit[2])]


def _host_matches(pattern: str, host: str) -> bool:
    """kubelet: label by label, so "*.example.com" matches a.example.com, not a.b.example.com."""
    pattern_name, _, pattern_port = pattern.partition(":")
    name, _, port = host.partition(":")
    labels, wanted = name.split("."), pattern_name.split(".")
    if pattern_port != port or len(labels) != len(wanted):
        return False
    return all(fnmatch.fnmatchcase(label, glob) for label, glob in zip(labels, wanted, strict=True))
