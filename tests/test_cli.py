"""The command line as a user meets it: bad input, formats, files, exit codes, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acrdiag import __version__
from acrdiag.model import Report
from tests.support.servers import closed_port
from tests.support.world import PASSWORD, REGISTRY, World, invoke

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "Shop/App:1"], "repository name must be lowercase"),
        (["run", "ns/app:"], "invalid reference"),
        (["run", "ns/app@sha256:abc"], "invalid reference"),
        (["run", "ns/ app"], "invalid reference"),
        (["run", "https://registry.example.com/ns/app"], "invalid reference"),
        (["run", "ns/app", "--platform", "linux"], "platform"),
        (["run", "ns/app", "--blob", "biggest"], "--blob"),
        (["run", "ns/app", "--timeout", "0"], "--timeout"),
        (["run", "ns/app", "--nameserver", "dns.example.com"], "--nameserver"),
        (["run", "ns/app", "--username", "u"], "--password-stdin"),
        (["run", "ns/app", "--password-stdin"], "--password-stdin needs --username"),
        (["run", "ns/app", "--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        (["run", "ns/app", "--output", "/nonexistent/dir/report.json"], "does not exist"),
        (["run", "ns/app", "--format", "yaml"], "--format"),
        (["run", "ns/app", "--no-such-flag"], "--no-such-flag"),
        (["run"], "REFERENCE"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_is_one_line_exit_2_without_network(argv: list[str], message: str) -> None:
    result = invoke(argv)
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("acrdiag: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_empty_password_on_stdin_is_refused() -> None:
    result = invoke(["run", "ns/app", "-u", "bob", "--password-stdin"], stdin="\n")
    assert result.code == 2 and "no password" in result.stderr


def test_version() -> None:
    result = invoke(["--version"])
    assert (result.code, result.stdout.strip()) == (0, f"acrdiag {__version__}")


def test_python_dash_m_and_help_start_without_network() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    version = subprocess.run(
        [sys.executable, "-m", "acrdiag", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.strip() == f"acrdiag {__version__}"
    helped = subprocess.run(
        [sys.executable, "-m", "acrdiag", "run", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert helped.returncode == 0
    for flag in (
        "--password-stdin",
        "--platform",
        "--format",
        "--output",
        "--deadline",
        "--ca-file",
        "--insecure",
        "--plain-http",
        "--nameserver",
        "--blob",
    ):
        assert flag in helped.stdout


def test_help_never_imports_the_network_stack() -> None:
    code = (
        "import sys; from acrdiag.cli import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'httpcore', 'dns.resolver', 'acrdiag.engine')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_json_is_the_default_when_stdout_is_not_a_terminal(world: World) -> None:
    world.healthy()
    argv = [
        "run",
        world.ref("ns/app:1.0"),
        "--nameserver",
        world.dns.address,
        "--ca-file",
        world.ca_file,
        "-u",
        "puller",
        "--password-stdin",
    ]
    result = invoke(argv, PASSWORD + "\n")
    assert result.code == 0
    assert Report.model_validate_json(result.stdout).verdict.status == "ok"


def test_output_file_is_written_on_failure_in_the_format_its_suffix_names(
    world: World, tmp_path: Path
) -> None:
    json_file, md_file = tmp_path / "r.json", tmp_path / "r.md"
    ref = f"{REGISTRY}:{closed_port()}/ns/app:1.0"
    first = world.run(ref, "--output", str(json_file))
    assert first.code == 11
    assert json.loads(json_file.read_text()) == first.report
    argv = ["run", ref, "--nameserver", world.dns.address, "--output", str(md_file)]
    second = invoke(argv)
    assert second.code == 11
    assert md_file.read_text().startswith("# acrdiag report: ")
    assert "tcp_refused" in md_file.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # no temp leftovers


def test_output_replaces_an_existing_report_whole(world: World, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old report")
    world.run(f"{REGISTRY}:{closed_port()}/ns/app:1.0", "--output", str(target))
    Report.model_validate_json(target.read_text())


@pytest.mark.parametrize("fmt", ["json", "text", "markdown"])
def test_no_secret_reaches_any_output(world: World, tmp_path: Path, fmt: str) -> None:
    world.healthy()
    report_file = tmp_path / f"report.{fmt}"
    result = world.run(world.ref("ns/app:1.0"), "--output", str(report_file), fmt=fmt)
    assert result.code == 0
    outputs = result.stdout + result.stderr + report_file.read_text()
    secrets = [PASSWORD, "c2lnbmF0dXJlLXZhbHVlLXNlY3JldA==", "LTAI5tExampleKeyId", *world.tokens]
    for secret in secrets:
        assert secret not in outputs
    assert world.tokens, "the run did get a token"


def test_wrong_password_never_echoes_it(world: World) -> None:
    world.healthy()
    for fmt in ("json", "text", "markdown"):
        result = world.run(world.ref("ns/app:1.0"), password="hunter2-secret", fmt=fmt)
        assert result.code == 13
        assert "hunter2-secret" not in result.stdout + result.stderr


def test_closed_stdout_keeps_the_verdicts_exit_code_and_prints_no_traceback(
    tmp_path: Path,
) -> None:
    port = closed_port()
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "acrdiag",
            "run",
            f"127.0.0.1:{port}/ns/app",
            "--format",
            "json",
            "--timeout",
            "2",
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 11
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert Report.model_validate_json(out.read_text()).verdict.cause == "tcp_refused"


def test_bad_input_still_replaces_the_output_file_with_a_report_saying_why(
    tmp_path: Path,
) -> None:
    out = tmp_path / "last.json"
    out.write_text('{"verdict": {"status": "ok"}}')  # yesterday's report
    result = invoke(["run", "Shop/App:1", "--output", str(out)])
    assert result.code == 2 and result.stderr.count("\n") == 1
    report = Report.model_validate_json(out.read_text())
    assert (report.verdict.status, report.verdict.cause, report.verdict.exit_code) == (
        "fail",
        "bad_input",
        2,
    )
    assert "lowercase" in report.verdict.summary
    assert {s.status for s in report.steps} == {"skipped"}


def test_output_dash_is_standard_output(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = world.run(f"{REGISTRY}:{closed_port()}/ns/app:1.0", "--output", "-")
    assert result.code == 11
    assert Report.model_validate_json(result.stdout).verdict.exit_code == 11
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("argv", [["-h"], ["run", "-h"]])
def test_dash_h_is_help(argv: list[str]) -> None:
    result = invoke(argv)
    assert result.code == 0 and "--help" in result.stdout


def test_no_color_is_honoured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from acrdiag.render.text import render_text

    report = Report.model_validate_json((REPO / "sample_reports" / "healthy.json").read_text())
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = io.StringIO()
    render_text(report, coloured)
    assert "\x1b[" in coloured.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = io.StringIO()
    render_text(report, plain)
    assert "\x1b[3" not in plain.getvalue()  # no colour codes (bold may stay)


def test_sigterm_keeps_the_partial_report_and_exits_143(world: World, tmp_path: Path) -> None:
    import signal
    import time

    from tests.support.servers import raw_server, read_request

    def silent(conn: object) -> None:
        read_request(conn)  # type: ignore[arg-type]
        time.sleep(10)

    out = tmp_path / "report.json"
    with raw_server(silent) as port:  # type: ignore[arg-type]
        argv = world.argv(f"{REGISTRY}:{port}/ns/app:1.0", "--plain-http", "--output", str(out))
        process = subprocess.Popen(
            [sys.executable, "-m", "acrdiag", *argv, "--timeout", "20"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert process.stdin is not None
        process.stdin.write(PASSWORD + "\n")
        process.stdin.close()
        time.sleep(2)  # well into step 1, waiting for the silent registry
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout.read(), process.stderr.read()
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    report = Report.model_validate_json(out.read_text())
    assert report.verdict.exit_code == 143 and report.verdict.cause == "interrupted"
    assert "stopped (SIGTERM)" in report.steps[0].summary
    assert json.loads(stdout)["verdict"]["exit_code"] == 143


def test_version_answers_without_importing_the_commands() -> None:
    """`acrdiag --version` is a liveness probe: it must not pay for typer, httpx or pydantic."""
    code = (
        "import sys; from acrdiag.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as e:\n"
        "    heavy = [m for m in ('typer', 'httpx', 'pydantic', 'rich') if m in sys.modules]\n"
        "    print(e.code, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.splitlines() == [f"acrdiag {__version__}", "0 []"]


def test_a_run_starts_its_steps_before_pydantic_is_imported() -> None:
    """Start-up is the cost of every cron run: the steps start with only the network stack
    imported; the report's models import beside them (engine.py), once the steps run."""
    code = (
        "import sys\n"
        "from acrdiag import engine\n"
        "seen = []\n"
        "real = engine._import_report_models_aside\n"
        "def spy():\n"
        "    seen.append([m for m in ('pydantic', 'cryptography', 'rich', 'prometheus_client')\n"
        "                 if sys.modules.get(m) is not None])\n"
        "    real()\n"
        "engine._import_report_models_aside = spy\n"
        "from acrdiag.cli import main\n"
        "try:\n"
        "    main(['run', f'127.0.0.1:{sys.argv[1]}/ns/app:1.0', '--runtime', 'none',\n"
        "          '--format', 'json', '--timeout', '2'])\n"
        "except SystemExit as e:\n"
        "    print(e.code, seen[0] if seen else 'the steps never started')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(closed_port())],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    # Exit 11: step 1 failed (nobody listens), and the report was still made.
    assert out.stdout.strip().splitlines()[-1] == "11 []", out.stderr[-2000:]
