"""containerd's registry configuration: the hosts its CRI plugin (kubelet, crictl) tries for
one registry, in its order.

config.toml's CRI registry table picks the source: ``config_path`` (hosts directories,
hosts_toml.py) or the deprecated inline ``mirrors``/``configs`` (1.x, still read by 2.x).
Upstream: internal/cri/server/images/image_pull.go (registryHosts, registryEndpoints),
internal/cri/config/config.go (ValidateImageConfig, CheckLocalImagePullConfigs),
plugins/cri/images/plugin.go (default config_path), core/remotes/docker/resolver.go.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acrdiag.redact import redact_url
from acrdiag.runtime.hosts import PULL, RESOLVE, HostPlan, HostRole, PullHost
from acrdiag.runtime.hosts_toml import (
    DOCKER_HUB,
    DOCKER_HUB_UPSTREAM,
    MAX_HOSTS,
    Findings,
    Refused,
    api_url,
    check_files,
    configure_hosts,
    find_host_dir,
    is_localhost,
    is_proxy,
    parse_toml,
    parse_url,
    read_bytes,
    reroot,
)

# The CRI plugin's table by config version: 1.x reads 1 and 2, 2.x reads 3 and migrates
# older ones (cmd/containerd/server/config v1Migrate, plugins/cri/images configMigration).
_CRI_PLUGIN = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.images"}
DEFAULT_CONFIG_PATH = "/etc/containerd/certs.d:/etc/docker/certs.d"  # 2.2+, on Linux
_NO_CRI = "containerd's CRI plugin does not load"


@dataclass(frozen=True)
class _Config:
    path: Path
    modern: bool  # containerd 2.x: a version 3 file (1.x refuses it), or no file at all
    plugin: dict[str, Any]  # the CRI (images) plugin's table
    registry: dict[str, Any]


def containerd_plan(
    registry: str, *, is_digest: bool, etc: Path = Path("/etc"), config_file: Path | None = None
) -> HostPlan:
    """The hosts containerd tries for ``registry`` (host[:port] as the reference names it),
    in its order, keeping those able to serve a digest (pull) or a tag (pull and resolve)."""
    findings = Findings()
    try:
        config = _load_config(config_file or etc / "containerd" / "config.toml", findings)
        hosts = _configured_hosts(registry, config, etc, findings)
    except Refused as refused:
        findings.warnings.append(str(refused))
        return _plan((), findings, blocked=str(refused))
    return _filter(hosts, is_digest, findings)


def containerd_registry_auth(
    registry: str, *, etc: Path = Path("/etc"), config_file: Path | None = None
) -> tuple[str | None, str | None, str | None, str] | None:
    """(username, password, identitytoken, origin) from the CRI registry table's
    ``configs."<host>".auth`` (or the older ``auths."<url>"``, which wins), or None.

    containerd looks it up by the host it is talking to (authorizer.go: the 401's host), so
    pass a PullHost's host: registry-1.docker.io for docker.io's own server. It is used only
    when the kubelet sends no credentials (image_pull.go). ParseAuth's order: username, then
    identitytoken, then ``auth`` (base64 "user:password"); all None is anonymous, or an
    ``auth`` containerd cannot decode (the origin then says so, never quoting it).
    """
    try:
        config = _load_config(config_file or etc / "containerd" / "config.toml", Findings())
    except Refused:
        return None
    entry, origin = _auth_entry(registry, config)
    if entry is None:
        return None
    text = {k: v for k, v in entry.items() if isinstance(v, str) and v}
    if "username" in text:
        return text["username"], text.get("password"), None, origin
    if "identitytoken" in text or "auth" not in text:
        return None, None, text.get("identitytoken"), origin
    try:
        decoded = base64.b64decode(text["auth"].replace("\r", "").replace("\n", ""), validate=True)
        user, colon, password = decoded.decode("utf-8", "replace").partition(":")
    except (binascii.Error, ValueError):
        colon = ""
    if not colon:
        return None, None, None, f"{origin} (auth is not base64 of user:password)"
    return user or None, password.strip("\x00") or None, None, origin


def _load_config(path: Path, findings: Findings) -> _Config:
    """config.toml; none is containerd's defaults. An unparsable file stops containerd, a
    CRI table of the wrong shape its CRI plugin: either way nothing is pulled."""
    data = read_bytes(path, findings)
    if data is None:
        return _Config(path, modern=True, plugin={}, registry={})
    try:
        document = parse_toml(data)
    except ValueError as exc:
        raise Refused(f"{path} is not valid TOML ({exc}): containerd does not start") from exc
    version = document.get("version", 1) or 1  # GetVersion: unset or 0 is 1
    if type(version) is not int or version not in _CRI_PLUGIN:
        raise Refused(f"{path}: unsupported config version {version!r}: containerd fails")
    plugin = _table(document, ("plugins", _CRI_PLUGIN[version]), path)
    if version == 3 and _table(document, ("plugins", _CRI_PLUGIN[2], "registry"), path):
        findings.notes.append(f'{path}: version 3 ignores plugins."{_CRI_PLUGIN[2]}".registry')
    if document.get("imports"):
        findings.notes.append(f"{path}: the files it imports are not read here")
    return _Config(path, version == 3, plugin, _table(plugin, ("registry",), path))


def _configured_hosts(
    registry: str, config: _Config, etc: Path, findings: Findings
) -> list[PullHost]:
    """ValidateImageConfig refuses mirrors (and in 1.x configs.tls) beside config_path."""
    reg, where = config.registry, f"{config.path} registry"
    config_path = reg.get("config_path", "")
    mirrors, configs = _table(reg, ("mirrors",), where), _table(reg, ("configs",), where)
    if not isinstance(config_path, str):
        raise Refused(f"{where}.config_path is not a string: {_NO_CRI}")
    tls = any(isinstance(v, dict) and "tls" in v for v in configs.values())
    if config_path and (mirrors or (tls and not config.modern)):
        what = "mirrors" if mirrors else "configs.tls"
        raise Refused(f"{where}: {what} cannot be set when config_path is: {_NO_CRI}")
    if tls and config.modern:
        findings.notes.append(f"{where}: configs.*.tls is ignored (removed in containerd 2.0)")
    if mirrors or (not config_path and not config.modern):
        hosts = _endpoint_hosts(registry, config, mirrors, configs, etc, findings)
    else:
        hosts = _hosts_dir_hosts(registry, config, config_path, etc, findings)
    _auth_notes(registry, hosts, config, findings)
    headers = _table(reg, ("headers",), where)  # sent first, on every request (resolver.go)
    if not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in headers.values()
    ):
        raise Refused(f"{where}.headers: values are not lists of strings: {_NO_CRI}")
    extra = tuple((name, value) for name, values in headers.items() for value in values)
    return [replace(host, headers=extra + host.headers) for host in hosts]


def _hosts_dir_hosts(
    registry: str, config: _Config, config_path: str, etc: Path, findings: Findings
) -> list[PullHost]:
    """config_path holds directories separated by ":", searched in order (image_pull.go
    hostDirFromRoots). containerd 2.1+ pulls through its transfer service unless an option
    forces a local pull, and the transfer service takes config_path whole as one directory
    (transfer/registry WithHostDir: containerd#12808, #12415)."""
    if not config_path:
        config_path = DEFAULT_CONFIG_PATH
        findings.notes.append(f"config_path unset: containerd 2.2+ uses {config_path}")
    roots = [reroot(root, etc) for root in config_path.split(":") if root]
    local = _local_pull(config) if config.modern else "config version < 3"
    if config.modern:
        how = f"locally ({local})" if local else "through the transfer service (2.1+)"
        findings.notes.append(f"containerd 2.x pulls {how}")
    if not local and len(roots) > 1:
        try:
            ignored = find_host_dir(roots, registry, Findings())
        except Refused:
            ignored = None
        if ignored is not None:
            findings.warnings.append(
                f"{ignored} is not read: the transfer service takes config_path "
                f"{config_path!r} as one directory (containerd#12808); set a single "
                "directory there, or use_local_image_pull = true"
            )
        roots = [reroot(config_path, etc)]
    directory = find_host_dir(roots, registry, findings)
    if directory is None:
        findings.notes.append(f"no hosts directory for {registry} in {config_path}")
    return configure_hosts(registry, directory, etc, findings)


def _local_pull(config: _Config) -> str | None:
    """CheckLocalImagePullConfigs: the first option making the CRI plugin pull locally."""
    plugin, reg = config.plugin, config.registry
    reasons = {
        "use_local_image_pull": plugin.get("use_local_image_pull") is True,
        "disable_snapshot_annotations": plugin.get("disable_snapshot_annotations") is False,
        "discard_unpacked_layers": plugin.get("discard_unpacked_layers") is True,
        "registry mirrors/configs/auths": any(reg.get(k) for k in ("mirrors", "configs", "auths")),
        "max_concurrent_downloads": plugin.get("max_concurrent_downloads", 3) != 3,
        "image_pull_with_sync_fs": plugin.get("image_pull_with_sync_fs") is True,
    }
    return next((reason for reason, on in reasons.items() if on), None)


def _endpoint_hosts(
    registry: str,
    config: _Config,
    mirrors: dict[str, Any],
    configs: dict[str, Any],
    etc: Path,
    findings: Findings,
) -> list[PullHost]:
    """registryEndpoints: the mirror's endpoints (or "*"'s) in order, then the registry's
    own server unless an endpoint's host is the registry; all pull and resolve, no push."""
    key = registry if registry in mirrors else "*"
    where = f'{config.path} registry.mirrors."{key}".endpoint'
    endpoints = _table(mirrors, (key,), where).get("endpoint", [])
    if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
        raise Refused(f"{where} is not a list of strings: {_NO_CRI}")
    named = [(e, f"{where}[{i}]") for i, e in enumerate(endpoints[:MAX_HOSTS])]
    hosts = [_endpoint_host(registry, e, o, config, configs, etc, findings) for e, o in named]
    if not any(urlsplit(host.url).netloc == registry for host in hosts):
        upstream = DOCKER_HUB_UPSTREAM if registry == DOCKER_HUB else registry
        hosts.append(_endpoint_host(registry, upstream, "default", config, configs, etc, findings))
    return hosts


def _endpoint_host(
    registry: str,
    raw: str,
    origin: str,
    config: _Config,
    configs: dict[str, Any],
    etc: Path,
    findings: Findings,
) -> PullHost:
    """An endpoint without a scheme is https (http for localhost); an empty path is /v2 and
    any other is the API root as is; TLS from configs."<host>".tls (1.x getTLSConfig)."""
    if "://" not in raw:
        raw = f"{'http' if is_localhost(urlsplit('//' + raw).netloc) else 'https'}://{raw}"
    try:
        scheme, host, path = parse_url(raw)
    except ValueError as exc:
        raise Refused(f"{origin}: {exc}: containerd fails every pull of {registry}") from exc
    url, override = api_url(scheme, host, path or "/v2")
    entry = configs.get(host)
    tls = entry.get("tls") if isinstance(entry, dict) and not config.modern else None
    tls = tls if isinstance(tls, dict) else {}
    files = {k: tls.get(k) or "" for k in ("ca_file", "cert_file", "key_file")}
    where = f'{config.path} registry.configs."{host}".tls'
    if not all(isinstance(v, str) for v in files.values()):
        raise Refused(f"{where}: a file name is not a string: {_NO_CRI}")
    paths = {k: reroot(posixpath.join("/", v), etc) for k, v in files.items() if v}
    if ("cert_file" in paths) != ("key_file" in paths):
        raise Refused(f"{where}: cert_file and key_file go together: containerd fails")
    check_files(list(paths.values()), where, registry, findings)
    proxy = is_proxy(registry, host)
    return PullHost(
        url=url,
        role=HostRole.MIRROR if proxy else HostRole.UPSTREAM,
        origin=origin,
        capabilities=frozenset({PULL, RESOLVE}),
        override_path=override,
        skip_verify=tls.get("insecure_skip_verify") is True,
        ca=(paths["ca_file"],) if "ca_file" in paths else (),
        client=(paths["cert_file"], paths["key_file"]) if "cert_file" in paths else None,
        namespace=registry if proxy else None,
    )


def _auth_notes(registry: str, hosts: list[PullHost], config: _Config, found: Findings) -> None:
    """Credentials are looked up by the host contacted, so configs."docker.io" is never used
    (registry-1.docker.io is contacted: containerd#12053)."""
    contacted = {urlsplit(host.url).netloc for host in hosts}
    for host in sorted(contacted):
        if _auth_entry(host, config)[0] is not None:
            found.notes.append(f"{host}: credentials from {config.path} unless the kubelet's")
    if registry not in contacted and _auth_entry(registry, config)[0] is not None:
        found.notes.append(
            f"{config.path}: the credentials for {registry} are never used: containerd "
            "looks them up by the host it contacts"
        )


def _auth_entry(host: str, config: _Config) -> tuple[dict[str, Any] | None, str]:
    """auths."<url>" replaces configs."<host>".auth (ValidateImageConfig maps it by host)."""
    reg, where = config.registry, f"{config.path} registry"
    found: tuple[dict[str, Any] | None, str] = (None, "")
    configs, auths = reg.get("configs"), reg.get("auths")
    entry = configs.get(host) if isinstance(configs, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("auth"), dict):
        found = (entry["auth"], f'{where}.configs."{host}".auth')
    for key, value in auths.items() if isinstance(auths, dict) else ():
        name = key.partition("://")[2].partition("/")[0] if "://" in key else key
        if name.rpartition("@")[2] == host and isinstance(value, dict):
            found = (value, f'{where}.auths."{redact_url(key)}"')
    return found


def _filter(hosts: list[PullHost], is_digest: bool, findings: Findings) -> HostPlan:
    """resolver.go Resolve: filterHosts keeps the hosts having every capability needed, pull
    for a digest, pull and resolve for a tag; fetcher.go then fetches content by digest from
    every pull host, which extra["content_hosts"] lists for a tag."""
    kind, need = ("digest", {PULL}) if is_digest else ("tag", {PULL, RESOLVE})
    for host in (h for h in hosts if not need <= h.capabilities):
        findings.notes.append(
            f"skipped for a {kind}: {host.url} ({host.origin}) can "
            f"{', '.join(sorted(host.capabilities)) or 'nothing'}, not {', '.join(sorted(need))}"
        )
    kept = tuple(h for h in hosts if need <= h.capabilities)
    if not kept:
        findings.notes.append(f"no host may resolve this {kind}: containerd fails the pull")
    extra: dict[str, object] = {}
    if not is_digest:
        extra["content_hosts"] = tuple(h for h in hosts if PULL in h.capabilities)
    if findings.http_fallback:
        extra["http_fallback"] = tuple(findings.http_fallback)
    return _plan(kept, findings, extra=extra)


def _plan(
    hosts: tuple[PullHost, ...],
    found: Findings,
    blocked: str | None = None,
    extra: dict[str, object] | None = None,
) -> HostPlan:
    return HostPlan(
        hosts=hosts,
        files=tuple(found.files),
        warnings=tuple(found.warnings),
        blocked=blocked,
        notes=tuple(found.notes),
        extra=extra or {},
    )


def _table(document: dict[str, Any], keys: tuple[str, ...], where: object) -> dict[str, Any]:
    """document[k1][k2]…, {} where absent; a non-table fails containerd's decoding."""
    value: Any = document
    for key in keys:
        value = value.get(key, {})
        if not isinstance(value, dict):
            name = ".".join(k if k.isidentifier() else f'"{k}"' for k in keys)
            raise Refused(f"{where}: {name} is not a table: {_NO_CRI}")
    return dict(value)
