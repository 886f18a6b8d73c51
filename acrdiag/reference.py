"""Image references and platforms, normalized the way docker does it.

The grammar follows distribution/reference (regexp.go) and docker's
ParseNormalizedNamed (normalize.go). The diagnosis must talk to the same host,
repository and tag that `docker pull` would, so the rules are copied rather
than improved; only the error messages are ours.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
# Docker Hub's API does not live on docker.io itself.
DOCKER_HUB_API_HOST = "registry-1.docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

# re.ASCII everywhere: Go's \w and [0-9] are ASCII-only, Python's are not.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*", re.ASCII)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DOMAIN_NAME = re.compile(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*",
    re.ASCII,
)
_IPV6_BRACKETED = re.compile(r"\[([a-fA-F0-9:]+)\]", re.ASCII)
_PORT = re.compile(r"[0-9]+", re.ASCII)
_DIGEST_ALGORITHM = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*", re.ASCII)
_DIGEST_ENCODED = re.compile(r"[a-zA-Z0-9=_-]{32,}", re.ASCII)
_SHA256_HEX = re.compile(r"[a-f0-9]{64}", re.ASCII)
# docker refuses a bare image ID so that `docker pull <id>` is not read as a name.
_IMAGE_ID = re.compile(r"[a-f0-9]{64}", re.ASCII)
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_SHOWN_MAX = 120


class ReferenceError(ValueError):
    """A reference or platform string that docker would refuse."""


@dataclass(frozen=True)
class ImageReference:
    given: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def host(self) -> str:
        return _split_host_port(self.registry)[0]

    @property
    def port(self) -> int | None:
        return _split_host_port(self.registry)[1]

    @property
    def api_host(self) -> str:
        """The host name the registry API is served on: no port, no brackets, lower case."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.host.lower()

    @property
    def manifest_ref(self) -> str:
        # A digest pins the content, so it wins over a tag given alongside it (as in docker).
        if self.digest is not None:
            return self.digest
        return self.tag or DEFAULT_TAG

    @property
    def normalized(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse what a user would pass to `docker pull`."""
    _check_characters(text, "reference")
    if _SCHEME.match(text):
        scheme, _, rest = text.partition("://")
        raise _ref_error(text, f"remove the scheme '{scheme}://' (use '{_show(rest)}')")
    if _IMAGE_ID.fullmatch(text):
        raise _ref_error(text, "a bare 64-hex string is an image ID, not a repository name")
    name_and_tag, digest = _split_digest(text)
    registry, remainder = _split_registry(name_and_tag)
    repository, tag = _split_tag(text, remainder)
    _check_registry(text, registry)
    _check_repository(text, repository)
    if len(registry) + 1 + len(repository) > MAX_NAME_LENGTH:
        length = len(registry) + 1 + len(repository)
        raise _ref_error(text, f"name is {length} characters long, the limit is {MAX_NAME_LENGTH}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(text, registry, repository, tag, digest)


def digest_error(digest: str) -> str | None:
    """Why `digest` is not a valid content digest, or None if it is."""
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not algorithm or not encoded:
        return "expected 'algorithm:hex', e.g. 'sha256:' and 64 hex digits"
    if algorithm == "sha256":
        if len(encoded) != 64:
            return f"a sha256 digest has 64 hex digits, this one has {len(encoded)}"
        if not _SHA256_HEX.fullmatch(encoded):
            return "a sha256 digest must be lowercase hex (0-9, a-f)"
        return None
    if not _DIGEST_ALGORITHM.fullmatch(algorithm):
        return f"invalid digest algorithm '{_show(algorithm)}'"
    if not _DIGEST_ENCODED.fullmatch(encoded):
        return "the encoded part must be at least 32 characters of [a-zA-Z0-9=_-]"
    return None


def _check_characters(text: str, what: str) -> None:
    if not text:
        raise ReferenceError(f"invalid {what}: it is empty")
    if text.isprintable() and " " not in text:
        return  # the common case, in C: isprintable() is False for every other space
    for index, char in enumerate(text):
        if char.isspace() or not char.isprintable():
            raise ReferenceError(
                f"invalid {what} '{_show(text)}': whitespace or control character "
                f"{char!r} at position {index}"
            )


def _split_digest(text: str) -> tuple[str, str | None]:
    name, sep, digest = text.partition("@")
    if not sep:
        return text, None
    if not name:
        raise _ref_error(text, "no repository name before '@'")
    if not digest:
        raise _ref_error(text, "empty digest after '@'")
    if "@" in digest:
        raise _ref_error(text, "more than one '@'")
    problem = digest_error(digest)
    if problem is not None:
        raise _ref_error(text, f"bad digest after '@': {problem}")
    return name, digest


def _split_registry(name: str) -> tuple[str, str]:
    """docker's splitDockerDomain, applied to the name with its tag."""
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_REGISTRY, "library/" + name
    if first in (LEGACY_DEFAULT_REGISTRY, DEFAULT_REGISTRY):
        registry, remainder = DEFAULT_REGISTRY, rest
    elif first == "localhost" or "." in first or ":" in first or first.lower() != first:
        # Repository paths are lowercase, so an uppercase first part can only be a host.
        return first, rest
    else:
        registry, remainder = DEFAULT_REGISTRY, name
    # Only Docker Hub has the implicit "library/" namespace.
    if "/" not in remainder:
        remainder = "library/" + remainder
    return registry, remainder


def _split_tag(text: str, remainder: str) -> tuple[str, str | None]:
    # The registry is already split off, so any ':' left separates the tag.
    repository, sep, tag = remainder.partition(":")
    if not sep:
        return remainder, None
    if not tag:
        raise _ref_error(text, "empty tag after ':'")
    if not _TAG.fullmatch(tag):
        raise _ref_error(
            text,
            f"invalid tag '{_show(tag)}': use up to 128 letters, digits, '_', '.' or '-',"
            " not starting with '.' or '-'",
        )
    return repository, tag


def _check_registry(text: str, registry: str) -> None:
    if registry.startswith("["):
        host, bracket, rest = registry.partition("]")
        host += bracket
        valid = bool(bracket) and _valid_ipv6(host) and (not rest or rest.startswith(":"))
        sep, port = (":", rest[1:]) if rest else ("", "")
    else:
        host, sep, port = registry.partition(":")
        valid = _DOMAIN_NAME.fullmatch(host) is not None
    if not valid:
        raise _ref_error(text, f"invalid registry host '{_show(registry)}'")
    if sep and not 0 < _port_number(port) <= 65535:
        raise _ref_error(text, f"invalid registry port '{_show(port)}': expected 1-65535")


def _port_number(port: str) -> int:
    """The port's value, or -1 if it is not digits; never int() on thousands of digits."""
    if not _PORT.fullmatch(port):
        return -1
    # int() refuses over 4300 digits (ValueError) and is quadratic below; zeros do not count.
    digits = port.lstrip("0") or "0"
    return int(digits) if len(digits) <= 5 else -1


def _valid_ipv6(bracketed: str) -> bool:
    match = _IPV6_BRACKETED.fullmatch(bracketed)
    if match is None:
        return False
    try:
        ipaddress.IPv6Address(match.group(1))
    except ValueError:
        return False
    return True


def _check_repository(text: str, repository: str) -> None:
    if repository.lower() != repository:
        raise _ref_error(text, "repository name must be lowercase")
    for component in repository.split("/"):
        if not component:
            raise _ref_error(text, "empty path component (leading, trailing or double '/')")
        if not _PATH_COMPONENT.fullmatch(component):
            raise _ref_error(
                text,
                f"invalid repository path component '{_show(component)}': use lowercase "
                "letters and digits, separated by '.', '_', '__' or '-'",
            )


def _split_host_port(registry: str) -> tuple[str, int | None]:
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, sep, port = registry.partition(":")
    return host, int(port) if sep else None


def _ref_error(text: str, reason: str) -> ReferenceError:
    return ReferenceError(f"invalid reference '{_show(text)}': {reason}")


def _show(text: str) -> str:
    """Keep user input on one line and of bounded length inside a message."""
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text[: _SHOWN_MAX + 1]  # one more than fits, so that the cut shows
    )
    return shown if len(shown) <= _SHOWN_MAX else shown[: _SHOWN_MAX - 3] + "..."


# --- platforms -----------------------------------------------------------------------------

_PLATFORM_PART = re.compile(r"[a-z0-9][a-z0-9._-]*", re.ASCII)
_OS_ALIASES = {"macos": "darwin"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def matches(self, desc: dict[str, object]) -> bool:
        """True if an OCI index entry's "platform" object is this platform."""
        entry_os, entry_arch, entry_variant = desc.get("os"), desc.get("architecture"), None
        if not isinstance(entry_os, str) or not isinstance(entry_arch, str):
            return False
        raw_variant = desc.get("variant")
        if isinstance(raw_variant, str) and raw_variant:
            entry_variant = raw_variant
        want = _normalize(self.os, self.architecture, self.variant)
        got = _normalize(entry_os, entry_arch, entry_variant)
        if want[:2] != got[:2]:
            return False
        # amd64 microarchitecture levels (v2, v3) run fine on plain amd64 requests.
        if want[1] == "amd64" and want[2] is None:
            return True
        return want[2] == got[2]


def parse_platform(text: str) -> Platform:
    """Parse "os/arch[/variant]" and normalize it the way containerd does."""
    _check_characters(text, "platform")
    parts = text.lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(_PLATFORM_PART.fullmatch(p) for p in parts):
        raise ReferenceError(
            f"invalid platform '{_show(text)}': expected os/arch[/variant], e.g. linux/arm64"
        )
    variant = parts[2] if len(parts) == 3 else None
    return Platform(*_normalize(parts[0], parts[1], variant))


def _normalize(os_name: str, arch: str, variant: str | None) -> tuple[str, str, str | None]:
    """containerd's platforms.Normalize, except that arm64 keeps an explicit "v8"."""
    os_name, arch = os_name.lower(), arch.lower()
    variant = variant.lower() if variant else None
    os_name = _OS_ALIASES.get(os_name, os_name)
    if arch == "i386":
        return os_name, "386", None
    if arch in ("x86_64", "x86-64", "amd64"):
        return os_name, "amd64", None if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        # Index entries for arm64 often omit the variant; v8 is what they mean.
        if variant in (None, "8", "v8", "v8.0"):
            variant = "v8"
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return os_name, "arm64", variant
    if arch == "armhf":
        return os_name, "arm", "v7"
    if arch == "armel":
        return os_name, "arm", "v6"
    if arch == "arm":
        if variant in (None, "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
        return os_name, "arm", variant
    return os_name, arch, variant
