"""What users read must match what the code does: README, schema, CI, sample reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from acrdiag.causes import Cause
from acrdiag.exit_codes import ExitCode
from acrdiag.model import json_schema

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads((ROOT / "acrdiag" / "report.schema.json").read_text())
    assert committed == json_schema(), (
        "the report model changed: run `python -m acrdiag.model > acrdiag/report.schema.json` "
        "and bump SCHEMA_VERSION if a field was renamed or removed"
    )


def test_readme_lists_every_cause_code() -> None:
    missing = [c.value for c in Cause if f"| `{c.value}` |" not in README]
    assert missing == []


def test_readme_documents_every_exit_code() -> None:
    section = README.split("## Exit codes", 1)[1].split("##", 1)[0]
    for code in (ExitCode.OK, ExitCode.INTERNAL_ERROR, ExitCode.USAGE, ExitCode.INTERRUPTED):
        assert f"| {int(code)} |" in section
    assert "| 11–17 |" in section


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", setup, re.S)
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each set-up command is one line to paste"
    install_and_run, install_and_test = commands
    assert " acrdiag run " in install_and_run.replace(".venv/bin/acrdiag", " acrdiag")
    test_command = install_and_test.rsplit("&& ", 1)[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
