"""kubelet credential provider plugins (KEP-2133), run exactly as kubelet runs them.

kubernetes pkg/credentialprovider/plugin: kubelet reads --image-credential-provider-config
once at start-up; an invalid config, a missing bin dir or plugin makes kubelet exit
(kuberuntime_manager.go: "Failed to register CRI auth plugins", os.Exit(1)), so no pull on
the node works: a FAILED credential. For a pull, kubelet runs every provider whose
matchImages match the image (plugins.go), merges their "auth" keys into one keyring
(keyring.go: keys reverse-sorted, most specific first) and tries the matching credentials
in that order. A plugin that fails or answers garbage is logged and skipped (plugin.go
provide()): kubelet pulls without it, hence Skipped. No matching provider: None.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acrdiag.auth.credential import Credential, CredentialKind, Skipped, failed
from acrdiag.auth.files import DOCKER_HUB_NAMES, MAX_FILE, Found
from acrdiag.auth.helpers import _kill_group
from acrdiag.causes import Cause

PLUGIN_API_VERSIONS = frozenset(
    f"credentialprovider.kubelet.k8s.io/{v}" for v in ("v1", "v1beta1", "v1alpha1")
)
CONFIG_API_VERSIONS = frozenset(f"kubelet.config.k8s.io/{v}" for v in ("v1", "v1beta1", "v1alpha1"))
CACHE_KEY_TYPES = ("Image", "Registry", "Global")
KUBELET_PLUGIN_TIMEOUT = 60.0  # plugin.go ExecPlugin: a catch-all minute
MAX_OUTPUT = 1024 * 1024
_MAX_STDERR = 4096
# Strict decoding (serializer.EnableStrict): any other field is an error.
_CONFIG_FIELDS = frozenset({"apiVersion", "kind", "providers"})
_PROVIDER_FIELDS = frozenset(
    {"name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "env", "tokenAttributes"}
)
_RESPONSE_FIELDS = frozenset(
    {"apiVersion", "kind", "cacheKeyType", "cacheDuration", "serviceAccountTokenCacheType", "auth"}
)
# Go's url.Parse accepts these in a host (shouldEscape, encodeHost); '%' only in a zone.
_HOST_CHARS = re.compile(r"[\w\-.~!$&'()*+,;=:\[\]<>\"\x80-\U0010ffff]*")
_SAFE_WORD = re.compile(r"[\w./:*@-]{1,100}")
_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


class ConfigError(ValueError):
    """A config kubelet refuses; the message never quotes an env value."""


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Provider:
    name: str
    match_images: tuple[str, ...]
    default_cache: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    token_attributes: bool = False  # needs a pod's service account token


@dataclass(frozen=True)
class _Entry:
    key: str  # the normalised "auth" key (keyring.go Add)
    provider: str
    username: str
    password: str = field(repr=False)
    cache: str = field(default="", compare=False)
    key_type: str = field(default="", compare=False)


@dataclass(frozen=True)
class KubeletCredentialProviders:
    """kubelet's --image-credential-provider-config and --image-credential-provider-bin-dir;
    build it only when kubelet runs with those flags."""

    config: Path
    bin_dir: Path
    environ: Mapping[str, str] = field(repr=False)  # kubelet's: the plugin inherits it
    timeout: float = 10.0

    def find(self, registry: str, repository: str) -> Found:
        try:
            providers = load_providers(self.config, self.bin_dir)
        except ConfigError as exc:
            return failed(
                f"kubelet credential provider config {self.config}",
                f"{exc}: kubelet exits at start-up with it (a running kubelet read an earlier "
                "version), so this node pulls nothing",
                Cause.CREDENTIAL_FILE_INVALID,
            )
        image = f"{'docker.io' if registry in DOCKER_HUB_NAMES else registry}/{repository}"
        matching = [p for p in providers if any(urls_match(g, image) for g in p.match_images)]
        if not matching:
            return None
        entries: list[_Entry] = []
        notes: list[str] = []
        for provider in matching:
            got = self._provide(provider, image)
            if isinstance(got, str):
                notes.append(got)
            else:
                entries += got
        return _pick(entries, image, notes, [p.name for p in matching])

    def _provide(self, provider: Provider, image: str) -> list[_Entry] | str:
        who = f"kubelet credential provider {provider.name}"
        if provider.token_attributes:
            return f"{who} needs a pod's service account token (tokenAttributes): not run"
        request = {"kind": "CredentialProviderRequest", "apiVersion": provider.api_version}
        argv = [str(self.bin_dir / provider.name), *provider.args]
        env = {**self.environ, **dict(provider.env)}  # plugin.go mergeEnvVars: config wins
        try:
            code, out, err = run_bounded(
                argv, (json.dumps({**request, "image": image}) + "\n").encode(), env, self.timeout
            )
        except subprocess.TimeoutExpired:
            return f"{who} did not answer within {self.timeout:g} s (kubelet waits 1 min)"
        except _TooLarge:
            return f"{who} printed more than {MAX_OUTPUT // 1024} KiB: not read"
        except OSError as exc:
            return f"{who} could not run ({exc.strerror or type(exc).__name__})"
        if code != 0:
            said = _first_line(err, [value for _, value in provider.env])
            how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
            return f"{who} {how}{said}: kubelet pulls without its credentials"
        parsed = _parse_response(out, provider)
        if isinstance(parsed, str):
            return f"{who} {parsed}: kubelet ignores the answer and pulls without it"
        return parsed


def _pick(entries: list[_Entry], image: str, notes: list[str], names: list[str]) -> Found:
    """keyring.go Lookup: every matching key, reverse-sorted, providers in config order;
    else Docker Hub's "index.docker.io" key for a Docker Hub image."""
    keys = sorted({e.key for e in entries}, reverse=True)
    hits = [e for k in keys if urls_match(k, image) for e in entries if e.key == k]
    if not hits and _is_docker_hub(image):
        hits = [e for e in entries if e.key == "index.docker.io"]
    if not hits:
        quiet = f"kubelet credential provider {', '.join(names)} gave no credential for {image}"
        return Skipped("; ".join(notes) or f"{quiet}: kubelet pulls without one")
    first = hits[0]
    source = (
        f"kubelet credential provider {first.provider} (cache {first.cache}, key {first.key_type})"
    )
    if len(hits) > 1:
        source += f" [{len(hits) - 1} more credential(s) kubelet tries if this one fails]"
    if not first.username:  # containerd's CRI ParseAuth: no username is an anonymous pull
        return Skipped(f"{source} answered an empty username: containerd pulls anonymously")
    return Credential(
        CredentialKind.BASIC, source, first.username, first.password, notes=tuple(notes)
    )


def _is_docker_hub(image: str) -> bool:
    """keyring.go isDefaultRegistryMatch."""
    head, slash, _ = image.partition("/")
    if not head:
        return False
    return not slash or head in ("docker.io", "index.docker.io") or not any(c in head for c in ".:")


def load_providers(config: Path, bin_dir: Path) -> list[Provider]:
    """RegisterCredentialProviderPlugins: bin dir, config (file or directory), validation,
    then every plugin executable in the bin dir."""
    if not bin_dir.exists():
        raise ConfigError(f"plugin binary directory {bin_dir} does not exist")
    providers: list[Provider] = []
    for path in _config_files(config):
        for provider in _decode(path):
            if provider.name in {p.name for p in providers}:
                raise ConfigError(f"provider name {provider.name!r} appears twice")
            providers.append(provider)
    _validate(providers)
    for provider in providers:
        executable = bin_dir / provider.name
        if not executable.is_file() or not os.access(executable, os.X_OK):
            raise ConfigError(f"plugin binary executable {executable} does not exist")
    return providers


def _config_files(config: Path) -> list[Path]:
    """config.go readCredentialProviderConfig: a directory means its *.json, *.yaml, *.yml."""
    if not config.exists():
        raise ConfigError(f"{config} does not exist")
    if not config.is_dir():
        return [config]
    files = sorted(p for p in config.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
    if not [p for p in files if not p.is_dir()]:
        raise ConfigError(f"no configuration files found in directory {config}")
    return [p for p in files if not p.is_dir()]


def _decode(path: Path) -> list[Provider]:
    import yaml  # only when kubelet's config is given

    try:
        if path.stat().st_size > MAX_FILE:
            raise ConfigError(f"{path} is too large")
        text = path.read_bytes().decode("utf-8", "replace")
        document = yaml.load(text, Loader=_strict_loader())
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc})") from None
    except yaml.MarkedYAMLError as exc:  # the position only: the text may quote a secret
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is neither YAML nor JSON{where}") from None
    except (yaml.YAMLError, RecursionError, ValueError):
        raise ConfigError(f"{path} is neither YAML nor JSON") from None
    if not isinstance(document, dict) or document.get("kind") != "CredentialProviderConfig":
        raise ConfigError(f"{path} is not a CredentialProviderConfig")
    if document.get("apiVersion") not in CONFIG_API_VERSIONS:
        raise ConfigError(f"{path} has an apiVersion kubelet does not know")
    _strict(document, _CONFIG_FIELDS, str(path))
    items = document.get("providers") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{path}: providers is not a list of objects")
    return [_provider(item, f"{path}: providers[{n}]") for n, item in enumerate(items)]


def _provider(item: dict[str, Any], where: str) -> Provider:
    _strict(item, _PROVIDER_FIELDS, where)
    env = item.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, dict) for e in env):
        raise ConfigError(f"{where}.env is not a list of objects")
    for e in env:
        _strict(e, frozenset({"name", "value"}), f"{where}.env")
    return Provider(
        name=_text(item.get("name", ""), f"{where}.name"),
        match_images=tuple(_texts(item.get("matchImages"), f"{where}.matchImages")),
        default_cache=_text(item.get("defaultCacheDuration", ""), f"{where}.defaultCacheDuration"),
        api_version=_text(item.get("apiVersion", ""), f"{where}.apiVersion"),
        args=tuple(_texts(item.get("args"), f"{where}.args")),
        env=tuple(
            (_text(e.get("name", ""), f"{where}.env"), _text(e.get("value", ""), f"{where}.env"))
            for e in env
        ),
        token_attributes=item.get("tokenAttributes") is not None,
    )


def _validate(providers: list[Provider]) -> None:
    """config.go validateCredentialProviderConfig (errors joined, as kubelet aggregates)."""
    errors = [] if providers else ["providers: at least 1 item is required"]
    for p in providers:
        where = f"provider {p.name!r}"
        if "/" in p.name or " " in p.name or p.name in (".", ".."):
            errors.append(f"{where}: the name cannot contain '/' or spaces, or be '.' or '..'")
        if p.api_version not in PLUGIN_API_VERSIONS:
            errors.append(f"{where}: apiVersion must be one of {sorted(PLUGIN_API_VERSIONS)}")
        if not p.match_images:
            errors.append(f"{where}: at least 1 item in matchImages is required")
        errors += [
            f"{where}: invalid matchImages entry {g!r}"
            for g in p.match_images
            if _go_url(g) is None
        ]
        seconds = duration_seconds(p.default_cache) if p.default_cache else None
        if seconds is None or seconds < 0:
            errors.append(f"{where}: defaultCacheDuration is required, a duration >= 0")
    if errors:
        raise ConfigError("; ".join(errors[:4]) + ("; …" if len(errors) > 4 else ""))


def _strict(document: dict[Any, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in document if k not in known)
    if unknown:
        shown = ", ".join(k if _SAFE_WORD.fullmatch(k) else "?" for k in unknown[:5])
        raise ConfigError(f"{where}: unknown field(s) {shown} (kubelet decodes strictly)")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} is not a string")
    return value


def _texts(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where} is not a list of strings")
    return [_text(v, where) for v in value]


def _strict_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
            if len(keys) != len({repr(k) for k in keys}):  # sigs.k8s.io/yaml strict
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key", node.start_mark
                )
            return super().construct_mapping(node, deep=deep)

    return Loader


def _parse_response(out: bytes, provider: Provider) -> list[_Entry] | str:
    """plugin.go ExecPlugin: JSON whose apiVersion is the provider's, then a strict decode."""
    try:
        doc = json.loads(out.decode("utf-8", "replace"), object_pairs_hook=_unique_pairs)
    except (ValueError, RecursionError):
        return "printed something that is not a JSON response"  # never quoted: secrets
    if not isinstance(doc, dict):
        return "printed JSON that is not an object"
    if doc.get("apiVersion") != provider.api_version:
        return f"answered apiVersion {_shown(doc.get('apiVersion'))}, not {provider.api_version}"
    if doc.get("kind") != "CredentialProviderResponse":
        return f"answered kind {_shown(doc.get('kind'))}, not CredentialProviderResponse"
    unknown = len(set(doc) - _RESPONSE_FIELDS)  # not named: the plugin chose the names
    if unknown:
        return f"answered {unknown} field(s) kubelet's strict decoding rejects"
    key_type, cache, auth = doc.get("cacheKeyType"), doc.get("cacheDuration"), doc.get("auth")
    if key_type not in CACHE_KEY_TYPES:
        return f"answered cacheKeyType {_shown(key_type)}, not Image, Registry or Global"
    if cache is not None and (not isinstance(cache, str) or duration_seconds(cache) is None):
        return "answered a cacheDuration that is not a duration"
    if auth is not None and not (
        isinstance(auth, dict)
        and all(isinstance(v, dict) and set(v) <= {"username", "password"} for v in auth.values())
        and all(isinstance(x, str | None) for v in auth.values() for x in v.values())
    ):
        return "answered an auth map kubelet cannot decode"
    shown = _cache_shown(cache, provider.default_cache)
    return [
        _Entry(
            key, provider.name, v.get("username") or "", v.get("password") or "", shown, key_type
        )
        for raw, v in (auth or {}).items()
        if (key := keyring_key(raw)) is not None
    ]


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate field")  # strict decoding
    return dict(pairs)


def _cache_shown(cache: str | None, default: str) -> str:
    value, suffix = (default, " from defaultCacheDuration") if cache is None else (cache, "")
    return f"{value}, not cached" if duration_seconds(value) == 0 else value + suffix


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) and _SAFE_WORD.fullmatch(value) else "<other>"


def _first_line(err: bytes, secrets: list[str]) -> str:
    """Nothing of the plugin's output, stderr included: like a docker credential helper's,
    it may hold the secret in a form no redaction knows (README "Credentials")."""
    return " (its output is not shown: it may hold the credential)" if err.strip() else ""


def duration_seconds(text: str) -> float | None:
    """Go's time.ParseDuration ("12h", "1h30m", "0"), the format of metav1.Duration."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION.fullmatch(text):
        return None
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    return (-1 if text.startswith("-") else 1) * sum(float(n) * units[u] for n, u in parts)


def keyring_key(raw: str) -> str | None:
    """keyring.go Add: scheme dropped, a leading /v1/ or /v2/ dropped; None when unparsable."""
    parsed = _go_url(re.sub(r"^https?://", "", raw))
    if parsed is None:
        return None
    host, path = parsed
    path = path[3:] if path.startswith(("/v1/", "/v2/")) else path
    return host + path if path not in ("", "/") else host


def urls_match(glob: str, target: str) -> bool:
    """keyring.go URLsMatchStr: same number of host labels, each a filepath.Match glob, the
    same port, and the glob's path a string prefix of the target's."""
    g, t = _go_url(glob), _go_url(target)
    if g is None or t is None:
        return False
    (g_labels, g_port), (t_labels, t_port) = _split_host(g[0]), _split_host(t[0])
    if g_port != t_port or len(g_labels) != len(t_labels) or not t[1].startswith(g[1]):
        return False
    return all(_label_match(p, label) for p, label in zip(g_labels, t_labels, strict=True))


def _go_url(schemeless: str) -> tuple[str, str] | None:
    """(host, path) as Go's url.Parse("https://" + s) gives them; None where it errors."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in schemeless):
        return None
    rest = schemeless.split("#", 1)[0].split("?", 1)[0]
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or not re.fullmatch(r"(:\d*)?", host[end + 1 :]):
            return None
    elif ":" in host and not re.fullmatch(r":\d*", host[host.rfind(":") :]):
        return None
    if not _HOST_CHARS.fullmatch(host) or re.search(r"%(?![0-9A-Fa-f]{2})", path):
        return None
    return host, slash + path


def _split_host(host: str) -> tuple[list[str], str]:
    """net.SplitHostPort, falling back to (host, "") as SplitURL does."""
    if host.startswith("["):
        end = host.find("]")
        if host[end + 1 : end + 2] == ":":
            return host[1:end].split("."), host[end + 2 :]
        return host.split("."), ""
    name, colon, port = host.rpartition(":")
    if not colon or ":" in name:
        return host.split("."), ""
    return name.split("."), port


def _label_match(pattern: str, label: str) -> bool:
    """Go's filepath.Match on one label; a malformed pattern never matches."""
    regex = _glob_regex(pattern)
    return regex is not None and regex.fullmatch(label) is not None


def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    """filepath.Match's '*' and '[lo-hi]' (url.Parse already refused '?', '^' and '\\' in a
    host, so no '?' glob, negation or escape can reach here)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] != "[":
            out.append("[^/]*" if pattern[i] == "*" else re.escape(pattern[i]))
            i += 1
            continue
        i, items = i + 1, list[str]()
        while not (pattern[i : i + 1] == "]" and items):
            lo, hi, i = _class_range(pattern, i)
            if lo is None or hi is None:
                return None
            items.append(f"[{re.escape(lo)}-{re.escape(hi)}]" if lo <= hi else "(?!)")
        out.append("(?:" + "|".join(items) + ")")
        i += 1
    return re.compile("".join(out), re.S)


def _class_range(pattern: str, i: int) -> tuple[str | None, str | None, int]:
    """One 'c' or 'lo-hi' of a class; None where filepath.Match says ErrBadPattern."""
    lo = pattern[i] if i < len(pattern) and pattern[i] not in "-]" else None
    if pattern[i + 1 : i + 2] != "-":
        return lo, lo, i + 1
    hi = pattern[i + 2] if i + 2 < len(pattern) and pattern[i + 2] not in "-]" else None
    return lo, hi, i + 3


def run_bounded(
    argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float
) -> tuple[int, bytes, bytes]:
    """Run in a session of its own, stdout bounded, the whole run bounded by ``timeout``."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(stdin)
            process.stdin.close()
        out, err = _drain(process, deadline, argv, timeout)
        return process.wait(timeout=max(deadline - time.monotonic(), 0.01)), out, err
    except BaseException:
        _kill_group(process)
        raise
    finally:
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def _drain(
    process: subprocess.Popen[bytes], deadline: float, argv: list[str], timeout: float
) -> tuple[bytes, bytes]:
    assert process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data is out and len(out) + len(chunk) > MAX_OUTPUT:
                    raise _TooLarge
                else:
                    key.data.extend(chunk[: _MAX_STDERR - len(err)] if key.data is err else chunk)
    return bytes(out), bytes(err)
