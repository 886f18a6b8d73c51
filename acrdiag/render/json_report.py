"""The JSON report: the model, as is."""

from __future__ import annotations

from acrdiag.model import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"
