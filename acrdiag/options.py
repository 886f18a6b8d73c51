"""Arguments to options: a command line's (or a check definition's) settings checked and
turned into what a run needs, or an InputError naming what is wrong. Nothing here reads
standard input or writes any output; the network is not touched."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from acrdiag.auth import (
    ANONYMOUS,
    Credential,
    CredentialSource,
    FlagCredentials,
    file_sources,
    resolve_credential,
)
from acrdiag.auth.pull_secrets import PullSecret
from acrdiag.env import Env
from acrdiag.errors import InputError
from acrdiag.net.cert_dirs import TlsFileError, TlsFiles, resolve_tls_files
from acrdiag.net.dns import parse_nameserver
from acrdiag.redact import redact_url
from acrdiag.reference import ImageReference, ReferenceError, parse_platform, parse_reference
from acrdiag.run_options import RunOptions

if TYPE_CHECKING:
    from acrdiag.runtime.view import RuntimeView

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")

PasswordReader = Callable[[], str]


def _anonymous(registry: str, repository: str) -> Credential:
    return ANONYMOUS


def _no_password() -> str:
    raise InputError("--password-stdin: no standard input to read the password from")


@dataclass
class RunArgs:
    reference: str
    username: str | None
    password_stdin: bool
    platform: str
    output_format: str | None
    output: Path | None
    timeout: float
    deadline: float
    ca_file: Path | None
    insecure: bool
    plain_http: bool
    nameservers: list[str]
    blob: str | None
    max_download: str = "256M"
    authfile: Path | None = None
    no_creds: bool = False
    pull_secrets: list[Path] = field(default_factory=list)
    creds: str | None = None
    tls_verify: str | None = None
    cert_dir: Path | None = None
    proxy: str | None = None
    no_proxy: bool = False
    runtime: str = "auto"
    runtime_config: Path | None = None
    provider_config: Path | None = None  # kubelet's --image-credential-provider-config
    provider_bin_dir: Path | None = None  # kubelet's --image-credential-provider-bin-dir
    lang: str | None = None  # --lang: en or zh; None: the locale's


@dataclass
class PreparedRun:
    """Everything one run needs: its options, the runtime's view (None: --runtime none) and
    how to find the TLS files of another host of that view."""

    options: RunOptions
    view: RuntimeView | None
    tls_for: Callable[[str], TlsFiles] = field(repr=False)
    # The credential the same sources give another host (registry, repository): a mirror's.
    credential_for: Callable[[str, str], Credential] = field(repr=False, default=_anonymous)


def build_options(
    args: RunArgs, env: Env, read_password: PasswordReader = _no_password
) -> PreparedRun:
    """RunOptions from the command line and the runtime's view (None: --runtime none), or
    InputError naming what is wrong. ``read_password`` gives what --password-stdin names:
    the caller owns standard input."""
    try:
        reference = parse_reference(args.reference)
        platform = parse_platform(args.platform)
    except ReferenceError as exc:
        raise InputError(str(exc)) from exc
    _check_numbers(args)
    blob, max_download = _blob_choice(args.blob, args.max_download)
    check_output(args.output)
    tls_files = tls_files_for(args, reference.registry, env)
    try:
        nameservers = [parse_nameserver(n) for n in args.nameservers]
    except ValueError as exc:
        raise InputError(f"--nameserver: {exc}") from exc
    sources = _credential_sources(args, env, read_password)
    view = _runtime_view(args, reference, env)
    if not args.no_creds:
        sources += _provider_flags(args, env)  # with any runtime, or none
        sources += view.credential_sources if view is not None else []
    options = RunOptions(
        reference=reference,
        platform=platform,
        credential=resolve_credential(sources, reference.registry, reference.repository),
        timeout=args.timeout,
        deadline=args.deadline,
        tls_files=tls_files,
        insecure=_insecure(args),
        plain_http=args.plain_http,
        nameservers=nameservers,
        blob=blob,
        max_download=max_download,
        environ=dict(env.environ),
        now=env.now,
        proxy=_proxy_choice(args),
    )
    return PreparedRun(
        options,
        view,
        lambda registry: tls_files_for(args, registry, env),
        lambda registry, repository: resolve_credential(sources, registry, repository),
    )


RUNTIMES = ("auto", "docker", "containerd", "crio", "podman", "none")


def _runtime_view(args: RunArgs, reference: ImageReference, env: Env) -> RuntimeView | None:
    if args.runtime not in RUNTIMES:
        raise InputError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {args.runtime!r}")
    if args.runtime == "none":
        if args.runtime_config is not None:
            raise InputError("--runtime-config needs a runtime: --runtime none reads none")
        return None
    config = args.runtime_config
    if config is not None and not config.is_file():
        what = "is a directory, not a file" if config.is_dir() else "no such file"
        raise InputError(f"--runtime-config {config}: {what}")
    from acrdiag.runtime.view import runtime_view  # not needed with --runtime none

    view = runtime_view(args.runtime, reference, env, min(10.0, args.deadline), config)
    if config is not None and view.plan is None:
        raise InputError(
            f"--runtime-config {config}: no container runtime was found here to read it; "
            "name the runtime with --runtime"
        )
    return view


def _provider_flags(args: RunArgs, env: Env) -> list[CredentialSource]:
    """kubelet's own flags, to try a credential provider configuration before a node has it."""
    config, bin_dir = args.provider_config, args.provider_bin_dir
    if config is None and bin_dir is None:
        return []
    if config is None or bin_dir is None:
        raise InputError(
            "--image-credential-provider-config and --image-credential-provider-bin-dir "
            "go together, as for kubelet"
        )
    if not config.is_file():
        raise InputError(f"--image-credential-provider-config {config}: no such file")
    if not bin_dir.is_dir():
        raise InputError(f"--image-credential-provider-bin-dir {bin_dir}: no such directory")
    from acrdiag.auth.kubelet_provider import KubeletCredentialProviders

    timeout = min(10.0, args.deadline)
    return [KubeletCredentialProviders(config, bin_dir, dict(env.environ), timeout)]


def _check_numbers(args: RunArgs) -> None:
    if not 0 < args.timeout <= 3600:
        raise InputError(
            f"--timeout must be more than 0 and at most 3600 seconds, not {args.timeout:g}"
        )
    if not 0 < args.deadline <= 86400:
        raise InputError(
            f"--deadline must be more than 0 and at most 86400 seconds, not {args.deadline:g}"
        )


def _blob_choice(blob: str | None, max_download: str) -> tuple[str, int | None]:
    """(which blobs, full-download budget): no --blob is every blob within the budget;
    --blob all lifts the budget."""
    budget = parse_size("--max-download", max_download)
    if blob is None:
        return "all", budget
    if blob not in ("all", "smallest", "largest") and not _DIGEST.match(blob):
        raise InputError(
            f"--blob must be all, smallest, largest or a digest like sha256:<64 hex>, not {blob!r}"
        )
    if blob.startswith("sha256:") and not re.fullmatch(r"sha256:[a-f0-9]{64}", blob):
        raise InputError(f"--blob {blob!r}: a sha256 digest has 64 lowercase hex digits")
    return blob, (None if blob == "all" else budget)


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(flag: str, text: str) -> int:
    """A size as docker takes it ("256M", "1G", "512MiB", "1048576"): binary units."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InputError(f"{flag} must be a size like 256M or 1G, not {text!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def check_output(output: Path | None) -> None:
    if output is None:
        return
    try:
        target = Path(os.path.realpath(output))
        if target.is_dir():
            raise InputError(f"--output {output} is a directory")
        if not target.parent.is_dir():
            raise InputError(f"--output {output}: directory {target.parent} does not exist")
        if not os.access(target.parent, os.W_OK):
            raise InputError(f"--output {output}: directory {target.parent} is not writable")
    except OSError as exc:
        raise InputError(f"--output {output}: {exc.strerror or exc}") from exc


def tls_files_for(args: RunArgs, registry: str, env: Env) -> TlsFiles:
    """The CAs and client certificate of this registry's pull; what the user named must
    load before any network traffic."""
    for flag, path in (("--ca-file", args.ca_file), ("--cert-dir", args.cert_dir)):
        if path is not None and not path.exists():
            raise InputError(f"{flag} {path}: no such file or directory")
    home = env.environ.get("HOME")
    try:
        return resolve_tls_files(
            registry,
            ca_file=args.ca_file,
            cert_dir=args.cert_dir,
            etc=env.etc,
            home=Path(home) if home else None,
        )
    except TlsFileError as exc:
        raise InputError(str(exc)) from exc


def _credential_sources(
    args: RunArgs, env: Env, read_password: PasswordReader
) -> list[CredentialSource]:
    """Where a credential may come from, in order: the command line, the files docker and
    containers keep, pull secrets (README "Credentials"); --no-creds: none, anonymous."""
    _take_creds(args)
    if args.username is None and args.password_stdin:
        raise InputError("--password-stdin needs --username")
    if args.no_creds:
        if args.username is not None or args.authfile is not None or args.pull_secrets:
            raise InputError("--no-creds cannot go with --username, --authfile or --pull-secret")
        return []
    for path, flag in [
        (args.authfile, "--authfile"),
        *((p, "--pull-secret") for p in args.pull_secrets),
    ]:
        if path is not None and not path.is_file():
            raise InputError(f"{flag} {path}: no such file")
    authfile = str(args.authfile) if args.authfile else None
    # A helper may not hang the run: docker's own has no limit, the run's deadline does.
    helper_timeout = min(10.0, args.deadline)
    files = [
        *file_sources(authfile, env.environ, helper_timeout),
        *(PullSecret(p) for p in args.pull_secrets),
    ]
    if args.username is None:
        return files
    _check_text("--username", args.username)
    if not args.password_stdin:
        raise InputError(
            "--username needs --password-stdin (acrdiag never takes a password as "
            "an argument, where ps and shell history would show it)"
        )
    password = read_password()
    if not password:
        raise InputError("--password-stdin: standard input held no password")
    _check_text("--password-stdin", password, show=False)
    return [FlagCredentials(args.username, password), *files]


def _proxy_choice(args: RunArgs) -> str | None:
    """--proxy URL, --no-proxy (""), or None to read the environment as Go does."""
    if args.proxy is not None and args.no_proxy:
        raise InputError("--proxy and --no-proxy contradict each other")
    if args.no_proxy:
        return ""
    if args.proxy is None:
        return None
    scheme = args.proxy.split("://", 1)[0].lower() if "://" in args.proxy else ""
    if scheme not in ("http", "https"):
        raise InputError(f"--proxy {redact_url(args.proxy)}: an http:// or https:// URL")
    return args.proxy


def _insecure(args: RunArgs) -> bool:
    """--insecure, or skopeo's spelling of it: --tls-verify=false."""
    if args.tls_verify is None:
        return args.insecure
    value = args.tls_verify.strip().lower()
    if value not in ("true", "false"):
        raise InputError(f"--tls-verify takes true or false, not {args.tls_verify!r}")
    if value == "true" and args.insecure:
        raise InputError("--tls-verify=true contradicts --insecure")
    return value == "false" or args.insecure


def _take_creds(args: RunArgs) -> None:
    """skopeo's --creds USER: the password comes from standard input, never from argv."""
    if args.creds is None:
        return
    user, sep, _ = args.creds.partition(":")
    if sep:
        raise InputError(
            "--creds with a password puts it where ps and shell history show it: give "
            f"--creds {user} --password-stdin (or --username {user} --password-stdin)"
        )
    if args.username is not None and args.username != user:
        raise InputError("--creds and --username name different users")
    args.username, args.password_stdin = user, True


def _check_text(flag: str, value: str, show: bool = True) -> None:
    """Values that go into HTTP headers: UTF-8, no control characters."""
    shown = f" {value!r}" if show else ""
    if not value:
        raise InputError(f"{flag} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{flag}{shown} is not valid UTF-8") from exc
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{flag}{shown} holds control characters")
