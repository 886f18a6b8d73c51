"""The runtime's proxy variables against the shell's: what differs, and what that does."""

from __future__ import annotations

from collections.abc import Mapping

from acrdiag.redact import redact_url

# Go's httpproxy.FromEnvironment: the upper-case name first, then the lower-case one.
VARIABLES = (("HTTP_PROXY", "http_proxy"), ("HTTPS_PROXY", "https_proxy"), ("NO_PROXY", "no_proxy"))


def effective(environ: Mapping[str, str]) -> dict[str, str]:
    """HTTP_PROXY, HTTPS_PROXY and NO_PROXY as a Go program reads them from ``environ``."""
    found: dict[str, str] = {}
    for upper, lower in VARIABLES:
        value = environ.get(upper) or environ.get(lower)
        if value:
            found[upper] = value
    return found


def proxy_values(environ: Mapping[str, str]) -> dict[str, str]:
    """For the report: the effective variables, proxy passwords removed."""
    return {
        name: value if name == "NO_PROXY" else redact_url(value)
        for name, value in effective(environ).items()
    }


def describe_differences(
    shell: Mapping[str, str], runtime: Mapping[str, str], name: str
) -> list[str]:
    """One sentence per variable the two set differently, saying what the runtime does."""
    mine, theirs = effective(shell), effective(runtime)
    sentences = []
    for variable, _ in VARIABLES:
        ours, its = mine.get(variable), theirs.get(variable)
        if ours == its:
            continue
        sentences.append(_sentence(variable, ours, its, name))
    return sentences


def _sentence(variable: str, shell: str | None, runtime: str | None, name: str) -> str:
    def shown(value: str) -> str:
        return value if variable == "NO_PROXY" else redact_url(value)

    scheme = {"HTTP_PROXY": "http", "HTTPS_PROXY": "https"}.get(variable)
    if variable == "NO_PROXY":
        effect = f"{name} decides which hosts bypass its proxy by its own list"
    elif runtime is None:
        effect = f"{name} reaches {scheme} hosts (registry, token service, storage) directly"
    else:
        effect = f"{name} sends {scheme} requests through {shown(runtime)}"
    if shell is None:
        return f"your shell does not set {variable}, {name} sets {shown(runtime or '')}: {effect}"
    if runtime is None:
        return f"your shell sets {variable}={shown(shell)}, {name} does not: {effect}"
    return f"your shell sets {variable}={shown(shell)}, {name} {shown(runtime)}: {effect}"
