"""Errors of acrdiag's own input, below the command line and the commands that share it."""

from __future__ import annotations


class InputError(Exception):
    """Bad input found before any network traffic: exit 2 with this one line."""
