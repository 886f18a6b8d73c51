"""The README's cause table, generated from the catalogue:

    python -m acrdiag.catalogue.readme          # print the table
    python -m acrdiag.catalogue.readme --write  # replace it in README.md

tests/test_catalogue.py fails when README.md holds another table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from acrdiag.catalogue import catalogue
from acrdiag.causes import Cause

START, END = "<!-- causes:start -->\n", "<!-- causes:end -->"


def cause_table() -> str:
    rows = ["| cause | severity | steps | meaning |", "|---|---|---|---|"]
    entries = catalogue()
    for cause in Cause:  # the enum's order: grouped by step
        entry = entries[cause]
        steps = ", ".join(entry.steps) or "none (the run did not start)"
        meaning = entry.texts["en"].meaning.replace("|", "\\|")
        rows.append(f"| `{cause.value}` | {entry.severity} | {steps} | {meaning} |")
    return "\n".join(rows) + "\n"


def write(readme: Path) -> None:
    text = readme.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + START + cause_table() + END + after)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write(Path(__file__).resolve().parents[2] / "README.md")
    else:
        sys.stdout.write(cause_table())
