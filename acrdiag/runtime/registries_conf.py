"""containers-registries.conf(5) as containers/image reads it (podman, buildah, CRI-O).

Follows containers/image pkg/sysregistriesv2 (system_registries_v2.go: file precedence,
postProcessRegistries, updateWithConfigurationFrom, FindRegistry, PullSourcesFromReference;
shortnames.go: aliases), pkg/shortnames (Resolve) and docker/docker_client.go (a source
whose own name falls under a blocked prefix is refused).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from acrdiag.reference import DOCKER_HUB_API_HOST, ImageReference, ReferenceError, parse_reference
from acrdiag.runtime.hosts import HostPlan, HostRole, PullHost

MODES = ("disabled", "enforcing", "permissive")
PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")
MAX_FILE_BYTES = 1 << 20
MAX_DROPINS = 64
MAX_REGISTRIES = 4096
MAX_LIST = 32  # mirrors per registry, unqualified-search registries
_TOP = {"registry", "unqualified-search-registries", "credential-helpers", "short-name-mode"}
_TOP |= {"additional-layer-store-auth-helper", "aliases", "registries"}
_REGISTRY_KEYS = {"prefix", "location", "insecure", "blocked", "mirror", "mirror-by-digest-only"}
_REGISTRY_KEYS |= {"pull-from-mirror"}
_MIRROR_KEYS = {"location", "insecure", "pull-from-mirror"}
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?", re.ASCII
)  # reference.DomainRegexp
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", re.ASCII)


T = TypeVar("T")
_V1 = ("search", "insecure", "block")
_TOML_TYPES: dict[type, str] = {bool: "boolean", str: "string", list: "array", dict: "table"}


class _Invalid(Exception):
    """A file containers/image refuses to load (its error text)."""


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = ""  # "", "all", "digest-only", "tag-only"


@dataclass(frozen=True)
class Registry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()
    mirror_by_digest_only: bool = False
    file: str = ""


@dataclass(frozen=True)
class RegistriesConf:
    registries: tuple[Registry, ...] = ()  # one per prefix, sorted by prefix
    unqualified_search_registries: tuple[str, ...] = ()
    search_origin: str | None = None  # the file that set them
    aliases: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)  # (value, file)
    short_name_mode: str = "permissive"
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # containers/image refuses the configuration: no pull works
    short_name_error: str | None = None  # a broken alias cache: every short-name pull fails


@dataclass
class _Merged:
    registries: dict[str, Registry] = field(default_factory=dict)
    search: list[str] = field(default_factory=list)
    search_origin: str | None = None
    aliases: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    mode: str = "permissive"
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    short_name_error: str | None = None


def read_registries_conf(
    etc: Path = Path("/etc"), home: Path | None = None, environ: Mapping[str, str] = {}
) -> RegistriesConf:
    """Main file, then drop-ins in order, then the short-name alias cache (newConfigWrapper).

    ``home`` (else $HOME) adds the user's files; without it the alias cache is root's,
    /var/cache beside ``etc``.
    """
    if home is None and environ.get("HOME"):
        home = Path(environ["HOME"])
    main, dirs, explicit = _paths(etc, home, environ)
    merged = _Merged()
    _merge_file(merged, main, v1_ok=True, missing_ok=not explicit)
    if merged.files:
        merged.search_origin = str(main)
    for path in _dropins(merged, dirs):
        _merge_file(merged, path, v1_ok=False, missing_ok=True)
    _merge_alias_cache(merged, _alias_cache(etc, home, environ))
    if len(merged.registries) > MAX_REGISTRIES:
        merged.warnings.append(f"more than {MAX_REGISTRIES} [[registry]] tables: rest not used")
    return RegistriesConf(
        tuple(merged.registries[p] for p in sorted(merged.registries)[:MAX_REGISTRIES]),
        tuple(merged.search[:MAX_LIST]),
        merged.search_origin,
        merged.aliases,
        merged.mode,
        tuple(merged.files),
        tuple(merged.warnings),
        tuple(merged.errors),
        merged.short_name_error,
    )


def _paths(
    etc: Path, home: Path | None, environ: Mapping[str, str]
) -> tuple[Path, list[Path], bool]:
    """(main file, drop-in dirs, set explicitly); c/common's CONTAINERS_REGISTRIES_CONF."""
    system_dir = etc / "containers" / "registries.conf.d"
    user = home / ".config" / "containers" if home else None
    dirs = [system_dir] + ([user / "registries.conf.d"] if user else [])
    for name in ("CONTAINERS_REGISTRIES_CONF", "REGISTRIES_CONFIG_PATH"):
        if name in environ:
            if environ[name]:
                return Path(environ[name]), dirs, True
            break
    if user and (user / "registries.conf").exists():
        return user / "registries.conf", [user / "registries.conf.d"], False  # no system dir
    return etc / "containers" / "registries.conf", dirs, False


def _dropins(merged: _Merged, dirs: list[Path]) -> list[Path]:
    """*.conf files directly in each directory, in lexical order (filepath.WalkDir)."""
    found: list[Path] = []
    for directory in dirs:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            merged.errors.append(f"{directory}: cannot be read ({exc.strerror or exc})")
            continue
        found += [Path(e.path) for e in entries if e.name.endswith(".conf") and not _is_dir(e)]
    if len(found) > MAX_DROPINS:
        merged.warnings.append(f"{len(found)} drop-in files: only the first {MAX_DROPINS} read")
    return found[:MAX_DROPINS]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _read_toml(path: Path, merged: _Merged, missing_ok: bool) -> dict[str, object] | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if not missing_ok:
            merged.errors.append(f"{path}: not found (named by the environment)")
        return None
    except OSError as exc:
        merged.errors.append(f"{path}: cannot be read ({exc.strerror or exc})")
        return None
    merged.files.append(str(path))
    if len(raw) > MAX_FILE_BYTES:
        merged.errors.append(f"{path}: larger than {MAX_FILE_BYTES} bytes, not read")
        return None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        merged.errors.append(f"{path}: not valid TOML ({_show(str(exc) or 'nested too deep')})")
        return None


def _merge_file(merged: _Merged, path: Path, *, v1_ok: bool, missing_ok: bool) -> None:
    """loadConfigFile + updateWithConfigurationFrom; a bad file adds an error, nothing else."""
    data = _read_toml(path, merged, missing_ok)
    if data is None:
        return
    try:
        if _is_v1(data):
            data = _v1_to_v2(data, v1_ok)
        registries = _registries(data, str(path))
        search = _search(data)
        mode = _get(data, "short-name-mode", str, "")
        if mode and mode not in MODES:
            raise _Invalid(f"invalid short-name mode: {mode!r}")
        aliases = _aliases(data.get("aliases", {}))
        _strings(data, "credential-helpers")
        _get(data, "additional-layer-store-auth-helper", str, "")
    except _Invalid as exc:
        merged.errors.append(f"{path}: {_show(str(exc), 400)}")
        return
    merged.warnings += [f"{path}: {w}" for w in _unknown_keys(data)]
    merged.registries.update(registries)
    if search is not None:
        merged.search, merged.search_origin = search, str(path)
    merged.mode = mode or merged.mode
    merged.aliases.update({name: (value, str(path)) for name, value in aliases.items()})


def _merge_alias_cache(merged: _Merged, path: Path) -> None:
    """short-name-aliases.conf has precedence over every registries.conf alias."""
    scratch = _Merged()
    data = _read_toml(path, scratch, missing_ok=True)
    try:
        aliases = _aliases(data.get("aliases", {})) if data is not None else {}
    except _Invalid as exc:
        scratch.errors.append(f"{path}: {exc}")
        aliases = {}
    merged.files += scratch.files
    if scratch.errors:
        merged.short_name_error = scratch.errors[0]
        merged.warnings.append(f"{scratch.errors[0]}; every short-name pull fails")
    merged.aliases.update({name: (value, str(path)) for name, value in aliases.items()})


def _alias_cache(etc: Path, home: Path | None, environ: Mapping[str, str]) -> Path:
    """shortNameAliasesConfPath: root's /var/cache, else $XDG_CACHE_HOME or ~/.cache."""
    if home is None:
        return etc.parent / "var" / "cache" / "containers" / "short-name-aliases.conf"
    cache = Path(environ["XDG_CACHE_HOME"]) if environ.get("XDG_CACHE_HOME") else home / ".cache"
    return cache / "containers" / "short-name-aliases.conf"


def _get(table: Mapping[str, object], key: str, kind: type[T], default: T) -> T:
    """BurntSushi/toml refuses a value of the wrong type: so does this."""
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise _Invalid(f"{key} must be of type {_TOML_TYPES[kind]}, not {_toml_type(value)}")
    return value


def _toml_type(value: object) -> str:
    return next((n for t, n in _TOML_TYPES.items() if isinstance(value, t)), type(value).__name__)


def _strings(table: Mapping[str, object], key: str) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"{key} must be an array of strings")
    return value


def _is_v1(data: Mapping[str, object]) -> bool:
    """A v1 file has [registries.search], [registries.insecure] or [registries.block]."""
    v1 = _get(data, "registries", dict, {})
    return any(k in v1 for k in _V1)


def _v1_to_v2(data: dict[str, object], v1_ok: bool) -> dict[str, object]:
    """V1RegistriesConf.ConvertToV2: block, then insecure; search → unqualified search."""
    if not v1_ok:
        raise _Invalid("registry must be in v2 format but is in v1")
    if any(k in data for k in _TOP - {"registries"}):
        raise _Invalid("mixing sysregistry v1/v2 is not supported")
    v1 = _get(data, "registries", dict, {})
    lists = {k: _strings(_get(v1, k, dict, {}), "registries") or [] for k in _V1}
    tables: dict[str, dict[str, object]] = {}
    for kind, flag in (("block", "blocked"), ("insecure", "insecure")):
        for location in lists[kind]:
            tables.setdefault(_location(location), {"location": location})[flag] = True
    return {"registry": list(tables.values()), "unqualified-search-registries": lists["search"]}


def _location(text: str) -> str:
    """parseLocation: trailing "/" removed; a URI scheme is an error."""
    trimmed = text.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise _Invalid(f"invalid location {text!r}: URI schemes are not supported")
    return trimmed


def _registries(data: Mapping[str, object], file: str) -> dict[str, Registry]:
    """postProcessRegistries: prefixes, mirrors, conflicts; the first table per prefix wins."""
    tables = _get(data, "registry", list, [])
    registries = [_registry(table, file) for table in tables[: MAX_REGISTRIES + 1]]
    _check_conflicts(registries)
    result: dict[str, Registry] = {}
    for registry in registries:
        result.setdefault(registry.prefix, registry)
    return result


def _registry(table: object, file: str) -> Registry:
    if not isinstance(table, dict):
        raise _Invalid("registry must be an array of tables ([[registry]])")
    location = _location(_get(table, "location", str, ""))
    prefix = _location(_get(table, "prefix", str, "")) or location
    if not prefix:
        raise _Invalid("invalid condition: both location and prefix are unset")
    wildcard = prefix.startswith("*.")
    if not location and not wildcard:
        raise _Invalid(
            f"location is unset and prefix {prefix!r} is not in the format *.example.com"
        )
    if wildcard and any(c in prefix for c in "/@:"):
        raise _Invalid(f"wildcarded prefix should be in the format *.example.com, not {prefix!r}")
    if _get(table, "pull-from-mirror", str, ""):
        raise _Invalid(f"pull-from-mirror must not be set for a non-mirror registry {prefix!r}")
    by_digest = _get(table, "mirror-by-digest-only", bool, False)
    mirrors = tuple(_mirror(m, prefix, by_digest) for m in _get(table, "mirror", list, []))
    insecure, blocked = _get(table, "insecure", bool, False), _get(table, "blocked", bool, False)
    return Registry(prefix, location, insecure, blocked, mirrors[:MAX_LIST], by_digest, file)


def _mirror(table: object, prefix: str, by_digest: bool) -> Mirror:
    if not isinstance(table, dict):
        raise _Invalid("mirror must be an array of tables ([[registry.mirror]])")
    location = _location(_get(table, "location", str, ""))
    if not location:
        raise _Invalid("invalid condition: mirror location is unset")
    mode = _get(table, "pull-from-mirror", str, "")
    if mode and by_digest:
        raise _Invalid(
            f"cannot set mirror-by-digest-only for {prefix!r} and pull-from-mirror for"
            f" mirror {location!r} at the same time"
        )
    if mode and mode not in PULL_FROM_MIRROR:
        raise _Invalid(f"unsupported pull-from-mirror value {mode!r} for mirror {location!r}")
    return Mirror(location, _get(table, "insecure", bool, False), mode)


def _check_conflicts(registries: list[Registry]) -> None:
    """One location (or wildcard prefix) may not be both insecure and not, blocked and not."""
    seen: dict[str, Registry] = {}
    for reg in registries:
        other = seen.setdefault(reg.location or reg.prefix, reg)
        for what in ("insecure", "blocked"):
            if getattr(reg, what) != getattr(other, what):
                where = reg.location or reg.prefix
                raise _Invalid(
                    f"registry {where!r} is defined multiple times with conflicting {what!r}"
                )


def _search(data: Mapping[str, object]) -> list[str] | None:
    """unqualified-search-registries: host[:port] only; set (even to []) replaces."""
    entries = _strings(data, "unqualified-search-registries")
    if entries is None:
        return None
    result = [_location(e) for e in entries]
    for entry in result:
        if not _DOMAIN.fullmatch(entry):
            raise _Invalid(f"invalid unqualified-search-registries entry {entry!r}")
    return result


def _aliases(table: object) -> dict[str, str | None]:
    """newShortNameAliasCache: short name → normalized full name; "" erases an alias."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise _Invalid("aliases must be a table of strings")
    problems: list[str] = []
    result: dict[str, str | None] = {}
    for name, value in table.items():
        problem = _short_name_problem(name)
        normalized, value_problem = _alias_value(value) if value else (None, None)
        problems += [p for p in (problem, value_problem) if p]
        result[name] = normalized
    if problems:
        raise _Invalid("; ".join(problems[:5]))
    return result


def _short_name_problem(name: str) -> str | None:
    """validateShortName: a name only, without registry, tag or digest."""
    if "@" in name or ":" in name.rpartition("/")[2]:
        return f"invalid short name {name!r}: must not contain a tag or digest"
    if not _is_short(name):
        return f"invalid short name {name!r}: must not contain registry"
    parts = name.split("/")
    first_ok = _PATH.fullmatch(parts[0]) or (len(parts) > 1 and _DOMAIN.fullmatch(parts[0]))
    if not first_ok or not all(_PATH.fullmatch(p) for p in parts[1:]):
        return f"cannot parse short name {name!r}"
    return None


def _alias_value(value: str) -> tuple[str | None, str | None]:
    """parseShortNameValue: registry/repository, no tag or digest; docker.io normalized."""
    if "@" in value or ":" in value.rpartition("/")[2]:
        return None, f"invalid alias {value!r}: must not contain tag or digest"
    if _is_short(value):
        return None, f"invalid alias {value!r}: must contain registry and repository"
    try:
        ref = parse_reference(value)
    except ReferenceError as exc:
        return None, f"parsing alias {value!r}: {exc}"
    return f"{ref.registry}/{ref.repository}", None


def _is_short(name: str) -> bool:
    """shortnames.IsShortName: no first component with '.', ':' or 'localhost'."""
    first, sep, _ = name.partition("@")[0].partition("/")
    return not sep or not ("." in first or ":" in first or first == "localhost")


def _unknown_keys(data: Mapping[str, object]) -> list[str]:
    """Keys containers/image does not know are ignored (logged at debug level only)."""
    found = [k for k in data if k not in _TOP]
    tables = data.get("registry")
    for table in tables if isinstance(tables, list) else []:
        found += [f"registry.{k}" for k in table if k not in _REGISTRY_KEYS]
        for mirror in table.get("mirror", []):
            found += [f"mirror.{k}" for k in mirror if k not in _MIRROR_KEYS]
    return [f"unknown key {_show(k)} is ignored" for k in dict.fromkeys(found)][:10]


def _show(text: str, limit: int = 200) -> str:
    shown = text[: limit + 1].encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# --- the plan for one image ---------------------------------------------------------------


class _Refused(Exception):
    """containers/image refuses the image before trying any host."""


@dataclass
class _Out:
    notes: list[str]
    refusals: list[str] = field(default_factory=list)

    def refuse(self, why: str, source: str | None = None) -> None:
        self.refusals.append(why)
        self.notes.append(f"{source} is not tried: {why}" if source else why)


def containers_plan(conf: RegistriesConf, image: str, *, is_digest: bool) -> HostPlan:
    """The hosts containers/image tries for ``image`` (a short or fully-qualified name).

    Short names resolve as shortnames.Resolve does; each candidate's sources are
    PullSourcesFromReference's: mirrors, then the primary location.
    """
    notes: list[str] = []
    warnings = list(conf.warnings) + [
        f"{e}: containers/image refuses to load it" for e in conf.errors
    ]
    try:
        candidates, rewritten = _candidates(conf, image, notes)
    except _Refused as exc:
        return HostPlan((), conf.files, tuple(warnings), str(exc), tuple(notes))
    out = _Out(notes)
    hosts = [
        h
        for ref in candidates
        for h in _sources(conf, ref, is_digest, candidates[0].repository, out)
    ]
    refusal = out.refusals[0] if out.refusals and not hosts else None
    if conf.errors:
        refusal = f"containers/image cannot load {conf.errors[0]}; no pull works until it is fixed"
        notes.append("hosts are listed as if the files that could not be loaded were absent")
    return HostPlan(tuple(hosts), conf.files, tuple(warnings), refusal, tuple(notes), rewritten)


def _candidates(
    conf: RegistriesConf, image: str, notes: list[str]
) -> tuple[list[ImageReference], str | None]:
    """shortnames.Resolve: fully-qualified as is; else an alias; else each search registry."""
    if not _is_short(image):
        return [_parse(image)], None
    if conf.short_name_error:
        raise _Refused(f"loading short-name aliases: {conf.short_name_error}")
    name, suffix = _split_suffix(image)
    value, origin = conf.aliases.get(name, (None, ""))
    if value:
        notes.append(f"short name alias {name} → {value} from {origin}")
        ref = _parse(value + suffix)
        return [ref], ref.normalized
    search = conf.unqualified_search_registries
    if not search:
        where = conf.search_origin or "no containers-registries.conf(5) was found"
        raise _Refused(
            f"short-name {image!r} did not resolve to an alias and no unqualified-search"
            f" registries are defined ({where})"
        )
    refs = [_parse(f"{registry}/{image}") for registry in search]
    notes.append(
        f"short name {image} resolved with unqualified-search-registries from {conf.search_origin}"
    )
    if len(refs) > 1:
        notes.append(_ambiguity_note(conf, image))
    return refs, refs[0].normalized


def _ambiguity_note(conf: RegistriesConf, image: str) -> str:
    mode = conf.short_name_mode
    podman = {
        "enforcing": "podman asks on a terminal and fails without one ('short-name resolution"
        " enforced but cannot prompt without a TTY')",
        "permissive": "podman asks on a terminal, without one it tries each in order",
        "disabled": "podman tries each in order",
    }[mode]
    return (
        f"{image} is ambiguous (short-name-mode {mode}): {podman}; CRI-O 1.34 and later"
        " refuses it unless crio.conf short_name_mode is 'disabled' ('short name mode is"
        " enforcing, but image name ... returns ambiguous list'), older CRI-O tries each in order"
    )


def _split_suffix(image: str) -> tuple[str, str]:
    """'library/nginx:1.2@sha256:…' → ('library/nginx', ':1.2@sha256:…')."""
    name, at, digest = image.partition("@")
    head, slash, last = name.rpartition("/")
    last, colon, tag = last.partition(":")
    return head + slash + last, colon + tag + at + digest


def _parse(text: str) -> ImageReference:
    try:
        return parse_reference(text)
    except ReferenceError as exc:
        raise _Refused(str(exc)) from None


class _Source(NamedTuple):
    reference: str  # rewritten for this endpoint
    insecure: bool
    role: HostRole
    origin: str


def _sources(
    conf: RegistriesConf, ref: ImageReference, is_digest: bool, base: str, out: _Out
) -> list[PullHost]:
    """PullSourcesFromReference, minus sources refused as blocked (newDockerClient)."""
    registry = find_registry(conf, f"{ref.registry}/{ref.repository}")
    if registry is None:
        sources = [_Source(ref.normalized, False, HostRole.UPSTREAM, "default")]
    else:
        sources = _endpoints(registry, ref, is_digest, out.notes)
    targets = [_canonical(source.reference) for source in sources]
    if None in targets:  # rewriteReference fails: no source of this image is tried
        bad = sources[targets.index(None)]
        out.refuse(f"{bad.origin}: rewriting {ref.normalized} gives {bad.reference}, not a name")
        return []
    hosts = []
    for source, target in zip(sources, targets, strict=True):
        assert target is not None
        blocker = find_registry(conf, f"{target.registry}/{target.repository}")
        if blocker is not None and blocker.blocked:
            out.refuse(f"registry {blocker.prefix} is blocked in {blocker.file}", source.reference)
            continue
        registry_host = DOCKER_HUB_API_HOST if target.registry == "docker.io" else target.registry
        repository = target.repository if target.repository != base else None
        insecure = source.insecure
        hosts.append(
            PullHost(
                f"https://{registry_host}",
                source.role,
                source.origin,
                skip_verify=insecure,
                insecure=insecure,
                repository=repository,
            )
        )
    return hosts


def _canonical(text: str) -> ImageReference | None:
    """reference.ParseNamed: valid and already normalized ("docker.io/x" is not)."""
    try:
        ref = parse_reference(text)
    except ReferenceError:
        return None
    return ref if ref.normalized == text else None


def _endpoints(
    registry: Registry, ref: ImageReference, is_digest: bool, notes: list[str]
) -> list[_Source]:
    """Mirrors allowed for a digest or tag pull, in order, then the primary location."""
    table = f"{registry.file} [[registry]] prefix={registry.prefix!r}"
    kind = "digest" if is_digest else "tag"
    result = []
    for index, mirror in enumerate(registry.mirrors):
        rule = "digest-only" if registry.mirror_by_digest_only else mirror.pull_from_mirror
        if rule in ("digest-only", "tag-only") and rule != f"{kind}-only":
            notes.append(f"mirror {mirror.location} is not used for a {kind} pull ({rule})")
            continue
        physical = _rewrite(ref.normalized, registry.prefix, mirror.location)
        result.append(
            _Source(physical, mirror.insecure, HostRole.MIRROR, f"{table} mirror[{index}]")
        )
    physical = _rewrite(ref.normalized, registry.prefix, registry.location)
    return [*result, _Source(physical, registry.insecure, HostRole.UPSTREAM, table)]


def _rewrite(ref: str, prefix: str, location: str) -> str:
    """Endpoint.rewriteReference: location + what follows the matched prefix."""
    if not location:
        return ref  # a wildcard prefix without location: used as is
    return location + ref[_match_length(ref, prefix) :]


def find_registry(conf: RegistriesConf, name: str) -> Registry | None:
    """FindRegistry: the [[registry]] with the longest matching prefix (first on a tie)."""
    best: Registry | None = None
    for registry in conf.registries:
        if _match_length(name, registry.prefix) >= 0 and (
            best is None or len(registry.prefix) > len(best.prefix)
        ):
            best = registry
    return best


def _match_length(ref: str, prefix: str) -> int:
    """refMatchingPrefix: the matched length, or -1 (example.com also matches example.com:5000)."""
    if prefix.startswith("*."):
        index = ref.find(prefix[1:])
        if index < 0 or "/" in ref[:index]:
            return -1
        end = index + len(prefix) - 1
        return end if end == len(ref) or ref[end] in ":/@" else -1
    if ref == prefix:
        return len(prefix)
    if ref.startswith(prefix) and len(ref) > len(prefix) and ref[len(prefix)] in ":/@":
        return len(prefix)
    return -1
