"""Credentials: resolved before the engine runs, one source per place they come from.

The engine and the probes see only the Credential: what kind it is, its secret,
and a description of where it came from (which the report names, never the secret).
"""

from acrdiag.auth.credential import ANONYMOUS, Credential, CredentialKind
from acrdiag.auth.sources import (
    CredentialSource,
    FlagCredentials,
    file_sources,
    resolve_credential,
)

__all__ = [
    "ANONYMOUS",
    "Credential",
    "CredentialKind",
    "CredentialSource",
    "FlagCredentials",
    "file_sources",
    "resolve_credential",
]
