"""containerd's hosts directories (config_path): which directory serves a registry and the
hosts its hosts.toml lists, as core/remotes/docker/config/hosts.go reads them (1.5 to 2.3):
ConfigureHosts, HostDirFromRoot, loadHostDir, parseHostsFile, parseHostConfig, loadCertFiles.
containerd.py decides which directories to search.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard
from urllib.parse import unquote, urlsplit

from acrdiag.redact import redact_url
from acrdiag.runtime.hosts import PULL, PUSH, RESOLVE, HostRole, PullHost

MAX_FILE = 1024 * 1024  # these files are a few KiB
MAX_HOSTS = 32
MAX_DIR_ENTRIES = 256
ALL_CAPABILITIES = frozenset({PULL, RESOLVE, PUSH})  # and "referrers", which pulls never need
_CAPABILITIES = {"pull": PULL, "resolve": RESOLVE, "push": PUSH, "referrers": None}
_HOST_KEYS = {"capabilities", "ca", "client", "skip_verify", "header", "override_path"}
_HOST_KEYS |= {"dial_timeout"}  # hosts.go hostFileConfig; go-toml ignores any other key
DOCKER_HUB, DOCKER_HUB_UPSTREAM = "docker.io", "registry-1.docker.io"
# Go's time.ParseDuration, and the host characters Go's url.Parse accepts (encodeHost).
_DURATION = re.compile(r"[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)")
_HOST_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>\"%\x80-\U0010ffff]*")


class Refused(Exception):
    """containerd fails every pull of the registry (or does not start) with this setup."""


class HostsFileError(ValueError):
    """parseHostsFile rejects the file: containerd logs it and reads certificate files."""


@dataclass
class Findings:
    """What a reader learnt besides the hosts, for the HostPlan."""

    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    http_fallback: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """hosts.go hostConfig: one host before ConfigureHosts fills in the defaults."""

    origin: str
    scheme: str = ""
    host: str = ""
    path: str = ""
    capabilities: frozenset[str] = ALL_CAPABILITIES
    ca: tuple[Path, ...] | None = None
    clients: tuple[tuple[Path, Path | None], ...] | None = None
    skip_verify: bool | None = None
    headers: tuple[tuple[str, str], ...] = ()


def read_bytes(path: Path, findings: Findings) -> bytes | None:
    """The file's bytes; None when absent, or (with a warning) unreadable, not a regular
    file or too large. Opened non-blocking, so a FIFO cannot hang the run."""
    problem = None
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as f:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
            data = f.read(MAX_FILE + 1) if regular else b""
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    else:
        problem = "is not a regular file" if not regular else None
        problem = problem or (f"is over {MAX_FILE} bytes" if len(data) > MAX_FILE else None)
    if problem:
        findings.warnings.append(f"{path} {problem}: read as if absent")
        return None
    findings.files.append(str(path))
    return data


def parse_toml(data: bytes) -> dict[str, Any]:
    """TOML 1.0, as go-toml reads it; ValueError when it is not (deep nesting included)."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def reroot(path: str, etc: Path) -> Path:
    """An absolute /etc/... path from a configuration file, under ``etc`` (a node's /etc
    mounted elsewhere, or a test tree); other paths as written."""
    parts = PurePosixPath(posixpath.normpath(path)).parts
    return etc.joinpath(*parts[2:]) if parts[:2] == ("/", "etc") else Path(path)


def _split(hostport: str) -> tuple[str, str]:
    """Host and port as Go's net.SplitHostPort splits them; no port where it fails."""
    host, sep, port = hostport.rpartition(":")
    if not sep or (":" in host and not (host.startswith("[") and host.endswith("]"))):
        return hostport, ""
    return host.removeprefix("[").removesuffix("]"), port


def is_localhost(host: str) -> bool:
    """resolver.go IsLocalhost: "localhost" or a loopback IP, port aside."""
    name = _split(host)[0]
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name == "localhost"
    mapped = getattr(address, "ipv4_mapped", None)  # Go's IsLoopback sees ::ffff:127.0.0.1
    return bool((mapped or address).is_loopback)


def is_proxy(registry: str, host: str) -> bool:
    """registry.go isProxy: containerd adds ?ns=<registry> for a host other than the
    registry's own (registry-1.docker.io is docker.io's)."""
    return registry != host and not (registry == DOCKER_HUB and host == DOCKER_HUB_UPSTREAM)


def parse_url(raw: str) -> tuple[str, str, str]:
    """Scheme, host (Go's u.Host: port kept, user info dropped) and decoded path; ValueError
    where Go's url.Parse fails (control characters, a bad port or host character)."""
    parts = urlsplit(raw)
    host = parts.netloc.rpartition("@")[2]
    port = _split(host)[1] if host.rpartition("]")[2].count(":") == 1 else ""
    control = any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw)
    if control or not port.isascii() or not re.fullmatch(r"[0-9]*", port):
        raise ValueError(f"{redact_url(raw)!r} is not a valid URL")
    if not _HOST_CHARS.fullmatch(host):
        raise ValueError(f"{redact_url(raw)!r} is not a valid URL")
    return parts.scheme, host, unquote(parts.path)


def api_url(scheme: str, host: str, root: str) -> tuple[str, bool]:
    """PullHost's url and override_path for containerd's (scheme, host, path): requests go
    to path.Join("/", path, repository, ...) (resolver.go request), so "/x/v2" is url /x."""
    root = "/" + posixpath.normpath(root or "/").lstrip("/")
    if root.endswith("/v2"):
        return f"{scheme}://{host}{root[:-3]}", False
    return f"{scheme}://{host}{root.rstrip('/')}", True


def find_host_dir(roots: list[Path], registry: str, findings: Findings) -> Path | None:
    """HostDirFromRoot for each root in turn: "host_port_", "host:port", then "_default"
    (hosts.go hostDirectory, config_unix.go hostPaths). Whatever exists is taken; a stat
    error other than "not found" fails the pull."""
    idx = registry.rfind(":")
    names = [f"{registry[:idx]}_{registry[idx + 1 :]}_"] if idx > 0 else []
    for candidate in (root / name for root in roots for name in [*names, registry, "_default"]):
        try:
            mode = os.stat(candidate).st_mode
        except FileNotFoundError:
            continue
        except NotADirectoryError as exc:
            raise Refused(f"{candidate.parent} is not a directory: containerd fails") from exc
        except OSError as exc:
            findings.warnings.append(f"cannot look at {candidate} ({exc.strerror})")
            continue
        if not stat.S_ISDIR(mode):
            raise Refused(f"{candidate} is not a directory: containerd fails every pull")
        return candidate
    return None


def configure_hosts(
    registry: str, directory: Path | None, etc: Path, findings: Findings
) -> list[PullHost]:
    """ConfigureHosts: the directory's hosts, else the registry itself; a last host without
    a name is the registry's own server. Every CA and client file is read up front."""
    entries = _load_host_dir(directory, etc, findings) if directory else [_Entry("default")]
    if not entries[-1].host:
        _default_upstream(entries[-1], registry)
    for entry in (e for e in entries if not e.host):  # requests to it fail: the next is tried
        findings.warnings.append(f"{entry.origin}: no host name: containerd skips it")
    entries = [entry for entry in entries if entry.host]
    for entry in entries:
        pairs = [p for pair in entry.clients or () for p in pair if p]
        check_files([*(entry.ca or ()), *pairs], entry.origin, registry, findings)
    return [_pull_host(entry, registry, findings) for entry in entries]


def check_files(paths: list[Path], origin: str, registry: str, findings: Findings) -> None:
    """A CA or client file containerd cannot read fails every pull of the registry (hosts.go
    updateTLSConfigFromHost). One we may not read may well be readable by root."""
    for path in paths:
        try:
            problem = None if stat.S_ISREG(os.stat(path).st_mode) else "not a file"
        except PermissionError:
            findings.warnings.append(f"cannot check {path} ({origin}): permission denied")
            continue
        except OSError as exc:
            problem = exc.strerror
        if problem:
            raise Refused(
                f"{path} ({origin}): {problem}: containerd fails every pull of {registry}"
            )


def _default_upstream(entry: _Entry, registry: str) -> None:
    """hosts.go: https; for localhost http with unverified TLS, unless port 80 or 443; all
    capabilities and the /v2 root, whatever the file said."""
    entry.host, entry.scheme, entry.path = registry, "https", "/v2"
    entry.capabilities = ALL_CAPABILITIES
    port = _split(registry)[1]
    if registry == DOCKER_HUB:
        entry.host = DOCKER_HUB_UPSTREAM
    elif is_localhost(registry):
        entry.scheme = "https" if port in ("", "443") else "http"
        entry.skip_verify = True if port != "80" else entry.skip_verify


def _pull_host(entry: _Entry, registry: str, findings: Findings) -> PullHost:
    """An http host with TLS settings is tried with https first, then plain http if the
    server answers in http (hosts.go, resolver.go NewHTTPFallback); port 80 stays http."""
    tls = entry.ca is not None or entry.clients is not None or entry.skip_verify is not None
    fallback = entry.scheme == "http" and tls and _split(entry.host)[1] != "80"
    url, override = api_url("https" if fallback else entry.scheme, entry.host, entry.path)
    if fallback:
        findings.http_fallback.append(url)
        findings.notes.append(f"{url}: tried with https, then http if the server answers so")
    clients = entry.clients or ()
    if len(clients) > 1:
        findings.notes.append(f"{url}: {len(clients)} client certificates, the first shown")
    proxy = is_proxy(registry, entry.host)
    return PullHost(
        url=url,
        role=HostRole.MIRROR if proxy else HostRole.UPSTREAM,
        origin=entry.origin,
        capabilities=entry.capabilities,
        override_path=override,
        skip_verify=bool(entry.skip_verify),
        insecure=fallback and bool(entry.skip_verify),
        ca=entry.ca or (),
        client=clients[0] if clients else None,
        headers=entry.headers,
        namespace=registry if proxy else None,
    )


def _load_host_dir(directory: Path, etc: Path, findings: Findings) -> list[_Entry]:
    """loadHostDir: hosts.toml; when empty, absent or rejected, the directory's docker-style
    certificate files for the registry's own server."""
    path = directory / "hosts.toml"
    data = read_bytes(path, findings)
    if not data:
        return _cert_files(directory, findings)
    parsed = Findings()  # what the file says counts only if containerd takes the file
    try:
        entries = _parse_hosts_file(parse_toml(data), directory, etc, str(path), parsed)
    except ValueError as exc:  # HostsFileError, TOML and UTF-8 errors
        findings.warnings.append(f"{path}: {exc}: containerd ignores the whole file")
        return _cert_files(directory, findings)
    findings.warnings.extend(parsed.warnings)
    findings.notes.extend(parsed.notes)
    return entries


def _cert_files(directory: Path, findings: Findings) -> list[_Entry]:
    """loadCertFiles: each *.crt is a CA, each *.cert a client certificate, with the *.key
    of the same name when there is one (os.ReadDir order: by name)."""
    try:
        with os.scandir(directory) as scan:
            found = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in scan)
    except OSError as exc:
        findings.warnings.append(f"cannot list {directory} ({exc.strerror})")
        found = []
    files = [name for name, is_dir in found[:MAX_DIR_ENTRIES] if not is_dir]
    ca = tuple(directory / name for name in files if name.endswith(".crt"))
    keys = {name: directory / (name[:-5] + ".key") for name in files if name.endswith(".cert")}
    clients = tuple((directory / n, k if os.path.exists(k) else None) for n, k in keys.items())
    what = "certificate files" if ca or clients else "no hosts.toml: the registry itself"
    return [_Entry(f"{directory} ({what})", ca=ca or None, clients=clients or None)]


def _parse_hosts_file(
    document: dict[str, Any], directory: Path, etc: Path, label: str, findings: Findings
) -> list[_Entry]:
    """parseHostsFile: the [host."…"] tables in file order, then the top-level server
    (getSortedHosts; tomllib keeps the order in which tables first appear)."""
    hosts = document.get("host", {})
    _expect(isinstance(hosts, dict), "host is not a table")
    if len(hosts) > MAX_HOSTS:
        findings.warnings.append(f"{label}: {len(hosts)} hosts, only the first {MAX_HOSTS} read")
    entries = []
    for key, config in list(hosts.items())[:MAX_HOSTS]:
        where = f'{label} [host."{redact_url(key)}"]'
        _expect(isinstance(config, dict), f'host."{redact_url(key)}" is not a table')
        _note_unknown(config, _HOST_KEYS, where, findings)
        entries.append(_parse_host_config(key, config, directory, etc, where))
    server = document.get("server", "")
    _expect(isinstance(server, str), "server is not a string")
    _note_unknown(document, _HOST_KEYS | {"server", "host"}, label, findings)
    origin = f"{label} server" if server else f"{label} (no server: the registry itself)"
    entries.append(_parse_host_config(server, document, directory, etc, origin))
    return entries


def _parse_host_config(
    server: str, config: dict[str, Any], directory: Path, etc: Path, origin: str
) -> _Entry:
    """parseHostConfig: a server not starting with "http" gets https://; "/v2" is appended
    to its path unless override_path; no capabilities means all; relative paths are from
    the file's directory (makeAbsPath)."""
    override = _typed(config, "override_path", bool, False)
    entry = _Entry(origin, skip_verify=_typed(config, "skip_verify", bool, None))
    if server:
        entry.scheme, entry.host, path = parse_url(
            server if server.startswith("http") else "https://" + server
        )
        path = posixpath.normpath(path) if path else ""
        entry.path = path if path.endswith("/v2") or override else path + "/v2"
    capabilities = config.get("capabilities", [])
    if not _strings(capabilities):
        raise HostsFileError("capabilities is not a list of strings")
    unknown = [name for name in capabilities if name.lower() not in _CAPABILITIES]
    _expect(not unknown, f"unknown capability {unknown[:1]}")
    names = [_CAPABILITIES[n.lower()] for n in capabilities]
    entry.capabilities = frozenset(n for n in names if n) if names else ALL_CAPABILITIES
    entry.ca = _ca(config.get("ca"), directory, etc)
    entry.clients = _clients(config.get("client"), directory, etc)
    entry.headers = _headers(config.get("header"))
    timeout = _typed(config, "dial_timeout", str, "")
    _expect(not timeout or bool(_DURATION.fullmatch(timeout)), f"dial_timeout {timeout!r}")
    return entry


def _ca(value: object, directory: Path, etc: Path) -> tuple[Path, ...] | None:
    """A path or a list of paths."""
    values = [value] if isinstance(value, str) else value
    if values is not None and not _strings(values):
        raise HostsFileError('invalid type for "ca"')
    return None if values is None else tuple(_abs(v, directory, etc) for v in values)


def _clients(
    value: object, directory: Path, etc: Path
) -> tuple[tuple[Path, Path | None], ...] | None:
    """A path, or a list of paths (certificate and key in one file) and [cert, key] pairs."""
    items = [value] if isinstance(value, str) else value
    if items is None:
        return None
    if not isinstance(items, list):
        raise HostsFileError('invalid type for "client"')
    pairs: list[tuple[Path, Path | None]] = []
    for item in items:
        if isinstance(item, str):
            pairs.append((_abs(item, directory, etc), None))
        elif _strings(item) and len(item) == 2:
            pairs.append((_abs(item[0], directory, etc), _abs(item[1], directory, etc)))
        else:
            raise HostsFileError('invalid pair for "client"')
    return tuple(pairs) or None


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    """[header]: a string, or a list sent as that many header lines of one name."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise HostsFileError("header is not a table")
    headers: list[tuple[str, str]] = []
    for name, item in value.items():
        values = [item] if isinstance(item, str) else item
        if not _strings(values):
            raise HostsFileError(f"invalid type for header {name!r}")
        headers.extend((name, v) for v in values)
    return tuple(headers)


def _abs(path: str, directory: Path, etc: Path) -> Path:
    """makeAbsPath: filepath.Join(dir, p) for a relative p (so "" is the directory)."""
    if path.startswith("/"):
        return reroot(path, etc)
    return Path(posixpath.normpath(posixpath.join(str(directory), path)))


def _typed(config: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """go-toml refuses a value of the wrong type for a typed field: the file is rejected."""
    value = config.get(key, default)
    _expect(value is default or type(value) is kind, f"{key} is not a {kind.__name__}")
    return value


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _note_unknown(config: dict[str, Any], known: set[str], where: str, found: Findings) -> None:
    """A misplaced key (a "server" inside [host], a "username") does nothing in containerd."""
    unknown = sorted(k for k in config if k not in known)
    if unknown:
        found.notes.append(f"{where}: containerd ignores {', '.join(map(repr, unknown[:8]))}")


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise HostsFileError(problem)
