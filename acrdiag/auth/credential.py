"""What a pull logs in with, and where that came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from acrdiag.causes import Cause


class CredentialKind(StrEnum):
    ANONYMOUS = "anonymous"
    # A user name and password: Basic to the registry, or to the token service for a token.
    BASIC = "basic"
    # docker login's OAuth2 refresh token: POSTed to the token service for a token.
    IDENTITY_TOKEN = "identity_token"
    # A source that should have given one failed (a credential helper, a broken file):
    # the pull fails the same way, so step 3 reports it.
    FAILED = "failed"


@dataclass(frozen=True)
class Credential:
    """A credential and its source; the secret stays out of repr and of every output."""

    kind: CredentialKind
    source: str  # where it came from, as the report names it: "--username puller (...)"
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    problem: str | None = None  # FAILED: what went wrong, already redacted
    cause: Cause | None = None  # FAILED: the cause step 3 reports
    stored_at: datetime | None = None  # when the file holding it was written, if known
    # What was skipped on the way, as docker skips it (a broken file): warnings at step 3.
    notes: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        return self.kind not in (CredentialKind.ANONYMOUS, CredentialKind.FAILED)

    def who(self) -> str:
        """The account, for summaries: 'puller', or 'anonymous'."""
        return repr(self.username) if self.username else "anonymous"


ANONYMOUS = Credential(CredentialKind.ANONYMOUS, "anonymous (no credentials given)")


@dataclass(frozen=True)
class Skipped:
    """A source that had something, which the puller ignores too (docker warns 'Error loading
    config file' and pulls without it; kubelet skips a broken secret)."""

    note: str


def failed(source: str, problem: str, cause: Cause) -> Credential:
    """A source that had to give a credential and could not."""
    return Credential(CredentialKind.FAILED, source, problem=problem, cause=cause)
