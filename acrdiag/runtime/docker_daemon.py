"""docker's daemon.json: registry mirrors, insecure registries and the daemon's proxy.

The rules follow moby's daemon/pkg/registry: config.go (ValidateMirror, loadMirrors,
loadInsecureRegistries, isSecureIndex, isCIDRMatch) and service_v2.go
(lookupV2Endpoints), and daemon/config/config.go for how the file itself is read. This
is the classic (non-containerd) image store's pull path.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from acrdiag.redact import redact_url
from acrdiag.runtime.hosts import HostPlan, HostRole, PullHost

HUB = "docker.io"
HUB_UPSTREAM = "https://registry-1.docker.io"  # moby DefaultV2Registry
# loadInsecureRegistries appends these; "::1/128" since docker 28.0.
DEFAULT_INSECURE = ("::1/128", "127.0.0.0/8")
MAX_FILE_BYTES = 1 << 20
MAX_ENTRIES = 256
MAX_WARNINGS = 20
PROXY_KEYS = {"http-proxy": "HTTP_PROXY", "https-proxy": "HTTPS_PROXY", "no-proxy": "NO_PROXY"}
_KNOWN = ("registry-mirrors", "insecure-registries", "proxies")
_HOST_PORT = re.compile(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?",
    re.ASCII,
)
_REFUSES = "dockerd refuses to start"
# Go's url.Parse: after the host (or "[v6]"), only ":" and digits may follow.
_PORT_SUFFIX = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::[0-9]*)?", re.ASCII)


@dataclass(frozen=True)
class DaemonConfig:
    mirrors: tuple[str, ...] = ()  # normalized by ValidateMirror: one trailing "/"
    insecure_registries: tuple[str, ...] = DEFAULT_INSECURE  # names and CIDRs
    proxies: dict[str, str] = field(default_factory=dict)  # HTTP_PROXY etc.
    file: str | None = None
    warnings: tuple[str, ...] = ()
    # registry-mirrors index of each entry of ``mirrors`` (for origins)
    mirror_index: tuple[int, ...] = ()


def read_daemon_config(etc: Path = Path("/etc"), path: Path | None = None) -> DaemonConfig:
    """Read daemon.json; ``path`` is dockerd's --config-file (missing: dockerd fails)."""
    file = path if path is not None else etc / "docker" / "daemon.json"
    warnings: list[str] = []
    data, found = _load(file, warnings, explicit=path is not None)
    if data is None:
        return DaemonConfig(file=str(file) if found else None, warnings=tuple(warnings))
    mirrors, index = _mirrors(file, data.get("registry-mirrors"), warnings)
    insecure = _insecure(file, data.get("insecure-registries"), warnings)
    proxies = _proxies(file, data, warnings)
    _unknown_keys(file, data, warnings)
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings[MAX_WARNINGS:] = [f"{file}: {more} more problems not shown"]
    return DaemonConfig(
        mirrors, insecure + DEFAULT_INSECURE, proxies, str(file), tuple(warnings), index
    )


def _load(
    file: Path, warnings: list[str], *, explicit: bool
) -> tuple[dict[str, object] | None, bool]:
    """(the JSON object or None, whether the file exists); warns unless absent by default."""
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if explicit:
            warnings.append(f"{file}: not found; with --config-file {_REFUSES}")
        return None, False
    except OSError as exc:
        warnings.append(f"{file}: cannot be read ({exc.strerror or exc}); {_REFUSES}")
        return None, True
    return _parse(file, raw, warnings), True


def _parse(file: Path, raw: bytes, warnings: list[str]) -> dict[str, object] | None:
    if len(raw) > MAX_FILE_BYTES:
        warnings.append(f"{file}: larger than {MAX_FILE_BYTES} bytes, not read")
        return None
    try:  # getConflictFreeConfiguration honours a UTF-8 or UTF-16 byte order mark
        text = raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as exc:
        warnings.append(f"{file}: not valid UTF-8 at byte {exc.start}; {_REFUSES}")
        return None
    if not text.strip():
        return {}  # dockerd: an empty file is an empty configuration
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        warnings.append(
            f"{file}: invalid JSON ({_show(str(exc) or 'nested too deep')}); {_REFUSES}"
        )
        return None
    if not isinstance(data, dict):
        warnings.append(f"{file}: expected a JSON object, got {type(data).__name__}; {_REFUSES}")
        return None
    return data


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _strings(file: Path, key: str, value: object, warnings: list[str]) -> list[str]:
    """A JSON array of strings; null is an empty list, as Go's json.Unmarshal reads it."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        warnings.append(f"{file}: {key} must be an array of strings; {_REFUSES}")
        return []
    if len(value) > MAX_ENTRIES:
        warnings.append(f"{file}: {key} has {len(value)} entries, only {MAX_ENTRIES} checked")
    return list(value[:MAX_ENTRIES])


def validate_mirror(mirror: str) -> tuple[str | None, str | None]:
    """moby ValidateMirror: (normalized URL, None) or (None, why dockerd rejects it)."""
    scheme, sep, _ = mirror.partition("://")
    if not sep or not scheme:
        return None, "no scheme: must use either 'https://' or 'http://'"
    try:
        parts = urlsplit(mirror)
    except ValueError as exc:
        return None, f"not a valid URI ({exc})"
    if not _PORT_SUFFIX.fullmatch(parts.netloc.rpartition("@")[2]):
        return None, "not a valid URI (invalid port)"
    if parts.scheme not in ("http", "https"):
        return None, f"unsupported scheme '{scheme}': must use either 'https://' or 'http://'"
    if any(c.isspace() or not c.isprintable() for c in mirror):
        return None, "not a valid URI (space or control character)"
    if parts.query or parts.fragment:
        return None, "query or fragment at end of the URI"
    if parts.username is not None or "@" in parts.netloc:
        return None, "username/password not allowed in URI"
    if not parts.hostname:
        return None, "no host (dockerd accepts it, but no pull through it can work)"
    return mirror.removesuffix("/") + "/", None


def _mirrors(
    file: Path, value: object, warnings: list[str]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """loadMirrors: validate each, drop duplicates, keep the order."""
    mirrors: list[str] = []
    index: list[int] = []
    for i, mirror in enumerate(_strings(file, "registry-mirrors", value, warnings)):
        normalized, problem = validate_mirror(mirror)
        if normalized is None:
            shown = _show(redact_url(mirror))
            warnings.append(f"{file}: registry-mirrors[{i}] {shown}: {problem}; {_REFUSES}")
        elif normalized not in mirrors:
            mirrors.append(normalized)
            index.append(i)
    return tuple(mirrors), tuple(index)


def _insecure(file: Path, value: object, warnings: list[str]) -> tuple[str, ...]:
    """loadInsecureRegistries: host[:port] names and CIDRs; http(s):// is stripped."""
    entries: list[str] = []
    for i, entry in enumerate(_strings(file, "insecure-registries", value, warnings)):
        where = f"{file}: insecure-registries[{i}] {_show(entry)}"
        scheme, sep, rest = entry.partition("://")
        if sep and scheme.lower() in ("http", "https"):
            warnings.append(f"{where}: dockerd removes '{scheme}://' and uses {_show(rest)}")
            entry = rest
        elif sep:
            warnings.append(f"{where}: should not contain '://'; {_REFUSES}")
            continue
        problem = _insecure_entry_problem(entry)
        if problem:
            warnings.append(f"{where}: {problem}; {_REFUSES}")
        else:
            entries.append(entry)
    return tuple(entries)


def _insecure_entry_problem(entry: str) -> str | None:
    if entry.startswith("-") or entry.endswith("-"):
        return "cannot begin or end with a hyphen"
    if "/" in entry:
        return None if _cidr(entry) else "not a valid CIDR or host[:port]"
    host, port = _split_host_port(entry)
    if not _HOST_PORT.fullmatch(entry) and not _is_ip(host):
        return f"invalid host {_show(host)}"
    if port and not _valid_port(port):
        return f"invalid port {_show(port)}"
    return None


def _valid_port(port: str) -> bool:
    """strconv.Atoi and 0-65535, without int() on thousands of digits."""
    digits = port.lstrip("0") or "0"
    return re.fullmatch(r"[0-9]+", port) is not None and len(digits) <= 5 and int(digits) <= 65535


def _proxies(file: Path, data: dict[str, object], warnings: list[str]) -> dict[str, str]:
    """daemon.json "proxies" → the variables configureProxyEnv sets (empty: not set)."""
    if "proxies" not in data:
        return {}
    value = data["proxies"]
    if not isinstance(value, dict):
        # Not an object, "proxies" is not flattened and is an unknown directive (even null).
        warnings.append(f"{file}: proxies must be an object; {_REFUSES}")
        return {}
    proxies: dict[str, str] = {}
    for key, setting in value.items():
        if key not in PROXY_KEYS:
            warnings.append(f"{file}: proxies: unknown key {_show(key)}; {_REFUSES}")
        elif not isinstance(setting, str):
            warnings.append(f"{file}: proxies.{key} must be a string; {_REFUSES}")
        elif setting:
            proxies[PROXY_KEYS[key]] = setting
    return proxies


def _unknown_keys(file: Path, data: dict[str, object], warnings: list[str]) -> None:
    """Keys that look like a misspelt registry key: dockerd rejects unknown directives."""
    for key in data:
        if key in _KNOWN or key in PROXY_KEYS:
            continue
        guess = difflib.get_close_matches(key.lower().replace("_", "-"), _KNOWN, 1, 0.75)
        if guess:
            warnings.append(
                f"{file}: unknown key {_show(key)} (did you mean '{guess[0]}'?); {_REFUSES}"
                ' ("the following directives don\'t match any configuration option")'
            )


def is_insecure(config: DaemonConfig, registry: str, addresses: Sequence[str] = ()) -> bool:
    """moby isSecureIndex, negated: docker.io is always secure."""
    return _insecure_reason(config, registry, addresses) is not None


def _insecure_reason(config: DaemonConfig, registry: str, addresses: Sequence[str]) -> str | None:
    if registry in (HUB, "index.docker.io"):
        return None  # IndexConfigs["docker.io"] is always Secure
    if registry in config.insecure_registries:
        return f"'{registry}' is listed in insecure-registries"
    host, _ = _split_host_port(registry)
    candidates = [host] if _is_ip(host) else list(addresses)
    for text in candidates:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # isCIDRMatch: addr.Unmap()
        for entry in config.insecure_registries:
            network = _cidr(entry)
            if network is not None and address in network:
                return f"{address} is inside insecure-registries CIDR {entry}"
    return None


def docker_plan(config: DaemonConfig, registry: str, addresses: Sequence[str] = ()) -> HostPlan:
    """moby lookupV2Endpoints: mirrors (docker.io only) in order, then the registry."""
    notes: list[str] = []
    if registry in (HUB, "index.docker.io"):
        index = config.mirror_index or range(len(config.mirrors))
        hosts = [
            _mirror_host(config, m, i, notes) for m, i in zip(config.mirrors, index, strict=False)
        ]
        hosts.append(PullHost(HUB_UPSTREAM, HostRole.UPSTREAM, "default"))
        if any(n in config.insecure_registries for n in (HUB, "index.docker.io")):
            notes.append("insecure-registries cannot make Docker Hub insecure: ignored for it")
    else:
        hosts = [_registry_host(config, registry, addresses, notes)]
        if config.mirrors:
            notes.append(f"registry-mirrors apply only to Docker Hub, not to {registry}")
    if config.proxies:
        shown = ", ".join(f"{k}={_redact_proxy(v)}" for k, v in config.proxies.items())
        notes.append(f"dockerd sets {shown} from {config.file} (overriding its environment)")
    files = (config.file,) if config.file else ()
    extra: dict[str, object] = {"proxies": dict(config.proxies)} if config.proxies else {}
    return HostPlan(tuple(hosts), files, config.warnings, notes=tuple(notes), extra=extra)


def _registry_host(
    config: DaemonConfig, registry: str, addresses: Sequence[str], notes: list[str]
) -> PullHost:
    """https://registry; insecure: unverified TLS, then plain http (InsecureSkipVerify)."""
    reason = _insecure_reason(config, registry, addresses)
    if reason:
        notes.append(
            f"{registry} is insecure ({reason}): docker tries https without verifying"
            " the certificate, then plain http"
        )
    else:
        _note_unchecked_cidrs(config, registry, addresses, notes)
    insecure = reason is not None
    return PullHost(
        f"https://{registry}", HostRole.UPSTREAM, "default", skip_verify=insecure, insecure=insecure
    )


def _mirror_host(config: DaemonConfig, mirror: str, index: int, notes: list[str]) -> PullHost:
    """A mirror is used as written; TLS is unverified if its host is insecure (no http retry)."""
    url = mirror.removesuffix("/")
    parts = urlsplit(url)
    if parts.scheme == "http":
        notes.append(f"mirror {url} is plain http: docker talks to it without TLS")
    if parts.path:
        notes.append(f"mirror {url} has a path: dockerd before 25.0 refuses to start with it")
    skip = parts.scheme == "https" and _insecure_reason(config, parts.netloc, ()) is not None
    if parts.scheme == "https" and not skip:
        _note_unchecked_cidrs(config, parts.netloc, (), notes)
    return PullHost(
        url, HostRole.MIRROR, f"{config.file} registry-mirrors[{index}]", skip_verify=skip
    )


def _note_unchecked_cidrs(
    config: DaemonConfig, host: str, addresses: Sequence[str], notes: list[str]
) -> None:
    """Say when a user CIDR could only match through DNS and no addresses were given."""
    if addresses or _is_ip(_split_host_port(host)[0]):
        return
    cidrs = [e for e in config.insecure_registries if e not in DEFAULT_INSECURE and _cidr(e)]
    if cidrs:
        notes.append(
            f"insecure-registries has CIDRs ({', '.join(cidrs)}): dockerd resolves {host} and"
            " treats it as insecure if an address is inside one; no addresses were given,"
            " so this was not checked"
        )


def _redact_proxy(value: str) -> str:
    """A proxy URL without its password; the scheme is optional in HTTP_PROXY."""
    if "://" in value:
        return redact_url(value)
    return redact_url("http://" + value).removeprefix("http://")


def _cidr(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netip.ParsePrefix(...).Masked(): needs an explicit /bits."""
    if "/" not in entry or "%" in entry:
        return None
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def _split_host_port(text: str) -> tuple[str, str]:
    """net.SplitHostPort, falling back to the whole text as the host."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _show(text: str, limit: int = 120) -> str:
    """User text on one bounded line inside a message."""
    shown = text[: limit + 1].encode("unicode_escape").decode("ascii")
    return repr(shown if len(shown) <= limit else shown[: limit - 3] + "...")
