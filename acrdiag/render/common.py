"""Helpers shared by the text and Markdown renderers."""

from __future__ import annotations

from typing import Any

from acrdiag.model import HostAttempt, RegistryKind, Report, Status, StepId, StepResult, Support

MARKS = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIPPED: "-"}
MAX_EVIDENCE_LINES = 40
MAX_VALUE_CHARS = 160


def flatten(evidence: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested evidence as ("a.b", "value") lines, bounded for reading."""
    lines: list[tuple[str, str]] = []
    for key, value in evidence.items():
        name = f"{prefix}{key}"
        if key == "requests" and isinstance(value, list):
            lines += [(f"{name}[{i}]", _request_line(v)) for i, v in enumerate(value)]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                lines += flatten(item, f"{name}[{i}].")
        elif isinstance(value, dict) and value:
            lines += flatten(value, name + ".")
        else:
            lines.append((name, _short(value)))
    return lines[:MAX_EVIDENCE_LINES]


def _request_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return _short(entry)
    parts = [str(entry.get("request", "")), f"→ {entry.get('status', '?')}"]
    if "address" in entry:
        parts.append(f"{entry['address']} ({entry.get('connection', '?')})")
    if entry.get("via", "direct") != "direct":
        parts.append(str(entry["via"]))
    return _short(" ".join(parts))


def _short(value: Any) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, list):
        text = ", ".join(_short(v) for v in value) if value else "[]"
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def support_lines(report: Report) -> list[tuple[str, str]]:
    s: Support = report.support
    verdict = report.verdict
    where = (
        f"fail at step {verdict.failed_step_number} ({verdict.failed_step.value}): "
        f"{verdict.cause.value if verdict.cause else '?'}"
        if verdict.failed_step
        else verdict.status + (f": {verdict.cause.value}" if verdict.cause else "")
    )
    lines = [
        ("reference", report.target.normalized or report.target.reference),
        ("platform", _platform(report)),
        ("verdict", where),
        ("registry kind", s.registry_kind or "not learned"),
    ]
    if s.registry_kind in (None, RegistryKind.ACR_EE, RegistryKind.ACR_PERSONAL):
        lines += [
            ("instance ID", s.instance_id or "not learned"),
            ("instance name", s.instance_name or "not learned"),
        ]
    lines += [
        ("region", s.region or "not learned"),
        ("endpoint type", s.endpoint_type or "not learned"),
    ]
    if not _serves_blobs_itself(report):
        lines += [("OSS bucket", s.bucket or "not learned"), ("storage endpoint", _endpoint(s))]
    for rid in s.request_ids[:10]:
        lines.append(("request ID", f"{rid.header}={rid.value} ({rid.step.value})"))
    if not s.request_ids:
        lines.append(("request IDs", "none received (no server sent a request ID header)"))
    lines += _runtime_support(report)
    lines.append(("acrdiag", f"{report.tool.version}, {report.started_at:%Y-%m-%d %H:%M:%S} UTC"))
    return lines


def _runtime_support(report: Report) -> list[tuple[str, str]]:
    runtime = report.runtime
    if runtime is None:
        return []
    lines = [("runtime", f"{runtime.name} ({runtime.chosen_because})")]
    decided = next((h for h in report.hosts if h.decided), None)
    if decided is not None and len(report.hosts) > 1:
        lines.append(("steps shown for", f"{decided.role} {decided.url}"))
    return lines


HOST_MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "not_tried": "·"}


def host_lines(report: Report) -> list[tuple[str, str]]:
    """One line per host the runtime tries, in its order, and how it went."""
    return [(f"{HOST_MARKS[h.status]} {h.role}", _host_line(h)) for h in report.hosts]


def _host_line(host: HostAttempt) -> str:
    where = f"{host.url} ({host.configured_in})"
    if host.settings:
        where += f" [{'; '.join(host.settings)}]"
    if host.status == "not_tried":
        return f"{where}: not tried"
    outcome = host.summary if host.status == "fail" else host.status
    if host.decided and len(host.steps) > 0:
        outcome += " (its steps are the ones shown above)"
    return f"{where}: {outcome}"


def host_hints(host: HostAttempt) -> list[str]:
    failed = next((s for s in host.steps if s.status is Status.FAIL), None)
    return failed.hints if failed is not None else []


def runtime_lines(report: Report) -> list[tuple[str, str]]:
    """What the runtime's view holds: files read, proxies, notes, warnings."""
    runtime = report.runtime
    if runtime is None:
        return []
    lines = [("runtime", f"{runtime.name} ({runtime.chosen_because})")]
    lines += [("read", f) for f in runtime.config_files]
    if runtime.proxy_source:
        shown = ", ".join(f"{k}={v}" for k, v in runtime.proxies.items()) or "none set"
        lines.append(("its proxies", f"{shown} (from {runtime.proxy_source})"))
    lines += [("proxy differs", d) for d in runtime.proxy_differences]
    lines += [("note", n) for n in runtime.notes]
    lines += [("warning", w) for w in runtime.warnings]
    return lines


def _platform(report: Report) -> str:
    wanted = report.target.platform or "?"
    image = report.support.image_platform
    if image is None or image == wanted:
        return wanted
    return f"{wanted} requested; the image is {image}"


def _serves_blobs_itself(report: Report) -> bool:
    """Step 6 ran and found no redirect: there is no bucket or storage host to name."""
    step6 = next((s for s in report.steps if s.id is StepId.OSS_RESOLUTION), None)
    ran = step6 is not None and step6.status in (Status.PASS, Status.WARN)
    return ran and report.support.storage_endpoint is None


def _endpoint(s: Support) -> str:
    if not s.storage_endpoint:
        return "not learned"
    return f"{s.storage_endpoint} ({s.storage_endpoint_type or '?'})"


def environment_lines(report: Report) -> list[tuple[str, str]]:
    """What acrdiag used (resolver, trust, credentials, proxy per hop)."""
    env = report.environment
    lines = [
        ("resolver", env.resolver or "?"),
        ("trust", env.trust or "?"),
        ("credentials", env.credentials or "?"),
    ]
    return lines + [(f"proxy for {hop}", route) for hop, route in env.proxies.items()]


def verdict_text(report: Report) -> str:
    """The verdict in a few words: a failing step's own summary is shown with that step."""
    verdict = report.verdict
    several = sum(h.status != "not_tried" for h in report.hosts) > 1
    if verdict.failed_step is not None and not several:
        cause = verdict.cause.value if verdict.cause else "?"
        return f"step {verdict.failed_step_number} ({verdict.failed_step.value}), {cause}"
    return verdict.summary  # several hosts: the summary lists each one's failure


def next_steps(step: StepResult, limit: int = 8) -> list[str]:
    """What to do: the step's own hints (they name this run's hosts and values), then the
    catalogue's next steps for its cause, in the report's language."""
    found = list(step.hints)
    if step.explanation is not None:
        found += [s for s in step.explanation.next_steps if s not in found]
    return found[:limit]


def step_time(step: StepResult) -> str:
    return "" if step.status is Status.SKIPPED else f"{step.duration_s:.2f} s"


def attention(report: Report) -> list[StepResult]:
    """Steps a reader must look at: the failure and any warnings."""
    return [s for s in report.steps if s.status in (Status.FAIL, Status.WARN)]
