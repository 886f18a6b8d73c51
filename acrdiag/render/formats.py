"""The report formats: one table of name, file suffixes and writer, for every command."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from acrdiag.model import Report


@dataclass(frozen=True)
class Renderer:
    name: str
    suffixes: tuple[str, ...]
    render: Callable[[Report], str]


def _json(report: Report) -> str:
    from acrdiag.render.json_report import render_json

    return render_json(report)


def _markdown(report: Report) -> str:
    from acrdiag.render.markdown import render_markdown

    return render_markdown(report)


def _text(report: Report) -> str:
    from acrdiag.render.text import render_text

    buffer = io.StringIO()
    render_text(report, buffer, color=False, width=80)  # a ticket, a terminal: 80 columns
    return buffer.getvalue()


RENDERERS: dict[str, Renderer] = {
    r.name: r
    for r in (
        Renderer("json", (".json",), _json),
        Renderer("markdown", (".md", ".markdown"), _markdown),
        Renderer("text", (".txt",), _text),
    )
}
DEFAULT_FILE_FORMAT = "json"


def format_for_file(path: Path) -> str:
    """A file's suffix picks its format: JSON unless .md or .txt."""
    suffix = path.suffix.lower()
    for renderer in RENDERERS.values():
        if suffix in renderer.suffixes:
            return renderer.name
    return DEFAULT_FILE_FORMAT


def render(report: Report, fmt: str) -> str:
    return RENDERERS[fmt].render(report)
