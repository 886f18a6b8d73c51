"""kubelet credential provider plugins, run as real executables the way kubelet runs them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from acrdiag.auth import CredentialKind, resolve_credential
from acrdiag.auth.credential import Credential, Skipped
from acrdiag.auth.kubelet_provider import (
    KubeletCredentialProviders,
    duration_seconds,
    keyring_key,
    urls_match,
)
from acrdiag.causes import Cause

DATA = Path(__file__).parent / "data" / "runtime" / "kubelet"
V1 = "credentialprovider.kubelet.k8s.io/v1"
SECRET = "s3cr3t-Pl4gin-Passw0rd"
ENV_SECRET = "aws-Secret-From-Config-Env"
HEAD = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n"
KUBELET_SECRET = "kubelet-Environ-Secret-99"


def _plugin(bin_dir: Path, name: str, body: str) -> Path:
    """A real executable plugin; it records what kubelet gave it when RECORD is set."""
    path = bin_dir / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        "request = sys.stdin.read()\n"
        "if os.environ.get('RECORD'):\n"
        "    with open(os.environ['RECORD'], 'w') as f:\n"
        "        json.dump({'argv': sys.argv, 'stdin': request, 'env': dict(os.environ)}, f)\n"
        + body
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _answer(auth: dict[str, dict[str, str]], **fields: object) -> str:
    document = {"kind": "CredentialProviderResponse", "apiVersion": V1, "cacheKeyType": "Registry"}
    for name, value in fields.items():  # None: the field is left out
        document.pop(name, None) if value is None else document.__setitem__(name, value)
    document["auth"] = auth
    return f"print({json.dumps(json.dumps(document))})\n"


def _config(
    path: Path, *providers: dict[str, object], api: str = "kubelet.config.k8s.io/v1"
) -> Path:
    document = {"apiVersion": api, "kind": "CredentialProviderConfig", "providers": list(providers)}
    path.write_text(json.dumps(document))
    return path


def _provider(
    name: str = "acr", match: tuple[str, ...] = ("*.azurecr.io",), **more: object
) -> dict[str, object]:
    return {
        "name": name,
        "matchImages": list(match),
        "defaultCacheDuration": "10m",
        "apiVersion": V1,
        **more,
    }


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "credential-provider"
    path.mkdir()
    return path


def _source(
    config: Path, bin_dir: Path, timeout: float = 10.0, **environ: str
) -> KubeletCredentialProviders:
    return KubeletCredentialProviders(
        config, bin_dir, {"KUBELET_ONLY": KUBELET_SECRET, **environ}, timeout
    )


def _no_secret_anywhere(found: object, *secrets: str) -> None:
    texts = [repr(found)]
    if isinstance(found, Credential):
        texts += [found.source, *found.notes, found.problem or ""]
    if isinstance(found, Skipped):
        texts.append(found.note)
    for secret in secrets:
        assert all(secret not in text for text in texts), texts


# --- a plugin that answers -------------------------------------------------------------


def test_aks_config_runs_the_plugin_as_kubelet_does(tmp_path: Path, bin_dir: Path) -> None:
    config = shutil.copy(DATA / "aks-credential-provider-config.yaml", tmp_path / "config.yaml")
    record = tmp_path / "record.json"
    auth = {
        "*.azurecr.io": {"username": "00000000-0000-0000-0000-000000000000", "password": SECRET}
    }
    _plugin(bin_dir, "acr-credential-provider", _answer(auth, cacheDuration="5m"))

    found = _source(Path(config), bin_dir, RECORD=str(record)).find("myreg.azurecr.io", "team/app")

    assert isinstance(found, Credential)
    assert found.kind is CredentialKind.BASIC
    assert found.username == "00000000-0000-0000-0000-000000000000"
    assert found.secret == SECRET
    assert (
        found.source
        == "kubelet credential provider acr-credential-provider (cache 5m, key Registry)"
    )
    _no_secret_anywhere(found, SECRET, KUBELET_SECRET)
    seen = json.loads(record.read_text())
    assert seen["argv"][1:] == ["/etc/kubernetes/azure.json"]
    assert json.loads(seen["stdin"]) == {
        "kind": "CredentialProviderRequest",
        "apiVersion": V1,
        "image": "myreg.azurecr.io/team/app",
    }
    assert seen["env"]["KUBELET_ONLY"] == KUBELET_SECRET  # kubelet's environment is inherited


@pytest.mark.parametrize(
    ("cache", "shown"),
    [(None, "10m from defaultCacheDuration"), ("0", "0, not cached"), ("1h30m", "1h30m")],
)
def test_cache_duration_shown(tmp_path: Path, bin_dir: Path, cache: str | None, shown: str) -> None:
    config = _config(tmp_path / "c.json", _provider())
    _plugin(
        bin_dir,
        "acr",
        _answer(
            {"*.azurecr.io": {"username": "u", "password": SECRET}},
            cacheDuration=cache,
            cacheKeyType="Image",
        ),
    )
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Credential)
    assert found.source == f"kubelet credential provider acr (cache {shown}, key Image)"


def test_env_from_config_overrides_kubelets_and_is_never_shown(
    tmp_path: Path, bin_dir: Path
) -> None:
    config = shutil.copy(DATA / "eks-credential-provider-config.json", tmp_path / "config.json")
    document = json.loads(Path(config).read_text())
    document["providers"][0]["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "value": ENV_SECRET})
    Path(config).write_text(json.dumps(document))
    record = tmp_path / "record.json"
    body = "sys.stderr.write('denied for key ' + os.environ['AWS_SECRET_ACCESS_KEY'] + '\\n')\n"
    body += "sys.exit(1)\n"
    _plugin(bin_dir, "ecr-credential-provider", body)

    source = _source(Path(config), bin_dir, RECORD=str(record), AWS_PROFILE="kubelets-own")
    found = source.find("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "app")

    env = json.loads(record.read_text())["env"]
    assert env["AWS_PROFILE"] == "node-puller"  # the config's env wins over kubelet's
    assert env["AWS_SECRET_ACCESS_KEY"] == ENV_SECRET
    assert env["KUBELET_ONLY"] == KUBELET_SECRET
    assert isinstance(found, Skipped)
    assert "exited 1" in found.note and "denied for key" not in found.note
    assert "kubelet pulls without its credentials" in found.note
    _no_secret_anywhere(found, ENV_SECRET)
    assert ENV_SECRET not in repr(source) and KUBELET_SECRET not in repr(source)


def test_no_provider_matches_so_none_and_nothing_runs(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    marker = tmp_path / "ran"
    _plugin(bin_dir, "acr", f"open({str(marker)!r}, 'w').close()\n")
    assert _source(config, bin_dir).find("quay.io", "coreos/etcd") is None
    assert _source(config, bin_dir).find("a.b.azurecr.io", "x") is None  # one label per '*'
    assert not marker.exists()


def test_most_specific_auth_key_first_as_the_keyring_orders_them(
    tmp_path: Path, bin_dir: Path
) -> None:
    """keyring_test.go TestDockerKeyringLookup: 'bar.example.com/pong' before 'bar.example.com'."""
    config = _config(tmp_path / "c.json", _provider(match=("bar.example.com",)))
    auth = {
        "bar.example.com": {"username": "ada", "password": "smash-" + SECRET},
        "https://bar.example.com/v2/pong": {"username": "grace", "password": "squash-" + SECRET},
    }
    _plugin(bin_dir, "acr", _answer(auth))
    source = _source(config, bin_dir)

    pong = source.find("bar.example.com", "pongz")  # a string prefix, as kubelet matches
    ping = source.find("bar.example.com", "ping")

    assert isinstance(pong, Credential) and isinstance(ping, Credential)
    assert pong.username == "grace"
    assert "[1 more credential(s) kubelet tries if this one fails]" in pong.source
    assert ping.username == "ada"
    _no_secret_anywhere(pong, SECRET)


def test_docker_hub_images_fall_back_to_the_index_docker_io_key(
    tmp_path: Path, bin_dir: Path
) -> None:
    config = _config(tmp_path / "c.json", _provider(match=("docker.io",)))
    record = tmp_path / "record.json"
    _plugin(
        bin_dir,
        "acr",
        _answer({"https://index.docker.io/v1/": {"username": "hub", "password": SECRET}}),
    )
    found = _source(config, bin_dir, RECORD=str(record)).find(
        "registry-1.docker.io", "library/nginx"
    )
    assert isinstance(found, Credential) and found.username == "hub"
    assert json.loads(json.loads(record.read_text())["stdin"])["image"] == "docker.io/library/nginx"


def test_every_matching_provider_runs_and_a_failure_is_noted(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider("broken"), _provider("good"))
    _plugin(bin_dir, "broken", "sys.exit(2)\n")
    _plugin(bin_dir, "good", _answer({"*.azurecr.io": {"username": "u", "password": SECRET}}))
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Credential) and found.source.startswith(
        "kubelet credential provider good"
    )
    assert found.notes == (
        "kubelet credential provider broken exited 2: kubelet pulls without its credentials",
    )


def test_a_plugin_answering_no_matching_key_is_a_note(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    _plugin(bin_dir, "acr", _answer({"other.azurecr.io/x": {"username": "u", "password": SECRET}}))
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Skipped)
    assert "gave no credential for a.azurecr.io/x" in found.note


def test_an_empty_username_is_an_anonymous_pull(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    _plugin(bin_dir, "acr", _answer({"*.azurecr.io": {"username": "", "password": SECRET}}))
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Skipped) and "empty username" in found.note
    _no_secret_anywhere(found, SECRET)


def test_token_attributes_providers_are_not_run(tmp_path: Path, bin_dir: Path) -> None:
    attributes = {
        "serviceAccountTokenAudience": "x",
        "requireServiceAccount": True,
        "cacheType": "Token",
    }
    config = _config(tmp_path / "c.json", _provider(tokenAttributes=attributes))
    _plugin(bin_dir, "acr", "sys.exit(9)\n")
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Skipped) and "service account token" in found.note


# --- a plugin that fails: kubelet logs it and pulls without it -----------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f'print(\'{{"password": "{SECRET}"\')\n', "printed something that is not a JSON response"),
        (f"print('user {SECRET}')\n", "printed something that is not a JSON response"),
        ("print('[1, 2]')\n", "printed JSON that is not an object"),
        (
            _answer(
                {"*.azurecr.io": {"username": "u", "password": SECRET}},
                apiVersion="credentialprovider.kubelet.k8s.io/v1beta1",
            ),
            f"answered apiVersion 'credentialprovider.kubelet.k8s.io/v1beta1', not {V1}",
        ),
        (
            _answer({}, kind="CredentialProviderRequest"),
            "answered kind 'CredentialProviderRequest'",
        ),
        (
            _answer({}, cacheKeyType="Pod"),
            "answered cacheKeyType 'Pod', not Image, Registry or Global",
        ),
        (_answer({}, cacheKeyType=None), "answered cacheKeyType <other>"),
        (_answer({}, cacheDuration="12"), "answered a cacheDuration that is not a duration"),
        (_answer({}, token=SECRET), "answered 1 field(s) kubelet's strict decoding rejects"),
        (
            _answer({"*.azurecr.io": {"username": "u", "Password": SECRET}}),
            "auth map kubelet cannot decode",
        ),
        (
            f'print(\'{{"kind": "CredentialProviderResponse", "apiVersion": "{V1}", \'\n'
            f'      \'"cacheKeyType": "Image", "cacheKeyType": "Global", "auth": null}}\')\n',
            "not a JSON response",
        ),
        ("sys.stdout.write('x' * (2 * 1024 * 1024))\n", "printed more than 1024 KiB"),
        (
            f"print('{SECRET}')\n"
            "sys.stderr.write('auth failed: Bearer AbCdEf1234567890\\n')\nsys.exit(3)\n",
            "exited 3 (its output is not shown: it may hold the credential)",
        ),
        ("import signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "was killed by signal 9"),
    ],
)
def test_a_failing_plugin_is_skipped_without_quoting_its_output(
    tmp_path: Path, bin_dir: Path, body: str, expected: str
) -> None:
    config = _config(tmp_path / "c.json", _provider())
    _plugin(bin_dir, "acr", body)
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Skipped), found
    assert expected in found.note
    assert found.note.startswith("kubelet credential provider acr ")
    _no_secret_anywhere(found, SECRET, "AbCdEf1234567890")


def test_a_plugin_that_hangs_is_killed_at_the_timeout(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    pid_file = tmp_path / "child.pid"
    # It starts a grandchild holding stdout open: the whole session is ended.
    body = (
        "import subprocess\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    _plugin(bin_dir, "acr", body)
    started = time.monotonic()
    found = _source(config, bin_dir, timeout=1.0).find("a.azurecr.io", "x")
    assert time.monotonic() - started < 10
    assert isinstance(found, Skipped)
    assert "did not answer within 1 s (kubelet waits 1 min)" in found.note
    deadline = time.monotonic() + 5
    while pid_file.exists() and _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid_file.read_text()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def test_a_plugin_that_cannot_run(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    plugin = bin_dir / "acr"
    plugin.write_text("#!/nonexistent/interpreter\n")
    plugin.chmod(0o755)
    found = _source(config, bin_dir).find("a.azurecr.io", "x")
    assert isinstance(found, Skipped) and "could not run" in found.note


# --- an invalid config: kubelet exits at start-up ---------------------------------------


def _kubelet_exits(found: object) -> str:
    assert isinstance(found, Credential) and found.kind is CredentialKind.FAILED, found
    assert found.cause is Cause.CREDENTIAL_FILE_INVALID
    assert found.problem is not None and "kubelet exits at start-up" in found.problem
    _no_secret_anywhere(found, ENV_SECRET)
    return found.problem


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("invalid-missing-default-cache-duration.yaml", "defaultCacheDuration is required"),
        ("invalid-unknown-field.yaml", "unknown field(s) matchImage (kubelet decodes strictly)"),
        ("invalid-provider-api-version.yaml", "apiVersion must be one of"),
    ],
)
def test_invalid_sample_configs(tmp_path: Path, bin_dir: Path, sample: str, expected: str) -> None:
    _plugin(bin_dir, "acr-credential-provider", "sys.exit(0)\n")
    problem = _kubelet_exits(_source(DATA / sample, bin_dir).find("a.azurecr.io", "x"))
    assert expected in problem


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        (_provider("a/b"), "cannot contain '/'"),
        (_provider("a b"), "cannot contain '/' or spaces"),
        (_provider(".."), "or be '.' or '..'"),
        (_provider(match=()), "at least 1 item in matchImages is required"),
        (_provider(match=("bad host.io",)), "invalid matchImages entry 'bad host.io'"),
        (_provider(match=("registry.io:http",)), "invalid matchImages entry"),
        (_provider(defaultCacheDuration="12"), "defaultCacheDuration is required, a duration >= 0"),
        (
            _provider(defaultCacheDuration="-1h"),
            "defaultCacheDuration is required, a duration >= 0",
        ),
        (_provider(defaultCacheDuration=0), "defaultCacheDuration is not a string"),
        (_provider(apiVersion=""), "apiVersion must be one of"),
        (
            _provider(env=[{"name": "K", "value": ENV_SECRET, "valueFrom": "x"}]),
            "unknown field(s) valueFrom",
        ),
        (_provider(env=[{"name": "K", "value": 12}]), ".env is not a string"),
        (_provider(args="--flag"), ".args is not a list of strings"),
    ],
)
def test_invalid_providers(
    tmp_path: Path, bin_dir: Path, provider: dict[str, object], expected: str
) -> None:
    name = str(provider["name"])
    if name and "/" not in name and name not in (".", ".."):
        _plugin(bin_dir, name, "sys.exit(0)\n")
    config = _config(tmp_path / "c.json", provider)
    assert expected in _kubelet_exits(_source(config, bin_dir).find("a.azurecr.io", "x"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: [\n",
            "neither YAML nor JSON at line",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
            "at least 1 item is required",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\nproviders: []\n",
            "is not a CredentialProviderConfig",
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v2\nkind: CredentialProviderConfig\nproviders: []\n",
            "apiVersion kubelet does not know",
        ),
        (f"{HEAD}providers: []\nextra: 1\n", "unknown field(s) extra"),
        (f"{HEAD}kind: CredentialProviderConfig\nproviders: []\n", "neither YAML nor JSON at line"),
    ],
)
def test_invalid_documents(tmp_path: Path, bin_dir: Path, text: str, expected: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert expected in _kubelet_exits(_source(config, bin_dir).find("a.azurecr.io", "x"))


def test_missing_plugin_bin_dir_or_config(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    assert "plugin binary executable" in _kubelet_exits(
        _source(config, bin_dir).find("a.azurecr.io", "x")
    )
    _plugin(bin_dir, "acr", "sys.exit(0)\n").chmod(0o644)
    assert "plugin binary executable" in _kubelet_exits(
        _source(config, bin_dir).find("a.azurecr.io", "x")
    )
    missing = tmp_path / "nowhere"
    assert "plugin binary directory" in _kubelet_exits(
        _source(config, missing).find("a.azurecr.io", "x")
    )
    assert "does not exist" in _kubelet_exits(_source(missing, bin_dir).find("a.azurecr.io", "x"))


def test_a_config_directory_is_merged_and_names_must_be_unique(
    tmp_path: Path, bin_dir: Path
) -> None:
    directory = tmp_path / "config.d"
    directory.mkdir()
    _config(directory / "10-acr.json", _provider("acr"))
    _config(directory / "20-other.yaml", _provider("other", match=("quay.io",)))
    (directory / "README.md").write_text("not read")
    _plugin(bin_dir, "acr", _answer({"*.azurecr.io": {"username": "u", "password": SECRET}}))
    _plugin(bin_dir, "other", _answer({"quay.io": {"username": "q", "password": SECRET}}))
    found = _source(directory, bin_dir).find("quay.io", "x")
    assert isinstance(found, Credential) and found.username == "q"
    _config(directory / "30-again.json", _provider("acr"))
    assert "appears twice" in _kubelet_exits(_source(directory, bin_dir).find("quay.io", "x"))


def test_resolve_credential_takes_it_like_any_source(tmp_path: Path, bin_dir: Path) -> None:
    config = _config(tmp_path / "c.json", _provider())
    _plugin(bin_dir, "acr", _answer({"*.azurecr.io": {"username": "u", "password": SECRET}}))
    credential = resolve_credential([_source(config, bin_dir)], "a.azurecr.io", "x")
    assert credential.kind is CredentialKind.BASIC and credential.secret == SECRET


# --- kubelet's matching rules (keyring_test.go) -----------------------------------------


@pytest.mark.parametrize(
    ("glob", "target", "expected"),
    [
        # TestURLsMatch
        ("*.kubernetes.io", "prefix.kubernetes.io", True),
        ("prefix.*.io", "prefix.kubernetes.io", True),
        ("prefix.kubernetes.*", "prefix.kubernetes.io", True),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", True),
        ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", True),
        ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", True),
        ("*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", True),
        ("prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", True),
        ("*.kubernetes.io", "kubernetes.io", False),
        ("*.*.kubernetes.io", "prefix.kubernetes.io", False),
        ("*.*.kubernetes.io", "kubernetes.io", False),
        ("kubernetes.io", "kubernetes.com", False),
        ("k*.io", "quay.io", False),
        ("*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", False),
        ("prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", False),
        # The CredentialProvider documentation's examples
        ("*.*.registry.io", "a.b.registry.io/x", True),
        ("registry.io:8080/path", "registry.io:8080/path/sub/image", True),
        ("registry.io:8080/path", "registry.io/path/image", False),
        ("registry.io/path", "registry.io:8080/path/image", False),
        (
            "123456789.dkr.ecr.us-east-1.amazonaws.com",
            "123456789.dkr.ecr.us-east-1.amazonaws.com/app",
            True,
        ),
        # filepath.Match classes and escapes, one label each
        ("reg[0-9].io", "reg7.io/x", True),
        ("reg[0-9].io", "rega.io/x", False),
        ("reg[.io", "reg[.io/x", False),  # a malformed pattern never matches
        # url.Parse comes first: '?' starts the query; '^' and '\\' are invalid in a host
        ("reg?.io", "reg1.io/x", False),
        ("reg[^0-9].io", "rega.io/x", False),
        ("reg\\*.io", "reg*.io/x", False),
        # a scheme in matchImages makes "https:" the host: it never matches
        ("https://registry.io", "registry.io/x", False),
    ],
)
def test_urls_match(glob: str, target: str, expected: bool) -> None:
    assert urls_match(glob, target) is expected


@pytest.mark.parametrize(
    ("key", "target"),
    [  # TestDockerKeyringForGlob: every key matches target + "/foo/bar"
        ("https://hello.kubernetes.io", "hello.kubernetes.io"),
        ("https://*.docker.io", "prefix.docker.io"),
        ("https://prefix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.*", "prefix.docker.io"),
        ("https://*.docker.io/path", "prefix.docker.io/path"),
        ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
        ("https://*.docker.io:8888", "prefix.docker.io:8888"),
        ("https://*.docker.io/path:1111", "prefix.docker.io/path:1111"),
        ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
        ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
        ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
        ("*.docker.io:1111", "prefix.docker.io:1111/path"),
    ],
)
def test_keyring_keys_match(key: str, target: str) -> None:
    normalised = keyring_key(key)
    assert normalised is not None and urls_match(normalised, target + "/foo/bar")


@pytest.mark.parametrize(
    ("key", "target"),
    [  # TestKeyringMiss
        ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
        ("https://*.docker.com", "prefix.docker.io"),
        ("https://suffix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.c*", "prefix.docker.io"),
        ("https://prefix.*.io/path:1111", "prefix.docker.io/path/subpath:1111"),
        ("suffix.*.io", "prefix.docker.io"),
    ],
)
def test_keyring_keys_miss(key: str, target: str) -> None:
    normalised = keyring_key(key)
    assert normalised is not None and not urls_match(normalised, target + "/foo/bar")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12h", 43200),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("0", 0),
        ("-1m", -60),
        ("12", None),
        ("", None),
        ("1d", None),
    ],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    assert duration_seconds(text) == (pytest.approx(seconds) if seconds is not None else None)
