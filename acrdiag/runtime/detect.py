"""Which container runtime pulls on this machine: from its sockets, processes and files.

A kubelet decides first: it pulls through the runtime its --container-runtime-endpoint names.
Otherwise dockerd wins over the containerd beneath it (``docker pull`` follows daemon.json,
not containerd's hosts), then CRI-O, containerd, and podman (no daemon: its binary and
registries.conf).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RUNTIMES = ("docker", "containerd", "crio", "podman")

# The daemons' process names (/proc/PID/comm) and default sockets.
PROCESSES = {"docker": "dockerd", "containerd": "containerd", "crio": "crio"}
SOCKETS = {
    "docker": ("run/docker.sock", "var/run/docker.sock"),
    "containerd": ("run/containerd/containerd.sock", "var/run/containerd/containerd.sock"),
    "crio": ("run/crio/crio.sock", "var/run/crio/crio.sock"),
}
_MAX_CMDLINE = 64 * 1024


@dataclass(frozen=True)
class Kubelet:
    pid: int
    flags: dict[str, str] = field(default_factory=dict)  # --name=value, as it was started

    @property
    def runtime(self) -> str | None:
        """The runtime its --container-runtime-endpoint names (containerd when unset)."""
        endpoint = self.flags.get("container-runtime-endpoint", "")
        if "crio" in endpoint:
            return "crio"
        if "docker" in endpoint or "cri-dockerd" in endpoint:
            return "docker"
        return "containerd"


@dataclass(frozen=True)
class Detection:
    name: str  # one of RUNTIMES, or "none"
    why: str
    found: tuple[str, ...] = ()
    pid: int | None = None  # the daemon's process, when one runs
    kubelet: Kubelet | None = None


PidFinder = Callable[[Sequence[str]], list[int]]


def detect_runtime(
    root: Path = Path("/"),
    proc: Path = Path("/proc"),
    find_pids: PidFinder | None = None,
) -> Detection:
    """What runs here, and the runtime a pull goes through; "none" when nothing does."""
    pids = find_pids or _pid_finder(proc)
    kubelet = find_kubelet(proc, pids)
    found: list[str] = []
    running: dict[str, int] = {}
    for runtime, process in PROCESSES.items():
        for pid in pids([process])[:1]:
            running[runtime] = pid
            found.append(f"process {process} (pid {pid})")
        for socket in SOCKETS[runtime]:
            if (root / socket).exists():
                found.append(f"socket /{socket}")
                break
    podman = _podman(root)
    if podman:
        found.append(f"podman at {podman}")
    if kubelet is not None:
        found.insert(0, f"kubelet (pid {kubelet.pid})")
        name = kubelet.runtime or "containerd"
        endpoint = kubelet.flags.get("container-runtime-endpoint", "its default endpoint")
        why = f"kubelet (pid {kubelet.pid}) pulls through {name} ({endpoint})"
        return Detection(name, why, tuple(found), running.get(name), kubelet)
    for name in ("docker", "crio", "containerd"):
        if name in running or any(f"socket /{s}" in found for s in SOCKETS[name]):
            what = f"process {PROCESSES[name]}" if name in running else "its socket"
            return Detection(name, f"{what} found", tuple(found), running.get(name))
    if podman:
        return Detection("podman", "podman is installed and no runtime daemon runs", tuple(found))
    return Detection("none", "no container runtime found on this machine", tuple(found))


def _podman(root: Path) -> str | None:
    """Where podman is installed (the system's directories, not the caller's PATH: the
    same machine gives the same answer from cron and from a shell)."""
    for directory in ("usr/bin", "usr/local/bin", "bin"):
        if (root / directory / "podman").is_file():
            return f"/{directory}/podman"
    return None


def find_kubelet(proc: Path, pids: PidFinder) -> Kubelet | None:
    for pid in pids(["kubelet"])[:1]:
        return Kubelet(pid, parse_flags(read_cmdline(proc / str(pid) / "cmdline")))
    return None


def parse_flags(argv: Sequence[str]) -> dict[str, str]:
    """--name=value, --name value and -n value, as Go's flag packages read them (the last
    one wins)."""
    flags: dict[str, str] = {}
    items = list(argv[1:])
    for index, item in enumerate(items):
        if not item.startswith("-") or item in ("-", "--"):
            continue
        name, sep, value = item.lstrip("-").partition("=")
        if not sep and index + 1 < len(items) and not items[index + 1].startswith("-"):
            value = items[index + 1]
        flags[name] = value
    return flags


def read_cmdline(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_CMDLINE)
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _pid_finder(proc: Path) -> PidFinder:
    from acrdiag.runtime.process_env import find_pids

    return lambda names: find_pids(names, proc)
