"""The engine's promises: a crash is a row, the deadline holds, Ctrl-C keeps the report."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from acrdiag import engine
from acrdiag.causes import Cause
from acrdiag.context import RunContext
from acrdiag.model import StepId
from acrdiag.probes.base import StepFailed
from acrdiag.steps import PULL_STEPS, Step
from tests.support.assertions import assert_failed_at
from tests.support.servers import raw_server, read_request
from tests.support.world import REGISTRY, World, replace_probe


def test_a_crashing_probe_is_an_internal_error_row_exit_1(world: World, tmp_path: Path) -> None:
    world.healthy()

    def crash(ctx: RunContext) -> str:
        raise RuntimeError(f"boom near {ctx.facts.token}")

    out = tmp_path / "crash.json"
    result = world.run_steps(world.ref("ns/app:1.0"), replace_probe(StepId.MANIFEST, crash), out)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    step = result.step("manifest")
    assert step["status"] == "fail" and step["cause"] == "internal_error"
    assert "RuntimeError" in step["summary"]
    assert step["evidence"]["exception"]["type"] == "RuntimeError"
    assert [s["status"] for s in result.report["steps"][5:]] == ["skipped", "skipped"]
    assert json.loads(out.read_text())["verdict"]["exit_code"] == 1
    for token in world.tokens:
        assert token not in result.stdout, "a crash message must not leak the token"


def test_a_crash_outside_the_probes_still_writes_a_report(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from acrdiag import runner

    def broken(*args: object) -> object:
        raise OSError("no file descriptors left")

    monkeypatch.setattr(runner, "diagnose", broken)
    out = tmp_path / "r.json"
    result = world.run(world.ref("ns/app:1.0"), "--output", str(out))
    assert result.code == 1
    assert result.report["verdict"]["cause"] == "internal_error"
    assert out.exists()


def test_deadline_bounds_a_server_that_never_answers(world: World) -> None:
    def silent(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(4)

    with raw_server(silent) as port:
        started = time.monotonic()
        result = world.run(
            f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http", timeout=10, deadline=1.5
        )
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    failed = assert_failed_at(result, "reachability", "deadline_exceeded")
    assert any("--deadline" in h for h in failed["hints"])


def test_slow_drip_headers_cannot_outlive_the_deadline(world: World) -> None:
    def drip(conn: socket.socket) -> None:
        read_request(conn)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    with raw_server(drip) as port:
        started = time.monotonic()
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http", timeout=1, deadline=2)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert result.code == 11
    assert result.report["verdict"]["cause"] == "deadline_exceeded"


def test_ctrl_c_writes_the_partial_report_and_exits_130(world: World, tmp_path: Path) -> None:
    world.healthy()

    def interrupted(ctx: RunContext) -> str:
        raise KeyboardInterrupt

    out = tmp_path / "partial.json"
    steps = replace_probe(StepId.OSS_RESOLUTION, interrupted)
    result = world.run_steps(world.ref("ns/app:1.0"), steps, out)
    assert result.code == 130
    saved = json.loads(out.read_text())
    assert saved["verdict"]["exit_code"] == 130
    assert [s["status"] for s in saved["steps"]] == ["pass"] * 5 + ["fail", "skipped"]
    assert saved["steps"][5]["cause"] == "interrupted"


def test_scrub_hides_secrets_everywhere_but_never_corrupts_codes() -> None:
    from datetime import UTC, datetime

    from acrdiag.causes import Cause
    from acrdiag.model import Report, Status, StepResult, Support, Target, ToolInfo, Verdict

    step = StepResult(
        id=StepId.BLOB_FETCH,
        number=7,
        status=Status.FAIL,
        cause=Cause.TLS_HOSTNAME_MISMATCH,
        summary="token eyJlongsecretvalue12 and pw Xy7_ rejected; Xy7_abc stays",
        evidence={"host": "tls_hostname_mismatch"},
        hints=["host"],
    )
    report = Report(
        tool=ToolInfo(version="t"),
        target=Target(reference="r"),
        started_at=datetime.now(UTC),
        duration_s=0,
        verdict=Verdict(status="fail", summary="s", exit_code=17),
        support=Support(),
        steps=[step],
    )
    scrubbed = engine.scrub(report, {"eyJlongsecretvalue12", "Xy7_", "host"}).steps[0]
    assert scrubbed.cause is Cause.TLS_HOSTNAME_MISMATCH
    assert "eyJlongsecretvalue12" not in scrubbed.summary
    assert "pw [REDACTED] rejected" in scrubbed.summary and "Xy7_abc stays" in scrubbed.summary
    assert scrubbed.evidence == {"host": "tls_hostname_mismatch"}


def test_an_eighth_step_is_numbered_and_exits_by_the_same_rule(world: World) -> None:
    world.healthy()

    def refuse(ctx: RunContext) -> str:
        raise StepFailed(Cause.HTTP_ERROR, "an extra check refused", ["do what it says"])

    steps = (*PULL_STEPS, Step(StepId.BLOB_FETCH, refuse))
    result = world.run_steps(world.ref("ns/app:1.0"), steps)
    assert result.code == 18
    verdict = result.report["verdict"]
    assert (verdict["failed_step_number"], verdict["exit_code"]) == (8, 18)
    assert [s["number"] for s in result.report["steps"]] == list(range(1, 9))


def test_a_failure_skips_the_steps_of_the_list_given(world: World) -> None:
    world.healthy()

    def refuse(ctx: RunContext) -> str:
        raise StepFailed(Cause.HTTP_ERROR, "refused", ["retry"])

    steps = (PULL_STEPS[0], Step(StepId.CHALLENGE, refuse), PULL_STEPS[2])
    result = world.run_steps(world.ref("ns/app:1.0"), steps)
    assert result.code == 12
    assert [s["status"] for s in result.report["steps"]] == ["pass", "fail", "skipped"]


def test_a_stop_while_the_dns_comparison_settles_still_writes_the_report(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SIGTERM (cron's timeout, systemd) in the run's last wait, after every step finished:
    the report is still written, with the verdict the steps reached."""
    from acrdiag.stopping import Terminated

    def stopped(ctx: object, rows: object) -> None:
        raise Terminated()

    monkeypatch.setattr(engine, "_settle_dns", stopped)
    world.healthy()
    output = tmp_path / "report.json"
    result = world.run(world.ref("ns/app:1.0"), "--output", str(output))
    report = json.loads(output.read_text())
    assert result.code == report["verdict"]["exit_code"] == 0
    assert [s["status"] for s in report["steps"]] == ["pass"] * 7
