"""The commands and their flags (typer): only imported when a command runs, so that
`acrdiag --version` answers without them. Each command imports its work lazily."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from acrdiag import __version__
from acrdiag.env import Env

if TYPE_CHECKING:
    from acrdiag.options import PreparedRun

app = typer.Typer(
    name="acrdiag",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Tells you which step of a container image pull broke, why, and what to hand to support.",
)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class Runtime(StrEnum):
    AUTO = "auto"
    DOCKER = "docker"
    CONTAINERD = "containerd"
    CRIO = "crio"
    PODMAN = "podman"
    NONE = "none"


def _show_version(value: bool) -> None:
    if value:
        print(f"acrdiag {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """acrdiag: which step of an image pull broke, why, and what to hand to support."""


@app.command()
def run(
    context: typer.Context,
    reference: Annotated[
        str,
        typer.Argument(
            metavar="REFERENCE",
            help="Image reference as docker takes it: [host[:port]/]name[:tag][@sha256:digest].",
        ),
    ],
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            "-u",
            metavar="USER",
            help="Log in as this user (password from --password-stdin).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    authfile: Annotated[
        Path | None,
        typer.Option(
            "--authfile",
            metavar="FILE",
            help="Credentials file (docker config.json or containers auth.json), as skopeo "
            "takes it; default REGISTRY_AUTH_FILE, then docker's and containers' own.",
        ),
    ] = None,
    no_creds: Annotated[
        bool, typer.Option("--no-creds", help="Pull anonymously, whatever files hold.")
    ] = False,
    pull_secret: Annotated[
        list[Path] | None,
        typer.Option(
            "--pull-secret",
            metavar="FILE",
            help="A Kubernetes image pull secret (YAML or JSON, as kubectl get secret -o yaml "
            "shows it); repeatable, tried in order as kubelet does.",
        ),
    ] = None,
    creds: Annotated[
        str | None,
        typer.Option(
            "--creds",
            metavar="USER",
            help="skopeo's spelling of --username USER --password-stdin (never a password).",
        ),
    ] = None,
    cert_dir: Annotated[
        Path | None,
        typer.Option(
            "--cert-dir",
            metavar="DIR",
            help="CAs (*.crt) and a client certificate (*.cert, *.key) for this registry, as "
            "skopeo takes it; instead of the certs.d directories of docker and containers.",
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            metavar="URL",
            help="Use this HTTP(S) proxy for every hop, whatever the environment says.",
        ),
    ] = None,
    no_proxy: Annotated[
        bool,
        typer.Option("--no-proxy", help="Go direct to every host, whatever the environment says."),
    ] = False,
    runtime: Annotated[
        Runtime,
        typer.Option(
            "--runtime",
            case_sensitive=False,
            help="See the pull as this container runtime does: its mirrors, host order, "
            "proxy and credential providers. auto: the one running here; none: "
            "acrdiag's own flags and shell only.",
        ),
    ] = Runtime.AUTO,
    runtime_config: Annotated[
        Path | None,
        typer.Option(
            "--runtime-config",
            metavar="FILE",
            help="The runtime's main file when it is not in its usual place: containerd's "
            "config.toml (k3s, rke2), docker's daemon.json, registries.conf.",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="en|zh",
            help="Language of the explanations and of text and Markdown reports "
            "[default: from LC_ALL, LC_MESSAGES or LANG].",
        ),
    ] = None,
    provider_config: Annotated[
        Path | None,
        typer.Option(
            "--image-credential-provider-config",
            metavar="FILE",
            help="kubelet's credential provider configuration (found from kubelet when it runs).",
        ),
    ] = None,
    provider_bin_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-credential-provider-bin-dir",
            metavar="DIR",
            help="Where kubelet's credential provider plugins are.",
        ),
    ] = None,
    tls_verify: Annotated[
        str | None,
        typer.Option(
            "--tls-verify", metavar="true|false", help="skopeo's spelling: false is --insecure."
        ),
    ] = None,
    platform: Annotated[
        str,
        typer.Option(
            "--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to select from an index."
        ),
    ] = "linux/amd64",
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="Report format on stdout [default: text on a terminal, else json].",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="FILE",
            help="Also write the report to FILE (atomically, also on failure): Markdown for .md, "
            "text for .txt, JSON otherwise.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Time allowed for each network operation (connect, TLS, read).",
        ),
    ] = 10.0,
    deadline: Annotated[
        float, typer.Option("--deadline", metavar="SECONDS", help="Time allowed for the whole run.")
    ] = 60.0,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            metavar="PEM",
            help="Extra CA certificates to trust, besides the system store: a PEM file, or a "
            "directory of them.",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Skip TLS certificate verification (reported as a warning)."
        ),
    ] = False,
    plain_http: Annotated[
        bool,
        typer.Option(
            "--plain-http", help="Talk plain HTTP to the registry (http-only registries)."
        ),
    ] = False,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            "--nameserver",
            metavar="IP[:PORT]",
            help="Resolve with this DNS server instead of the system resolver (repeatable).",
        ),
    ] = None,
    blob: Annotated[
        str | None,
        typer.Option(
            "--blob",
            metavar="all|smallest|largest|DIGEST",
            help=(
                "Which blobs to fetch. Default: config and every layer, in full up to "
                "--max-download; all: every one in full; smallest: the cheap health check."
            ),
        ),
    ] = None,
    max_download: Annotated[
        str,
        typer.Option(
            "--max-download",
            metavar="SIZE",
            help="Download at most this much in full (e.g. 256M, 1G); beyond it, read "
            "each blob's first 64 KiB. Not with --blob all.",
        ),
    ] = "256M",
) -> None:
    """Diagnose a pull of REFERENCE, step by step."""
    from acrdiag.net.early import begin_run, begin_store

    begin_store()  # the CA store loads while the run's modules import (net/early.py)
    from acrdiag.run_command import RunArgs, execute

    args = RunArgs(
        reference,
        username,
        password_stdin,
        platform,
        output_format.value if output_format else None,
        output,
        timeout,
        deadline,
        ca_file,
        insecure,
        plain_http,
        nameserver or [],
        blob,
        max_download,
        authfile,
        no_creds,
        pull_secret or [],
        creds,
        tls_verify,
        cert_dir,
        proxy,
        no_proxy,
        runtime.value,
        runtime_config,
        provider_config,
        provider_bin_dir,
        lang,
    )
    env = context.obj if isinstance(context.obj, Env) else None

    def early(prepared: PreparedRun) -> None:  # input checked: step 1's first work begins
        view = prepared.view
        if view is not None and view.plan is not None and view.plan.blocked is not None:
            return  # the runtime refuses the registry: nothing is sent, nothing looked up
        # docker refuses a registry whose certs.d is broken before any request
        direct = view is None and not prepared.options.tls_files.problems
        begin_run(prepared.options, direct=direct)

    raise typer.Exit(execute(args, env=env, on_options=early))


@app.command()
def check(
    context: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...", help="Check definitions: TOML files, or directories of *.toml."
        ),
    ],
    concurrency: Annotated[
        int, typer.Option("--concurrency", metavar="N", help="Targets run at once (1-64).")
    ] = 4,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="table|json",
            help="stdout: a table, or JSON Lines, one report per target "
            "[default: table on a terminal, else json].",
        ),
    ] = None,
    prometheus: Annotated[
        Path | None,
        typer.Option(
            "--prometheus",
            metavar="FILE.prom",
            help="Write node_exporter's textfile collector file (atomically).",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            metavar="DIR",
            help="Write one JSON report per target, DIR/<name>.json (atomically).",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", metavar="en|zh", help="Language of the reports' explanations."),
    ] = None,
) -> None:
    """Run the health checks of PATH... concurrently; exit as the first failing target."""
    from acrdiag.health.check_command import CheckArgs, execute_check

    args = CheckArgs(paths, concurrency, output_format, prometheus, output_dir, lang)
    env = context.obj if isinstance(context.obj, Env) else Env.from_process()
    raise typer.Exit(execute_check(args, env))


@app.command()
def serve(
    context: typer.Context,
    listen: Annotated[
        str,
        typer.Option(
            "--listen", metavar="HOST:PORT", help="Where to answer (loopback unless told)."
        ),
    ] = "127.0.0.1:9436",
    definitions: Annotated[
        list[Path] | None,
        typer.Option(
            "--definitions",
            metavar="PATH",
            help="Check definitions whose [module.NAME] tables /probe?module=NAME uses "
            "(repeatable).",
        ),
    ] = None,
    min_interval: Annotated[
        float,
        typer.Option(
            "--min-interval",
            metavar="SECONDS",
            help="Serve a result this recent again instead of diagnosing anew.",
        ),
    ] = 60.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", metavar="N", help="Diagnoses run at once (1-64).")
    ] = 4,
) -> None:
    """A probe endpoint for Prometheus: /probe?target=REF&module=NAME, and /metrics."""
    from acrdiag.health.serve import serve_main

    env = context.obj if isinstance(context.obj, Env) else Env.from_process()
    raise typer.Exit(serve_main(listen, definitions or [], env, min_interval, concurrency))


@app.command()
def explain(
    context: typer.Context,
    cause: Annotated[
        str | None, typer.Argument(metavar="CAUSE", help="A cause code, e.g. dns_nxdomain.")
    ] = None,
    list_all: Annotated[
        bool, typer.Option("--list", help="List every cause code with its meaning.")
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option("--lang", metavar="en|zh", help="[default: from the locale]"),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="KIND",
            help="Add what a registry adds: acr, dockerhub, ecr, ghcr, gcr, azure, harbor, "
            "quay, gitlab.",
        ),
    ] = None,
) -> None:
    """What a cause code means and what to do about it (like rustc --explain)."""
    from acrdiag.explain_command import explain_main

    env = context.obj if isinstance(context.obj, Env) else Env.from_process()
    raise typer.Exit(explain_main(cause, list_all, lang, profile, env))
