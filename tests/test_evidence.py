"""Evidence from servers is bounded before it reaches a report, and redacted before it is cut."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from acrdiag.evidence import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    MAX_TOTAL,
    bound_evidence,
    shorten,
)
from acrdiag.redact import REDACTED, redact_text


def test_long_strings_are_cut_with_a_marker_saying_how_much() -> None:
    out = bound_evidence({"sub": "s" * 120_000})
    assert out["sub"].startswith("s" * MAX_STRING)
    assert out["sub"].endswith(f"[{120_000 - MAX_STRING:,} more characters]")


def test_a_secret_at_the_cut_is_redacted_whole_first() -> None:
    secret = "hunter2-password-value"
    text = "x" * (MAX_STRING - 5) + secret
    out = bound_evidence({"message": text}, lambda s: redact_text(s, [secret]))
    # Cut first, "hunte" would be left over, where no later scrub could recognise it.
    assert "hunte" not in out["message"]
    assert REDACTED[:5] in out["message"]


def test_nesting_is_cut_at_a_fixed_depth() -> None:
    deep: object = "bottom"
    for _ in range(600):
        deep = {"d": deep}
    out = bound_evidence({"claims": deep})
    text = json.dumps(out)
    assert "bottom" not in text and f"nested deeper than {MAX_DEPTH} levels" in text


def test_long_lists_and_maps_say_how_many_were_left_out() -> None:
    out = bound_evidence({"tags": list(range(1000)), "map": {str(i): i for i in range(500)}})
    assert len(out["tags"]) == MAX_ITEMS + 1 and out["tags"][-1] == "… [900 more items]"
    assert out["map"]["…"] == "400 more entries"


def test_numbers_no_json_reader_can_take_become_text() -> None:
    out = bound_evidence({"size": 10**400, "ratio": float("nan"), "big": float("inf")})
    assert out == {"size": "(a number of about 401 digits)", "ratio": "nan", "big": "inf"}


def test_the_whole_step_has_a_character_budget() -> None:
    out = bound_evidence({f"k{i}": "v" * 50_000 for i in range(400)})
    assert len(json.dumps(out)) < MAX_TOTAL + 200 * MAX_ITEMS


def test_shorten_keeps_short_text() -> None:
    assert shorten("fine") == "fine"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=60,
)


@settings(max_examples=100)
@given(_JSONISH)
def test_anything_bounded_is_plain_json(value: object) -> None:
    # Raises on NaN, infinities or anything json cannot write: what once crashed a report.
    json.dumps(bound_evidence(value), allow_nan=False)
