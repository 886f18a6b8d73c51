"""Credentials the puller already has: docker's config.json, credential helpers, containers'
auth.json, --authfile; found in docker's order, named by source, never shown."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from acrdiag.auth import CredentialKind, file_sources, resolve_credential
from acrdiag.auth.files import AuthFile
from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.world import IDENTITY_TOKEN, PASSWORD, REGISTRY, USER, World, invoke


def _auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _write(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def _docker_config(home: Path, document: object) -> Path:
    return _write(home / ".docker" / "config.json", document)


def _helper(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def home() -> Path:
    return Path(os.environ["HOME"])  # clean_env made it an empty directory


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}:{os.environ['PATH']}")
    return path


# -- the pull, with credentials from where docker keeps them ----------------------------------


def test_after_docker_login_the_config_json_entry_is_used(world: World, home: Path) -> None:
    world.healthy()
    _docker_config(home, {"auths": {world.ref("").rstrip("/"): _auth()}})
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert_passed(result)
    used = result.report["environment"]["credentials"]
    assert "docker's config.json" in used and "entry" in used
    assert PASSWORD not in result.stdout and _auth()["auth"] not in result.stdout


def test_a_legacy_key_with_scheme_and_path_matches(world: World, home: Path) -> None:
    world.healthy()
    key = f"https://{REGISTRY}:{world.registry.port}/v1/"
    _docker_config(home, {"auths": {key: _auth()}})
    assert_passed(world.run(world.ref("ns/app:1.0"), user=None))


def test_a_rejected_config_json_entry_names_its_source(world: World, home: Path) -> None:
    world.healthy()
    _docker_config(home, {"auths": {world.ref("").rstrip("/"): _auth(password="stale")}})
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "auth_endpoint", "bad_credentials"
    )
    assert any("the credential from docker's config.json" in h for h in failed["hints"])


def test_a_credential_helper_is_run_as_docker_runs_it(
    world: World, home: Path, bin_dir: Path, tmp_path: Path
) -> None:
    world.healthy()
    asked = tmp_path / "asked"
    answer = json.dumps({"ServerURL": "x", "Username": USER, "Secret": PASSWORD})
    _helper(bin_dir, "acr", f"cat > {asked}; [ \"$1\" = get ] && echo '{answer}'\n")
    registry = world.ref("").rstrip("/")
    _docker_config(home, {"credHelpers": {registry: "acr"}})
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert_passed(result)
    assert asked.read_text() == registry  # the server URL on stdin
    assert "docker-credential-acr" in result.report["environment"]["credentials"]


@pytest.mark.parametrize(
    ("script", "said"),
    [
        (None, "not on PATH"),
        ("echo 'keychain locked: secretish-detail' >&2; exit 3\n", "exited 3"),
        ("echo not json\n", "not JSON"),
    ],
)
def test_a_failing_credential_helper_fails_step_3(
    world: World, home: Path, bin_dir: Path, script: str | None, said: str
) -> None:
    world.healthy()
    if script is not None:
        _helper(bin_dir, "broken", script)
    _docker_config(home, {"credsStore": "broken", "auths": {}})
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "auth_endpoint", "credential_helper_failed"
    )
    assert said in failed["summary"] and "docker-credential-broken" in failed["summary"]


def test_a_helper_without_credentials_means_an_anonymous_pull_as_for_docker(
    world: World, home: Path, bin_dir: Path
) -> None:
    world.healthy()
    world.anonymous_repos.add("ns/app")
    _helper(bin_dir, "desktop", "echo 'credentials not found in native keychain'; exit 1\n")
    # docker does not fall back to this stale entry: its native store blanks it
    stale = {world.ref("").rstrip("/"): _auth(password="stale")}
    _docker_config(home, {"credsStore": "desktop", "auths": stale})
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert result.code == 0
    assert result.report["environment"]["credentials"].startswith("anonymous")
    assert "has nothing for" in result.step("auth_endpoint")["summary"]


def test_a_failing_helper_never_shows_what_it_printed(
    world: World, home: Path, bin_dir: Path
) -> None:
    world.healthy()
    answer = json.dumps({"Username": "u", "Secret": "HelperSecret-xyz123"})
    script = f"echo '{answer}'; echo 'password=HelperSecret-xyz123' >&2; exit 1\n"
    _helper(bin_dir, "leaky", script)
    _docker_config(home, {"credsStore": "leaky"})
    for fmt in ("json", "text", "markdown"):
        result = world.run(world.ref("ns/app:1.0"), user=None, fmt=fmt)
        assert result.code == 13
        assert "HelperSecret" not in result.stdout + result.stderr


def test_a_helper_printing_bytes_that_are_not_utf8_is_no_crash(
    world: World, home: Path, bin_dir: Path
) -> None:
    world.healthy()
    _helper(bin_dir, "binary", "printf '\\377\\376garbage'\n")
    _docker_config(home, {"credsStore": "binary"})
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "auth_endpoint", "credential_helper_failed"
    )
    assert "not JSON" in failed["summary"]


def test_a_hanging_helper_is_bounded_by_the_deadline(
    world: World, home: Path, bin_dir: Path
) -> None:
    import time

    world.healthy()
    _helper(bin_dir, "stuck", "sleep 30\n")
    _docker_config(home, {"credsStore": "stuck"})
    started = time.monotonic()
    result = world.run(world.ref("ns/app:1.0"), user=None, deadline=2)
    assert time.monotonic() - started < 4
    failed = assert_failed_at(result, "auth_endpoint", "credential_helper_failed")
    assert "did not answer within 2 s" in failed["summary"]


def test_an_identity_token_is_sent_as_an_oauth2_refresh_token(world: World, home: Path) -> None:
    world.healthy()
    _docker_config(home, {"auths": {world.ref("").rstrip("/"): {"identitytoken": IDENTITY_TOKEN}}})
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert_passed(result)
    posts = [r for r in world.requests["realm"] if r.method == "POST"]
    assert posts and posts[0].form["grant_type"] == "refresh_token"
    assert IDENTITY_TOKEN not in result.stdout


def test_an_unreadable_config_json_is_skipped_as_docker_skips_it(world: World, home: Path) -> None:
    world.healthy()
    world.anonymous_repos.add("ns/app")
    _docker_config(home, "{not json")
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert result.code == 0  # docker warns and pulls anonymously
    step = result.step("auth_endpoint")
    assert (step["status"], step["cause"]) == ("warn", "credential_file_invalid")
    assert "not valid JSON" in step["summary"]


def test_flags_come_first_and_no_creds_ignores_every_file(world: World, home: Path) -> None:
    world.healthy()
    _docker_config(home, {"auths": {world.ref("").rstrip("/"): _auth(password="stale")}})
    assert_passed(world.run(world.ref("ns/app:1.0")))  # --username wins over the file
    anonymous = world.run(world.ref("ns/app:1.0"), "--no-creds", user=None)
    assert anonymous.report["environment"]["credentials"].startswith("anonymous")


def test_authfile_and_registry_auth_file(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    given = _write(tmp_path / "given.json", {"auths": {registry: _auth()}})
    result = world.run(world.ref("ns/app:1.0"), "--authfile", str(given), user=None)
    assert_passed(result)
    assert "--authfile" in result.report["environment"]["credentials"]
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(given))
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert "REGISTRY_AUTH_FILE" in result.report["environment"]["credentials"]


# -- key matching, without a network -----------------------------------------------------------


def test_docker_hub_uses_its_index_url_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"auths": {"https://index.docker.io/v1/": _auth()}})
    found = AuthFile(path, "config.json").find("docker.io", "library/nginx")
    assert found is not None and (found.kind, found.username) == (CredentialKind.BASIC, USER)


def test_containers_keys_take_the_most_specific_namespace(tmp_path: Path) -> None:
    auths = {
        "quay.io": _auth("registry-wide"),
        "quay.io/team": _auth("team"),
        "quay.io/team/app": _auth("app"),
    }
    path = _write(tmp_path / "auth.json", {"auths": auths})
    source = AuthFile(path, "auth.json", namespaces=True)
    assert source.find("quay.io", "team/app").username == "app"  # type: ignore[union-attr]
    assert source.find("quay.io", "team/other").username == "team"  # type: ignore[union-attr]
    assert source.find("quay.io", "else/x").username == "registry-wide"  # type: ignore[union-attr]


def test_the_order_of_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _docker_config(home, {"auths": {"r.example": _auth("docker")}})
    _write(home / ".config" / "containers" / "auth.json", {"auths": {"r.example": _auth("podman")}})
    environ = {"HOME": str(home)}
    assert resolve_credential(file_sources(None, environ), "r.example", "a").username == "docker"
    auth_file = _write(tmp_path / "auth.json", {"auths": {"r.example": _auth("given")}})
    chosen = resolve_credential(file_sources(str(auth_file), environ), "r.example", "a")
    assert chosen.username == "given"
    assert resolve_credential(
        file_sources(None, {"HOME": "/nonexistent"}), "r.example", "a"
    ).kind is (CredentialKind.ANONYMOUS)


# -- pull secrets, skopeo's flags, what a rejection says ----------------------------------------


def _pull_secret(path: Path, registry: str, entry: dict[str, str], as_yaml: bool = True) -> Path:
    config = base64.b64encode(json.dumps({"auths": {registry: entry}}).encode()).decode()
    if as_yaml:
        text = (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: acr-pull\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"data:\n  .dockerconfigjson: {config}\n"
        )
        return _write(path, text)
    legacy = base64.b64encode(json.dumps({registry: entry}).encode()).decode()
    secret = {"kind": "Secret", "type": "kubernetes.io/dockercfg", "data": {".dockercfg": legacy}}
    return _write(path, secret)


@pytest.mark.parametrize("as_yaml", [True, False], ids=["dockerconfigjson-yaml", "dockercfg-json"])
def test_a_pull_secret_is_read_as_kubelet_reads_it(
    world: World, tmp_path: Path, as_yaml: bool
) -> None:
    world.healthy()
    secret = _pull_secret(tmp_path / "secret", world.ref("").rstrip("/"), _auth(), as_yaml)
    result = world.run(world.ref("ns/app:1.0"), "--pull-secret", str(secret), user=None)
    assert_passed(result)
    assert "--pull-secret" in result.report["environment"]["credentials"]


def test_a_stale_acr_temporary_password_says_so_with_its_age(world: World, tmp_path: Path) -> None:
    world.healthy()
    registry = world.ref("").rstrip("/")
    secret = _pull_secret(tmp_path / "s.yaml", registry, _auth("cr_temp_user", "expired-temp"))
    old = secret.stat().st_mtime - 5 * 3600
    os.utime(secret, (old, old))
    result = world.run(world.ref("ns/app:1.0"), "--pull-secret", str(secret), user=None)
    failed = assert_failed_at(result, "auth_endpoint", "bad_credentials")
    temporary = next(h for h in failed["hints"] if "cr_temp_user" in h)
    assert "written 5.0 hours ago" in temporary
    assert "expired-temp" not in result.stdout


def test_a_rejected_credential_says_whether_anonymous_would_have_worked(
    world: World, home: Path
) -> None:
    world.healthy()
    world.anonymous_repos.add("ns/app")
    _docker_config(home, {"auths": {world.ref("").rstrip("/"): _auth(password="stale")}})
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "auth_endpoint", "bad_credentials"
    )
    assert failed["evidence"]["anonymous_access"] == "works"
    assert any("can be pulled anonymously" in h for h in failed["hints"])


def test_creds_is_username_with_password_stdin_and_never_takes_a_password(
    world: World,
) -> None:
    world.healthy()
    argv = world.argv(world.ref("ns/app:1.0"), "--creds", USER, user=None)
    result = invoke(argv, stdin=PASSWORD + "\n")  # the password from stdin, as skopeo asks
    assert_passed(result)
    assert result.report["environment"]["credentials"].startswith(f"--username {USER}")
    refused = world.run(world.ref("ns/app:1.0"), "--creds", f"puller:{PASSWORD}", user=None)
    assert refused.code == 2 and "--password-stdin" in refused.stderr
    assert PASSWORD not in refused.stderr


@pytest.mark.parametrize(("value", "code"), [("false", 0), ("true", 11), ("maybe", 2)])
def test_tls_verify_false_is_insecure(world: World, value: str, code: int) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), f"--tls-verify={value}", ca=False)
    assert result.code == code


@pytest.mark.parametrize(
    "text",
    [
        "type: [a]\nkind: Secret\n",
        "kind: List\nitems: 5\n",
        "[" * 50_000,
        "stringData:\n  .dockerconfigjson: !LeakyPassw0rd-abc {}\n"
        "type: kubernetes.io/dockerconfigjson\n",
    ],
    ids=["unhashable-type", "items-not-a-list", "deep-nesting", "yaml-tag"],
)
def test_a_broken_pull_secret_is_skipped_never_a_crash_never_quoted(
    world: World, tmp_path: Path, text: str
) -> None:
    world.healthy()
    secret = _write(tmp_path / "secret.yaml", text)
    result = world.run(world.ref("ns/app:1.0"), "--pull-secret", str(secret), user=None)
    assert result.code not in (1, 2), result.stdout + result.stderr
    assert "LeakyPassw0rd" not in result.stdout
    step = result.step("auth_endpoint")
    assert step["cause"] == "credential_file_invalid" or "credential_file_invalid" in str(step)


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "docker.io", "index.docker.io"])
def test_a_docker_hub_pull_secret_matches_docker_hub_images(tmp_path: Path, key: str) -> None:
    from acrdiag.auth.pull_secrets import PullSecret

    config = base64.b64encode(json.dumps({"auths": {key: _auth()}}).encode()).decode()
    secret = _write(
        tmp_path / "s.json",
        {
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": config},
        },
    )
    found = PullSecret(secret).find("docker.io", "library/nginx")
    assert found is not None and getattr(found, "username", None) == USER
