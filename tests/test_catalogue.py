"""The cause catalogue: complete in both languages, tied to the code and the README, and the
explanations reports carry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acrdiag.catalogue import LANGUAGES, PROFILES, SEVERITIES, catalogue, hints, language
from acrdiag.catalogue.readme import cause_table
from acrdiag.causes import Cause
from acrdiag.model import StepId

README = Path(__file__).resolve().parents[1] / "README.md"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("cause", list(Cause), ids=lambda c: c.value)
def test_every_cause_has_an_entry_in_both_languages(cause: Cause) -> None:
    entry = catalogue().get(cause)
    assert entry is not None, f"{cause.value} has no catalogue entry"
    assert entry.severity in SEVERITIES
    assert all(step in {s.value for s in StepId} for step in entry.steps)
    for lang in LANGUAGES:
        text = entry.texts[lang]
        assert text.meaning, f"{cause.value}: no {lang} meaning"
        assert text.next_steps, f"{cause.value}: no {lang} next step"
    assert HAN.search(entry.texts["zh"].meaning), f"{cause.value}: the zh meaning is not Chinese"
    assert not HAN.search(entry.texts["en"].meaning)
    for key, texts in entry.profiles.items():
        assert key in PROFILES, f"{cause.value}: unknown profile {key}"
        assert set(texts) == set(LANGUAGES), f"{cause.value}.profiles.{key}: both languages"


def test_the_catalogue_names_no_cause_the_code_does_not_have() -> None:
    import tomllib

    from acrdiag.catalogue import _load

    codes = {c.value for c in Cause}
    assert set(_load("causes.toml")) <= codes
    assert tomllib  # the data is TOML, read with the standard library


def test_severity_agrees_with_how_the_code_raises_each_cause() -> None:
    """A cause the code raises only through a step's warn() is a warning in the catalogue;
    one it raises only as a StepFailed is a failure."""
    files = [p for p in Path("acrdiag").rglob("*.py") if p.name != "causes.py"]
    source = "\n".join(p.read_text() for p in files)
    for cause, entry in catalogue().items():
        uses = len(re.findall(rf"Cause\.{cause.name}\b", source))
        warned = len(re.findall(rf"warn\(\s*Cause\.{cause.name}\b", source))
        failed = len(re.findall(rf"StepFailed\(\s*Cause\.{cause.name}\b", source))
        if uses and warned == uses:
            assert entry.severity == "warning", cause.value
        if uses and failed == uses:
            assert entry.severity == "failure", cause.value


def test_the_readme_cause_table_is_the_catalogue_s() -> None:
    text = README.read_text()
    start, end = "<!-- causes:start -->\n", "<!-- causes:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == cause_table(), "regenerate: python -m acrdiag.catalogue.readme"


def test_shared_hints_exist_in_both_languages() -> None:
    for key, texts in hints().items():
        assert set(texts) == set(LANGUAGES), key
        assert HAN.search(texts["zh"]), key


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_follows_the_locale(environ: dict[str, str], expected: str) -> None:
    assert language(environ) == expected
