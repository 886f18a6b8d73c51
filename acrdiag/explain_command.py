"""`acrdiag explain CAUSE` and `acrdiag explain --list`: the catalogue, read by a person."""

from __future__ import annotations

from acrdiag.catalogue import PROFILES, catalogue, choose_language, entry
from acrdiag.causes import Cause
from acrdiag.env import Env
from acrdiag.errors import InputError

HEADINGS = {
    "en": ("severity", "reported at", "reasons, most common first", "what to do", "more"),
    "zh": ("级别", "出现在步骤", "常见原因（按可能性排序）", "怎么办", "参考文档"),
}
SEVERITY_ZH = {"failure": "失败", "warning": "警告"}


def explain_main(
    cause: str | None, list_all: bool, lang_flag: str | None, profile: str | None, env: Env
) -> int:
    lang = choose_language(lang_flag, env.environ)
    if profile is not None and profile not in PROFILES:
        raise InputError(f"--registry must be one of {', '.join(PROFILES)}, not {profile!r}")
    if list_all == (cause is not None):
        raise InputError("give a cause code, or --list")
    out = env.stdout
    if out is None:
        return 0
    if list_all:
        for code in Cause:
            found = entry(code)
            meaning = found.texts[lang].meaning if found else ""
            out.write(f"{code.value:24} {meaning}\n")
        return 0
    assert cause is not None
    try:
        code = Cause(cause.strip().lower())
    except ValueError:
        raise InputError(
            f"no cause code {cause!r}: `acrdiag explain --list` shows them all"
        ) from None
    out.write(_entry_text(code, lang, profile))
    return 0


def _entry_text(code: Cause, lang: str, profile: str | None) -> str:
    found = catalogue()[code]
    text = found.explain("zh" if lang == "zh" else "en", profile)
    severity_h, steps_h, reasons_h, todo_h, more_h = HEADINGS[lang]
    severity = SEVERITY_ZH[found.severity] if lang == "zh" else found.severity
    lines = [f"{code.value}: {text.meaning}", "", f"{severity_h}: {severity}"]
    if found.steps:
        lines.append(f"{steps_h}: {', '.join(found.steps)}")
    if text.reasons:
        lines += ["", f"{reasons_h}:", *(f"  {i}. {r}" for i, r in enumerate(text.reasons, 1))]
    lines += ["", f"{todo_h}:", *(f"  - {s}" for s in text.next_steps)]
    if text.link:
        lines += ["", f"{more_h}: {text.link}"]
    return "\n".join(lines) + "\n"
