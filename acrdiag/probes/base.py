"""What every probe shares: the failure signal and the network-failure translation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from acrdiag.catalogue import hint
from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.hints import HOP_NAMES, network_hints
from acrdiag.net.errors import NetFailure
from acrdiag.net.session import Exchange
from acrdiag.redact import redact_text, redact_url


def clock_hint() -> str:
    """The catalogue's words, shared by several steps; read when a step needs them, not at
    import (start-up stays free of the catalogue)."""
    return hint("clock_sync")


# A probe gathers evidence into ctx.step and returns its one-line summary, or
# raises StepFailed. Anything else it raises becomes an internal_error row.
Probe = Callable[[RunContext], str]


class StepFailed(Exception):
    def __init__(
        self,
        cause: Cause,
        summary: str,
        hints: Iterable[str] = (),
        evidence: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(summary)
        self.cause = cause
        self.summary = summary
        self.hints = list(hints)
        self.evidence = evidence or {}


def net_failed(ctx: RunContext, failure: NetFailure, hop: str) -> StepFailed:
    """A StepFailed for a network failure on ``hop`` (registry, realm or storage): the cause
    says what happened, the same at every hop; the evidence says which hop."""
    evidence: dict[str, Any] = {
        "failure": {"hop": HOP_NAMES.get(hop, hop), "phase": failure.phase, "host": failure.host}
    }
    if failure.proxy:
        evidence["failure"]["proxy"] = redact_url(failure.proxy)
    evidence["failure"].update(failure.evidence)
    return StepFailed(failure.cause, failure.message, network_hints(ctx, failure, hop), evidence)


def server_message(body: bytes, limit: int = 300) -> str | None:
    """The human message of an error body (OCI errors, token-service JSON, or plain text: an
    expired temporary token often says so only there), redacted and bounded."""
    import json

    from acrdiag.registry.errors import parse_registry_errors

    errors = parse_registry_errors(body)
    if errors:
        text = "; ".join(f"{e.code}: {e.message}" if e.message else e.code for e in errors[:3])
        return redact_text(text, [])[:limit]
    try:
        data = json.loads(body[:65536])
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _first_line(body, limit)
    if not isinstance(data, dict):
        return None
    for key in ("details", "message", "error_description", "error"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return redact_text(value, [])[:limit]
    return None


def _first_line(body: bytes, limit: int) -> str | None:
    """A plain-text body's first line; an HTML page (a proxy's) says nothing useful here."""
    text = body[:4096].decode("utf-8", "replace").strip()
    if not text or text.startswith("<"):
        return None
    return redact_text(text.splitlines()[0].strip(), [])[:limit]


def describe_body(answer: Exchange) -> str:
    """Type, size and encoding of a body a parser refused: what a reader needs to see why."""
    kind = answer.headers.get("content-type", "unknown type")
    text = f"{kind[:100]}, {len(answer.body):,} bytes"
    encoding = answer.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        # acrdiag asks for identity and never decompresses (a gzip bomb costs nothing).
        text += f", Content-Encoding {encoding[:40]} though identity was asked"
    return text


def human_size(size: int) -> str:
    """Sizes in SI units; integer arithmetic, so no size a server names can overflow it."""
    if size < 1000:
        return f"{size} B"
    for unit, scale in (("KB", 10**3), ("MB", 10**6), ("GB", 10**9)):
        if size < scale * 1000 or unit == "GB":
            tenths = (size * 10 + scale // 2) // scale
            if tenths >= 10**12:  # only a server making sizes up gets here
                return f"more than {10**11:,} GB"
            return f"{tenths // 10}.{tenths % 10} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def short_digest(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest
