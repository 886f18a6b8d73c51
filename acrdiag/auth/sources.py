"""The places a credential can come from, tried in order: the first that has one wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from acrdiag.auth.credential import ANONYMOUS, Credential, CredentialKind


class CredentialSource(Protocol):
    def find(self, registry: str) -> Credential | None:
        """The credential this source holds for ``registry`` (host[:port]), if any."""
        ...


@dataclass(frozen=True)
class FlagCredentials:
    """--username with --password-stdin: the password already read from standard input."""

    username: str
    password: str = field(repr=False)

    def find(self, registry: str) -> Credential | None:
        return Credential(
            CredentialKind.BASIC,
            f"--username {self.username} (password from stdin)",
            self.username,
            self.password,
        )


def resolve_credential(sources: Iterable[CredentialSource], registry: str) -> Credential:
    for source in sources:
        found = source.find(registry)
        if found is not None:
            return found
    return ANONYMOUS
