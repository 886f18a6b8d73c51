"""The one rule for lab tests: skip with one reason where the lab cannot run; under CI, fail."""

from __future__ import annotations

import os

import pytest

from tests.e2e.lab import SKIP_REASON, missing_requirements


def require_lab() -> None:
    missing = missing_requirements()
    if not missing:
        return
    reason = f"{SKIP_REASON} (missing: {', '.join(missing)})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
