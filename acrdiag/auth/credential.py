"""What a pull logs in with, and where that came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CredentialKind(StrEnum):
    ANONYMOUS = "anonymous"
    # A user name and password: Basic to the registry, or to the token service for a token.
    BASIC = "basic"


@dataclass(frozen=True)
class Credential:
    """A credential and its source; the secret stays out of repr and of every output."""

    kind: CredentialKind
    source: str  # where it came from, as the report names it: "--username puller (...)"
    username: str | None = None
    secret: str | None = field(default=None, repr=False)

    @property
    def present(self) -> bool:
        return self.kind is not CredentialKind.ANONYMOUS

    def who(self) -> str:
        """The account, for summaries: 'puller', or 'anonymous'."""
        return repr(self.username) if self.username else "anonymous"


ANONYMOUS = Credential(CredentialKind.ANONYMOUS, "anonymous (no credentials given)")
