"""acrdiag: which step of a container image pull broke, why, and what to hand to support."""

__version__ = "0.1.0"
