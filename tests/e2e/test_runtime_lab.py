"""The pull as containerd makes it, against real servers: a pull-through cache registry as the
mirror (an ACR accelerator's name), the lab registry as the upstream, and a running process
standing in for containerd whose environment differs from the shell's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.lab import Lab
from tests.e2e.test_scenarios import assert_failed_at, diagnose

pytestmark = pytest.mark.lab


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path


def containerd_config(lab: Lab, directory: Path) -> Path:
    """A containerd 2.x config.toml whose hosts.toml sends the lab registry's pulls through
    the mirror first, trusting the lab CA for both hosts."""
    certs = directory / "certs.d"
    hosts_dir = certs / lab.registry_host
    hosts_dir.mkdir(parents=True)
    (hosts_dir / "hosts.toml").write_text(
        f'server = "https://{lab.registry_host}"\n'
        f'ca = "{lab.ca_file}"\n\n'
        f'[host."https://{lab.mirror_host}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
        f'  ca = "{lab.ca_file}"\n'
    )
    config = directory / "config.toml"
    config.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n'
        f'  config_path = "{certs}"\n'
    )
    config.parent.chmod(0o755)
    return config


def _containerd(lab: Lab, out_dir: Path) -> tuple[str, ...]:
    config = containerd_config(lab, out_dir / "containerd")
    return ("--runtime", "containerd", "--runtime-config", str(config))


def test_a_healthy_mirror_is_the_host_the_pull_uses(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=_containerd(lab, out_dir))
    assert run.returncode == 0, run
    assert run.verdict["status"] == "ok"
    report = run.report
    assert report is not None
    mirror, upstream = report["hosts"]
    assert mirror["url"] == f"https://{lab.mirror_host}" and mirror["decided"]
    assert mirror["status"] == "ok" and upstream["status"] == "not_tried"
    # The steps shown are the mirror's: it serves the blobs itself (no storage redirect).
    assert [s["status"] for s in run.steps] == ["pass"] * 7
    assert run.step("oss_resolution")["evidence"].get("redirect") in (None, {})
    assert lab.mirror_host in run.step("reachability")["summary"]


@pytest.mark.parametrize("fault", ["stopped", "not in DNS"])
def test_a_broken_mirror_shows_its_failing_step_and_the_upstream_that_worked(
    lab: Lab, out_dir: Path, fault: str
) -> None:
    breaking = lab.stop_server("mirror") if fault == "stopped" else lab.dns_without(lab.mirror_host)
    with breaking:
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=_containerd(lab, out_dir))
    assert run.returncode == 0, run
    assert run.verdict["status"] == "warn"
    assert run.verdict["cause"] == "mirror_failed"
    assert lab.mirror_host in run.verdict["summary"]
    report = run.report
    assert report is not None
    mirror, upstream = report["hosts"]
    expected = "tcp_refused" if fault == "stopped" else "dns_nxdomain"
    assert (mirror["status"], mirror["failed_step"], mirror["cause"]) == (
        "fail",
        "reachability",
        expected,
    )
    assert upstream["decided"] and upstream["status"] == "ok"
    # The top-level steps are the upstream's: the ACR registry and its OSS redirect.
    assert run.support["instance_id"] == lab.instance_id
    assert run.support["bucket"] == lab.bucket


def test_the_runtime_s_proxy_is_used_not_the_shell_s(lab: Lab, out_dir: Path) -> None:
    """containerd was started with HTTPS_PROXY set to a dead proxy; the shell has none. The pull
    fails as containerd's would, and the report says the two differ."""
    with lab.spawn_daemon("containerd", {"HTTPS_PROXY": lab.dead_proxy, "PATH": "/usr/bin"}) as pid:
        run = diagnose(
            lab,
            out_dir,
            lab.ref("ns/app:1.0"),
            extra=("--runtime", "containerd", "--blob", "smallest"),
        )
    assert_failed_at(run, "reachability", "proxy_unreachable")
    report = run.report
    assert report is not None
    runtime = report["runtime"]
    assert runtime["proxy_source"].startswith(f"/proc/{pid}/environ")
    assert runtime["proxies"] == {"HTTPS_PROXY": lab.dead_proxy}
    assert runtime["shell_proxies"] == {}
    assert runtime["proxy_differences"] == [
        f"your shell does not set HTTPS_PROXY, containerd sets {lab.dead_proxy}: containerd "
        f"sends https requests through {lab.dead_proxy}"
    ]
