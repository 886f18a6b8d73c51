"""The cause catalogue: for every cause code its severity, the steps that report it, what it
means, the usual reasons, the next steps and a link, in English and Chinese, with what differs
per registry (ACR, Docker Hub, ECR, ...). Data in causes.toml; shared hint texts in hints.toml.

`acrdiag explain CAUSE` prints an entry; reports carry the entry of each failing or warning
step in the language of --lang (README "Cause codes").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from acrdiag.causes import Cause
from acrdiag.errors import InputError
from acrdiag.kinds import RegistryKind

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")
SEVERITIES = ("failure", "warning")

# The catalogue's profile keys: which vendor's knowledge applies to a registry kind.
PROFILE_KEYS: dict[RegistryKind, str] = {
    RegistryKind.ACR_EE: "acr",
    RegistryKind.ACR_PERSONAL: "acr",
    RegistryKind.DOCKERHUB: "dockerhub",
    RegistryKind.ECR: "ecr",
    RegistryKind.GHCR: "ghcr",
    RegistryKind.GCR: "gcr",
    RegistryKind.HARBOR: "harbor",
    RegistryKind.QUAY: "quay",
    RegistryKind.AZURE: "azure",
    RegistryKind.GITLAB: "gitlab",
    RegistryKind.ACR_MIRROR: "acr",
}
PROFILES = ("acr", "dockerhub", "ecr", "ghcr", "gcr", "azure", "harbor", "quay", "gitlab")


@dataclass(frozen=True)
class Text:
    meaning: str = ""
    reasons: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    link: str | None = None


@dataclass(frozen=True)
class Entry:
    cause: Cause
    severity: str
    steps: tuple[str, ...]
    link: str | None
    texts: Mapping[str, Text]
    profiles: Mapping[str, Mapping[str, Text]] = field(default_factory=dict)

    def explain(self, lang: Lang, profile: str | None = None) -> Text:
        """The entry in ``lang``; a profile's reasons and steps come first, then the general
        ones, since the vendor's are the more specific."""
        general = self.texts[lang]
        vendor = self.profiles.get(profile or "", {}).get(lang)
        if vendor is None:
            return Text(general.meaning, general.reasons, general.next_steps, self.link)
        return Text(
            general.meaning,
            _merged(vendor.reasons, general.reasons),
            _merged(vendor.next_steps, general.next_steps),
            vendor.link or self.link,
        )


def _merged(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *then)))


@cache
def catalogue() -> dict[Cause, Entry]:
    """Every entry of causes.toml, by cause (loaded once)."""
    data = _load("causes.toml")
    return {Cause(code): _entry(Cause(code), raw) for code, raw in data.items() if code in _codes()}


@cache
def _codes() -> frozenset[str]:
    return frozenset(c.value for c in Cause)


@cache
def hints() -> dict[str, dict[str, str]]:
    """Fixed hint texts several probes give, written once: key -> {lang: text}."""
    return {key: dict(value) for key, value in _load("hints.toml").items()}


def hint(key: str, lang: Lang = "en") -> str:
    return hints()[key][lang]


def entry(cause: Cause) -> Entry | None:
    return catalogue().get(cause)


def profile_key(kind: RegistryKind | None) -> str | None:
    return PROFILE_KEYS.get(kind) if kind is not None else None


def language(environ: Mapping[str, str] | None = None) -> Lang:
    """From the locale, as gettext picks it: LC_ALL, then LC_MESSAGES, then LANG."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def choose_language(flag: str | None, environ: Mapping[str, str]) -> Lang:
    """--lang, else the locale's (LC_ALL, LC_MESSAGES, LANG)."""
    if flag is None:
        return language(environ)
    if flag not in LANGUAGES:
        raise InputError(f"--lang must be en or zh, not {flag!r}")
    return "zh" if flag == "zh" else "en"


def _load(name: str) -> dict[str, Any]:
    # Only when an explanation is asked for: not at start-up (together about 7 ms).
    import tomllib
    from importlib import resources

    text = resources.files("acrdiag.catalogue").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _entry(cause: Cause, raw: dict[str, Any]) -> Entry:
    texts: dict[str, Text] = {lang: _text(raw.get(lang, {})) for lang in LANGUAGES}
    profiles: dict[str, Mapping[str, Text]] = {
        key: {lang: _text(value.get(lang, {})) for lang in LANGUAGES if lang in value}
        for key, value in raw.get("profiles", {}).items()
    }
    return Entry(
        cause,
        str(raw.get("severity", "")),
        tuple(raw.get("steps", ())),
        raw.get("link"),
        texts,
        profiles,
    )


def _text(raw: dict[str, Any]) -> Text:
    return Text(
        str(raw.get("meaning", "")),
        tuple(raw.get("reasons", ())),
        tuple(raw.get("next_steps", ())),
        raw.get("link"),
    )
