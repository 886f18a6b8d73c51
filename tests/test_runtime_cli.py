"""`acrdiag run --runtime ...`: the pull as the container runtime makes it, against the World."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acrdiag.env import Env
from acrdiag.reference import parse_reference
from acrdiag.runtime.view import runtime_view
from tests.support.world import PASSWORD, REGISTRY, World

DEAD_MIRROR = "https://dead-mirror.example"


def _containerd(tmp_path: Path, registry: str, hosts_toml: str) -> Path:
    """A containerd 2.x config.toml whose config_path holds ``hosts_toml`` for ``registry``."""
    certs = tmp_path / "certs.d"
    (certs / registry).mkdir(parents=True)
    (certs / registry / "hosts.toml").write_text(hosts_toml)
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n'
        f'  config_path = "{certs}"\n'
    )
    return config


def _run(world: World, config: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = world.run(
        world.ref("ns/app:1.0"), "--runtime", "containerd", "--runtime-config", str(config), *extra
    )
    return result.code, result.report


def _registry(world: World) -> str:
    return f"{REGISTRY}:{world.registry.port}"


def test_a_broken_mirror_is_a_warning_when_the_upstream_pulls(world: World, tmp_path: Path) -> None:
    world.healthy()
    hosts = f'server = "https://{_registry(world)}"\n[host."{DEAD_MIRROR}"]\n'
    code, report = _run(world, _containerd(tmp_path, _registry(world), hosts))

    assert code == 0
    assert report["verdict"]["status"] == "warn"
    assert report["verdict"]["cause"] == "mirror_failed"
    assert "dead-mirror.example" in report["verdict"]["summary"]
    mirror, upstream = report["hosts"]
    assert (mirror["role"], mirror["status"], mirror["cause"]) == ("mirror", "fail", "dns_nxdomain")
    assert mirror["failed_step"] == "reachability" and mirror["exit_code"] == 11
    assert upstream["decided"] and upstream["status"] == "ok"
    assert [s["status"] for s in report["steps"]] == ["pass"] * 7
    assert report["runtime"]["name"] == "containerd"
    assert str(tmp_path / "config.toml") in report["runtime"]["config_files"]


def test_the_text_report_names_the_broken_mirror_and_what_it_failed_at(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    hosts = f'server = "https://{_registry(world)}"\n[host."{DEAD_MIRROR}"]\n'
    config = _containerd(tmp_path, _registry(world), hosts)
    text = world.run(
        world.ref("ns/app:1.0"),
        "--runtime",
        "containerd",
        "--runtime-config",
        str(config),
        fmt="text",
    ).stdout
    assert "what the runtime sees" in text
    assert "✗ mirror" in text and "dead-mirror.example" in text
    assert "WARN: the pull works through" in text


def test_a_working_mirror_decides_and_gets_containerd_s_ns_and_headers(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    mirror = f"https://127.0.0.1:{world.registry.port}"
    hosts = (
        f'server = "https://{_registry(world)}"\n[host."{mirror}"]\n'
        f'[host."{mirror}".header]\n  X-Tenant = "ops"\n'
    )
    code, report = _run(world, _containerd(tmp_path, _registry(world), hosts))

    assert code == 0 and report["verdict"]["status"] == "ok"
    assert [h["status"] for h in report["hosts"]] == ["ok", "not_tried"]
    assert report["hosts"][0]["decided"]
    manifest_requests = [r for r in world.requests["registry"] if "/manifests/" in r.path]
    assert manifest_requests, "the mirror was asked for the manifest"
    assert all(r.args.get("ns") == _registry(world) for r in manifest_requests)
    assert all(r.headers.get("X-Tenant") == "ops" for r in world.requests["registry"])
    # The image is still named as the user gave it.
    assert report["target"]["registry"] == _registry(world)


def test_when_every_host_fails_the_upstream_s_failure_gives_the_exit_code(
    world: World, tmp_path: Path
) -> None:
    hosts = f'server = "https://{_registry(world)}"\n[host."{DEAD_MIRROR}"]\n'  # nothing served
    code, report = _run(world, _containerd(tmp_path, _registry(world), hosts))

    assert code == 15
    assert report["verdict"]["cause"] == "name_unknown"
    assert "all 2 hosts failed" in report["verdict"]["summary"]
    assert [h["cause"] for h in report["hosts"]] == ["dns_nxdomain", "name_unknown"]


def test_a_config_containerd_cannot_read_is_reported_never_a_crash(
    world: World, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("version = 3\n[plugins\nthis is not toml")
    code, report = _run(world, config)

    assert code == 11
    assert report["verdict"]["cause"] == "registry_blocked"
    assert any(str(config) in w for w in report["runtime"]["warnings"])
    assert not world.requests["registry"], "containerd would not start: nothing is sent"


def test_runtime_none_keeps_acrdiag_s_own_view(world: World, tmp_path: Path) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), "--runtime", "none")
    report = result.report
    assert result.code == 0
    assert report["runtime"] is None and report["hosts"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "kubernetes"], "--runtime"),
        (["--runtime-config", "/nonexistent/config.toml"], "no such file"),
        (["--runtime", "none", "--runtime-config", __file__], "--runtime none reads none"),
        (["--image-credential-provider-config", __file__], "go together"),
    ],
)
def test_bad_runtime_flags_are_one_line_errors(world: World, args: list[str], message: str) -> None:
    result = world.run(world.ref("ns/app:1.0"), *args)
    assert result.code == 2
    assert message in result.stderr


# -- the runtime's own environment, from a machine's /proc -----------------------------------


def _machine(tmp_path: Path, processes: dict[int, tuple[str, str, list[str]]]) -> Env:
    """An Env whose /proc holds ``processes``: pid -> (comm, environ, argv)."""
    proc = tmp_path / "proc"
    for pid, (comm, environ, argv) in processes.items():
        entry = proc / str(pid)
        entry.mkdir(parents=True)
        (entry / "comm").write_text(comm + "\n")
        (entry / "environ").write_bytes(environ.encode())
        (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    root = tmp_path / "root"
    (root / "run" / "containerd").mkdir(parents=True)
    (root / "run" / "containerd" / "containerd.sock").touch()
    etc = tmp_path / "etc"
    etc.mkdir()
    return Env(environ={"HTTPS_PROXY": "http://shell-proxy:3128"}, etc=etc, proc=proc, root=root)


def test_auto_finds_containerd_and_compares_its_proxy_with_the_shell_s(tmp_path: Path) -> None:
    env = _machine(tmp_path, {321: ("containerd", "PATH=/usr/bin\0", ["/usr/bin/containerd"])})
    view = runtime_view("auto", parse_reference("nginx"), env)

    assert view.info.name == "containerd"
    assert "process containerd" in view.info.chosen_because
    assert "/proc/321/environ" in (view.info.proxy_source or "")
    assert view.proxy_environ == {}
    assert view.info.shell_proxies == {"HTTPS_PROXY": "http://shell-proxy:3128"}
    assert view.info.proxy_differences == [
        "your shell sets HTTPS_PROXY=http://shell-proxy:3128, containerd does not: containerd "
        "reaches https hosts (registry, token service, storage) directly"
    ]


def test_a_kubelet_decides_which_runtime_pulls(tmp_path: Path) -> None:
    kubelet_argv = [
        "/usr/bin/kubelet",
        "--container-runtime-endpoint=unix:///var/run/crio/crio.sock",
        "--v=2",
    ]
    env = _machine(
        tmp_path,
        {
            100: ("containerd", "", ["/usr/bin/containerd"]),
            200: ("kubelet", "", kubelet_argv),
            300: ("crio", "HTTPS_PROXY=http://corp:3128\0", ["/usr/bin/crio"]),
        },
    )
    view = runtime_view("auto", parse_reference("nginx"), env)
    assert view.info.name == "crio"
    assert "kubelet (pid 200) pulls through crio" in view.info.chosen_because
    assert view.proxy_environ == {"HTTPS_PROXY": "http://corp:3128"}
    assert view.info.proxy_differences[0].startswith(
        "your shell sets HTTPS_PROXY=http://shell-proxy:3128, crio http://corp:3128"
    )


def test_the_daemon_s_own_config_flag_is_followed(tmp_path: Path) -> None:
    """k3s runs containerd with -c <its own config.toml>: that file, not /etc's, is read."""
    k3s = tmp_path / "k3s" / "config.toml"
    k3s.parent.mkdir()
    k3s.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n')
    argv = ["containerd", "-c", str(k3s), "--address", "/run/k3s/containerd/containerd.sock"]
    env = _machine(tmp_path, {55: ("containerd", "", argv)})
    view = runtime_view("auto", parse_reference("nginx"), env)
    assert str(k3s) in view.info.config_files


def test_password_of_a_runtime_proxy_never_reaches_the_report(tmp_path: Path) -> None:
    secret = "Pr0xy-Secret-99"
    env = _machine(
        tmp_path,
        {7: ("containerd", f"HTTPS_PROXY=http://ops:{secret}@corp:3128\0", ["containerd"])},
    )
    view = runtime_view("auto", parse_reference("nginx"), env)
    assert secret not in view.info.model_dump_json()
    assert PASSWORD not in view.info.model_dump_json()


# -- what the review of --runtime found ------------------------------------------------------


def test_a_host_url_the_runtime_cannot_use_fails_that_host_and_the_next_is_tried(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    hosts = f'server = "https://{_registry(world)}"\n[host."https://127.0.0.1:"]\n'
    code, report = _run(world, _containerd(tmp_path, _registry(world), hosts))
    assert code == 0
    assert report["verdict"]["cause"] == "mirror_failed"
    broken = report["hosts"][0]
    assert broken["cause"] == "registry_blocked" and "empty port" in broken["summary"]


def test_a_deadline_too_short_for_any_host_is_a_report_not_a_crash(
    world: World, tmp_path: Path
) -> None:
    hosts = f'server = "https://{_registry(world)}"\n[host."{DEAD_MIRROR}"]\n'
    config = _containerd(tmp_path, _registry(world), hosts)
    result = world.run(
        world.ref("ns/app:1.0"),
        "--runtime",
        "containerd",
        "--runtime-config",
        str(config),
        deadline=0.05,
    )
    code, report = result.code, result.report
    assert code == 11
    assert report["verdict"]["cause"] in ("dns_nxdomain", "deadline_exceeded")
    assert [h["status"] for h in report["hosts"]] == ["fail", "not_tried"]
    assert "1 not tried" in report["verdict"]["summary"]


def _registries_conf(tmp_path: Path, text: str) -> Path:
    conf = tmp_path / "registries.conf"
    conf.write_text(text)
    return conf


def test_a_short_name_is_pulled_from_podman_s_search_registry(world: World, tmp_path: Path) -> None:
    world.healthy()
    conf = _registries_conf(tmp_path, f'unqualified-search-registries = ["{_registry(world)}"]\n')
    result = world.run("ns/app:1.0", "--runtime", "podman", "--runtime-config", str(conf))
    assert result.code == 0, result.report["verdict"]
    assert result.report["target"]["normalized"] == f"{_registry(world)}/ns/app:1.0"
    assert any("/v2/ns/app/manifests/1.0" in r.path for r in world.requests["registry"])


def _authfile(tmp_path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    import base64

    auths = {
        host: {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}
        for host, (user, pw) in entries.items()
    }
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": auths}))
    return path


def test_podman_gives_a_mirror_its_own_credential_not_the_upstream_s(
    world: World, tmp_path: Path
) -> None:
    """containers/image: "we must not blindly send the credentials intended for the primary
    endpoint to mirrors"; the mirror's own entry is used there."""
    world.healthy()
    mirror = f"127.0.0.1:{world.registry.port}"
    conf = _registries_conf(
        tmp_path,
        f'[[registry]]\nlocation = "{_registry(world)}"\n'
        f'[[registry.mirror]]\nlocation = "{mirror}"\n',
    )
    authfile = _authfile(
        tmp_path, {mirror: ("puller", PASSWORD), _registry(world): ("puller", "wrong-password")}
    )
    result = world.run(
        world.ref("ns/app:1.0"),
        "--runtime",
        "podman",
        "--runtime-config",
        str(conf),
        "--authfile",
        str(authfile),
        user=None,
    )
    assert result.code == 0, result.report["verdict"]
    assert result.report["hosts"][0]["decided"]
    assert "wrong-password" not in result.stdout


def test_containerd_s_own_registry_credentials_are_used(world: World, tmp_path: Path) -> None:
    world.healthy()
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.configs'
        f'."{_registry(world)}".auth]\n  username = "puller"\n  password = "{PASSWORD}"\n'
    )
    result = world.run(
        world.ref("ns/app:1.0"),
        "--runtime",
        "containerd",
        "--runtime-config",
        str(config),
        user=None,
    )
    assert result.code == 0, result.report["verdict"]
    assert str(config) in (result.report["environment"]["credentials"] or "")
    assert PASSWORD not in result.stdout


def test_daemon_json_proxies_from_runtime_config_are_used(world: World, tmp_path: Path) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"proxies": {"https-proxy": "http://127.0.0.1:9"}}))
    result = world.run(
        world.ref("ns/app:1.0"), "--runtime", "docker", "--runtime-config", str(daemon)
    )
    assert result.code == 11
    assert result.report["verdict"]["cause"] == "proxy_unreachable"
    assert result.report["runtime"]["proxy_source"] == f"{daemon} proxies"


def test_the_systemd_unit_gives_the_proxy_when_the_daemon_s_environment_is_unreadable(
    tmp_path: Path,
) -> None:
    env = _machine(tmp_path, {})
    unit = env.root / "lib" / "systemd" / "system" / "containerd.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nEnvironment=HTTPS_PROXY=http://unit-proxy:3128\n")
    view = runtime_view("containerd", parse_reference("nginx"), env)
    assert view.proxy_environ == {"HTTPS_PROXY": "http://unit-proxy:3128"}
    assert "containerd.service" in (view.info.proxy_source or "")


def test_runtime_config_without_a_runtime_to_read_it_is_an_error(world: World) -> None:
    result = world.run(world.ref("ns/app:1.0"), "--runtime-config", __file__)
    assert result.code == 2
    assert "name the runtime with --runtime" in result.stderr
