"""checks/: the scheduler examples run commands that exist, with flags that exist."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.support.world import invoke

CHECKS = Path(__file__).resolve().parent.parent / "checks"


def _cron_commands() -> list[list[str]]:
    commands = []
    for line in (CHECKS / "acrdiag.cron").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split(None, 6)
            assert len(fields) == 7, "five time fields, a user, a command"
            words = shlex.split(fields[6])
            start = next(i for i, w in enumerate(words) if w.endswith("bin/acrdiag"))
            rest = words[start + 1 :]
            end = next((i for i, w in enumerate(rest) if w in ("<", ">", "&&", ";")), len(rest))
            commands.append(rest[:end])
    return commands


def test_cron_line_uses_only_real_flags_and_a_valid_reference() -> None:
    commands = _cron_commands()
    assert commands
    help_text = invoke(["run", "--help"]).stdout
    for argv in commands:
        assert argv[0] == "run"
        for word in argv:
            if word.startswith("--"):
                assert word in help_text, word
        # Bad input exits 2 before any network: the example must get past validation.
        checked = invoke([*argv, "--output", "/nonexistent-dir/x.json"], stdin="pw\n")
        assert "does not exist" in checked.stderr


def test_cron_line_keeps_the_password_off_the_command_line() -> None:
    for argv in _cron_commands():
        assert "--password-stdin" in argv
        assert not any(w.startswith("--password=") for w in argv)
