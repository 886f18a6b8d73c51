"""sample_reports/: real reports users can read, valid against the model, with no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acrdiag.model import Report, Status, StepId

SAMPLES = Path(__file__).resolve().parent.parent / "sample_reports"
JSON_FILES = sorted(SAMPLES.glob("*.json"))
ALL_FILES = sorted(p for p in SAMPLES.iterdir() if p.is_file())
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
SIGNATURE = re.compile(
    r"(?i)(signature|x-amz-signature|x-oss-signature|x-amz-credential|x-oss-credential|"
    r"x-amz-security-token|security-token|sig)=(?!\[REDACTED\])[^&\s\"]{6,}"
)
AUTH_HEADER = re.compile(
    r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(bearer|basic)\s+(?!\[REDACTED\])\S"
)


def test_there_is_a_healthy_report_and_one_failure_per_step() -> None:
    reports = {p.name: Report.model_validate_json(p.read_text()) for p in JSON_FILES}
    assert reports["healthy.json"].verdict.status == "ok"
    failed_steps = {r.verdict.failed_step for r in reports.values() if r.verdict.failed_step}
    assert failed_steps == set(StepId)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_each_json_report_is_valid_and_self_consistent(path: Path) -> None:
    report = Report.model_validate_json(path.read_text())
    failed = report.failed()
    if failed is None:
        assert report.verdict.exit_code == 0
        return
    assert report.verdict.exit_code == 10 + failed.number
    assert path.name.startswith(f"fail-{failed.number}-{failed.id.value}-{failed.cause}")
    assert all(s.status is Status.SKIPPED for s in report.steps[failed.number :])
    assert failed.hints


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_no_token_password_or_signature_in_any_sample(path: Path) -> None:
    text = path.read_text()
    assert not JWT.search(text)
    assert not SIGNATURE.search(text)
    assert not AUTH_HEADER.search(text)
