"""The runtime's host order: the first host that pulls decides; broken mirrors are warnings."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from acrdiag.causes import Cause
from acrdiag.context import RunContext, RunOptions
from acrdiag.fallback import Attempt, PullPlan, diagnose_plan
from acrdiag.host_options import pull_plan
from acrdiag.model import RuntimeInfo, StepId
from acrdiag.net.cert_dirs import TlsFiles
from acrdiag.probes.base import StepFailed
from acrdiag.reference import parse_platform, parse_reference
from acrdiag.runtime.hosts import HostPlan, HostRole, PullHost
from acrdiag.runtime.view import RuntimeView
from acrdiag.steps import Step

INFO = RuntimeInfo(name="containerd", chosen_because="--runtime containerd")
MIRROR = PullHost("https://abc.mirror.aliyuncs.com", HostRole.MIRROR, "hosts.toml [host]")
UPSTREAM = PullHost("https://registry-1.docker.io", HostRole.UPSTREAM, "default")


def _base(**changes: object) -> RunOptions:
    options = RunOptions(
        reference=parse_reference("nginx:1.27"),
        platform=parse_platform("linux/amd64"),
        environ={},
        deadline=5.0,
    )
    return replace(options, **changes)  # type: ignore[arg-type]


def _steps(fail_on: dict[str, tuple[StepId, Cause]], seen: list[str]) -> tuple[Step, ...]:
    """Seven steps that pass, except at the hosts (by registry name) ``fail_on`` names."""

    def probe_for(step_id: StepId) -> Step:
        def probe(ctx: RunContext) -> str:
            registry = ctx.reference.registry
            if step_id is StepId.REACHABILITY:
                seen.append(registry)
            failing = fail_on.get(registry)
            if failing is not None and failing[0] is step_id:
                raise StepFailed(failing[1], f"{registry} broke at {step_id.value}")
            return f"{step_id.value} ok at {registry}"

        return Step(step_id, probe)

    return tuple(probe_for(step_id) for step_id in StepId)


def _plan(*hosts: PullHost, base: RunOptions | None = None) -> PullPlan:
    base = base or _base()
    view = RuntimeView(INFO, HostPlan(hosts=hosts))
    return pull_plan(base, view, lambda registry: TlsFiles())


def test_a_healthy_mirror_decides_and_the_upstream_is_not_tried() -> None:
    seen: list[str] = []
    report = diagnose_plan(_plan(MIRROR, UPSTREAM), _steps({}, seen))
    assert seen == ["abc.mirror.aliyuncs.com"]
    assert report.verdict.status == "ok" and report.verdict.exit_code == 0
    assert [h.status for h in report.hosts] == ["ok", "not_tried"]
    assert report.hosts[0].decided and report.hosts[0].role == "mirror"
    assert report.steps[0].summary == "reachability ok at abc.mirror.aliyuncs.com"
    # The report still names the image as the user gave it, not the mirror's view of it.
    assert report.target.normalized == "docker.io/library/nginx:1.27"


def test_a_broken_mirror_with_a_working_upstream_is_a_warning_naming_the_mirror() -> None:
    seen: list[str] = []
    fail = {"abc.mirror.aliyuncs.com": (StepId.REACHABILITY, Cause.DNS_NXDOMAIN)}
    report = diagnose_plan(_plan(MIRROR, UPSTREAM), _steps(fail, seen))
    assert seen == ["abc.mirror.aliyuncs.com", "docker.io"]
    assert report.verdict.status == "warn"
    assert report.verdict.exit_code == 0
    assert report.verdict.cause is Cause.MIRROR_FAILED
    assert "abc.mirror.aliyuncs.com" in report.verdict.summary
    assert "step 1 (reachability): dns_nxdomain" in report.verdict.summary
    mirror, upstream = report.hosts
    assert (mirror.status, mirror.cause, mirror.exit_code) == ("fail", Cause.DNS_NXDOMAIN, 11)
    assert upstream.decided and upstream.status == "ok"
    # Top-level steps are the upstream's: readers of `steps` see the path that pulled.
    assert report.steps[0].summary == "reachability ok at docker.io"


def test_when_every_host_fails_the_last_one_gives_the_exit_code_and_all_are_listed() -> None:
    fail = {
        "abc.mirror.aliyuncs.com": (StepId.BLOB_FETCH, Cause.ACCESS_DENIED),
        "docker.io": (StepId.MANIFEST, Cause.RATE_LIMITED),
    }
    report = diagnose_plan(_plan(MIRROR, UPSTREAM), _steps(fail, []))
    assert report.verdict.status == "fail"
    assert report.verdict.exit_code == 15
    assert report.verdict.cause is Cause.RATE_LIMITED
    assert "all 2 hosts failed" in report.verdict.summary
    assert "access_denied" in report.verdict.summary and "rate_limited" in report.verdict.summary
    assert [h.exit_code for h in report.hosts] == [17, 15]
    assert report.hosts[1].decided


def test_a_single_upstream_reads_as_before() -> None:
    report = diagnose_plan(
        _plan(UPSTREAM), _steps({"docker.io": (StepId.MANIFEST, Cause.DENIED)}, [])
    )
    assert report.verdict.summary.startswith("step 5 (manifest) failed")
    assert report.verdict.exit_code == 15


def test_a_blocked_registry_is_refused_before_any_request() -> None:
    seen: list[str] = []
    base = _base()
    plan = PullPlan(INFO, [Attempt(UPSTREAM, base)], blocked="registries.conf blocks docker.io")
    report = diagnose_plan(plan, _steps({}, seen))
    assert seen == []
    assert report.verdict.cause is Cause.REGISTRY_BLOCKED
    assert report.verdict.exit_code == 11
    assert "registries.conf blocks docker.io" in report.steps[0].summary


def test_hosts_share_the_run_s_deadline() -> None:
    """A mirror that eats the deadline leaves the upstream "not tried", and the run ends
    on time: the user's --deadline is for the whole run, not per host."""

    def slow(ctx: RunContext) -> str:
        time.sleep(0.4)
        raise StepFailed(Cause.TCP_TIMEOUT, "no answer")

    steps = (Step(StepId.REACHABILITY, slow), *_steps({}, [])[1:])
    started = time.monotonic()
    report = diagnose_plan(_plan(MIRROR, UPSTREAM, base=_base(deadline=0.42)), steps)
    assert time.monotonic() - started < 1.0
    assert [h.status for h in report.hosts] == ["fail", "not_tried"]
    assert report.verdict.exit_code == 11


def test_hosts_toml_settings_reach_the_mirror_only() -> None:
    mirror = replace(
        MIRROR,
        url="https://harbor.corp.example:8443/proxy/dockerhub",
        override_path=True,
        skip_verify=True,
        namespace="docker.io",
        headers=(("X-Tenant", "ops"),),
        ca=(Path("/etc/containerd/certs.d/docker.io/harbor-ca.crt"),),
    )
    plan = _plan(mirror, UPSTREAM)
    at_mirror, at_upstream = (a.options for a in plan.attempts)
    assert at_mirror.reference.registry == "harbor.corp.example:8443"
    assert at_mirror.reference.repository == "library/nginx"
    assert at_mirror.api_path == "/proxy/dockerhub"  # override_path: no /v2 appended
    assert at_mirror.insecure and at_mirror.namespace == "docker.io"
    assert at_mirror.headers == (("X-Tenant", "ops"),)
    assert Path("/etc/containerd/certs.d/docker.io/harbor-ca.crt") in at_mirror.tls_files.cas
    assert at_upstream.reference.registry == "docker.io"
    assert at_upstream.api_path == "/v2"
    assert not at_upstream.insecure and at_upstream.namespace is None and not at_upstream.headers
    settings = plan.attempts[0].settings
    assert any("override_path" in s for s in settings) and "header X-Tenant" in settings


def test_a_mirror_path_without_override_path_gets_v2_appended() -> None:
    mirror = replace(MIRROR, url="https://mirror.corp.example/dockerhub/")
    options = _plan(mirror).attempts[0].options
    assert options.api_path == "/dockerhub/v2"


@pytest.mark.parametrize(
    ("shell", "runtime", "expected"),
    [
        ({"HTTPS_PROXY": "http://shell:3128"}, {}, {}),
        ({}, {"HTTPS_PROXY": "http://corp:3128"}, {"HTTPS_PROXY": "http://corp:3128"}),
        (
            {"https_proxy": "http://shell:1"},
            {"HTTPS_PROXY": "http://rt:2"},
            {"HTTPS_PROXY": "http://rt:2"},
        ),
    ],
)
def test_the_runtime_s_proxy_variables_replace_the_shell_s(
    shell: dict[str, str], runtime: dict[str, str], expected: dict[str, str]
) -> None:
    base = _base(environ={"HOME": "/root", **shell})
    view = RuntimeView(INFO, HostPlan(hosts=(UPSTREAM,)), proxy_environ=runtime)
    environ = pull_plan(base, view, lambda r: TlsFiles()).attempts[0].options.environ
    assert {k: v for k, v in environ.items() if "proxy" in k.lower()} == expected
    assert environ["HOME"] == "/root"


def test_proxy_flags_win_over_the_runtime_s_environment() -> None:
    base = _base(environ={"HTTPS_PROXY": "http://shell:3128"}, proxy="")
    view = RuntimeView(
        INFO, HostPlan(hosts=(UPSTREAM,)), proxy_environ={"HTTPS_PROXY": "http://rt:1"}
    )
    environ = pull_plan(base, view, lambda r: TlsFiles()).attempts[0].options.environ
    assert environ == {"HTTPS_PROXY": "http://shell:3128"}  # --no-proxy decides, not either
