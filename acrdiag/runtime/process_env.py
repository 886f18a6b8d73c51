"""The runtime daemon's proxy environment: what containerd, dockerd or CRI-O pull with.

First the running daemon's own /proc/PID/environ (readable by root), else what systemd
gives the unit: Environment= and EnvironmentFile= of the unit file and its drop-ins, by
systemd.unit(5), systemd.exec(5) and systemd's parsers (conf-parser.c, extract-word.c,
env-file.c, load-fragment.c). The caller applies daemon.json "proxies" afterwards. Only
the proxy variables are kept: the rest of a daemon's environment may hold secrets.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROXY_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)
LIB_DIRS = (
    Path("/usr/local/lib/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
)
MAX_FILE = 1024 * 1024
MAX_ENVIRON = 4 * 1024 * 1024
MAX_DROPINS = 256
_COMM_LEN = 15  # TASK_COMM_LEN - 1: /proc/PID/comm is truncated
_WS = " \t\n\r"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # env_name_is_valid: a shell variable name
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES.update({"s": " ", "\\": "\\", '"': '"', "'": "'"})


@dataclass(frozen=True)
class RuntimeEnvironment:
    values: dict[str, str] = field(repr=False)  # proxy variables only; a URL may hold a password
    source: str  # "/proc/1234/environ (containerd)", "systemd unit …", "none found"
    pid: int | None
    warnings: tuple[str, ...]


@dataclass
class _Unit:
    etc: Path
    run: Path
    path: Path | None = None
    dropins: list[Path] = field(default_factory=list)
    env_files: list[Path] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    file_specs: list[str] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    masked: bool = False
    values: dict[str, str] = field(default_factory=dict, repr=False)  # proxies, all applied


def find_pids(names: Sequence[str], proc: Path = Path("/proc")) -> list[int]:
    """Processes whose /proc/PID/comm (or exe basename) is one of ``names``, lowest first."""
    short, full = {n[:_COMM_LEN] for n in names}, set(names)
    try:
        entries = [e for e in proc.iterdir() if e.name.isdigit()]
    except OSError:
        return []
    return sorted(int(e.name) for e in entries if _comm(e) in short or _exe_name(e) in full)


def process_environment(pid: int, proc: Path = Path("/proc")) -> dict[str, str] | None:
    """The proxy variables the process was started with; None when unreadable."""
    everything = full_environment(pid, proc)
    return None if everything is None else _proxies(everything)


def full_environment(pid: int, proc: Path = Path("/proc")) -> dict[str, str] | None:
    """Every variable the process was started with, for a child run as it would run it
    (kubelet's credential plugins inherit kubelet's); never for the report."""
    try:
        with (proc / str(pid) / "environ").open("rb") as f:
            data = f.read(MAX_ENVIRON)
    except OSError:
        return None
    pairs = (item.decode("utf-8", "replace").partition("=") for item in data.split(b"\0"))
    return {name: value for name, eq, value in pairs if eq}


def unit_environment(
    unit: str,
    etc: Path = Path("/etc"),
    lib_dirs: Sequence[Path] = LIB_DIRS,
    run: Path = Path("/run"),
) -> tuple[dict[str, str], list[str], list[str]]:
    """The proxy variables systemd gives ``unit``, the files read, and warnings."""
    read = _read_unit(unit, etc, lib_dirs, run)
    files = [read.path] if read.path else []
    return read.values, [str(p) for p in [*files, *read.dropins, *read.env_files]], read.warnings


def runtime_environment(
    process_names: Sequence[str],
    unit: str,
    *,
    proc: Path = Path("/proc"),
    etc: Path = Path("/etc"),
    lib_dirs: Sequence[Path] = LIB_DIRS,
    run: Path = Path("/run"),
) -> RuntimeEnvironment:
    """The running daemon's environment where readable, else its systemd unit's."""
    read = _read_unit(unit, etc, lib_dirs, run)
    unit_values, warnings = read.values, read.warnings if read.path else []
    pids = find_pids(process_names, proc)
    for pid in pids:
        values = process_environment(pid, proc)
        if values is None:
            continue
        notes = [f"{len(pids)} processes are named {'/'.join(process_names)}: pid {pid} read"]
        notes = notes if len(pids) > 1 else []
        if read.path and not read.masked and values != unit_values:
            changed = sorted(
                {k for k in {**values, **unit_values} if values.get(k) != unit_values.get(k)}
            )
            notes.append(
                f"the running daemon's {', '.join(changed)} differ from what {unit}'s files set "
                "now: it was started before they changed (restart it to apply them), or they "
                "come from systemd's own environment (DefaultEnvironment=, PassEnvironment=)"
            )
        source = f"{proc}/{pid}/environ ({_comm(proc / str(pid))})"
        return RuntimeEnvironment(values, source, pid, tuple(notes + warnings))
    if pids:
        warnings = [
            f"{proc}/{pids[0]}/environ cannot be read (acrdiag needs root for the daemon's "
            f"own environment): {unit}'s files are read instead",
            *warnings,
        ]
    if read.path is None:
        return RuntimeEnvironment({}, "none found", None, tuple(warnings))
    return RuntimeEnvironment(unit_values, _unit_source(read), None, tuple(warnings))


def _unit_source(read: _Unit) -> str:
    source = f"systemd unit {read.path}" + (" (masked)" if read.masked else "")
    if read.dropins:
        source += f" + drop-ins {', '.join(map(str, read.dropins))}"
    if read.env_files:
        source += f" + EnvironmentFile {', '.join(map(str, read.env_files))}"
    return source


def _values(read: _Unit) -> dict[str, str]:
    """systemd.exec(5): EnvironmentFile= overrides Environment=; UnsetEnvironment= last."""
    env = dict(read.environment)
    for spec in read.file_specs:
        env.update(_load_env_files(spec, read))
    for item in read.unset:
        name, eq, value = item.partition("=")
        if name in env and (not eq or env[name] == value):
            del env[name]
    return _proxies(env)


def _proxies(env: dict[str, str]) -> dict[str, str]:
    return {name: env[name] for name in PROXY_NAMES if name in env}


def _comm(entry: Path) -> str:
    try:
        with (entry / "comm").open("rb") as f:
            return f.read(64).decode("utf-8", "replace").rstrip("\n")
    except OSError:
        return ""


def _exe_name(entry: Path) -> str:
    try:
        return os.path.basename(os.readlink(entry / "exe")).removesuffix(" (deleted)")
    except OSError:
        return ""


def _read_unit(unit: str, etc: Path, lib_dirs: Sequence[Path], run: Path) -> _Unit:
    """systemd.unit(5): the first unit file on the search path; drop-ins from every
    directory, in filename order, a name in an earlier directory hiding the same later."""
    system = [etc / "systemd/system.control", run / "systemd/system.control"]
    system += [run / "systemd/transient", run / "systemd/generator.early"]
    system += [etc / "systemd/system", etc / "systemd/system.attached", run / "systemd/system"]
    system += [run / "systemd/system.attached", run / "systemd/generator", *lib_dirs]
    system += [run / "systemd/generator.late"]
    read = _Unit(etc, run)
    read.path = next((d / unit for d in system if os.path.lexists(d / unit)), None)
    if read.path is None:
        read.warnings.append(f"no unit file {unit} under {etc}/systemd, {run}/systemd or lib dirs")
        return read
    if os.path.realpath(read.path) == os.devnull or _size(read.path) == 0:
        read.masked = True
        read.warnings.append(f"{unit} is masked ({read.path}): systemd will not start it")
        return read
    stem, _, kind = unit.rpartition(".")
    dashes = [i for i, c in enumerate(stem) if c == "-"]
    # foo-bar-baz.service: foo-bar-baz.service.d, foo-bar-.service.d, foo-.service.d, service.d
    names = [unit, *(f"{stem[: i + 1]}.{kind}" for i in reversed(dashes)), kind]
    found: dict[str, Path] = {}
    for d in system:
        for name in names:
            for conf in _listing(d / f"{name}.d"):
                found.setdefault(conf.name, conf)
    read.dropins = [found[k] for k in sorted(found)][:MAX_DROPINS]
    for path in [read.path, *read.dropins]:
        text = _read_text(path, read.warnings)
        if text is not None:
            _parse_unit_file(text, str(path), unit, read)
    read.values = _values(read)
    return read


def _listing(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.name.endswith(".conf") and not p.is_dir()]
    except OSError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _read_text(path: Path, warnings: list[str]) -> str | None:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        warnings.append(f"{path} cannot be read ({exc.strerror or type(exc).__name__})")
        return None
    if len(data) > MAX_FILE:
        warnings.append(f"{path} is larger than {MAX_FILE // 1024} KiB: not read")
        return None
    return data.decode("utf-8", "replace").removeprefix("\ufeff")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """conf-parser.c: comment lines dropped (even inside a continuation); a line ending in
    an unescaped backslash continues on the next, the backslash becoming a space."""
    lines, pending, start = [], "", 0
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if raw.lstrip(_WS)[:1] in ("#", ";"):
            continue
        line = pending + raw
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending, start = line[:-1] + " ", start or number
            continue
        lines.append((start or number, line))
        pending, start = "", 0
    return lines + ([(start, pending)] if pending else [])


def _parse_unit_file(text: str, where: str, unit: str, read: _Unit) -> None:
    section = ""
    for number, raw in _logical_lines(text):
        line, at = raw.strip(_WS), f"{where}:{number}"
        if not line:
            continue
        if line.startswith("["):
            section = line[1:-1] if line.endswith("]") else ""
            continue
        key, eq, value = line.partition("=")
        if not eq:
            read.warnings.append(f"{at}: a line without '=' (systemd ignores it)")
        elif section == "Service":
            _directive(key.strip(_WS), value.strip(_WS), at, unit, read)


def _directive(key: str, value: str, at: str, unit: str, read: _Unit) -> None:
    """load-fragment.c config_parse_environ, config_parse_unit_env_file, …_unset_environ."""
    if key == "Environment" and not value:
        read.environment.clear()  # an empty assignment resets the list
    elif key == "Environment":
        for word in _words(value, at, read.warnings):
            name, _, setting = _specifiers(word, unit, at, read.warnings).partition("=")
            if _NAME.fullmatch(name) and "=" in word and _valid_value(setting):
                read.environment[name] = setting
            else:
                read.warnings.append(f"{at}: an invalid Environment= assignment (ignored)")
    elif key == "EnvironmentFile" and not value:
        read.file_specs.clear()
    elif key == "EnvironmentFile":
        spec = _specifiers(value, unit, at, read.warnings)
        if spec.removeprefix("-").startswith("/"):
            read.file_specs.append(spec)
        else:
            read.warnings.append(f"{at}: EnvironmentFile= is not an absolute path (ignored)")
    elif key == "UnsetEnvironment" and not value:
        read.unset.clear()
    elif key == "UnsetEnvironment":
        read.unset += [_specifiers(w, unit, at, read.warnings) for w in _words(value, at, [])]
    elif key == "PassEnvironment" and any(n in value.split() for n in PROXY_NAMES):
        read.warnings.append(
            f"{at}: PassEnvironment= takes proxy variables from systemd's own "
            "environment, which acrdiag cannot read"
        )


def _valid_value(value: str) -> bool:
    """env_value_is_valid: no control character but tab and newline."""
    return not any((ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F for c in value)


def _words(value: str, at: str, warnings: list[str]) -> list[str]:
    """extract_first_word(EXTRACT_CUNESCAPE|EXTRACT_UNQUOTE): quotes anywhere in a word, C
    escapes in and out of quotes; a syntax error drops the rest of the line."""
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in _WS:
            i += 1
        if i >= n:
            return words
        word, quote = [], ""
        while i < n and (quote or value[i] not in _WS):
            c = value[i]
            if c == "\\":
                char, i = _unescape(value, i + 1)
                if char is None:
                    warnings.append(f"{at}: an invalid escape; the rest of the line is ignored")
                    return words
                word.append(char)
                continue
            if c == quote:
                quote = ""
            elif c in "'\"" and not quote:
                quote = c
            else:
                word.append(c)
            i += 1
        if quote:
            warnings.append(f"{at}: unbalanced quotes; the rest of the line is ignored")
            return words
        words.append("".join(word))


def _unescape(value: str, i: int) -> tuple[str | None, int]:
    """cunescape_one: \\n \\t \\s \\\\ \\" \\xHH \\uHHHH \\UHHHHHHHH \\ooo; others fail."""
    c = value[i : i + 1]
    if c and c in _ESCAPES:
        return _ESCAPES[c], i + 1
    digits = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}.get(c, (3, 8) if c.isdigit() else (0, 0))
    skip = 0 if digits[1] == 8 else 1
    text = value[i + skip : i + skip + digits[0]]
    try:
        code = int(text, digits[1]) if len(text) == digits[0] and digits[0] else 0
        return (chr(code), i + skip + digits[0]) if code else (None, i)
    except ValueError:
        return None, i


def _specifiers(text: str, unit: str, at: str, warnings: list[str]) -> str:
    """%% and the unit-name specifiers; any other specifier is kept as written, with a
    warning (systemd would expand it, e.g. %H to the host name)."""
    stem = unit.rsplit(".", 1)[0]
    known = {"%": "%", "n": unit, "N": stem, "p": stem.split("@")[0], "i": stem.partition("@")[2]}

    def expand(match: re.Match[str]) -> str:
        if match.group(1) in known:
            return known[match.group(1)]
        warnings.append(f"{at}: specifier %{match.group(1)} is not expanded by acrdiag")
        return match.group(0)

    return re.sub(r"%(.)", expand, text, flags=re.S)


def _load_env_files(spec: str, read: _Unit) -> dict[str, str]:
    """execute.c load_env_files: globs allowed; "-" means a missing or unreadable file is
    skipped, else the unit fails to start."""
    optional, pattern = spec.startswith("-"), _reroot(spec.removeprefix("-"), read)
    matches = sorted(glob.glob(pattern if glob.has_magic(pattern) else glob.escape(pattern)))
    if not matches and not optional:
        read.warnings.append(f"EnvironmentFile {pattern} does not exist: systemd fails to start it")
    env: dict[str, str] = {}
    for name in matches:
        text = _read_text(Path(name), [] if optional else read.warnings)
        if text is not None:
            read.env_files.append(Path(name))
            env.update(_env_file(text, name, read.warnings))
    return env


def _reroot(path: str, read: _Unit) -> str:
    """/etc/… and /run/… under the roots given (tests, or a node's file system elsewhere)."""
    for root, given in (("/etc/", read.etc), ("/run/", read.run)):
        if path.startswith(root) and given != Path(root):
            return str(given / path.removeprefix(root))
    return path


def _env_file(text: str, where: str, warnings: list[str]) -> dict[str, str]:
    """env-file.c parse_env_file_internal, state for state: KEY=VALUE lines, '#'/';'
    comments, 'single' and "double" quotes, backslash escapes and continuations."""
    env: dict[str, str] = {}
    state, key, value, key_ws, value_ws, start = "pre_key", "", "", -1, -1, 0

    def push() -> None:
        name = key[:key_ws] if key_ws >= 0 else key
        if _NAME.fullmatch(name) and _valid_value(value):
            env[name] = value
        else:  # strv_env_clean: invalid assignments are dropped
            warnings.append(
                f"{where}:{text.count(chr(10), 0, start) + 1}: not a valid assignment (ignored)"
            )

    for i, c in enumerate(text):
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in _WS:
                state, key, key_ws, start = "key", c, -1, i
        elif state == "key":
            if c in "\n\r":
                state = "pre_key"
            elif c == "=":
                state, value, value_ws = "pre_value", "", -1
            else:
                key_ws = -1 if c not in _WS else (key_ws if key_ws >= 0 else len(key))
                key += c
        elif state == "pre_value":
            if c in "\n\r":
                state = "pre_key"
                push()
            elif c in "'\"\\":
                state = {"'": "single", '"': "double", "\\": "escape"}[c]
            elif c not in _WS:
                state, value = "value", value + c
        elif state == "value":
            if c in "\n\r":
                state, value = "pre_key", value[:value_ws] if value_ws >= 0 else value
                push()
            elif c == "\\":
                state, value_ws = "escape", -1
            else:
                value_ws = -1 if c not in _WS else (value_ws if value_ws >= 0 else len(value))
                value += c
        elif state == "escape":
            state, value = "value", value + ("" if c in "\n\r" else c)
        elif state == "single":
            state, value = ("pre_value", value) if c == "'" else ("single", value + c)
        elif state == "double":
            if c == '"' or c == "\\":
                state = "pre_value" if c == '"' else "double_escape"
            else:
                value += c
        elif state == "double_escape":
            state = "double"
            value += c if c in '"\\`$' else ("" if c == "\n" else "\\" + c)
        elif state == "comment":
            state = "comment_escape" if c == "\\" else ("pre_key" if c in "\n\r" else "comment")
        else:  # comment_escape (v254: a comment no longer continues on the next line)
            state = "pre_key" if c in "\n\r" else "comment"
    if state in ("pre_value", "value", "escape", "single", "double", "double_escape"):
        value = value[:value_ws] if state == "value" and value_ws >= 0 else value
        push()
    return env
