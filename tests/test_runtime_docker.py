"""docker's daemon.json as dockerd reads it: mirrors, insecure registries, proxies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from acrdiag.runtime.docker_daemon import (
    DaemonConfig,
    docker_plan,
    is_insecure,
    read_daemon_config,
    validate_mirror,
)
from acrdiag.runtime.hosts import HostRole

SAMPLES = Path(__file__).parent / "data" / "runtime" / "docker"


def _etc(tmp_path: Path, sample: str = "daemon.json") -> Path:
    etc = tmp_path / "etc"
    (etc / "docker").mkdir(parents=True)
    shutil.copy(SAMPLES / sample, etc / "docker" / "daemon.json")
    return etc


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "daemon.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_sample_is_read_as_dockerd_normalizes_it(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    config = read_daemon_config(etc)
    assert config.file == str(etc / "docker" / "daemon.json")
    # ValidateMirror adds one trailing "/"; loadMirrors drops the duplicate, keeping the order.
    assert config.mirrors == (
        "https://abcd1234.mirror.aliyuncs.com/",
        "https://docker.m.daocloud.io/",
    )
    assert config.insecure_registries == (
        "harbor.corp.example:5000",
        "10.20.0.0/16",
        "::1/128",
        "127.0.0.0/8",
    )
    assert config.proxies == {
        "HTTP_PROXY": "http://proxy.corp.example:3128",
        "HTTPS_PROXY": "http://alice:s3cret@proxy.corp.example:3128",
        "NO_PROXY": "localhost,127.0.0.1,.aliyuncs.com",
    }
    assert config.warnings == ()  # log-opts, exec-opts and the rest are dockerd's own keys


def test_docker_hub_tries_mirrors_in_order_then_registry_1(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path))
    plan = docker_plan(config, "docker.io")
    assert [h.url for h in plan.hosts] == [
        "https://abcd1234.mirror.aliyuncs.com",
        "https://docker.m.daocloud.io",
        "https://registry-1.docker.io",
    ]
    assert [h.role for h in plan.hosts] == [HostRole.MIRROR, HostRole.MIRROR, HostRole.UPSTREAM]
    assert plan.hosts[0].origin == f"{config.file} registry-mirrors[0]"
    assert plan.hosts[1].origin == f"{config.file} registry-mirrors[1]"
    assert plan.hosts[2].origin == "default"
    assert not any(h.insecure or h.skip_verify for h in plan.hosts)
    assert plan.files == (config.file,)
    assert plan.extra["proxies"] == config.proxies


def test_proxy_password_is_not_shown_in_notes(tmp_path: Path) -> None:
    plan = docker_plan(read_daemon_config(_etc(tmp_path)), "docker.io")
    text = " ".join(plan.notes)
    assert "HTTPS_PROXY=" in text
    assert "proxy.corp.example:3128" in text
    assert "s3cret" not in text


def test_mirrors_do_not_apply_to_other_registries(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path))
    plan = docker_plan(config, "shop-registry.cn-hangzhou.cr.aliyuncs.com")
    assert [h.url for h in plan.hosts] == ["https://shop-registry.cn-hangzhou.cr.aliyuncs.com"]
    assert not plan.hosts[0].insecure
    assert any("only to Docker Hub" in n for n in plan.notes)


def test_insecure_registry_by_name(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path))
    plan = docker_plan(config, "harbor.corp.example:5000")
    (host,) = plan.hosts
    assert host.url == "https://harbor.corp.example:5000"
    assert host.insecure and host.skip_verify
    assert any("plain http" in n for n in plan.notes)
    # isSecureIndex matches host[:port] exactly: another port is a different registry.
    assert not is_insecure(config, "harbor.corp.example")
    assert not is_insecure(config, "harbor.corp.example:5001")


def test_insecure_cidr_needs_the_resolved_addresses(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path))
    assert not is_insecure(config, "registry.corp.example")
    plan = docker_plan(config, "registry.corp.example")
    assert not plan.hosts[0].insecure
    assert any("10.20.0.0/16" in n and "not checked" in n for n in plan.notes)
    assert is_insecure(config, "registry.corp.example", ["192.0.2.1", "10.20.3.4"])
    assert not is_insecure(config, "registry.corp.example", ["10.21.0.1"])
    plan = docker_plan(config, "registry.corp.example", ["10.20.3.4"])
    assert plan.hosts[0].insecure
    assert not any("not checked" in n for n in plan.notes)
    # An IP literal needs no resolution; an IPv4-mapped IPv6 address is unmapped first.
    assert is_insecure(config, "10.20.9.9:5000")
    assert is_insecure(config, "registry.corp.example", ["::ffff:10.20.1.1"])


def test_no_cidr_note_without_user_cidrs() -> None:
    plan = docker_plan(DaemonConfig(), "registry.corp.example")
    assert plan.notes == ()
    assert plan.files == ()


def test_loopback_is_insecure_by_default() -> None:
    config = read_daemon_config(Path("/nonexistent-acrdiag-etc"))
    assert config.file is None and config.warnings == ()
    assert is_insecure(config, "127.0.0.1:5000")
    assert is_insecure(config, "[::1]:5000")
    assert is_insecure(config, "localhost:5000", ["127.0.0.1"])
    assert not is_insecure(config, "localhost:5000")  # not resolved: cannot match a CIDR
    assert not is_insecure(config, "192.168.1.10:5000")


def test_docker_hub_cannot_be_made_insecure(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"insecure-registries": ["docker.io", "index.docker.io"]}')
    config = read_daemon_config(path=path)
    assert not is_insecure(config, "docker.io")
    plan = docker_plan(config, "docker.io")
    assert not plan.hosts[-1].insecure
    assert any("cannot make Docker Hub insecure" in n for n in plan.notes)


def test_mirror_tls_follows_insecure_registries_without_http_fallback(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '{"registry-mirrors": ["https://10.20.1.5:5000", "http://mirror.lan", '
        '"https://mirror.example.com/dockerhub/"], "insecure-registries": ["10.20.0.0/16"]}',
    )
    plan = docker_plan(read_daemon_config(path=path), "docker.io")
    tls_off, plain, with_path, upstream = plan.hosts
    assert tls_off.url == "https://10.20.1.5:5000"
    assert tls_off.skip_verify and not tls_off.insecure  # mirrors get no http retry
    assert plain.url == "http://mirror.lan" and not plain.skip_verify
    assert any("plain http" in n and "mirror.lan" in n for n in plan.notes)
    assert with_path.url == "https://mirror.example.com/dockerhub"
    assert any("25.0" in n for n in plan.notes)
    assert upstream.url == "https://registry-1.docker.io"


@pytest.mark.parametrize(
    ("mirror", "normalized"),
    [
        ("http://mirror-1.example.com", "http://mirror-1.example.com/"),
        ("https://mirror-1.example.com/", "https://mirror-1.example.com/"),
        ("https://localhost:5000", "https://localhost:5000/"),
        ("https://127.0.0.1", "https://127.0.0.1/"),
        ("https://mirror-1.example.com/v1/", "https://mirror-1.example.com/v1/"),
        ("https://[2001:db8::1]:5000", "https://[2001:db8::1]:5000/"),
    ],
)
def test_validate_mirror_accepts_what_moby_accepts(mirror: str, normalized: str) -> None:
    assert validate_mirror(mirror) == (normalized, None)


@pytest.mark.parametrize(
    ("mirror", "problem"),
    [
        ("mirror-1.example.com", "no scheme"),
        ("mirror-1.example.com:5000", "no scheme"),
        ("ftp://mirror-1.example.com", "unsupported scheme"),
        ("!invalid!://%as%", "scheme"),
        ("http://mirror-1.example.com/?q=foo", "query or fragment"),
        ("https://mirror-1.example.com#frag", "query or fragment"),
        ("https://mirror-1.example.com?q", "query or fragment"),
        ("http://foo:bar@mirror-1.example.com/", "username/password"),
        ("https://mirror.example.com:abc", "invalid port"),
        ("https://mirror .example.com", "space"),
        ("https://", "no host"),
    ],
)
def test_validate_mirror_rejects_what_moby_rejects(mirror: str, problem: str) -> None:
    normalized, why = validate_mirror(mirror)
    assert normalized is None
    assert why is not None and problem in why


def test_invalid_mirror_stops_dockerd_and_is_named(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path, "daemon-no-scheme.json"))
    assert config.mirrors == ()
    (mirror_warning,) = [w for w in config.warnings if "registry-mirrors[0]" in w]
    assert "abcd1234.mirror.aliyuncs.com" in mirror_warning
    assert "no scheme" in mirror_warning and "refuses to start" in mirror_warning
    # An http:// prefix on an insecure registry is removed (a warning), not fatal.
    assert config.insecure_registries[0] == "harbor.corp.example"
    assert any("removes 'http://'" in w for w in config.warnings)


def test_password_in_invalid_mirror_is_not_repeated(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"registry-mirrors": ["https://bob:hunter22@mirror.example.com"]}')
    config = read_daemon_config(path=path)
    assert config.mirrors == ()
    assert any("username/password" in w for w in config.warnings)
    assert not any("hunter22" in w for w in config.warnings)


def test_misspelt_keys_are_reported(tmp_path: Path) -> None:
    config = read_daemon_config(_etc(tmp_path, "daemon-typo.json"))
    assert config.mirrors == ()
    text = "\n".join(config.warnings)
    assert "'registry-mirror' (did you mean 'registry-mirrors'?)" in text
    assert "'insecure_registries' (did you mean 'insecure-registries'?)" in text


@pytest.mark.parametrize(
    ("entry", "accepted"),
    [
        ("harbor.corp.example:5000", True),
        ("10.0.0.0/8", True),
        ("10.1.2.3/8", True),  # masked, as netip.Prefix.Masked does
        ("fd00::/8", True),
        ("[fd00::1]:5000", True),
        ("10.0.0.1", True),  # a name, not a CIDR: matches only that exact host
        ("-bad.example", False),
        ("bad.example-", False),
        ("ftp://harbor.corp.example", False),
        ("harbor.corp.example:99999", False),
        ("harbor.corp.example:abc", False),
        ("not a host", False),
        ("10.0.0.0/33", False),
    ],
)
def test_insecure_registry_entries(tmp_path: Path, entry: str, accepted: bool) -> None:
    path = _write(tmp_path, json.dumps({"insecure-registries": [entry]}))
    config = read_daemon_config(path=path)
    assert (entry in config.insecure_registries) == accepted
    assert (config.warnings == ()) == accepted
    if not accepted:
        assert str(path) in config.warnings[0]


def test_an_address_that_is_a_name_matches_only_itself(tmp_path: Path) -> None:
    config = read_daemon_config(path=_write(tmp_path, '{"insecure-registries": ["10.0.0.1"]}'))
    assert is_insecure(config, "10.0.0.1")
    assert not is_insecure(config, "10.0.0.2")


def test_byte_order_marks_and_empty_files_are_accepted(tmp_path: Path) -> None:
    text = '{"registry-mirrors": ["https://abcd1234.mirror.aliyuncs.com"]}'
    for raw in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        config = read_daemon_config(path=_write(tmp_path, raw))
        assert config.mirrors == ("https://abcd1234.mirror.aliyuncs.com/",), raw[:4]
        assert config.warnings == ()
    config = read_daemon_config(path=_write(tmp_path, " \n"))
    assert config.warnings == () and config.mirrors == ()


def test_missing_config_file_given_with_config_file_flag(tmp_path: Path) -> None:
    config = read_daemon_config(path=tmp_path / "nope.json")
    assert config.file is None
    assert len(config.warnings) == 1
    assert str(tmp_path / "nope.json") in config.warnings[0]
    assert "refuses to start" in config.warnings[0]


MALFORMED = [
    "{",
    "[]",
    "null",
    '"registry-mirrors"',
    "{'registry-mirrors': []}",
    '{"registry-mirrors": "https://abcd1234.mirror.aliyuncs.com"}',
    '{"registry-mirrors": [1, 2]}',
    '{"registry-mirrors": [null]}',
    '{"registry-mirrors": {"a": 1}}',
    '{"insecure-registries": 5}',
    '{"insecure-registries": [["10.0.0.0/8"]]}',
    '{"proxies": null}',
    '{"proxies": "http://proxy:3128"}',
    '{"proxies": {"http-proxy": 3128}}',
    '{"proxies": {"httpProxy": "http://proxy:3128"}}',
    '{"registry-mirrors": [NaN]}',
    '{"registry-mirrors": ["' + "https://m" * 10 + '?q"]}',
    "[" * 100_000 + "]" * 100_000,
    '{"registry-mirrors": [' + ",".join(['"x"'] * 5000) + "]}",
    '{"insecure-registries": ["10.0.0.0/' + "9" * 5000 + '"]}',
    '{"insecure-registries": ["h:' + "9" * 5000 + '"]}',
]


@pytest.mark.parametrize("content", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_files_give_a_warning_naming_the_file(tmp_path: Path, content: str) -> None:
    path = _write(tmp_path, content)
    config = read_daemon_config(path=path)
    assert config.warnings, content[:60]
    assert all(str(path) in w for w in config.warnings)
    assert len(" ".join(config.warnings)) < 20_000  # bounded, even for huge input
    plan = docker_plan(config, "docker.io")
    assert plan.hosts[-1].url == "https://registry-1.docker.io"
    assert plan.warnings == config.warnings


def test_binary_and_oversized_files(tmp_path: Path) -> None:
    for raw in (b"\xff\xfe\x00\xd8", b"\x80\x81{}", b" " * (2 << 20)):
        path = _write(tmp_path, raw)
        config = read_daemon_config(path=path)
        assert any(str(path) in w for w in config.warnings), raw[:8]


def test_unreadable_path_is_a_warning(tmp_path: Path) -> None:
    config = read_daemon_config(path=tmp_path)  # a directory
    assert config.file == str(tmp_path)
    assert config.warnings and str(tmp_path) in config.warnings[0]
