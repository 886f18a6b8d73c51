"""The session-scoped `lab` fixture: real servers in a private network namespace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.lab import SKIP_REASON, Lab, missing_requirements

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e that uses the lab carries the `lab` marker."""
    for item in items:
        if _HERE in Path(str(item.path)).parents and "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The running lab; skipped (failed under CI=true) where it cannot run."""
    missing = missing_requirements()
    if missing:
        reason = f"{SKIP_REASON} (missing: {', '.join(missing)})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with Lab.start() as running:
        yield running
