"""containerd's view of a pull: the hosts its CRI plugin tries for a registry, in its order,
from config.toml and the hosts.toml files of config_path (samples in tests/data)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from acrdiag.runtime.containerd import containerd_plan, containerd_registry_auth
from acrdiag.runtime.hosts import PULL, PUSH, RESOLVE, HostPlan, HostRole

SAMPLES = Path(__file__).parent / "data" / "runtime" / "containerd"
ALIYUN = "https://xxxx.mirror.aliyuncs.com"
HARBOR = "https://harbor.example.com/v2/dockerhub-proxy"
LAB = "https://mirror.lab.example:8443"
HUB = "https://registry-1.docker.io"


def _etc(tmp_path: Path, config: str | None = "config-v3.toml") -> Path:
    """An /etc with containerd's config.toml (one of the samples) and the certs.d samples."""
    etc = tmp_path / "etc"
    shutil.copytree(SAMPLES / "certs.d", etc / "containerd" / "certs.d")
    shutil.copytree(SAMPLES / "certs", etc / "containerd" / "certs")
    if config is not None:
        shutil.copy(SAMPLES / config, etc / "containerd" / "config.toml")
    return etc


def _config(etc: Path, text: str) -> Path:
    path = etc / "containerd" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _urls(plan: HostPlan) -> list[str]:
    return [host.url for host in plan.hosts]


def _hub_hosts(etc: Path) -> Path:
    return etc / "containerd" / "certs.d" / "docker.io" / "hosts.toml"


# -- hosts.toml: order, capabilities, paths ----------------------------------------------


@pytest.mark.parametrize("config", ["config-v3.toml", "config-v2.toml"])
def test_a_tag_goes_to_the_mirrors_that_may_resolve_then_the_server(
    tmp_path: Path, config: str
) -> None:
    plan = containerd_plan("docker.io", is_digest=False, etc=_etc(tmp_path, config))

    assert _urls(plan) == [ALIYUN, LAB, HUB]
    assert plan.warnings == ()
    assert plan.blocked is None
    hosts_toml = str(_hub_hosts(tmp_path / "etc"))
    assert plan.files == (str(tmp_path / "etc/containerd/config.toml"), hosts_toml)
    assert plan.hosts[0].origin == f'{hosts_toml} [host."{ALIYUN}"]'
    assert plan.hosts[-1].origin == f"{hosts_toml} server"
    # The pull-only Harbor cache is named as skipped, and still serves content by digest.
    assert any("skipped for a tag" in note and HARBOR in note for note in plan.notes)
    assert HARBOR in [host.url for host in plan.extra["content_hosts"]]  # type: ignore[attr-defined]


def test_a_digest_goes_to_every_host_that_may_pull_in_file_order(tmp_path: Path) -> None:
    plan = containerd_plan("docker.io", is_digest=True, etc=_etc(tmp_path))

    assert _urls(plan) == [ALIYUN, HARBOR, LAB, HUB]
    assert not any("skipped" in note for note in plan.notes)


def test_mirrors_get_the_registry_as_ns_and_docker_hub_itself_does_not(tmp_path: Path) -> None:
    hosts = containerd_plan("docker.io", is_digest=True, etc=_etc(tmp_path)).hosts

    assert [(h.role, h.namespace) for h in hosts] == [
        (HostRole.MIRROR, "docker.io"),
        (HostRole.MIRROR, "docker.io"),
        (HostRole.MIRROR, "docker.io"),
        (HostRole.UPSTREAM, None),
    ]
    # Listed capabilities are kept; the server's are all of them when the file names none.
    assert hosts[0].capabilities == {PULL, RESOLVE}
    assert hosts[1].capabilities == {PULL}
    assert hosts[3].capabilities == {PULL, RESOLVE, PUSH}


def test_override_path_keeps_the_path_as_the_api_root_with_its_header(tmp_path: Path) -> None:
    harbor = containerd_plan("docker.io", is_digest=True, etc=_etc(tmp_path)).hosts[1]

    assert harbor.url == HARBOR
    assert harbor.override_path is True
    assert harbor.headers == (("X-Harbor-Project", "dockerhub-proxy"),)


def test_a_path_without_override_gets_v2_after_it(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text('[host."https://nexus.example.com/repository/hub"]\n')

    mirror = containerd_plan("docker.io", is_digest=True, etc=etc).hosts[0]

    # containerd asks https://nexus.example.com/repository/hub/v2/<repository>/...
    assert (mirror.url, mirror.override_path) == ("https://nexus.example.com/repository/hub", False)


def test_skip_verify_ca_and_client_files_are_relative_to_the_hosts_toml(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    lab = containerd_plan("docker.io", is_digest=True, etc=etc).hosts[2]
    directory = _hub_hosts(etc).parent

    assert lab.url == LAB
    assert lab.skip_verify is True
    assert lab.insecure is False  # https: no plain-http fallback
    assert lab.ca == (directory / "mirror-ca.pem",)
    assert lab.client == (directory / "client.cert", directory / "client.key")


def test_a_missing_ca_file_fails_every_pull_of_the_registry(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    (_hub_hosts(etc).parent / "mirror-ca.pem").unlink()

    plan = containerd_plan("docker.io", is_digest=True, etc=etc)

    assert plan.hosts == ()
    assert plan.blocked is not None and "mirror-ca.pem" in plan.blocked
    assert any("mirror-ca.pem" in warning for warning in plan.warnings)


def test_a_port_is_looked_up_as_host_port_underscore_and_http_with_tls_tries_https(
    tmp_path: Path,
) -> None:
    plan = containerd_plan("registry.example.com:5000", is_digest=False, etc=_etc(tmp_path))

    assert _urls(plan) == ["https://registry.example.com:5000", "http://registry.example.com:5000"]
    first, server = plan.hosts
    assert "registry.example.com_5000_" in first.origin
    assert (first.skip_verify, first.insecure) == (True, True)  # unverified TLS, then http
    assert (server.skip_verify, server.insecure) == (False, False)  # plain http only
    assert plan.extra["http_fallback"] == ("https://registry.example.com:5000",)
    assert first.namespace is None and server.namespace is None


def test_a_host_colon_port_directory_is_read_when_there_is_no_underscore_one(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path)
    certs = etc / "containerd" / "certs.d"
    shutil.rmtree(certs / "registry.example.com_5000_")
    (certs / "registry.example.com:5000").mkdir()
    (certs / "registry.example.com:5000" / "hosts.toml").write_text(
        'server = "https://registry.example.com:5000"\n'
    )

    plan = containerd_plan("registry.example.com:5000", is_digest=False, etc=etc)

    assert _urls(plan) == ["https://registry.example.com:5000"]
    assert "registry.example.com:5000/hosts.toml server" in plan.hosts[0].origin


def test_a_registry_without_a_directory_uses_default_then_itself(tmp_path: Path) -> None:
    plan = containerd_plan("quay.io", is_digest=False, etc=_etc(tmp_path))

    assert _urls(plan) == ["https://cache.corp.example", "https://quay.io"]
    cache, quay = plan.hosts
    assert "_default/hosts.toml" in cache.origin
    assert cache.namespace == "quay.io"
    assert cache.headers == (("X-Cache-Tenant", "build"), ("X-Cache-Tenant", "prod"))
    assert quay.role is HostRole.UPSTREAM and quay.headers == ()


def test_a_directory_without_hosts_toml_means_its_certificates_not_default(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path)
    plan = containerd_plan("harbor.internal", is_digest=False, etc=etc)
    directory = etc / "containerd" / "certs.d" / "harbor.internal"

    assert _urls(plan) == ["https://harbor.internal"]
    assert plan.hosts[0].ca == (directory / "ca.crt",)
    assert plan.hosts[0].client == (directory / "client.cert", directory / "client.key")


def test_hosts_may_be_declared_without_a_scheme_or_with_a_list_of_cas(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    directory = _hub_hosts(etc).parent
    _hub_hosts(etc).write_text(
        '[host."mirror.internal:5000"]\n'
        'ca = ["mirror-ca.pem", "/etc/containerd/certs/lab-ca.pem"]\n'
        'client = "client.cert"\n'
    )

    mirror, hub = containerd_plan("docker.io", is_digest=True, etc=etc).hosts

    assert mirror.url == "https://mirror.internal:5000"
    assert mirror.ca == (directory / "mirror-ca.pem", etc / "containerd/certs/lab-ca.pem")
    assert mirror.client == (directory / "client.cert", None)
    assert hub.url == HUB and "no server" in hub.origin


def test_a_host_that_may_resolve_but_not_pull_is_skipped_for_a_tag(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text('[host."https://resolver.internal"]\ncapabilities = ["resolve"]\n')

    tag = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(tag) == [HUB]  # filterHosts needs every capability: pull and resolve
    assert any("https://resolver.internal" in note for note in tag.notes)


def test_top_level_capabilities_without_a_server_do_not_limit_the_registry(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text('capabilities = ["pull"]\nskip_verify = true\n')

    hub = containerd_plan("docker.io", is_digest=False, etc=etc).hosts

    # hosts.go gives the defaulted server every capability but keeps its TLS settings.
    assert [(h.url, h.capabilities, h.skip_verify) for h in hub] == [
        (HUB, {PULL, RESOLVE, PUSH}, True)
    ]


def test_a_host_entry_without_a_host_name_is_skipped_with_a_warning(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text('[host."https:///v2"]\n[host."https://mirror.internal"]\n')

    plan = containerd_plan("docker.io", is_digest=True, etc=etc)

    assert _urls(plan) == ["https://mirror.internal", HUB]
    assert any('[host."https:///v2"]' in warning for warning in plan.warnings)


def test_keys_containerd_ignores_are_named(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text(
        '[host."https://mirror.internal"]\nusername = "robot"\nserver = "https://x"\n'
    )

    plan = containerd_plan("docker.io", is_digest=True, etc=etc)

    assert _urls(plan) == ["https://mirror.internal", HUB]
    assert any("'server', 'username'" in note for note in plan.notes)
    assert not any("robot" in text for text in plan.notes + plan.warnings)


# -- config.toml: where config_path comes from -------------------------------------------


def test_without_config_toml_containerd_goes_to_the_registry_itself(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()

    hub = containerd_plan("docker.io", is_digest=False, etc=etc)
    local = containerd_plan("localhost:5000", is_digest=False, etc=etc)

    assert _urls(hub) == [HUB]
    assert hub.hosts[0].origin == "default"
    assert hub.warnings == () and hub.files == () and hub.blocked is None
    # localhost: TLS without verification first, then plain http (hosts.go).
    assert _urls(local) == ["https://localhost:5000"]
    assert (local.hosts[0].skip_verify, local.hosts[0].insecure) == (True, True)


def test_the_default_two_directory_config_path_is_ignored_by_the_transfer_service(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path, config=None)  # certs.d/docker.io/hosts.toml, no config.toml

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [HUB]
    assert any("containerd#12808" in w and str(_hub_hosts(etc).parent) in w for w in plan.warnings)


def test_a_two_directory_config_path_is_searched_in_order_by_a_local_pull(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path, config=None)
    docker_dir = etc / "docker" / "certs.d" / "ghcr.io"
    docker_dir.mkdir(parents=True)
    (docker_dir / "hosts.toml").write_text('[host."https://ghcr-cache.example"]\n')
    shutil.rmtree(etc / "containerd" / "certs.d" / "_default")
    text = (SAMPLES / "config-v3.toml").read_text()
    text = text.replace(
        "'/etc/containerd/certs.d'", "'/etc/containerd/certs.d:/etc/docker/certs.d'"
    )
    _config(etc, text.replace("use_local_image_pull = false", "use_local_image_pull = true"))

    ghcr = containerd_plan("ghcr.io", is_digest=False, etc=etc)
    hub = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(ghcr) == ["https://ghcr-cache.example", "https://ghcr.io"]
    assert _urls(hub) == [ALIYUN, LAB, HUB]
    assert ghcr.warnings == () and hub.warnings == ()


def test_a_version_2_file_without_config_path_reads_no_hosts_directory(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    text = (SAMPLES / "config-v2.toml").read_text()
    _config(etc, text.replace('config_path = "/etc/containerd/certs.d"', ""))

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [HUB]
    assert plan.hosts[0].capabilities == {PULL, RESOLVE}  # 1.x's endpoint hosts never push


def test_inline_mirrors_are_tried_in_order_then_docker_hub(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "config-legacy.toml")

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [ALIYUN, LAB, HUB]  # "mirror.lab.example:8443" gets https
    lab = plan.hosts[1]
    assert lab.skip_verify is True
    assert lab.ca == (etc / "containerd/certs/lab-ca.pem",)
    assert lab.client == (etc / "containerd/certs/node.cert", etc / "containerd/certs/node.key")
    assert plan.hosts[0].namespace == "docker.io" and plan.hosts[2].namespace is None
    assert plan.hosts[2].origin == "default"
    assert 'registry.mirrors."docker.io".endpoint[0]' in plan.hosts[0].origin


def test_an_inline_mirror_naming_the_registry_itself_adds_no_default(tmp_path: Path) -> None:
    plan = containerd_plan(
        "registry.example.com:5000", is_digest=False, etc=_etc(tmp_path, "config-legacy.toml")
    )

    assert _urls(plan) == ["http://registry.example.com:5000"]
    assert plan.hosts[0].insecure is False  # no https attempt in this mode


def test_mirrors_beside_config_path_stop_the_cri_plugin(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    text = (SAMPLES / "config-legacy.toml").read_text()
    text = text.replace(
        '[plugins."io.containerd.grpc.v1.cri".registry]\n',
        '[plugins."io.containerd.grpc.v1.cri".registry]\n'
        '      config_path = "/etc/containerd/certs.d"\n',
    )
    _config(etc, text)

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert plan.hosts == ()
    assert plan.blocked is not None and "config_path" in plan.blocked
    assert any("CRI plugin does not load" in warning for warning in plan.warnings)


# -- credentials --------------------------------------------------------------------------


def test_inline_credentials_are_found_by_the_host_containerd_contacts(tmp_path: Path) -> None:
    etc = _etc(tmp_path, "config-legacy.toml")

    hub = containerd_registry_auth("registry-1.docker.io", etc=etc)
    private = containerd_registry_auth("registry.example.com:5000", etc=etc)

    assert hub is not None and hub[:3] == ("robot-puller", "hub-s3cret-pw", None)
    assert hub[3].endswith('registry.configs."registry-1.docker.io".auth')
    assert private is not None and private[:3] == ("ci", "token-secret", None)
    assert containerd_registry_auth("quay.io", etc=etc) is None


def test_credentials_under_docker_io_are_reported_unused_without_quoting_them(
    tmp_path: Path,
) -> None:
    plan = containerd_plan("docker.io", is_digest=False, etc=_etc(tmp_path, "config-legacy.toml"))

    assert any("for docker.io are never used" in note for note in plan.notes)
    text = repr((plan.notes, plan.warnings, [h.origin for h in plan.hosts]))
    for secret in ("hub-s3cret-pw", "never-used-pw", "token-secret", "Y2k6dG9rZW4tc2VjcmV0"):
        assert secret not in text


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('identitytoken = "refresh-tok"', (None, None, "refresh-tok")),
        ('auth = "dXNlcjpwYXNz"\nidentitytoken = "tok"', (None, None, "tok")),
        ('auth = "dXNlcjpwYXNz"\nusername = "u"', ("u", None, None)),
        ('auth = "bm9jb2xvbg=="', (None, None, None)),  # "nocolon": containerd fails
        ('auth = "%%%"', (None, None, None)),
        ("", (None, None, None)),  # an empty table: anonymous
    ],
)
def test_other_inline_credential_shapes(
    tmp_path: Path, table: str, expected: tuple[str | None, ...]
) -> None:
    etc = tmp_path / "etc"
    _config(
        etc,
        'version = 3\n[plugins."io.containerd.cri.v1.images".registry.configs."r.io".auth]\n'
        + table,
    )

    found = containerd_registry_auth("r.io", etc=etc)

    assert found is not None and found[:3] == expected
    assert ("not base64" in found[3]) == (table.startswith("auth") and "\n" not in table)
    assert "%%%" not in found[3] and "bm9jb2xvbg" not in found[3]


# -- files containerd cannot use ----------------------------------------------------------


def test_a_rejected_hosts_toml_means_the_registry_itself_and_a_warning(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    text = _hub_hosts(etc).read_text().replace('["pull"]', '["pull", "reslove"]')
    _hub_hosts(etc).write_text(text)

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    # The directory's *.crt/*.cert files would apply; docker.io's holds a .pem and a .cert.
    assert _urls(plan) == [HUB]
    assert any(str(_hub_hosts(etc)) in w and "reslove" in w for w in plan.warnings)
    assert plan.blocked is None


HOSTS_TOML_VARIANTS = [
    "server = [",  # not TOML
    'server = "a"\nserver = "b"',  # duplicate key
    "server = 5",
    "capabilities = 'pull'",
    "capabilities = ['pull', 5]",
    "skip_verify = 'true'",
    "override_path = 1",
    "ca = 5",
    "ca = ['a', 1]",
    "client = [['only-one']]",
    "client = {cert = 'a'}",
    "header = 'x'",
    "[header]\nx = 5",
    "dial_timeout = 'soon'",
    "host = 'x'",
    "host = ['x']",
    "[[host.'https://m']]",
    "[host.'https://m:port']",
    '[host."https://m\\u0007x"]',  # a control character
    "[" * 5000,
    "x = " + "[" * 100_000,  # nested deeper than the parser recurses
]


@pytest.mark.parametrize("text", HOSTS_TOML_VARIANTS)
def test_a_malformed_hosts_toml_is_a_warning_never_an_exception(tmp_path: Path, text: str) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text(text)

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [HUB]
    assert any(str(_hub_hosts(etc)) in warning for warning in plan.warnings)


CONFIG_TOML_VARIANTS = [
    "version = 3\n[plugins",
    "version = 'three'",
    "version = 4",
    "version = 3\nplugins = 5",
    "version = 3\n[plugins]\n'io.containerd.cri.v1.images' = 'x'",
    "version = 3\n[plugins.'io.containerd.cri.v1.images']\nregistry = []",
    "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = 5",
    "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry]\nmirrors = 'x'",
    "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry.mirrors.'docker.io']\n"
    "endpoint = 'x'",
    "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry.mirrors.'docker.io']\n"
    "endpoint = ['https://m:port']",
    "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry.headers]\nX = 'not-a-list'",
    "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry.configs.'registry-1.docker.io'"
    ".tls]\ncert_file = '/nowhere.crt'",
    "\x00\x01",
]


@pytest.mark.parametrize("text", CONFIG_TOML_VARIANTS)
def test_a_config_toml_containerd_cannot_use_is_a_warning_never_an_exception(
    tmp_path: Path, text: str
) -> None:
    etc = _etc(tmp_path)
    path = _config(etc, text)

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert plan.hosts == ()
    assert plan.blocked is not None
    assert any(str(path) in warning for warning in plan.warnings)
    assert containerd_registry_auth("docker.io", etc=etc) is None


def test_a_hosts_toml_that_is_not_utf_8_is_rejected(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_bytes(b'[host."https://m\xff"]\n')

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [HUB]
    assert any(str(_hub_hosts(etc)) in warning for warning in plan.warnings)


def test_a_fifo_in_place_of_hosts_toml_does_not_hang(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).unlink()
    os.mkfifo(_hub_hosts(etc))

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert _urls(plan) == [HUB]
    assert any("not a regular file" in warning for warning in plan.warnings)


def test_a_host_that_may_do_nothing_for_a_tag_leaves_a_note_that_the_pull_fails(
    tmp_path: Path,
) -> None:
    etc = _etc(tmp_path)
    _hub_hosts(etc).write_text('server = "https://registry-1.docker.io"\ncapabilities = ["pull"]\n')

    plan = containerd_plan("docker.io", is_digest=False, etc=etc)

    assert plan.hosts == ()
    assert any("containerd fails the pull" in note for note in plan.notes)
