"""The committed sample_reports/ are what acrdiag writes today, times and dates aside.

Runs scripts/make_sample_reports.py (its own lab, in its own process) into a temp dir and
compares every file with the committed one through the script's `normalize()`, which blanks
exactly the volatile fields the script lists (VOLATILE_KEYS, VOLATILE_PATTERNS). When acrdiag's
output changes on purpose, regenerate: `python scripts/make_sample_reports.py`.
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.e2e.lab_gate import require_lab

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "make_sample_reports.py"
COMMITTED = REPO_ROOT / "sample_reports"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_reports", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.lab
def test_sample_reports_match_the_committed_ones(tmp_path: Path) -> None:
    require_lab()
    script = load_script()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"

    fresh = script.report_files(tmp_path)
    committed = script.report_files(COMMITTED)
    assert sorted(fresh) == sorted(committed), "regenerate sample_reports/"
    differing = []
    for name in sorted(fresh):
        now = script.normalize(name, fresh[name])
        then = script.normalize(name, committed[name])
        if now != then:
            diff = difflib.unified_diff(
                then.splitlines(keepends=True),
                now.splitlines(keepends=True),
                f"sample_reports/{name} (committed)",
                f"{name} (regenerated)",
                n=1,
            )
            differing.append("".join(list(diff)[:60]))
    assert not differing, (
        "sample reports differ beyond times and dates; if acrdiag changed on purpose, run "
        "`python scripts/make_sample_reports.py`\n" + "\n".join(differing)
    )


def test_normalization_blanks_only_times_and_dates() -> None:
    """Two made-up reports that differ in volatile fields only compare equal; a difference
    anywhere else survives normalization."""
    script = load_script()
    a = (
        '{"started_at": "2026-01-01T00:00:00Z", "duration_s": 0.41, "summary": '
        '"token for \'puller\' grants pull on ns/app, 599 s left", "phases_s": {"dns": 0.01}, '
        '"download": {"seconds": 0.1, "mb_per_s": 0.4, "bytes": 182}, "url": '
        '"https://oss/x?X-Amz-Date=20260101T000000Z&X-Amz-Signature=[REDACTED]"}'
    )
    b = (
        '{"started_at": "2026-02-02T01:02:03Z", "duration_s": 1.5, "summary": '
        '"token for \'puller\' grants pull on ns/app, 600 s left", "phases_s": {"dns": 0.2}, '
        '"download": {"seconds": 0.3, "mb_per_s": 12.5, "bytes": 182}, "url": '
        '"https://oss/x?X-Amz-Date=20260202T010203Z&X-Amz-Signature=[REDACTED]"}'
    )
    assert script.normalize("r.json", a) == script.normalize("r.json", b)
    assert script.normalize("r.json", a) != script.normalize(
        "r.json", a.replace('"bytes": 182', '"bytes": 183')
    )
    assert script.normalize("r.json", a) != script.normalize(
        "r.json", a.replace('"phases_s": {"dns"', '"phases_s": {"tcp"')
    )
    md = "| 1 | reachability | ✓ pass | 0.07 s | ok |\nacrdiag 0.1.0, 2026-11-25 08:50:25 UTC\n"
    assert script.normalize("r.md", md) == script.normalize(
        "r.md", md.replace("0.07 s", "1.20 s").replace("08:50:25", "09:00:00")
    )
    assert script.normalize("r.md", md) != script.normalize("r.md", md.replace("pass", "fail"))
    text = "7 │ blob_fetch │ ✓ pass │ 0.02 s │ in 0.00 s (0.4 MB/s); sha256\n  │ │ │ │ verified\n"
    rewrapped = (
        "7 │ blob_fetch │ ✓ pass │ 0.02 s │ in 0.00 s (12.4 MB/s);\n  │ │ │ │ sha256 verified\n"
    )
    assert script.normalize("r.txt", text) == script.normalize("r.txt", rewrapped)
