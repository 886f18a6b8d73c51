"""The runtime daemon's proxy environment: a real process's /proc/PID/environ, else the
systemd unit with its drop-ins and environment files, parsed as systemd parses them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from acrdiag.runtime.process_env import (
    PROXY_NAMES,
    find_pids,
    process_environment,
    runtime_environment,
    unit_environment,
)

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
PROXY = "http://proxy.corp:3128"
DOCKER_UNIT = """\
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
# the default is not to use systemd for cgroups because the delegate issues still
# exists and systemd currently does not support the cgroup feature set required
# for containers run by docker
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
RestartSec=2
Restart=always

[Install]
WantedBy=multi-user.target
"""
DOCKER_PROXY_DROPIN = """\
[Service]
Environment="HTTP_PROXY=http://proxy.example.com:3128"
Environment="HTTPS_PROXY=https://proxy.example.com:3129"
Environment="NO_PROXY=localhost,127.0.0.1,docker-registry.example.com,.corp"
"""
CONTAINERD_UNIT = """\
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
EnvironmentFile=-/etc/default/containerd
Environment=HTTPS_PROXY=http://inline.example:1 NO_PROXY=inline
Type=notify
Delegate=yes
KillMode=process
Restart=always

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for directory in (
        "etc/systemd/system",
        "run/systemd/system",
        "lib/systemd/system",
        "etc/default",
    ):
        (tmp_path / directory).mkdir(parents=True)
    return tmp_path


def _unit(root: Path, unit: str = "docker.service") -> tuple[dict[str, str], list[str], list[str]]:
    return unit_environment(unit, root / "etc", (root / "lib/systemd/system",), root / "run")


def _runtime(root: Path, names: list[str], unit: str, proc: Path = Path("/proc")):  # type: ignore[no-untyped-def]
    return runtime_environment(
        names,
        unit,
        proc=proc,
        etc=root / "etc",
        lib_dirs=(root / "lib/systemd/system",),
        run=root / "run",
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the running daemon ---------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real process named like a daemon (comm is the name it was executed as), with a
    proxy and a secret-looking variable in an environment that is not the test's."""
    name = f"ctrd{os.getpid() % 100000}"
    link = tmp_path / name
    link.symlink_to(sys.executable)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HTTPS_PROXY": PROXY,
        "no_proxy": "localhost,.svc",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    process = subprocess.Popen([str(link), "-c", "import time; time.sleep(30)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{process.pid}/comm").read_text().strip() != name:
            assert time.monotonic() < deadline, "the child never exec'd"
            time.sleep(0.01)
        yield process, name
    finally:
        process.kill()
        process.wait()


def test_the_daemons_own_environment_is_read_and_only_proxies_kept(
    daemon: tuple[subprocess.Popen[bytes], str], root: Path
) -> None:
    process, name = daemon
    assert process.pid in find_pids([name])

    values = process_environment(process.pid)
    assert values == {"HTTPS_PROXY": PROXY, "no_proxy": "localhost,.svc"}

    found = _runtime(root, [name], "containerd.service")
    assert found.pid == process.pid
    assert found.values == {"HTTPS_PROXY": PROXY, "no_proxy": "localhost,.svc"}
    assert found.source == f"/proc/{process.pid}/environ ({name})"
    assert "AWS_SECRET_ACCESS_KEY" not in found.values
    assert SECRET not in repr(found) and PROXY not in repr(found)
    assert found.warnings == ()  # no unit file: nothing to compare, nothing to warn about


def test_find_pids_by_comm_as_containerd(tmp_path: Path) -> None:
    link = tmp_path / "containerd"
    link.symlink_to(sys.executable)
    process = subprocess.Popen([str(link), "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while process.pid not in find_pids(["containerd"]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert find_pids(["containerd"]) == sorted(find_pids(["containerd"]))
    finally:
        process.kill()
        process.wait()


def test_a_running_daemon_that_differs_from_its_unit_is_named(
    daemon: tuple[subprocess.Popen[bytes], str], root: Path
) -> None:
    process, name = daemon
    _write(root / "lib/systemd/system/containerd.service", CONTAINERD_UNIT)
    found = _runtime(root, [name], "containerd.service")
    assert found.pid == process.pid
    assert any(
        "HTTPS_PROXY, NO_PROXY, no_proxy differ from what containerd.service" in w
        for w in found.warnings
    )
    assert all(PROXY not in w and "inline.example" not in w for w in found.warnings)


def test_unreadable_environ_falls_back_to_the_unit(root: Path) -> None:
    assert process_environment(2**22 + 7) is None  # above pid_max: no such process
    proc = root / "proc"
    _write(proc / "4242/comm", "containerd\n")  # a daemon whose environ cannot be read
    _write(root / "lib/systemd/system/containerd.service", CONTAINERD_UNIT)
    _write(root / "etc/default/containerd", f"HTTPS_PROXY={PROXY}\n")

    found = _runtime(root, ["containerd"], "containerd.service", proc=proc)

    assert found.pid is None
    assert found.values == {"HTTPS_PROXY": PROXY, "NO_PROXY": "inline"}
    assert found.source == (
        f"systemd unit {root}/lib/systemd/system/containerd.service"
        f" + EnvironmentFile {root}/etc/default/containerd"
    )
    assert found.warnings[0].startswith(f"{proc}/4242/environ cannot be read")


def test_nothing_anywhere(root: Path) -> None:
    found = _runtime(root, ["containerd"], "containerd.service", proc=root / "no-proc")
    assert (found.values, found.source, found.pid, found.warnings) == ({}, "none found", None, ())
    _, files, warnings = _unit(root, "containerd.service")
    assert files == [] and "no unit file containerd.service" in warnings[0]


# --- systemd units ----------------------------------------------------------------------


def test_docker_http_proxy_dropin(root: Path) -> None:
    """Docker's documented shape: /etc/systemd/system/docker.service.d/http-proxy.conf."""
    unit = _write(root / "lib/systemd/system/docker.service", DOCKER_UNIT)
    dropin = _write(
        root / "etc/systemd/system/docker.service.d/http-proxy.conf", DOCKER_PROXY_DROPIN
    )
    values, files, warnings = _unit(root)
    assert values == {
        "HTTP_PROXY": "http://proxy.example.com:3128",
        "HTTPS_PROXY": "https://proxy.example.com:3129",
        "NO_PROXY": "localhost,127.0.0.1,docker-registry.example.com,.corp",
    }
    assert files == [str(unit), str(dropin)] and warnings == []
    found = _runtime(root, ["dockerd"], "docker.service", proc=root / "no-proc")
    assert found.source == f"systemd unit {unit} + drop-ins {dropin}"


def test_containerd_environment_file_overrides_environment(root: Path) -> None:
    _write(root / "lib/systemd/system/containerd.service", CONTAINERD_UNIT)
    _write(
        root / "etc/default/containerd",
        "# proxies for containerd\n"
        'HTTP_PROXY="http://proxy.corp:3128"\n'
        "  HTTPS_PROXY = http://proxy.corp:3129   \n"
        "no_proxy='localhost,127.0.0.1,\n.svc'\n"
        "export ALL_PROXY=socks5://ignored:1080\n"
        "all_proxy=a\\\n"
        "b # not a comment\n"
        "; a comment\n"
        f"AWS_SECRET_ACCESS_KEY={SECRET}\n"
        'http_proxy="say \\"hi\\" \\$HOME \\q"\n',
    )
    values, _, warnings = _unit(root, "containerd.service")
    assert values == {
        "HTTP_PROXY": "http://proxy.corp:3128",
        "HTTPS_PROXY": "http://proxy.corp:3129",  # EnvironmentFile= wins over Environment=
        "NO_PROXY": "inline",
        "http_proxy": 'say "hi" $HOME \\q',
        "no_proxy": "localhost,127.0.0.1,\n.svc",
        "all_proxy": "ab # not a comment",
    }
    assert warnings == [f"{root}/etc/default/containerd:6: not a valid assignment (ignored)"]
    assert all(SECRET not in w for w in warnings)


def test_environment_files_missing_optional_required_and_globs(root: Path) -> None:
    _write(
        root / "lib/systemd/system/k3s.service",
        "[Service]\n"
        "EnvironmentFile=-/etc/default/%N\n"
        "EnvironmentFile=-/etc/sysconfig/%N\n"
        "EnvironmentFile=/etc/k3s/*.env\n"
        "EnvironmentFile=/etc/required-but-missing\n"
        "EnvironmentFile=relative/path\n",
    )
    _write(root / "etc/default/k3s", "HTTP_PROXY=http://a:1\n")
    _write(root / "etc/k3s/20-b.env", "HTTPS_PROXY=http://b:2\n")
    _write(root / "etc/k3s/10-a.env", "HTTPS_PROXY=http://a:2\nNO_PROXY=x\n")
    values, files, warnings = _unit(root, "k3s.service")
    assert values == {"HTTP_PROXY": "http://a:1", "HTTPS_PROXY": "http://b:2", "NO_PROXY": "x"}
    assert files[1:] == [
        str(root / "etc/default/k3s"),
        str(root / "etc/k3s/10-a.env"),
        str(root / "etc/k3s/20-b.env"),
    ]
    assert any("EnvironmentFile= is not an absolute path" in w for w in warnings)
    assert any(
        f"{root}/etc/required-but-missing does not exist: systemd fails" in w for w in warnings
    )


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            'Environment="HTTP_PROXY=http://a:1 b" NO_PROXY=c',
            {"HTTP_PROXY": "http://a:1 b", "NO_PROXY": "c"},
        ),
        ("Environment=HTTP_PROXY=http://a HTTP_PROXY=http://b", {"HTTP_PROXY": "http://b"}),
        (
            "Environment=HTTP_PROXY=http://a\nEnvironment=\nEnvironment=NO_PROXY=x",
            {"NO_PROXY": "x"},
        ),
        ('Environment=NO_PROXY="a b"c', {"NO_PROXY": "a bc"}),  # quotes anywhere in a word
        (
            "Environment='HTTPS_PROXY=http://q' no_proxy=\\x41\\s\\u00e9",
            {"HTTPS_PROXY": "http://q", "no_proxy": "A é"},
        ),
        (
            "Environment=HTTP_PROXY=http://u:p%%40ss@proxy:1 NO_PROXY=%N.local",
            {"HTTP_PROXY": "http://u:p%40ss@proxy:1", "NO_PROXY": "docker.local"},
        ),
        ("Environment=HTTP_PROXY=ok NO_PROXY=bad\\q HTTPS_PROXY=lost", {"HTTP_PROXY": "ok"}),
        ('Environment=HTTP_PROXY=ok "NO_PROXY=unbalanced', {"HTTP_PROXY": "ok"}),
        (
            "Environment=HTTP_PROXY=http://a \\\n# a comment inside\n  NO_PROXY=b",
            {"HTTP_PROXY": "http://a", "NO_PROXY": "b"},
        ),
        (
            "Environment=HTTP_PROXY=a\\\\\nEnvironment=NO_PROXY=b",
            {"HTTP_PROXY": "a\\", "NO_PROXY": "b"},
        ),
        (
            "Environment=HTTP_PROXY=a NO_PROXY=b\nUnsetEnvironment=NO_PROXY HTTP_PROXY=other",
            {"HTTP_PROXY": "a"},
        ),
        (
            "Environment=HTTP_PROXY=a\nUnsetEnvironment=HTTP_PROXY\nUnsetEnvironment=",
            {"HTTP_PROXY": "a"},
        ),
        ("Environment=1BAD=x HTTP_PROXY=y =z novalue", {"HTTP_PROXY": "y"}),
        (f"Environment=AWS_SECRET_ACCESS_KEY={SECRET} HTTP_PROXY=y", {"HTTP_PROXY": "y"}),
    ],
)
def test_environment_assignments(root: Path, lines: str, expected: dict[str, str]) -> None:
    _write(root / "lib/systemd/system/docker.service", f"[Service]\n{lines}\n")
    values, _, warnings = _unit(root)
    assert values == expected
    assert all(SECRET not in w for w in warnings)


def test_warnings_name_the_line_not_the_value(root: Path) -> None:
    _write(
        root / "lib/systemd/system/docker.service",
        f"[Service]\nEnvironment=X={SECRET}\\q\nEnvironment=NO_PROXY=%H\nthis line has no equals\n",
    )
    _, _, warnings = _unit(root)
    path = root / "lib/systemd/system/docker.service"
    assert warnings == [
        f"{path}:2: an invalid escape; the rest of the line is ignored",
        f"{path}:3: specifier %H is not expanded by acrdiag",
        f"{path}:4: a line without '=' (systemd ignores it)",
    ]


def test_only_the_service_section_counts(root: Path) -> None:
    _write(
        root / "lib/systemd/system/docker.service",
        "[Unit]\nEnvironment=HTTP_PROXY=unit\n[Install]\nEnvironment=NO_PROXY=install\n"
        "[Service]\nEnvironment=HTTPS_PROXY=service\n[X-Custom]\nEnvironment=no_proxy=x\n",
    )
    assert _unit(root)[0] == {"HTTPS_PROXY": "service"}


def test_unit_search_order_and_dropin_precedence(root: Path) -> None:
    _write(root / "lib/systemd/system/docker.service", "[Service]\nEnvironment=HTTP_PROXY=lib\n")
    etc_unit = _write(
        root / "etc/systemd/system/docker.service", "[Service]\nEnvironment=NO_PROXY=etc\n"
    )
    lib_d, etc_d, run_d = (
        root / d / "docker.service.d"
        for d in ("lib/systemd/system", "etc/systemd/system", "run/systemd/system")
    )
    _write(lib_d / "10-proxy.conf", "[Service]\nEnvironment=HTTP_PROXY=lib-10 HTTPS_PROXY=lib-10\n")
    _write(etc_d / "10-proxy.conf", "[Service]\nEnvironment=HTTP_PROXY=etc-10\n")  # hides lib's
    _write(run_d / "10-proxy.conf", "[Service]\nEnvironment=HTTP_PROXY=run-10\n")  # hidden by etc's
    _write(run_d / "20-later.conf", "[Service]\nEnvironment=no_proxy=run-20\n")
    _write(lib_d / "05-first.conf", "[Service]\nEnvironment=no_proxy=lib-05 all_proxy=lib-05\n")
    _write(lib_d / "README", "[Service]\nEnvironment=ALL_PROXY=not-a-conf\n")
    _write(
        root / "lib/systemd/system/service.d/00-all.conf", "[Service]\nEnvironment=ALL_PROXY=all\n"
    )
    values, files, _ = _unit(root)
    assert values == {
        "HTTP_PROXY": "etc-10",
        "NO_PROXY": "etc",  # the /etc unit file replaces the /lib one entirely
        "ALL_PROXY": "all",
        "no_proxy": "run-20",
        "all_proxy": "lib-05",
    }
    assert files == [
        str(etc_unit),
        str(root / "lib/systemd/system/service.d/00-all.conf"),
        str(lib_d / "05-first.conf"),
        str(etc_d / "10-proxy.conf"),
        str(run_d / "20-later.conf"),
    ]


def test_dash_prefix_dropins(root: Path) -> None:
    _write(root / "lib/systemd/system/a-b-c.service", "[Service]\n")
    _write(
        root / "etc/systemd/system/a-.service.d/x.conf", "[Service]\nEnvironment=HTTP_PROXY=a-\n"
    )
    _write(
        root / "etc/systemd/system/a-b-.service.d/x.conf",
        "[Service]\nEnvironment=HTTP_PROXY=a-b-\n",
    )
    _write(root / "etc/systemd/system/a-.service.d/y.conf", "[Service]\nEnvironment=NO_PROXY=a-\n")
    assert _unit(root, "a-b-c.service")[0] == {"HTTP_PROXY": "a-b-", "NO_PROXY": "a-"}


def test_a_masked_unit(root: Path) -> None:
    _write(root / "lib/systemd/system/docker.service", "[Service]\nEnvironment=HTTP_PROXY=x\n")
    (root / "etc/systemd/system/docker.service").symlink_to(os.devnull)
    values, _, warnings = _unit(root)
    assert values == {} and "docker.service is masked" in warnings[0]
    found = _runtime(root, ["dockerd"], "docker.service", proc=root / "no-proc")
    assert found.source.endswith("docker.service (masked)")


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\xfe garbage \x80\x81\n[Service\nEnvironment=HTTP_PROXY=\xff\n",
        b"[Service]\n" + b"Environment=HTTP_PROXY=" + b"x" * (2 * 1024 * 1024) + b"\n",
        b'[Service]\nEnvironment="\n\\',
        b"[Service]\nEnvironment=HTTP_PROXY=a\\",
        b'[Service]\nEnvironmentFile=/etc/default/bad\nUnsetEnvironment="unbalanced\n',
    ],
)
def test_malformed_files_warn_and_never_raise(root: Path, content: bytes) -> None:
    (root / "lib/systemd/system/docker.service").write_bytes(content)
    (root / "etc/default/bad").write_bytes(b"\xff\xfeHTTP_PROXY='unterminated\n")
    (root / "etc/systemd/system/docker.service.d").write_text("a file where a directory belongs")
    values, _, _ = _unit(root)
    assert set(values) <= set(PROXY_NAMES)


def test_an_unreadable_unit_file(root: Path) -> None:
    (root / "etc/systemd/system/docker.service").mkdir()  # exists, but cannot be read
    values, _, warnings = _unit(root)
    assert values == {} and "cannot be read" in warnings[0]
