"""OCI distribution error bodies: {"errors": [{"code", "message", "detail"}]}.

Error bodies are optional and often malformed (proxies, load balancers, CDNs
answer with HTML), so this parser never raises: no errors found is a result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice
from typing import Any

# A hostile or broken server must not make the report unreadable.
MAX_ERRORS = 20


@dataclass(frozen=True)
class RegistryError:
    code: str
    message: str
    detail: Any = None


def parse_registry_errors(body: bytes) -> list[RegistryError]:
    """The error entries of a registry response body; [] if there are none."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    entries = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    dicts = (entry for entry in entries if isinstance(entry, dict))
    return [_entry(entry) for entry in islice(dicts, MAX_ERRORS)]


def first_code(errors: list[RegistryError]) -> str | None:
    """The first non-empty error code, the one that names the failure."""
    return next((error.code for error in errors if error.code), None)


def _entry(entry: dict[str, Any]) -> RegistryError:
    # The spec's codes are upper case; normalizing lets callers compare with ==.
    return RegistryError(
        code=_text(entry.get("code")).upper(),
        message=_text(entry.get("message")),
        detail=entry.get("detail"),
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return "(unprintable)"
