"""Runs the seven probes in order, stops at the first failure, builds the report.

A probe that crashes becomes an internal_error row (exit 1); Ctrl-C becomes
an interrupted row (exit 130). Either way the report is complete and every
string in it has passed the redactor.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from acrdiag import __version__
from acrdiag.causes import Cause
from acrdiag.context import RunContext, RunOptions, StepRecord
from acrdiag.deadline import Deadline, DeadlineExceeded
from acrdiag.evidence import MAX_ITEMS, MAX_SCANNED, MAX_SUMMARY, bound_evidence, shorten
from acrdiag.exit_codes import ExitCode
from acrdiag.kinds import Status
from acrdiag.net.errors import NetFailure
from acrdiag.probes.base import Probe, StepFailed, net_failed
from acrdiag.redact import REDACTED, redact_known, redact_patterns, secret_forms
from acrdiag.step_rows import Row, to_results
from acrdiag.steps import LATER_PROBES, PULL_STEPS, Step
from acrdiag.stopping import Terminated
from acrdiag.wiring import wire

if TYPE_CHECKING:
    from acrdiag.model import Report, Target, Verdict


class Interrupted(Exception):
    """Carries the partial report out of a Ctrl-C."""

    def __init__(self, report: Report) -> None:
        super().__init__("interrupted")
        self.report = report


def diagnose(
    options: RunOptions, steps: Sequence[Step] = PULL_STEPS, deadline: Deadline | None = None
) -> Report:
    """Run the steps in order against ``options.reference``; never raises except Interrupted.
    ``deadline``: the caller's, to end the run from outside (cancel()); else --deadline."""
    _import_report_models_aside()
    started_at = options.now()
    started = time.monotonic()
    deadline = deadline or Deadline(options.deadline)
    wiring = wire(options, deadline)
    session, resolver, trust, proxies = (
        wiring.session,
        wiring.resolver,
        wiring.trust,
        wiring.proxies,
    )
    with ExitStack() as resources:
        resources.callback(session.close)
        ctx = RunContext(options, session, resolver, trust, proxies, resources)
        ctx.keep_secret(options.credential.secret, min_length=1)  # the user's: however short
        for proxy in (proxies.http_proxy, proxies.https_proxy):
            ctx.keep_secret(_proxy_password(proxy))
        _add_host_headers(ctx, options)
        ctx.environment.resolver = resolver.describe()
        ctx.environment.trust = trust.description
        ctx.environment.credentials = options.credential.source
        results, stop = _run_steps(ctx, steps)
        try:
            _settle_dns(ctx, results)
        except KeyboardInterrupt as late:  # Ctrl-C or SIGTERM in the last wait: still a report
            stop = stop or late
    report = _report(ctx, results, started_at, time.monotonic() - started, stop)
    if stop is not None:
        raise Interrupted(report)
    return report


def _settle_dns(ctx: RunContext, results: list[Row]) -> None:
    """The direct DNS comparison ran beside the steps (see net/dns.py): its answers join
    the evidence of the steps that showed those look-ups."""
    settled = {lookup.host: lookup for lookup in ctx.resolver.settle()}
    if not settled:
        return
    clean = _Scrubber(ctx.secrets)
    for result in results:
        shown = result.evidence.get("dns")
        if isinstance(shown, dict) and shown.get("host") in settled:
            fresh = settled[shown["host"]].evidence()
            added = {k: v for k, v in shown.items() if k not in fresh}  # e.g. address classes
            result.evidence["dns"] = bound_evidence({**fresh, **added}, clean)


def _import_report_models_aside() -> None:
    """Steps 2 to 7 and the report's pydantic models (about 0.13 s to import and build) are
    not needed for the first request: they are imported beside the steps, which mostly wait
    on the network. Whoever needs one first waits on Python's import lock, so it is whole."""
    later = [*LATER_PROBES, "acrdiag.support"]  # in the order the run needs them
    if all(name in sys.modules for name in later):
        return  # imported already (check, serve, a second host)
    threading.Thread(target=_import_quietly, args=(later,), daemon=True).start()


def _import_quietly(names: list[str]) -> None:
    # A failure here is the main thread's to meet (and report) when it imports the same.
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|key|password", re.IGNORECASE)


def _add_host_headers(ctx: RunContext, options: RunOptions) -> None:
    """hosts.toml [header] goes to that host only; values of credential-like headers are
    kept out of the report like any other secret."""
    if not options.headers:
        return
    ref = options.reference
    netloc = ref.api_host + (f":{ref.port}" if ref.port else "")
    ctx.session.add_host_headers(netloc, options.headers)
    for name, value in options.headers:
        if _SECRET_HEADER.search(name):
            ctx.keep_secret(value, min_length=1)


def _proxy_password(proxy: str | None) -> str | None:
    if not proxy or "@" not in proxy:
        return None
    userinfo = proxy.split("://", 1)[-1].rsplit("@", 1)[0]
    return userinfo.partition(":")[2] or userinfo


def crash_report(
    options: RunOptions, exc: BaseException, steps: Sequence[Step] = PULL_STEPS
) -> Report:
    """A report for a crash outside any probe (setting up the run): step 1 fails internally."""
    from acrdiag.model import Report, Support, ToolInfo

    record = StepRecord(
        steps[0].id,
        1,
        evidence={"exception": _crash_evidence(exc)},
        hints=["please report this with the JSON report attached"],
    )
    secret = options.credential.secret
    secrets = {secret} if secret else set()
    first = _result(
        record,
        Status.FAIL,
        Cause.INTERNAL_ERROR,
        f"acrdiag failed internally: {_first_line(exc)}",
        0.0,
        _Scrubber(secrets),
    )
    results = [first, *_skipped_after(steps, first)]
    report = Report(
        tool=ToolInfo(version=__version__),
        target=_target_of(options),
        started_at=datetime.now(UTC),
        duration_s=0.0,
        verdict=_verdict(results, None),
        support=Support(),
        steps=to_results(results),
    )
    return scrub(report, secrets)


def bad_input_report(
    reference: str,
    message: str,
    steps: Sequence[Step] = PULL_STEPS,
    stop: KeyboardInterrupt | None = None,
) -> Report:
    """The report of a run that never started: bad input (exit 2), or stopped while its
    options were read (a credential helper running): no step run."""
    from acrdiag.model import Report, Support, Target, ToolInfo, Verdict

    summary = f"not run: {message}"
    cause, code = Cause.BAD_INPUT, int(ExitCode.USAGE)
    if stop is not None:
        cause = Cause.INTERRUPTED
        code = ExitCode.TERMINATED if isinstance(stop, Terminated) else ExitCode.INTERRUPTED
    rows = _skipped_rows(steps, f"not run: {cause.value.replace('_', ' ')}")
    verdict = Verdict(status="fail", cause=cause, summary=summary, exit_code=code)
    report = Report(
        tool=ToolInfo(version=__version__),
        target=Target(reference=reference),
        started_at=datetime.now(UTC),
        duration_s=0.0,
        verdict=verdict,
        support=Support(),
        steps=to_results(rows),
    )
    return scrub(report, set())


def refused_report(
    options: RunOptions, cause: Cause, why: str, steps: Sequence[Step] = PULL_STEPS
) -> Report:
    """The runtime refuses the pull before any request (registries.conf blocks the registry):
    step 1 fails with ``cause`` and nothing is sent, as nothing would be."""
    from acrdiag.model import Report, Support, ToolInfo

    record = StepRecord(steps[0].id, 1, hints=["the runtime's configuration decides this"])
    first = _result(record, Status.FAIL, cause, why, 0.0, _Scrubber(set()))
    results = [first, *_skipped_after(steps, first)]
    report = Report(
        tool=ToolInfo(version=__version__),
        target=_target_of(options),
        started_at=options.now(),
        duration_s=0.0,
        verdict=_verdict(results, None),
        support=Support(),
        steps=to_results(results),
    )
    return scrub(report, set())


def _run_steps(
    ctx: RunContext, steps: Sequence[Step]
) -> tuple[list[Row], KeyboardInterrupt | None]:
    """The rows, and the Ctrl-C or SIGTERM that stopped the run, if one did."""
    results: list[Row] = []
    for number, step in enumerate(steps, 1):
        try:
            result = _run_one(ctx, step, number)
        except KeyboardInterrupt as stop:
            what = "stopped (SIGTERM)" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"
            result = _result(
                ctx.step,
                Status.FAIL,
                Cause.INTERRUPTED,
                f"{what} during this step",
                0.0,
                _Scrubber(ctx.secrets),
            )
            return [*results, result, *_skipped_after(steps, result)], stop
        results.append(result)
        if result.status is Status.FAIL:
            return [*results, *_skipped_after(steps, result)], None
    return results, None


def _run_one(ctx: RunContext, step: Step, number: int) -> Row:
    record = StepRecord(step.id, number)
    ctx.step = record
    ctx.session.recorder = record
    try:
        return _guarded(ctx, record, step.probe)
    finally:
        ctx.request_ids += [(step.id, h, v) for h, v in record.request_ids]


def _guarded(ctx: RunContext, record: StepRecord, probe: Probe) -> Row:
    started = time.monotonic()
    try:
        ctx.session.deadline.check()
        summary = probe(ctx)
    except Exception as exc:  # a crash is a result row, never a traceback
        failed = _as_failure(ctx, record, exc)
        return _failed(record, failed, time.monotonic() - started, _Scrubber(ctx.secrets))
    elapsed = time.monotonic() - started
    clean = _Scrubber(ctx.secrets)
    if record.warnings:
        cause, message = record.warnings[0]
        summary = f"{summary} (warning: {message})"
        return _result(record, Status.WARN, cause, summary, elapsed, clean)
    return _result(record, Status.PASS, None, summary, elapsed, clean)


def _as_failure(ctx: RunContext, record: StepRecord, exc: Exception) -> StepFailed:
    if isinstance(exc, StepFailed):
        return exc
    if isinstance(exc, NetFailure):
        return net_failed(ctx, exc, "registry")
    if isinstance(exc, DeadlineExceeded):
        return StepFailed(
            Cause.DEADLINE_EXCEEDED,
            str(exc),
            [f"raise --deadline (now {ctx.options.deadline:g} s)"],
        )
    record.evidence["exception"] = _crash_evidence(exc)
    return StepFailed(
        Cause.INTERNAL_ERROR,
        f"acrdiag failed internally: {_first_line(exc)}",
        ["please report this with the JSON report attached"],
    )


def _failed(
    record: StepRecord, failed: StepFailed, elapsed: float, clean: Callable[[str], str]
) -> Row:
    record.evidence.update(failed.evidence)
    for hint in failed.hints:
        record.hint(hint)
    return _result(record, Status.FAIL, failed.cause, failed.summary, elapsed, clean)


def _result(
    record: StepRecord,
    status: Status,
    cause: Cause | None,
    summary: str,
    elapsed: float,
    clean: Callable[[str], str],
) -> Row:
    """The step's row, redacted and bounded: server text cannot make it huge, slow or deep."""
    evidence = dict(record.evidence)
    if record.warnings:
        evidence["warnings"] = [message for _, message in record.warnings]
    if record.requests:
        evidence["requests"] = record.requests
    return Row(
        id=record.id,
        number=record.number,
        status=status,
        cause=cause,
        summary=shorten(clean(summary), MAX_SUMMARY),
        evidence=bound_evidence(evidence, clean),
        hints=[shorten(clean(hint), MAX_SUMMARY) for hint in record.hints[:MAX_ITEMS]],
        duration_s=round(elapsed, 4),
        phases_s={k: round(v, 4) for k, v in record.phases.items()},
        warnings=[(c, shorten(clean(m), MAX_SUMMARY)) for c, m in record.warnings[:MAX_ITEMS]],
    )


def _skipped_after(steps: Sequence[Step], failed: Row) -> list[Row]:
    """Rows for the steps after the failed one."""
    summary = f"skipped: step {failed.number} ({failed.id.value}) failed"
    return _skipped_rows(steps, summary, after=failed.number)


def _skipped_rows(steps: Sequence[Step], summary: str, after: int = 0) -> list[Row]:
    return [
        Row(id=step.id, number=number, status=Status.SKIPPED, summary=summary)
        for number, step in enumerate(steps, 1)
        if number > after
    ]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _source(filename: str) -> str:
    # Package-relative for our frames, a bare name for others: no home or venv paths.
    if "/acrdiag/" in filename:
        return "acrdiag/" + filename.rsplit("/acrdiag/", 1)[1]
    return filename.rsplit("/", 1)[-1]


def _crash_evidence(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{_source(f.filename)}:{f.lineno} in {f.name}" for f in frames[-4:]]
    return {"type": type(exc).__name__, "where": where}


def _report(
    ctx: RunContext,
    steps: list[Row],
    started_at: datetime,
    duration: float,
    stop: KeyboardInterrupt | None,
) -> Report:
    from acrdiag.model import Environment, Report, ToolInfo
    from acrdiag.support import support_block

    report = Report(
        tool=ToolInfo(version=__version__),
        target=_target_of(ctx.options),
        started_at=started_at,
        duration_s=round(duration, 4),
        verdict=_verdict(steps, stop),
        support=support_block(
            ctx.profile, ctx.facts.redirect, ctx.request_ids, ctx.facts.image_platform
        ),
        environment=Environment(**asdict(ctx.environment)),
        steps=to_results(steps),
    )
    return scrub(report, ctx.secrets)


def _target_of(options: RunOptions) -> Target:
    from acrdiag.model import Target

    ref = options.image or options.reference  # the image as the user named it
    return Target(
        reference=ref.given,
        normalized=ref.normalized,
        registry=ref.registry,
        repository=ref.repository,
        tag=ref.tag,
        digest=ref.digest,
        platform=str(options.platform),
    )


def _verdict(steps: list[Row], stop: KeyboardInterrupt | None) -> Verdict:
    from acrdiag.model import Verdict

    failed = next((s for s in steps if s.status is Status.FAIL), None)
    if failed is None:
        warned = [s for s in steps if s.status is Status.WARN]
        summary = "the pull works" + (f" with {len(warned)} warning(s)" if warned else "")
        return Verdict(status="warn" if warned else "ok", summary=summary, exit_code=ExitCode.OK)
    code: int
    if isinstance(stop, Terminated):
        code = ExitCode.TERMINATED
    elif stop is not None:
        code = ExitCode.INTERRUPTED
    elif failed.cause is Cause.INTERNAL_ERROR:
        code = ExitCode.INTERNAL_ERROR
    else:
        code = ExitCode.for_step(failed.number)
    return Verdict(
        status="fail",
        failed_step=failed.id,
        failed_step_number=failed.number,
        cause=failed.cause,
        summary=f"step {failed.number} ({failed.id.value}) failed: {failed.summary}",
        exit_code=int(code),
    )


def scrub(report: Report, secrets: set[str]) -> Report:
    """Last line of defence: no secret survives into any output, whatever a probe recorded."""
    from acrdiag.model import Report

    data = _scrub_value(report.model_dump(mode="json"), _Scrubber(secrets))
    return Report.model_validate(data)


class _Scrubber:
    """Long secrets are replaced anywhere; a short one (a weak password) only as a whole
    word, so that a password like "pull" cannot blank out ordinary words of the report."""

    def __init__(self, secrets: set[str]) -> None:
        self.long = secret_forms(s for s in secrets if len(s) >= 8)
        short = {form for s in secrets if len(s) < 8 for form in (s, quote(s, safe=""))}
        words = "|".join(re.escape(s) for s in sorted(short, key=len, reverse=True))
        self.short = re.compile(rf"(?<![\w-])(?:{words})(?![\w-])") if short else None

    def __call__(self, text: str) -> str:
        text = redact_known(_printable(text), self.long)
        if self.short is not None:
            text = self.short.sub(REDACTED, text)
        # Known secrets go first, from the whole text; the patterns then scan a bounded part
        # (evidence keeps far less than MAX_SCANNED of any one string anyway).
        return redact_patterns(shorten(text, MAX_SCANNED))


# Servers choose these strings: keep them encodable and free of terminal escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub("\ufffd", text)


# Codes and ids are ours, never secret; scrubbing them could only corrupt them.
_STRUCTURAL_KEYS = frozenset({"id", "status", "cause", "failed_step", "step", "header"})


def _scrub_value(value: Any, scrubber: _Scrubber) -> Any:
    if isinstance(value, str):
        return scrubber(value)
    if isinstance(value, list):
        return [_scrub_value(v, scrubber) for v in value]
    if isinstance(value, dict):
        return {
            _printable(k): v if k in _STRUCTURAL_KEYS else _scrub_value(v, scrubber)
            for k, v in value.items()
        }
    return value
