"""Evidence kept in a report is bounded: in depth, in count and in length.

Servers choose most of what a step records (headers, claims, error bodies), so a
hostile one could otherwise make the report huge, slow to redact or impossible
to serialise (600-deep JWT claims). Every value becomes plain JSON data here,
after redaction, so that cutting a string can never leave half a secret behind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 8
MAX_ITEMS = 100
MAX_STRING = 2000
MAX_TOTAL = 256 * 1024  # characters of strings per step
MAX_SUMMARY = 1000
# Redaction patterns run over at most this much of one string (known secrets over all of it).
MAX_SCANNED = 64 * 1024
# Go's int64: a number beyond it came from no server a puller can use.
_INT_LIMIT = 2**63


_MARKER = re.compile(r"… \[([0-9,]+) more characters\]\Z")


def shorten(text: str, limit: int = MAX_STRING) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out in all."""
    if len(text) <= limit:
        return text
    left_out = len(text) - limit
    earlier = _MARKER.search(text, len(text) - 40)  # cut before: count that part too
    if earlier is not None and earlier.start() >= limit:
        left_out = len(text[limit : earlier.start()]) + int(earlier.group(1).replace(",", ""))
    return f"{text[:limit]}… [{left_out:,} more characters]"


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, text: str, clean: Callable[[str], str]) -> str:
        if self.left <= 0:
            return "… [left out: the step's evidence is too large]"
        text = shorten(clean(text), min(MAX_STRING, self.left))
        self.left -= len(text)
        return text


def bound_evidence(value: Any, clean: Callable[[str], str] = str) -> Any:
    """``value`` as bounded JSON data; ``clean`` (redaction) runs on every whole string first."""
    return _bound(value, clean, _Budget(MAX_TOTAL), 0)


def _bound(value: Any, clean: Callable[[str], str], budget: _Budget, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT_LIMIT <= value < _INT_LIMIT else _big_number(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return budget.take(value, clean)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return f"… [nested deeper than {MAX_DEPTH} levels]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {
            budget.take(str(key), clean): _bound(item, clean, budget, depth + 1)
            for key, item in items[:MAX_ITEMS]
        }
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more entries"
        return out
    if isinstance(value, list | tuple):
        shown = [_bound(item, clean, budget, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            shown.append(f"… [{len(value) - MAX_ITEMS} more items]")
        return shown
    return f"({type(value).__name__})"


def _big_number(value: int) -> str:
    # str() of a huge int is itself slow and limited (sys.int_info); its size says enough.
    return f"(a number of about {int(value.bit_length() * 0.30103) + 1} digits)"
