"""Renderers: read a Report, write text, JSON or Markdown. No network, no checking."""
