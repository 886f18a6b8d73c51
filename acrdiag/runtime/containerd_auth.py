"""containerd's own registry credentials (config.toml's CRI ``registry.configs."host".auth``)
as a credential source: used when kubelet gives none, looked up by the host containerd talks
to, never by the image's registry name (containerd#12053)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acrdiag.auth.credential import Credential, CredentialKind, Skipped
from acrdiag.auth.files import Found
from acrdiag.reference import DEFAULT_REGISTRY, DOCKER_HUB_API_HOST
from acrdiag.runtime.containerd import containerd_registry_auth


@dataclass(frozen=True)
class ContainerdConfigAuth:
    etc: Path
    config_file: Path | None = None

    def find(self, registry: str, repository: str) -> Found:
        host = DOCKER_HUB_API_HOST if registry == DEFAULT_REGISTRY else registry
        found = containerd_registry_auth(host, etc=self.etc, config_file=self.config_file)
        if found is None:
            return None
        username, password, identity_token, origin = found
        if identity_token:
            return Credential(
                CredentialKind.IDENTITY_TOKEN, f"{origin} (identitytoken)", None, identity_token
            )
        if username is None:
            return Skipped(f"{origin}: no usable credential; containerd pulls anonymously")
        return Credential(CredentialKind.BASIC, f"{origin} ({username})", username, password or "")
