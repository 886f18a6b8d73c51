"""The runtime's view of one image: its hosts, proxy environment and credential sources.

Each runtime reads its own files: docker its daemon.json, containerd its config.toml and
hosts.toml, CRI-O and podman registries.conf. A kubelet adds its credential providers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from acrdiag.auth import CredentialSource
from acrdiag.env import Env
from acrdiag.reference import ImageReference
from acrdiag.runtime.detect import (
    PROCESSES,
    Detection,
    Kubelet,
    detect_runtime,
    find_kubelet,
    parse_flags,
    read_cmdline,
)
from acrdiag.runtime.hosts import HostPlan
from acrdiag.runtime.proxies import describe_differences, proxy_values

if TYPE_CHECKING:
    from acrdiag.model import RuntimeInfo

UNITS = {"docker": "docker.service", "containerd": "containerd.service", "crio": "crio.service"}


@dataclass
class RuntimeView:
    info: RuntimeInfo
    plan: HostPlan | None  # None: the runtime is "none", acrdiag's own single host
    proxy_environ: dict[str, str] | None = None  # the runtime's proxy variables, if it has its own
    credential_sources: list[CredentialSource] = field(default_factory=list)
    # containers/image and containerd look credentials up per host (a mirror's own);
    # docker sends the image registry's to its mirrors.
    per_host_credentials: bool = False


def runtime_view(
    choice: str,
    reference: ImageReference,
    env: Env,
    helper_timeout: float = 10.0,
    config: Path | None = None,
) -> RuntimeView:
    """The view of --runtime ``choice`` (auto: the one detected) for ``reference``;
    ``config`` is the runtime's main file when not where it keeps it by default."""
    from acrdiag.model import RuntimeInfo  # pydantic: only once a runtime is looked for

    detection = _detection(choice, env)
    if detection.name == "none":
        info = RuntimeInfo(name="none", chosen_because=detection.why, found=list(detection.found))
        return RuntimeView(info, None)
    config = config or _config_flag(detection, env)
    plan = READERS[detection.name](reference, env, config)
    proxies, proxy_source, proxy_notes = _proxy_environ(detection, env, config)
    sources = _kubelet_sources(detection.kubelet, env, helper_timeout)
    info = RuntimeInfo(
        name=detection.name,  # type: ignore[arg-type]
        chosen_because=detection.why,
        found=list(detection.found),
        config_files=list(plan.files),
        notes=[*plan.notes, *proxy_notes, *(f"credentials: {s}" for s in _describe(sources))],
        warnings=list(plan.warnings),
    )
    if proxies is not None:
        info.proxy_source = proxy_source
        info.proxies = proxy_values(proxies)
        info.shell_proxies = proxy_values(env.environ)
        info.proxy_differences = describe_differences(env.environ, proxies, detection.name)
    sources += _containerd_auth(detection.name, env, config)
    per_host = detection.name != "docker"
    return RuntimeView(info, plan, proxies, sources, per_host)


def _containerd_auth(name: str, env: Env, config: Path | None) -> list[CredentialSource]:
    """containerd's own registry.configs."host".auth: after kubelet's, looked up by the
    host containerd contacts."""
    if name != "containerd":
        return []
    from acrdiag.runtime.containerd_auth import ContainerdConfigAuth

    return [ContainerdConfigAuth(env.etc, config)]


def _detection(choice: str, env: Env) -> Detection:
    if choice == "auto":
        return detect_runtime(env.root, env.proc)
    if choice == "none":
        return Detection("none", "--runtime none: acrdiag's own view only")
    from acrdiag.runtime.process_env import find_pids

    def pids(names: Sequence[str]) -> list[int]:
        return find_pids(names, env.proc)

    process = PROCESSES.get(choice)
    pid = next(iter(pids([process])), None) if process else None
    kubelet = find_kubelet(env.proc, pids) if choice in ("containerd", "crio") else None
    return Detection(choice, f"--runtime {choice}", pid=pid, kubelet=kubelet)


# The flag each daemon takes its main configuration file from (k3s and rke2 move it).
CONFIG_FLAGS = {"docker": ("config-file",), "containerd": ("config", "c")}


def _config_flag(detection: Detection, env: Env) -> Path | None:
    """The file the running daemon was told to read, if it was told."""
    if detection.pid is None:
        return None
    flags = parse_flags(read_cmdline(env.proc / str(detection.pid) / "cmdline"))
    for name in CONFIG_FLAGS.get(detection.name, ()):
        if flags.get(name):
            return Path(flags[name])
    return None


def _docker(reference: ImageReference, env: Env, config: Path | None) -> HostPlan:
    from acrdiag.runtime.docker_daemon import docker_plan, read_daemon_config

    daemon = read_daemon_config(env.etc, path=config)
    return docker_plan(daemon, reference.registry)


def _containerd(reference: ImageReference, env: Env, config: Path | None) -> HostPlan:
    from acrdiag.runtime.containerd import containerd_plan

    is_digest = reference.digest is not None
    return containerd_plan(reference.registry, is_digest=is_digest, etc=env.etc, config_file=config)


def _crio(reference: ImageReference, env: Env, config: Path | None) -> HostPlan:
    # CRI-O runs as root from systemd: root's files, not the caller's.
    return _containers(reference, env, config, env.etc.parent / "root")


def _podman(reference: ImageReference, env: Env, config: Path | None) -> HostPlan:
    home = env.environ.get("HOME")
    return _containers(reference, env, config, Path(home) if home else None)


def _containers(
    reference: ImageReference, env: Env, config: Path | None, home: Path | None
) -> HostPlan:
    from acrdiag.runtime.registries_conf import containers_plan, read_registries_conf

    environ = dict(env.environ)
    if config is not None:
        environ["CONTAINERS_REGISTRIES_CONF"] = str(config)
    conf = read_registries_conf(env.etc, home, environ)
    return containers_plan(conf, reference.given, is_digest=reference.digest is not None)


READERS: dict[str, Callable[[ImageReference, Env, Path | None], HostPlan]] = {
    "docker": _docker,
    "containerd": _containerd,
    "crio": _crio,
    "podman": _podman,
}


def _proxy_environ(
    detection: Detection, env: Env, config: Path | None
) -> tuple[dict[str, str] | None, str | None, list[str]]:
    """The daemon's proxy variables and where they came from; None for podman, which runs
    in the user's own shell."""
    if detection.name == "podman":
        return None, None, []
    if detection.name == "docker":
        from acrdiag.runtime.docker_daemon import read_daemon_config

        daemon = read_daemon_config(env.etc, path=config)
        if daemon.proxies:  # dockerd: daemon.json "proxies" win over its environment
            return dict(daemon.proxies), f"{daemon.file} proxies", []
    from acrdiag.runtime.process_env import runtime_environment

    process = PROCESSES[detection.name]
    root = env.root
    found = runtime_environment(
        [process],
        UNITS[detection.name],
        proc=env.proc,
        etc=env.etc,
        lib_dirs=[root / d for d in ("lib/systemd/system", "usr/lib/systemd/system")],
        run=root / "run",
    )
    if found.pid is None and found.source == "none found":
        note = f"{detection.name}'s environment was not found: probing with the shell's proxies"
        return None, None, [note, *found.warnings]
    return dict(found.values), found.source, list(found.warnings)


def _kubelet_sources(
    kubelet: Kubelet | None, env: Env, helper_timeout: float
) -> list[CredentialSource]:
    """kubelet's credential provider plugins, as kubelet runs them."""
    if kubelet is None:
        return []
    config = kubelet.flags.get("image-credential-provider-config")
    bin_dir = kubelet.flags.get("image-credential-provider-bin-dir")
    if not config or not bin_dir:
        return []
    from acrdiag.auth.kubelet_provider import KubeletCredentialProviders
    from acrdiag.runtime.process_env import full_environment

    environ = full_environment(kubelet.pid, env.proc) or {}
    return [KubeletCredentialProviders(Path(config), Path(bin_dir), environ, helper_timeout)]


def _describe(sources: list[CredentialSource]) -> list[str]:
    return [f"kubelet credential providers of {getattr(s, 'config', s)}" for s in sources]
