"""Reports as Prometheus metrics, through prometheus_client's own exposition format.

`acrdiag check --prometheus FILE` writes the node_exporter textfile (one series per target,
`target` and `reference` labels); `acrdiag serve` answers /probe with the same step metrics
and blackbox_exporter's probe_success and probe_duration_seconds (README "Health checks").
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from acrdiag import __version__
from acrdiag.model import Report, Status

STEP_LABELS = ("step", "cause")


def textfile(reports: Sequence[tuple[str, Report]], now: float) -> bytes:
    """The textfile collector's file for ``(target name, report)`` pairs."""
    registry = CollectorRegistry(auto_describe=True)
    target = ("target", "reference")
    success = _gauge(registry, "acrdiag_check_success", "1: the pull works", target)
    exit_code = _gauge(registry, "acrdiag_check_exit_code", "acrdiag's exit code", target)
    duration = _gauge(registry, "acrdiag_check_duration_seconds", "Time the check took", target)
    warnings = _gauge(registry, "acrdiag_check_warnings", "Steps passed with a warning", target)
    step_success, step_duration = _step_gauges(registry, ("target",))
    when = _gauge(registry, "acrdiag_check_timestamp_seconds", "When the check ran (Unix time)", ())
    when.set(now)
    _build_info(registry)
    for name, report in reports:
        labels = (name, report.target.normalized or report.target.reference)
        success.labels(*labels).set(_succeeded(report))
        exit_code.labels(*labels).set(report.verdict.exit_code)
        duration.labels(*labels).set(report.duration_s)
        warnings.labels(*labels).set(sum(s.status is Status.WARN for s in report.steps))
        _steps(report, step_success, step_duration, (name,))
    return generate_latest(registry)


def probe(report: Report, cache_age_s: float) -> bytes:
    """/probe's answer for one report, in blackbox_exporter's shape."""
    registry = CollectorRegistry(auto_describe=True)
    _gauge(registry, "probe_success", "1 when the pull works (warnings allowed)", ()).set(
        _succeeded(report)
    )
    _gauge(registry, "probe_duration_seconds", "How long the diagnosis took", ()).set(
        report.duration_s
    )
    _gauge(registry, "acrdiag_probe_exit_code", "acrdiag run's exit code", ()).set(
        report.verdict.exit_code
    )
    _gauge(
        registry,
        "acrdiag_probe_cache_age_seconds",
        "Age of the result: repeated scrapes within the minimum interval reuse it",
        (),
    ).set(cache_age_s)
    step_success, step_duration = _step_gauges(registry, ())
    _steps(report, step_success, step_duration, ())
    _build_info(registry)
    return generate_latest(registry)


def _succeeded(report: Report) -> int:
    return 1 if report.verdict.status != "fail" else 0


def _step_gauges(registry: CollectorRegistry, labels: tuple[str, ...]) -> tuple[Gauge, Gauge]:
    success = _gauge(
        registry,
        "acrdiag_step_success",
        "1 when the step passed (a warning's cause in the cause label), 0 when it failed "
        "(its cause in the cause label); skipped steps are absent",
        (*labels, *STEP_LABELS),
    )
    duration = _gauge(
        registry, "acrdiag_step_duration_seconds", "Time the step took", (*labels, "step")
    )
    return success, duration


def _steps(report: Report, success: Gauge, duration: Gauge, labels: tuple[str, ...]) -> None:
    for step in report.steps:
        if step.status is Status.SKIPPED:
            continue  # not run: no value to give, as blackbox leaves out what it did not probe
        cause = step.cause.value if step.cause else ""
        success.labels(*labels, step.id.value, cause).set(0 if step.status is Status.FAIL else 1)
        duration.labels(*labels, step.id.value).set(step.duration_s)


def _build_info(registry: CollectorRegistry) -> None:
    _gauge(registry, "acrdiag_build_info", "acrdiag's version", ("version",)).labels(
        __version__
    ).set(1)


def _gauge(
    registry: CollectorRegistry, name: str, documentation: str, labels: Sequence[str]
) -> Gauge:
    return Gauge(name, documentation, labelnames=tuple(labels), registry=registry)
