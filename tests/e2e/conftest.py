"""The session-scoped `lab` fixture: real servers in a private network namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.lab import Lab
from tests.e2e.lab_gate import require_lab

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e that uses the lab carries the `lab` marker."""
    for item in items:
        if _HERE in Path(str(item.path)).parents and "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The running lab; skipped (failed under CI=true) where it cannot run."""
    require_lab()
    with Lab.start() as running:
        yield running
