"""Check definitions: TOML files of targets (and `serve` modules) with `run`'s settings.

    [defaults]                      # for every target and module below
    blob = "smallest"
    [defaults.thresholds]           # seconds: a slower step is a slow_step warning
    manifest = 3.0

    [[target]]
    name = "acr-ee-public"
    reference = "shop-registry.cn-hangzhou.cr.aliyuncs.com/ns/app:1.0"
    authfile = "/root/.docker/config.json"

    [module.acr]                    # acrdiag serve: /probe?target=REF&module=acr
    authfile = "/root/.docker/config.json"

A mistake is a DefinitionError naming the file, the line and the field; nothing is run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acrdiag.errors import InputError
from acrdiag.model import StepId
from acrdiag.options import RunArgs, parse_size
from acrdiag.reference import ReferenceError, parse_platform, parse_reference

MAX_FILE_BYTES = 1 << 20
MAX_TARGETS = 1000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class DefinitionError(InputError):
    """A check definition acrdiag cannot run: file:line: what and why (exit 2)."""


# field -> (type(s), what it is, as the error says it)
SETTINGS: dict[str, tuple[tuple[type, ...], str]] = {
    "platform": ((str,), "OS/ARCH[/VARIANT]"),
    "blob": ((str,), "all, smallest, largest or a digest"),
    "max_download": ((str,), "a size like 256M"),
    "timeout": ((int, float), "seconds"),
    "deadline": ((int, float), "seconds"),
    "runtime": ((str,), "auto, docker, containerd, crio, podman or none"),
    "runtime_config": ((str,), "a file"),
    "authfile": ((str,), "a file"),
    "pull_secrets": ((list,), "a list of files"),
    "no_creds": ((bool,), "true or false"),
    "username": ((str,), "a user name"),
    "password_file": ((str,), "a file holding the password"),
    "ca_file": ((str,), "a file or directory"),
    "cert_dir": ((str,), "a directory"),
    "insecure": ((bool,), "true or false"),
    "plain_http": ((bool,), "true or false"),
    "nameservers": ((list,), "a list of IP[:PORT]"),
    "proxy": ((str,), "an http:// or https:// URL"),
    "no_proxy": ((bool,), "true or false"),
    "thresholds": ((dict,), "a table of step = seconds"),
}
RUNTIMES = ("auto", "docker", "containerd", "crio", "podman", "none")
PATH_FIELDS = ("runtime_config", "authfile", "password_file", "ca_file", "cert_dir")


@dataclass(frozen=True)
class Target:
    """One check: a reference and the settings it runs with."""

    name: str
    reference: str
    settings: Mapping[str, Any]
    source: str  # "file:line", for messages
    thresholds: Mapping[StepId, float] = field(default_factory=dict)

    def run_args(self) -> RunArgs:
        """The settings as `acrdiag run` would take them from its flags."""
        s = self.settings
        path = _path_or_none
        return RunArgs(
            reference=self.reference,
            username=s.get("username"),
            password_stdin="password_file" in s,
            platform=s.get("platform", "linux/amd64"),
            output_format=None,
            output=None,
            timeout=float(s.get("timeout", 10.0)),
            deadline=float(s.get("deadline", 60.0)),
            ca_file=path(s.get("ca_file")),
            insecure=bool(s.get("insecure", False)),
            plain_http=bool(s.get("plain_http", False)),
            nameservers=list(s.get("nameservers", [])),
            blob=s.get("blob", "smallest"),  # a health check's default: the cheap one
            max_download=s.get("max_download", "256M"),
            authfile=path(s.get("authfile")),
            no_creds=bool(s.get("no_creds", False)),
            pull_secrets=[Path(p) for p in s.get("pull_secrets", [])],
            cert_dir=path(s.get("cert_dir")),
            proxy=s.get("proxy"),
            no_proxy=bool(s.get("no_proxy", False)),
            runtime=s.get("runtime", "auto"),
            runtime_config=path(s.get("runtime_config")),
        )

    def password(self) -> str:
        """The password of password_file, read when the check runs (it may be rotated)."""
        path = Path(self.settings["password_file"])
        try:
            return path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"password_file {path}: cannot be read ({exc})") from exc


@dataclass(frozen=True)
class Definitions:
    targets: tuple[Target, ...]
    modules: Mapping[str, Target]  # name -> settings (reference empty): for `serve`
    files: tuple[str, ...]


def load(paths: Iterable[Path]) -> Definitions:
    """Every target and module of ``paths`` (files, or directories of *.toml), in order."""
    targets: list[Target] = []
    modules: dict[str, Target] = {}
    files: list[str] = []
    for file in _files(paths):
        loaded, loaded_modules = _load_file(file)
        targets += loaded
        modules.update(loaded_modules)
        files.append(str(file))
    _check_unique(targets)
    if len(targets) > MAX_TARGETS:
        raise DefinitionError(f"{len(targets)} targets: at most {MAX_TARGETS} per check")
    return Definitions(tuple(targets), modules, tuple(files))


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.toml") if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise DefinitionError(f"{path}: no such file or directory")
    if not found:
        raise DefinitionError("no check definitions: give a .toml file or a directory of them")
    return found


def _load_file(file: Path) -> tuple[list[Target], dict[str, Target]]:
    text = _read(file)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{file}: not valid TOML: {exc}") from exc
    where = _Locator(file, text)
    unknown = set(document) - {"defaults", "target", "module"}
    if unknown:
        key = sorted(unknown)[0]
        raise DefinitionError(
            f"{where.top(key)}: unknown table {key!r}: use defaults, [[target]] or module"
        )
    defaults = _table(document.get("defaults", {}), where.top("defaults"), "defaults")
    _check_settings(defaults, where, "defaults", None)
    raw_targets = document.get("target", [])
    if not isinstance(raw_targets, list):
        raise DefinitionError(f"{where.top('target')}: write targets as [[target]] tables")
    targets = [_target(raw, index, defaults, where) for index, raw in enumerate(raw_targets)]
    raw_modules = _table(document.get("module", {}), where.top("module"), "module")
    modules = {name: _module(name, raw, defaults, where) for name, raw in raw_modules.items()}
    return targets, modules


def _read(file: Path) -> str:
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DefinitionError(f"{file}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise DefinitionError(f"{file}: over {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{file}: not UTF-8") from exc


def _target(raw: Any, index: int, defaults: dict[str, Any], where: _Locator) -> Target:
    at = where.array_table("target", index)
    table = _table(raw, at, "target")
    reference = table.pop("reference", None)
    if not isinstance(reference, str) or not reference:
        raise DefinitionError(f'{at}: target needs reference = "host/name:tag"')
    try:
        parse_reference(reference)
    except ReferenceError as exc:
        raise DefinitionError(f"{where.field('target', index, 'reference')}: {exc}") from exc
    name = table.pop("name", None) or _name_from(reference)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DefinitionError(
            f"{where.field('target', index, 'name')}: name {name!r}: letters, digits, "
            "'.', '_' and '-', up to 63 (it names files and metric labels)"
        )
    _check_settings(table, where, "target", index)
    return _with_defaults(name, reference, table, defaults, at)


def _module(name: str, raw: Any, defaults: dict[str, Any], where: _Locator) -> Target:
    at = where.top(f"module.{name}")
    table = _table(raw, at, f"module.{name}")
    if "reference" in table or "name" in table:
        raise DefinitionError(f"{at}: a module has no reference: /probe?target= gives it")
    _check_settings(table, where, f"module.{name}", None)
    return _with_defaults(name, "", table, defaults, at)


def _with_defaults(
    name: str, reference: str, table: dict[str, Any], defaults: dict[str, Any], at: str
) -> Target:
    merged = {**defaults, **table}
    thresholds = {**defaults.get("thresholds", {}), **table.get("thresholds", {})}
    merged.pop("thresholds", None)
    return Target(
        name,
        reference,
        merged,
        at,
        {StepId(step): float(seconds) for step, seconds in thresholds.items()},
    )


def _check_settings(table: dict[str, Any], where: _Locator, kind: str, index: int | None) -> None:
    for key, value in table.items():
        at = where.field(kind, index, key)
        expected = SETTINGS.get(key)
        if expected is None:
            known = ", ".join(sorted(SETTINGS))
            raise DefinitionError(f"{at}: unknown field {key!r} (known: {known})")
        types, what = expected
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise DefinitionError(f"{at}: {key} must be {what}, not {value!r}")
        _check_value(key, value, at)


def _check_value(key: str, value: Any, at: str) -> None:
    """What `run` would refuse, refused here with the line that says it."""
    problem = _problem(key, value)
    if problem:
        raise DefinitionError(f"{at}: {key}: {problem}")


def _problem(key: str, value: Any) -> str | None:
    if key in ("timeout", "deadline") and not 0 < value <= 86400:
        return f"must be more than 0 seconds, not {value}"
    if key == "runtime" and value not in RUNTIMES:
        return f"must be one of {', '.join(RUNTIMES)}, not {value!r}"
    if key == "platform":
        try:
            parse_platform(value)
        except ReferenceError as exc:
            return str(exc)
    if key == "max_download":
        try:
            parse_size("max_download", value)
        except InputError as exc:
            return str(exc)
    if key in PATH_FIELDS and not Path(value).exists():
        return f"{value}: no such file or directory"
    if key in ("pull_secrets", "nameservers") and not all(isinstance(v, str) for v in value):
        return "must be a list of strings"
    if key == "pull_secrets":
        missing = [v for v in value if not Path(v).is_file()]
        return f"{missing[0]}: no such file" if missing else None
    if key == "thresholds":
        return _threshold_problem(value)
    return None


def _threshold_problem(value: dict[str, Any]) -> str | None:
    steps = {s.value for s in StepId}
    for step, seconds in value.items():
        if step not in steps:
            return f"{step!r} is not a step ({', '.join(s.value for s in StepId)})"
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            return f"{step} must be a number of seconds above 0, not {seconds!r}"
    return None


def _table(value: Any, at: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DefinitionError(f"{at}: {what} must be a table")
    return dict(value)


def _name_from(reference: str) -> str:
    """A target without a name is named after its reference: host-free, file-safe."""
    tail = reference.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tail).strip("-.")[:63] or "target"


def _check_unique(targets: list[Target]) -> None:
    seen: dict[str, Target] = {}
    for target in targets:
        if target.name in seen:
            raise DefinitionError(
                f"{target.source}: target name {target.name!r} is used twice "
                f"(also {seen[target.name].source}): reports and metrics are named after it"
            )
        seen[target.name] = target


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


class _Locator:
    """file:line for a table or a field: tomllib keeps no positions, so the text is searched
    (headers and `key =` lines, in order)."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self.lines = text.splitlines()

    def top(self, key: str) -> str:
        pattern = re.compile(rf"^\s*(\[+\s*{re.escape(key)}\b|{re.escape(key)}\s*=)")
        return self._at(self._find(pattern, 0, len(self.lines)))

    def array_table(self, kind: str, index: int) -> str:
        return self._at(self._header(kind, index))

    def field(self, kind: str, index: int | None, key: str) -> str:
        if index is None:
            sub_table = rf"^\s*\[\s*{re.escape(kind)}\.{re.escape(key)}\s*\]"
            found = self._find(re.compile(sub_table), 0, len(self.lines))
            if found is not None:  # [defaults.thresholds]
                return self._at(found)
            start = self._find(re.compile(rf"^\s*\[\s*{re.escape(kind)}\s*\]"), 0, len(self.lines))
        else:
            start = self._header(kind, index)
        if start is None:
            return self._at(None)
        end = self._next_header(start + 1)
        pattern = re.compile(
            rf"^\s*(?:{re.escape(key)}\s*=|\[\s*{re.escape(kind)}\.{re.escape(key)}\s*\])"
        )
        return self._at(self._find(pattern, start, end) or start)

    def _header(self, kind: str, index: int) -> int | None:
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(kind)}\s*\]\]")
        hits = [i for i, line in enumerate(self.lines) if pattern.match(line)]
        return hits[index] if index < len(hits) else None

    def _next_header(self, start: int) -> int:
        for i in range(start, len(self.lines)):
            if re.match(r"^\s*\[\[", self.lines[i]):
                return i
        return len(self.lines)

    def _find(self, pattern: re.Pattern[str], start: int, end: int) -> int | None:
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return i
        return None

    def _at(self, index: int | None) -> str:
        return f"{self.file}:{index + 1}" if index is not None else str(self.file)
