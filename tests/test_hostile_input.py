"""Hostile servers and odd local set-ups: always a report or a one-line error, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug import Response

from acrdiag.model import Report
from tests.support.assertions import assert_failed_at
from tests.support.servers import closed_port
from tests.support.world import REGISTRY, SERVICE, World, invoke

REPO = Path(__file__).resolve().parent.parent
NASTY = "bad \ud800 surrogate, \x1b[2J escape, ``` fence"


def _acrdiag(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **kwargs.pop("env", {})}  # type: ignore[dict-item]
    return subprocess.run(
        [sys.executable, "-m", "acrdiag", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
        **kwargs,
    )  # type: ignore[call-overload]


@pytest.mark.parametrize("fmt", ["json", "text", "markdown"])
def test_server_text_with_bad_unicode_and_escapes_still_renders(
    world: World, fmt: str, tmp_path: Path
) -> None:
    world.healthy()
    body = json.dumps({"errors": [{"code": "DENIED", "message": NASTY}]})
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/manifests/1.0",
        lambda r: Response(body, status=403, content_type="application/json"),
    )
    out = tmp_path / "report.json"  # the suffix makes the file JSON, whatever stdout shows
    result = world.run(world.ref("ns/app:1.0"), "--output", str(out), fmt=fmt)
    assert result.code == 15
    assert "\x1b" not in result.stdout and "Traceback" not in result.stderr
    report = Report.model_validate_json(out.read_text())
    assert report.verdict.cause == "denied"
    if fmt == "markdown":
        fenced = result.stdout.split("```")[1]
        assert "fence" in fenced  # the server's backticks did not close the block early


def test_deeply_nested_json_error_bodies_are_not_internal_errors(world: World) -> None:
    world.healthy()
    world.route("realm", "GET", "/auth", lambda r: Response(b"[" * 50_000, status=401))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "bad_credentials")


def test_unparseable_realm_is_malformed(world: World) -> None:
    world.route(
        "registry",
        "GET",
        "/v2/",
        lambda r: Response(
            "{}",
            status=401,
            headers={"WWW-Authenticate": f'Bearer realm="https://[::1/token",service="{SERVICE}"'},
        ),
    )
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "challenge", "malformed_challenge")


def test_token_with_a_newline_is_a_bad_response_and_never_echoed(world: World) -> None:
    world.healthy()
    secret = "opaqueSecretValue123"
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(json.dumps({"token": secret + "\nx"}), content_type="application/json"),
    )
    result = world.run(world.ref("ns/app:1.0"))
    assert_failed_at(result, "auth_endpoint", "bad_response")
    assert secret not in result.stdout


def test_proxy_password_with_slash_never_reaches_the_report(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:s3cr/et#pw@127.0.0.1:{closed_port()}")
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 11
    assert "s3cr" not in result.stdout and "et#pw" not in result.stdout


@pytest.mark.parametrize("user", ["bob\x1b[2J", "bob\udcff"])
def test_usernames_that_cannot_go_into_a_header_are_bad_input(user: str) -> None:
    result = invoke(["run", "ns/app", "--username", user, "--password-stdin"], stdin="pw\n")
    assert result.code == 2 and "--username" in result.stderr


def test_closed_stdin_with_password_stdin_is_bad_input() -> None:
    done = _acrdiag(["run", "ns/app", "-u", "bob", "--password-stdin"], stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "no password" in done.stderr
    closed = subprocess.run(
        f"{sys.executable} -m acrdiag run ns/app -u bob --password-stdin <&-",
        shell=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert closed.returncode == 2 and closed.stderr.count("\n") == 1
    assert "Traceback" not in closed.stderr


def test_output_name_too_long_is_bad_input(tmp_path: Path) -> None:
    result = invoke(["run", "ns/app", "--output", str(tmp_path / ("x" * 300))])
    assert result.code == 2 and result.stderr.startswith("acrdiag: error: --output")


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full", "| true"])
def test_unwritable_stdout_keeps_the_exit_code_and_the_report_file(
    tmp_path: Path, redirect: str
) -> None:
    out = tmp_path / "r.json"
    command = (
        f"{sys.executable} -m acrdiag run 127.0.0.1:{closed_port()}/ns/app --format text "
        f"--timeout 2 --output {out} {redirect}"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    if redirect != "| true":  # with pipefail, `true` decides the pipeline's status
        assert done.returncode == 11
    assert Report.model_validate_json(out.read_text()).verdict.exit_code == 11


def test_ascii_locale_gets_a_report_not_a_traceback(tmp_path: Path) -> None:
    done = _acrdiag(
        ["run", f"127.0.0.1:{closed_port()}/ns/app", "--format", "text", "--timeout", "2"],
        env={"PYTHONIOENCODING": "ascii", "LANG": "C"},
        cwd=tmp_path,
    )
    assert done.returncode == 11 and "Traceback" not in done.stderr
    assert "tcp_refused" in done.stdout


def test_output_through_a_symlink_keeps_the_link(world: World, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    world.run(f"{REGISTRY}:{closed_port()}/ns/app:1.0", "--output", str(link))
    assert link.is_symlink()
    assert Report.model_validate_json(real.read_text()).verdict.exit_code == 11
    assert real.stat().st_mode & 0o777 == 0o600


def test_output_to_dev_null_is_written_not_replaced(world: World) -> None:
    result = world.run(f"{REGISTRY}:{closed_port()}/ns/app:1.0", "--output", os.devnull)
    assert result.code == 11
    assert Path(os.devnull).is_char_device()
