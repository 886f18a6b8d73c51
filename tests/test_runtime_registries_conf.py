"""containers-registries.conf(5) as containers/image reads it (podman, CRI-O)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acrdiag.runtime.hosts import HostRole
from acrdiag.runtime.registries_conf import (
    RegistriesConf,
    containers_plan,
    find_registry,
    read_registries_conf,
)

SAMPLES = Path(__file__).parent / "data" / "runtime" / "containers"
DIGEST = "sha256:" + "4b7ce07002c69e8f3d704a9c5d6fd3053be500b7f1c69fc0d80990c2ad8dd412"
ACR = "shop-registry.cn-hangzhou.cr.aliyuncs.com"


def _etc(tmp_path: Path, *, dropins: bool = False) -> Path:
    """An /etc with the sample registries.conf, and its drop-ins if asked."""
    etc = tmp_path / "etc"
    (etc / "containers").mkdir(parents=True)
    shutil.copy(SAMPLES / "registries.conf", etc / "containers" / "registries.conf")
    if dropins:
        shutil.copytree(SAMPLES / "registries.conf.d", etc / "containers" / "registries.conf.d")
    return etc


def _conf(tmp_path: Path, text: str, name: str = "registries.conf") -> tuple[Path, Path]:
    etc = tmp_path / "etc"
    (etc / "containers").mkdir(parents=True, exist_ok=True)
    path = etc / "containers" / name
    path.write_text(text, encoding="utf-8")
    return etc, path


def _urls(conf: RegistriesConf, image: str, *, is_digest: bool = False) -> list[str]:
    return [h.url for h in containers_plan(conf, image, is_digest=is_digest).hosts]


def test_sample_main_file(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    conf = read_registries_conf(etc)
    main = str(etc / "containers" / "registries.conf")
    assert conf.files == (main,)
    assert conf.warnings == () and conf.errors == ()
    assert conf.unqualified_search_registries == ("registry.cn-hangzhou.aliyuncs.com", "docker.io")
    assert conf.search_origin == main
    assert conf.short_name_mode == "enforcing"
    # Sorted by prefix, as postProcessRegistries leaves them.
    assert [r.prefix for r in conf.registries] == [
        "docker.io",
        "harbor.corp.example:5000",
        "quay.io",
        "registry.example.com/team",
    ]


def test_tag_pull_skips_digest_only_mirror(tmp_path: Path) -> None:
    conf = read_registries_conf(_etc(tmp_path))
    plan = containers_plan(conf, "docker.io/library/nginx:1.25", is_digest=False)
    assert [h.url for h in plan.hosts] == [
        "https://abcd1234.mirror.aliyuncs.com",
        "https://registry-1.docker.io",
    ]
    assert [h.role for h in plan.hosts] == [HostRole.MIRROR, HostRole.UPSTREAM]
    assert plan.hosts[0].origin.endswith("[[registry]] prefix='docker.io' mirror[0]")
    assert plan.hosts[0].repository is None  # same repository as the image
    assert any("registry-vpc" in n and "digest-only" in n for n in plan.notes)
    assert plan.blocked is None and plan.image is None


def test_digest_pull_uses_every_mirror_then_upstream(tmp_path: Path) -> None:
    conf = read_registries_conf(_etc(tmp_path))
    plan = containers_plan(conf, f"docker.io/library/nginx@{DIGEST}", is_digest=True)
    assert [(h.url, h.repository) for h in plan.hosts] == [
        ("https://abcd1234.mirror.aliyuncs.com", None),
        ("https://registry-vpc.cn-hangzhou.aliyuncs.com", "dockerhub-cache/library/nginx"),
        ("https://registry-1.docker.io", None),
    ]
    assert plan.hosts[1].origin.endswith("mirror[1]")


def test_mirror_by_digest_only_and_tag_only(tmp_path: Path) -> None:
    etc, _ = _conf(
        tmp_path,
        """
[[registry]]
location = "ghcr.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "ghcr-cache.corp.example"

[[registry]]
location = "registry.k8s.io"
[[registry.mirror]]
location = "k8s-tags.corp.example"
pull-from-mirror = "tag-only"
""",
    )
    conf = read_registries_conf(etc)
    assert _urls(conf, "ghcr.io/org/app:v1") == ["https://ghcr.io"]
    assert _urls(conf, f"ghcr.io/org/app@{DIGEST}", is_digest=True) == [
        "https://ghcr-cache.corp.example",
        "https://ghcr.io",
    ]
    assert _urls(conf, "registry.k8s.io/pause:3.9") == [
        "https://k8s-tags.corp.example",
        "https://registry.k8s.io",
    ]
    assert _urls(conf, f"registry.k8s.io/pause@{DIGEST}", is_digest=True) == [
        "https://registry.k8s.io"
    ]


def test_prefix_remaps_to_another_location(tmp_path: Path) -> None:
    conf = read_registries_conf(_etc(tmp_path))
    plan = containers_plan(conf, "registry.example.com/team/app:v1", is_digest=False)
    (host,) = plan.hosts
    assert host.url == f"https://{ACR}"
    assert host.repository == "team-mirror/app"
    assert host.role is HostRole.UPSTREAM
    assert "prefix='registry.example.com/team'" in host.origin
    # Outside the prefix (another namespace, or a longer name sharing its text): no remap.
    assert _urls(conf, "registry.example.com/other/app") == ["https://registry.example.com"]
    assert _urls(conf, "registry.example.com/teamx/app") == ["https://registry.example.com"]


def test_blocked_registry_is_refused(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    plan = containers_plan(
        read_registries_conf(etc), "quay.io/prometheus/node-exporter", is_digest=False
    )
    assert plan.hosts == ()
    assert (
        plan.blocked == f"registry quay.io is blocked in {etc / 'containers' / 'registries.conf'}"
    )


def test_blocked_upstream_with_mirror_pulls_from_the_mirror(tmp_path: Path) -> None:
    # newDockerClient checks "blocked" for each source's own name: a mirror outside the
    # blocked prefix is still used, which is how mirror-only setups are written.
    etc, _ = _conf(
        tmp_path,
        """
[[registry]]
location = "docker.io"
blocked = true
[[registry.mirror]]
location = "abcd1234.mirror.aliyuncs.com"
""",
    )
    plan = containers_plan(read_registries_conf(etc), "nginx", is_digest=False)
    assert plan.blocked is not None  # a short name without search registries
    plan = containers_plan(read_registries_conf(etc), "docker.io/library/nginx", is_digest=False)
    assert [h.url for h in plan.hosts] == ["https://abcd1234.mirror.aliyuncs.com"]
    assert plan.blocked is None
    assert any("docker.io/library/nginx:latest is not tried" in n for n in plan.notes)


def test_insecure_registry_and_mirror(tmp_path: Path) -> None:
    conf = read_registries_conf(_etc(tmp_path, dropins=True))
    (host,) = containers_plan(conf, "harbor.corp.example:5000/ops/tool", is_digest=False).hosts
    assert host.insecure and host.skip_verify
    mirror, upstream = containers_plan(conf, "docker.io/library/redis", is_digest=False).hosts
    assert mirror.url == "https://dockerhub.corp.example" and mirror.insecure
    assert not upstream.insecure


def test_dropin_replaces_registry_with_same_prefix(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    conf = read_registries_conf(etc)
    dropin = str(etc / "containers" / "registries.conf.d" / "50-corp-mirror.conf")
    shortnames = str(etc / "containers" / "registries.conf.d" / "000-shortnames.conf")
    # Lexical order; README.txt is not a .conf file.
    assert conf.files[1:] == (shortnames, dropin)
    (docker,) = [r for r in conf.registries if r.prefix == "docker.io"]
    assert docker.file == dropin
    assert [m.location for m in docker.mirrors] == ["dockerhub.corp.example"]
    plan = containers_plan(conf, f"docker.io/library/nginx@{DIGEST}", is_digest=True)
    assert [h.url for h in plan.hosts] == [
        "https://dockerhub.corp.example",
        "https://registry-1.docker.io",
    ]
    assert plan.hosts[0].origin == f"{dropin} [[registry]] prefix='docker.io' mirror[0]"
    # What the drop-in does not set stays from the main file.
    assert conf.short_name_mode == "enforcing"
    assert len(conf.unqualified_search_registries) == 2


def test_short_name_alias_wins(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    conf = read_registries_conf(etc)
    dropin = etc / "containers" / "registries.conf.d" / "50-corp-mirror.conf"
    plan = containers_plan(conf, "busybox:1.36", is_digest=False)
    assert plan.image == "docker.io/library/busybox:1.36"
    assert f"short name alias busybox → docker.io/library/busybox from {dropin}" in plan.notes
    assert [h.url for h in plan.hosts] == [
        "https://dockerhub.corp.example",
        "https://registry-1.docker.io",
    ]
    plan = containers_plan(conf, "shop/app:v2", is_digest=False)
    assert plan.image == f"{ACR}/shop/app:v2"
    assert [h.url for h in plan.hosts] == [f"https://{ACR}"]
    # The 000-shortnames.conf alias set nginx; nothing resets it.
    assert containers_plan(conf, "nginx", is_digest=False).image == "docker.io/library/nginx:latest"


def test_empty_alias_erases_and_cache_has_precedence(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    dropins = etc / "containers" / "registries.conf.d"
    dropins.mkdir()
    (dropins / "90-reset.conf").write_text('[aliases]\n"shop/app" = ""\n')
    home = tmp_path / "home"
    cache = home / ".cache" / "containers" / "short-name-aliases.conf"
    cache.parent.mkdir(parents=True)
    cache.write_text('[aliases]\n"busybox" = "quay.io/prometheus/busybox"\n')
    conf = read_registries_conf(etc, home)
    assert str(cache) in conf.files
    # Erased: shop/app goes through the search registries again.
    plan = containers_plan(conf, "shop/app", is_digest=False)
    assert plan.image == "registry.cn-hangzhou.aliyuncs.com/shop/app:latest"
    # The machine-written cache beats registries.conf (and quay.io is blocked here).
    plan = containers_plan(conf, "busybox", is_digest=False)
    assert plan.image == "quay.io/prometheus/busybox:latest"
    assert plan.blocked is not None and "quay.io" in plan.blocked


def test_short_name_lists_every_search_registry(tmp_path: Path) -> None:
    conf = read_registries_conf(_etc(tmp_path))
    plan = containers_plan(conf, "library/alpine:3.19", is_digest=False)
    assert plan.image == "registry.cn-hangzhou.aliyuncs.com/library/alpine:3.19"
    assert [(h.url, h.repository) for h in plan.hosts] == [
        ("https://registry.cn-hangzhou.aliyuncs.com", None),
        ("https://abcd1234.mirror.aliyuncs.com", None),
        ("https://registry-1.docker.io", None),
    ]
    text = "\n".join(plan.notes)
    assert "unqualified-search-registries" in text
    assert "cannot prompt without a TTY" in text and "CRI-O 1.34" in text
    # docker.io adds library/ to a one-part name; the other registry does not.
    plan = containers_plan(conf, "alpine", is_digest=False)
    assert [h.repository for h in plan.hosts] == [None, "library/alpine", "library/alpine"]


def test_single_search_registry_is_not_ambiguous(tmp_path: Path) -> None:
    etc, _ = _conf(tmp_path, 'unqualified-search-registries = ["docker.io"]\n')
    plan = containers_plan(read_registries_conf(etc), "alpine", is_digest=False)
    assert plan.image == "docker.io/library/alpine:latest"
    assert [h.url for h in plan.hosts] == ["https://registry-1.docker.io"]
    assert not any("ambiguous" in n for n in plan.notes)


def test_short_name_without_search_registries_is_refused(tmp_path: Path) -> None:
    etc, path = _conf(
        tmp_path, 'unqualified-search-registries = []\n[aliases]\n"a" = "quay.io/a"\n'
    )
    plan = containers_plan(read_registries_conf(etc), "alpine", is_digest=False)
    assert plan.hosts == ()
    assert plan.blocked is not None and str(path) in plan.blocked


@pytest.mark.parametrize(
    ("image", "short"),
    [
        ("busybox", True),
        ("library/nginx:1.2", True),
        ("busybox@" + DIGEST, True),
        ("localhost/app", False),
        ("localhost:5000/app", False),
        ("registry.example.com/app", False),
        ("docker.io/busybox", False),
    ],
)
def test_short_name_rule(tmp_path: Path, image: str, short: bool) -> None:
    etc, _ = _conf(tmp_path, 'unqualified-search-registries = ["quay.io"]\n')
    plan = containers_plan(read_registries_conf(etc), image, is_digest="@" in image)
    assert (plan.hosts[0].url == "https://quay.io") == short


def test_no_configuration_is_the_upstream(tmp_path: Path) -> None:
    conf = read_registries_conf(tmp_path / "etc")
    assert conf.files == () and conf.warnings == () and conf.errors == ()
    plan = containers_plan(conf, "docker.io/library/nginx", is_digest=False)
    assert [(h.url, h.origin) for h in plan.hosts] == [("https://registry-1.docker.io", "default")]
    assert _urls(conf, f"{ACR}/shop/app:v1") == [f"https://{ACR}"]


def test_user_file_replaces_system_file_and_system_dropins(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    home = tmp_path / "home"
    user = home / ".config" / "containers"
    (user / "registries.conf.d").mkdir(parents=True)
    (user / "registries.conf").write_text('unqualified-search-registries = ["quay.io"]\n')
    (user / "registries.conf.d" / "10.conf").write_text('short-name-mode = "disabled"\n')
    conf = read_registries_conf(etc, home)
    assert conf.files == (str(user / "registries.conf"), str(user / "registries.conf.d/10.conf"))
    assert conf.registries == ()
    assert conf.unqualified_search_registries == ("quay.io",)
    assert conf.short_name_mode == "disabled"


def test_user_dropins_follow_system_dropins(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    home = tmp_path / "home"
    user_dir = home / ".config" / "containers" / "registries.conf.d"
    user_dir.mkdir(parents=True)
    (user_dir / "00-mine.conf").write_text('unqualified-search-registries = ["quay.io"]\n')
    conf = read_registries_conf(etc, environ={"HOME": str(home)})
    assert conf.files[-1] == str(user_dir / "00-mine.conf")
    assert conf.unqualified_search_registries == ("quay.io",)
    assert conf.search_origin == str(user_dir / "00-mine.conf")


def test_environment_variable_names_the_main_file(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    other = tmp_path / "ci-registries.conf"
    other.write_text('[[registry]]\nlocation = "quay.io"\nblocked = false\n')
    conf = read_registries_conf(etc, environ={"CONTAINERS_REGISTRIES_CONF": str(other)})
    assert conf.files[0] == str(other)
    quay = find_registry(conf, "quay.io/prometheus/busybox")
    assert quay is not None and not quay.blocked
    # The system drop-ins are still read after it.
    assert find_registry(conf, "docker.io/library/nginx") is not None
    missing = read_registries_conf(etc, environ={"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "x")})
    assert missing.errors and str(tmp_path / "x") in missing.errors[0]
    # Set but empty, it still hides REGISTRIES_CONFIG_PATH (c/common's LookupEnv order).
    environ = {"CONTAINERS_REGISTRIES_CONF": "", "REGISTRIES_CONFIG_PATH": str(other)}
    assert read_registries_conf(etc, environ=environ).files[0] == str(
        etc / "containers" / "registries.conf"
    )
    environ = {"REGISTRIES_CONFIG_PATH": str(other)}
    assert read_registries_conf(etc, environ=environ).files[0] == str(other)


def test_wildcard_prefix(tmp_path: Path) -> None:
    etc, _ = _conf(
        tmp_path,
        """
[[registry]]
prefix = "*.corp.example"
insecure = true
[[registry.mirror]]
location = "cache.corp.example/all"

[[registry]]
prefix = "*.example.com"
location = "mirror.example.net"
""",
    )
    conf = read_registries_conf(etc)
    plan = containers_plan(conf, "a.b.corp.example/team/app:v1", is_digest=False)
    assert [(h.url, h.repository, h.insecure) for h in plan.hosts] == [
        ("https://cache.corp.example", "all/team/app", False),
        ("https://a.b.corp.example", None, True),  # no location: the name is used as is
    ]
    assert _urls(conf, "corp.example/app") == ["https://corp.example"]  # not a subdomain
    assert _urls(conf, "registry.example.com/ns/app") == ["https://mirror.example.net"]


def test_longest_prefix_wins(tmp_path: Path) -> None:
    etc, _ = _conf(
        tmp_path,
        """
[[registry]]
location = "registry.example.com"
[[registry]]
prefix = "registry.example.com/team/app"
location = "other.example.com/app"
""",
    )
    conf = read_registries_conf(etc)
    assert _urls(conf, "registry.example.com/team/app:v1") == ["https://other.example.com"]
    assert _urls(conf, "registry.example.com/team/other") == ["https://registry.example.com"]


def test_invalid_rewrite_refuses_the_image(tmp_path: Path) -> None:
    # "docker.io/x" is not canonical ("docker.io/library/x"): rewriteReference fails.
    etc, _ = _conf(tmp_path, '[[registry]]\nprefix = "quay.io"\nlocation = "docker.io"\n')
    plan = containers_plan(read_registries_conf(etc), "quay.io/busybox", is_digest=False)
    assert plan.hosts == ()
    assert plan.blocked is not None and "docker.io/busybox:latest" in plan.blocked


def test_v1_format_main_file(tmp_path: Path) -> None:
    etc, _ = _conf(
        tmp_path,
        """
[registries.search]
registries = ['registry.access.redhat.com', 'docker.io']
[registries.insecure]
registries = ['harbor.corp.example:5000']
[registries.block]
registries = ['quay.io']
""",
    )
    conf = read_registries_conf(etc)
    assert conf.errors == ()
    assert conf.unqualified_search_registries == ("registry.access.redhat.com", "docker.io")
    assert containers_plan(conf, "quay.io/a/b", is_digest=False).blocked is not None
    assert containers_plan(conf, "harbor.corp.example:5000/a", is_digest=False).hosts[0].insecure


def test_unknown_keys_are_warnings_not_errors(tmp_path: Path) -> None:
    etc, path = _conf(
        tmp_path,
        """
unqualified-search-registry = ["docker.io"]
[[registry]]
location = "quay.io"
mirror-by-digest = true
[[registry.mirror]]
location = "m.example"
pull-from-mirrors = "digest-only"
""",
    )
    conf = read_registries_conf(etc)
    assert conf.errors == ()
    text = "\n".join(conf.warnings)
    for key in (
        "unqualified-search-registry",
        "registry.mirror-by-digest",
        "mirror.pull-from-mirrors",
    ):
        assert f"{path}: unknown key {key} is ignored" in text
    assert _urls(conf, "quay.io/a") == ["https://m.example", "https://quay.io"]


INVALID = [
    ("[[registry]\nlocation = 'x'", "not valid TOML"),
    ("unqualified-search-registries = 'docker.io'", "array of strings"),
    ("unqualified-search-registries = ['https://docker.io']", "URI schemes"),
    ("unqualified-search-registries = ['docker.io/library']", "unqualified-search-registries"),
    ("short-name-mode = 'strict'", "short-name mode"),
    ("registry = 'quay.io'", "registry must be of type array"),
    ("[registry]\nlocation = 'quay.io'", "registry must be of type array"),
    ("[[registry]]\ninsecure = true", "both location and prefix are unset"),
    ("[[registry]]\nprefix = 'quay.io'", "location is unset"),
    ("[[registry]]\nlocation = 'https://quay.io'", "URI schemes"),
    ("[[registry]]\nprefix = '*.example.com/ns'", "wildcarded prefix"),
    (
        "[[registry]]\nlocation = 'quay.io'\ninsecure = 'yes'",
        "insecure must be of type boolean, not string",
    ),
    ("[[registry]]\nlocation = 'quay.io'\nblocked = 1", "blocked must be of type boolean"),
    ("[[registry]]\nlocation = 'quay.io'\npull-from-mirror = 'all'", "non-mirror registry"),
    ("[[registry]]\nlocation = 'quay.io'\n[[registry.mirror]]\ninsecure = true", "mirror location"),
    (
        "[[registry]]\nlocation = 'q.io'\n[[registry.mirror]]\nlocation = 'm'\n"
        "pull-from-mirror = 'sometimes'",
        "unsupported pull-from-mirror",
    ),
    (
        "[[registry]]\nlocation = 'q.io'\nmirror-by-digest-only = true\n[[registry.mirror]]\n"
        "location = 'm'\npull-from-mirror = 'all'",
        "at the same time",
    ),
    (
        "[[registry]]\nprefix = 'a.io'\nlocation = 'q.io'\ninsecure = true\n"
        "[[registry]]\nprefix = 'b.io'\nlocation = 'q.io'",
        "conflicting 'insecure'",
    ),
    ("[aliases]\n'quay.io/busybox' = 'quay.io/busybox'", "must not contain registry"),
    ("[aliases]\n'busybox:1' = 'docker.io/busybox'", "tag or digest"),
    ("[aliases]\n'busybox' = 'busybox'", "must contain registry"),
    ("[aliases]\n'busybox' = 'docker.io/busybox:1'", "tag or digest"),
    ("[aliases]\n'busybox' = 3", "table of strings"),
    ("aliases = 'x'", "table of strings"),
    ("credential-helpers = 'pass'", "array of strings"),
    ("[registries.search]\nregistries = ['a.io']\n[[registry]]\nlocation = 'b.io'", "mixing"),
    ("x = [" * 5000 + "]" * 5000, "not valid TOML"),
    ("a = 1\na = 2", "not valid TOML"),
    ("registries = ['docker.io']", "registries must be of type table, not array"),
    ("[[registry]]\nprefix = '" + "a" * 100_000 + "'", "location is unset"),
]


@pytest.mark.parametrize(("text", "why"), INVALID, ids=range(len(INVALID)))
def test_files_containers_image_refuses(tmp_path: Path, text: str, why: str) -> None:
    etc, path = _conf(tmp_path, text)
    conf = read_registries_conf(etc)
    assert len(conf.errors) == 1, conf.errors
    assert conf.errors[0].startswith(f"{path}: ") and why in conf.errors[0]
    assert len(conf.errors[0]) < len(str(path)) + 500
    plan = containers_plan(conf, "docker.io/library/nginx", is_digest=False)
    # Every pull fails while the file is broken; the hosts are what it would try otherwise.
    assert plan.blocked is not None and str(path) in plan.blocked
    assert any(str(path) in w for w in plan.warnings)
    assert [h.url for h in plan.hosts] == ["https://registry-1.docker.io"]


def test_bad_dropin_is_named_and_the_rest_still_read(tmp_path: Path) -> None:
    etc = _etc(tmp_path, dropins=True)
    bad = etc / "containers" / "registries.conf.d" / "60-bad.conf"
    bad.write_text("[registries.search]\nregistries = ['docker.io']\n")  # v1 in a drop-in
    conf = read_registries_conf(etc)
    assert conf.errors == (f"{bad}: registry must be in v2 format but is in v1",)
    assert find_registry(conf, "docker.io/library/nginx") is not None


def test_hostile_sizes_and_bytes(tmp_path: Path) -> None:
    many = "\n".join(f"[[registry]]\nlocation = 'r{i}.example'" for i in range(6000))
    mirrors = "[[registry]]\nlocation = 'q.io'\n" + "[[registry.mirror]]\nlocation = 'm'\n" * 500
    search = "unqualified-search-registries = [" + ",".join(["'a.io'"] * 5000) + "]"
    for text in (many, mirrors, search):
        etc, _ = _conf(tmp_path, text)
        conf = read_registries_conf(etc)
        assert len(conf.registries) <= 4096
        assert all(len(r.mirrors) <= 32 for r in conf.registries)
        assert len(conf.unqualified_search_registries) <= 32
        assert len(containers_plan(conf, "alpine", is_digest=False).hosts) <= 33 * 33
    for raw in (b"\xff\xfe\x00", b"a = '\x80'", b"x" * (2 << 20)):
        etc = tmp_path / "b"
        (etc / "containers").mkdir(parents=True, exist_ok=True)
        path = etc / "containers" / "registries.conf"
        path.write_bytes(raw)
        conf = read_registries_conf(etc)
        assert conf.errors and conf.errors[0].startswith(str(path))


def test_unreadable_paths_are_errors_not_exceptions(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    (etc / "containers" / "registries.conf").mkdir(parents=True)  # a directory
    (etc / "containers" / "registries.conf.d").write_text("")  # a file, not a directory
    conf = read_registries_conf(etc)
    assert len(conf.errors) == 2
    assert containers_plan(conf, "alpine", is_digest=False).blocked is not None


def test_bad_alias_cache_only_affects_short_names(tmp_path: Path) -> None:
    etc = _etc(tmp_path)
    cache = tmp_path / "var" / "cache" / "containers" / "short-name-aliases.conf"
    cache.parent.mkdir(parents=True)
    cache.write_text("[aliases]\n'busybox' = 'not a reference'\n")
    conf = read_registries_conf(etc)  # no home: root's cache beside /etc
    assert conf.errors == ()
    assert any(str(cache) in w and "short-name" in w for w in conf.warnings)
    assert containers_plan(conf, "docker.io/library/nginx", is_digest=False).blocked is None
    plan = containers_plan(conf, "busybox", is_digest=False)
    assert plan.hosts == ()
    assert plan.blocked is not None and str(cache) in plan.blocked
