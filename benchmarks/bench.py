#!/usr/bin/env python3
"""acrdiag's benchmark: ratios against reference tools, measured side by side on the lab.

    sudo .venv/bin/python benchmarks/bench.py [--quick] [--only SECTION[,SECTION]] [--reps N]

Sections (all by default, in this order): startup (no lab: process start to first TCP connect,
imports, --version, run --help), loopback (time to diagnosis against skopeo), delay (the same
with DELAY ms each way per hop, and the round trips counted there), blob (peak RSS and MB/s
on a 512 MiB blob against curl), fleet (check over 100 targets, serve under 50 probes).

Every timed pair runs interleaved, A B A B ..., after one warm-up of each; the table shows
medians and the median of the pairwise ratios. Exit status: 0 every target met, 1 a target
missed (or a measured command failed), 2 the lab could not start. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (str(REPO_ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import labkit  # noqa: E402

from tests.e2e.lab import Lab, LabError, missing_requirements  # noqa: E402

SECTIONS = ("startup", "loopback", "delay", "blob", "fleet")
LAB_SECTIONS = ("loopback", "delay", "blob", "fleet")
FULL_REPS, QUICK_REPS = 10, 3
DELAY_MS = 20.0
IMAGE = "ns/app:1.0"  # the lab's multi-arch image: index, platform manifest, config, 2 layers
BIG_REPOSITORY = "ns/big"
BIG_MIB = 512
FLEET_TARGETS = 100
FLEET_CONCURRENCY = 8  # check --concurrency and serve --concurrency
SERVE_BURST = 50
SERVE_PORT = 9436
RUN_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 120.0  # probe_burst.PROBE_TIMEOUT_S
ACCEPT_TIMEOUT_S = 20.0

# The targets of the issue. Times in seconds, sizes in bytes.
TARGET_SMALLEST_LOOPBACK = 1.5
TARGET_SMALLEST_DELAYED = 0.9
TARGET_FIRST_CONNECT_S = 0.120
TARGET_VERSION_S = 0.080
TARGET_HELP_S = 0.200
TARGET_RSS_BYTES = 60e6
TARGET_THROUGHPUT = 0.9
TARGET_FLEET = 3.0


T = TypeVar("T")
U = TypeVar("U")


class BenchError(RuntimeError):
    """A measured command failed: the benchmark cannot vouch for any figure of that row."""


# ------------------------------------------------------------------------------ results


@dataclass
class Row:
    """One line of the table. `ok` None: shown for information, no target."""

    metric: str
    ours: str
    reference: str
    ratio: str
    target: str
    ok: bool | None
    notes: list[str] = field(default_factory=list)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], fmt: Callable[[float], str] = ms) -> str:
    return f"median {fmt(med(values))}, min {fmt(min(values))}, max {fmt(max(values))}"


def pair_ratio(ours: Sequence[float], ref: Sequence[float]) -> float:
    """Median of the ratios pair by pair: holds when the machine's speed drifts."""
    return med([a / b for a, b in zip(ours, ref, strict=True)])


def interleave(
    reps: int, first: Callable[[], T], second: Callable[[], U], warmup: int = 1
) -> tuple[list[T], list[U]]:
    """Run first, second, first, second ...: warm-ups not kept, then `reps` of each."""
    a: list[T] = []
    b: list[U] = []
    for i in range(warmup + reps):
        x, y = first(), second()
        if i >= warmup:
            a.append(x)
            b.append(y)
    return a, b


def time_pair_row(
    metric: str,
    ours: Sequence[float],
    ref: Sequence[float],
    ref_name: str,
    limit: float | None,
) -> Row:
    """A row comparing two interleaved series of wall times; `limit` bounds the ratio."""
    ratio = pair_ratio(ours, ref)
    return Row(
        metric,
        ms(med(ours)),
        f"{ref_name} {ms(med(ref))}",
        f"{ratio:.2f}×",
        f"≤ {limit:g}×" if limit is not None else "—",
        None if limit is None else ratio <= limit,
        [f"acrdiag {spread(ours)}", f"{ref_name} {spread(ref)}", f"n = {len(ours)} each"],
    )


def absolute_row(
    metric: str, ours: Sequence[float], ref: Sequence[float], ref_name: str, limit_s: float
) -> Row:
    """A row whose target is an absolute time; the reference is shown for scale."""
    value = med(ours)
    return Row(
        metric,
        ms(value),
        f"{ref_name} {ms(med(ref))}",
        f"{pair_ratio(ours, ref):.2f}×",
        f"< {ms(limit_s)}",
        value < limit_s,
        [f"acrdiag {spread(ours)}", f"{ref_name} {spread(ref)}", f"n = {len(ours)} each"],
    )


def error_row(section: str, error: BaseException) -> Row:
    return Row(f"{section}: could not measure", "error", "—", "—", "—", False, [str(error)])


# ------------------------------------------------------------------------------ startup


_INSTALLED: list[str] = []


def acrdiag_argv() -> list[str]:
    """acrdiag as a user starts it: the console script of install_as_user(), else this
    venv's (python -m when absent)."""
    if _INSTALLED:
        return list(_INSTALLED)
    script = Path(sys.executable).parent / "acrdiag"
    return [str(script)] if script.exists() else [sys.executable, "-m", "acrdiag"]


def install_as_user(work: Path) -> str:
    """acrdiag installed as the README installs it (`pip install .`: a wheel), in a venv of
    its own that borrows this venv's dependencies; this venv's editable install adds an
    import hook (about 12 ms a start) that users do not have. What acrdiag_argv() runs
    from now on; a line for the header saying which was measured."""
    venv, wheels = work / "venv", work / "wheel"
    python = venv / "bin" / "python"
    steps: list[list[str | Path]] = [
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), REPO_ROOT],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            failed = done.stderr[-200:]
            return f"install: this venv's editable one (building a wheel failed: {failed!r})"
    wheel = next(wheels.glob("acrdiag-*.whl"))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], capture_output=True, check=True, timeout=300)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "acrdiag-dependencies.pth").write_text(ours + "\n")
    _INSTALLED[:] = [str(venv / "bin" / "acrdiag")]
    return f"install: {wheel.name} into a venv of its own (dependencies from {ours})"


@contextlib.contextmanager
def host_env() -> Iterator[dict[str, str]]:
    """A bare environment with an empty HOME: no proxy variables, no credential files."""
    home = tempfile.mkdtemp(prefix="acrdiag-bench-home-")
    try:
        path = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        yield {"PATH": path, "HOME": home, "LANG": "C.UTF-8"}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def wall(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall time of a short command from spawn to exit; it must succeed."""
    started = time.monotonic()
    result = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=60
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-500:]!r}")
    return seconds


def _drain(listener: socket.socket) -> None:
    """Close connections a previous run left in the backlog, so they are not counted."""
    listener.setblocking(False)
    try:
        while True:
            conn, _ = listener.accept()
            conn.close()
    except BlockingIOError:
        pass
    finally:
        listener.setblocking(True)


def first_connect(
    argv: Sequence[str],
    env: dict[str, str],
    listener: socket.socket,
    stdin: bytes = b"",
    stderr_file: Path | None = None,
) -> float:
    """Seconds from spawning argv until its first TCP connection reaches `listener`; the
    process is killed right then, so stderr holds only what happened before the packet."""
    _drain(listener)
    err = stderr_file.open("wb") if stderr_file else subprocess.DEVNULL
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
            proc.stdin.close()
        listener.settimeout(ACCEPT_TIMEOUT_S)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            raise BenchError(f"{argv[0]} made no connection in {ACCEPT_TIMEOUT_S:.0f}s") from None
        seconds = time.monotonic() - started
        conn.close()
        return seconds
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if stderr_file:
            err.close()  # type: ignore[union-attr]


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass
class Imports:
    """One -X importtime log: the total, self time per package and per module (seconds)."""

    total: float = 0.0
    packages: Counter[str] = field(default_factory=Counter)
    modules: Counter[str] = field(default_factory=Counter)


def import_breakdown(text: str) -> Imports:
    """Parse -X importtime's stderr: top-level lines add up to the total."""
    found = Imports()
    for self_us, cumulative_us, indent, name in _IMPORT_LINE.findall(text):
        if len(indent) == 1:  # "| name": imported at top level
            found.total += int(cumulative_us) / 1e6
        found.modules[name] = int(self_us) / 1e6
        top = name.split(".", 1)[0]
        if top.startswith("__editable__"):
            top = "editable-install finder"
        elif top in sys.stdlib_module_names or top.startswith("_"):
            top = "stdlib"
        found.packages[top] += int(self_us) / 1e6
    return found


def measure_startup(reps: int) -> list[Row]:
    """Process start to the first packet, and the two commands that never touch the network."""
    rows: list[Row] = []
    acrdiag = acrdiag_argv()
    with host_env() as env, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        ref = f"127.0.0.1:{port}/{IMAGE}"
        ours_argv = [*acrdiag, "run", ref, "--runtime", "none", "--format", "json"]
        ours_argv += ["--username", "puller", "--password-stdin", "--timeout", "5"]
        skopeo_argv = ["skopeo", "inspect", "--tls-verify=false", "--creds", "puller:x"]
        skopeo_argv.append(f"docker://{ref}")
        ours, ref_times = interleave(
            reps,
            lambda: first_connect(ours_argv, env, listener, b"password\n"),
            lambda: first_connect(skopeo_argv, env, listener),
        )
        rows.append(
            absolute_row(
                "process start → first TCP connect (run)",
                ours,
                ref_times,
                "skopeo inspect",
                TARGET_FIRST_CONNECT_S,
            )
        )
        rows.append(_imports_row(ours_argv, env, listener, reps))
        version = interleave(
            reps, lambda: wall([*acrdiag, "--version"], env), lambda: wall(["skopeo", "-v"], env)
        )
        rows.append(absolute_row("--version", *version, "skopeo -v", TARGET_VERSION_S))
        helps = interleave(
            reps,
            lambda: wall([*acrdiag, "run", "--help"], env),
            lambda: wall(["skopeo", "inspect", "--help"], env),
        )
        rows.append(absolute_row("run --help", *helps, "skopeo inspect --help", TARGET_HELP_S))
    return rows


def _imports_row(
    argv: Sequence[str], env: dict[str, str], listener: socket.socket, reps: int
) -> Row:
    """-X importtime of everything imported before the first connect (info: the connect
    row above is the judged one, and includes these imports)."""
    runs: list[Imports] = []
    with tempfile.TemporaryDirectory(prefix="acrdiag-bench-") as tmp:
        stderr_file = Path(tmp) / "importtime.txt"
        py_argv = [sys.executable, "-X", "importtime", *argv]
        if argv[0] != sys.executable:  # the console script: run its file under -X importtime
            py_argv = [sys.executable, "-X", "importtime", argv[0], *argv[1:]]
        for _ in range(reps):
            first_connect(py_argv, env, listener, b"password\n", stderr_file)
            runs.append(import_breakdown(stderr_file.read_text(errors="replace")))
    runs.sort(key=lambda run: run.total)
    median_run = runs[len(runs) // 2]

    def top(counter: Counter[str], n: int) -> str:
        return ", ".join(f"{name} {ms(sec)}" for name, sec in counter.most_common(n))

    return Row(
        "imports before first connect (-X importtime)",
        ms(median_run.total),
        "—",
        "—",
        "info",
        None,
        [
            spread([r.total for r in runs]),
            f"self time by package (median run): {top(median_run.packages, 8)}",
            f"slowest modules (self): {top(median_run.modules, 6)}",
        ],
    )


# ------------------------------------------------------------------------------ lab runs


@dataclass
class LabTools:
    """The measured commands, as run inside the lab namespace."""

    lab: Lab
    acrdiag: list[str]

    @property
    def password(self) -> str:
        return self.lab.users["puller"]

    def acrdiag_run(
        self, reference: str, *flags: str, prefix: Sequence[str] = ()
    ) -> dict[str, Any]:
        """`acrdiag run` as the puller, trusting the lab CA, no runtime view; its report."""
        argv = [*prefix, *self.acrdiag, "run", reference, *flags, "--format", "json"]
        argv += ["--runtime", "none", "--ca-file", str(self.lab.ca_file)]
        argv += ["--username", "puller", "--password-stdin"]
        result = self.lab.exec(argv, input=self.password + "\n", timeout=RUN_TIMEOUT_S)
        if result.returncode != 0:
            raise BenchError(f"acrdiag run exited {result.returncode}: {result.stderr[-800:]}")
        return json.loads(result.stdout)

    def skopeo(self, *args: str) -> None:
        result = self.lab.exec(["skopeo", *args], timeout=RUN_TIMEOUT_S)
        if result.returncode != 0:
            raise BenchError(f"skopeo {args[0]} exited {result.returncode}: {result.stderr}")

    def skopeo_inspect(self, reference: str) -> None:
        self.skopeo(
            "inspect",
            "--cert-dir",
            str(self.lab.cert_dir),
            "--creds",
            f"puller:{self.password}",
            f"docker://{reference}",
        )

    def skopeo_copy(self, reference: str) -> None:
        dest = Path(tempfile.mkdtemp(prefix="skopeo-copy-", dir=self.lab.tmp))
        try:
            self.skopeo(
                "copy",
                "--quiet",
                "--src-cert-dir",
                str(self.lab.cert_dir),
                "--src-creds",
                f"puller:{self.password}",
                f"docker://{reference}",
                f"dir:{dest}",
            )
        finally:
            shutil.rmtree(dest, ignore_errors=True)


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def diagnosis_pairs(
    tools: LabTools, reps: int, label: str, limit_smallest: float, counted: LogCounts | None
) -> list[Row]:
    """run --blob smallest against skopeo inspect, run --blob all against skopeo copy."""
    ref = tools.lab.ref(IMAGE)
    pairs = [
        ("smallest", ("--blob", "smallest"), "skopeo inspect", tools.skopeo_inspect),
        ("all", ("--blob", "all"), "skopeo copy dir:", tools.skopeo_copy),
    ]

    def measure(key: str, action: Callable[[], object]) -> float:
        return counted.around(key, action) if counted else timed(action)

    rows = []
    for mode, flags, ref_name, reference_tool in pairs:
        a, b = interleave(
            reps,
            lambda f=flags, m=mode: measure(f"acrdiag {m}", lambda: tools.acrdiag_run(ref, *f)),
            lambda t=reference_tool, m=mode: measure(f"skopeo {m}", lambda: t(ref)),
        )
        limit = limit_smallest if mode == "smallest" else None
        rows.append(time_pair_row(f"run --blob {mode} ({label})", a, b, ref_name, limit))
    return rows


def measure_loopback(tools: LabTools, reps: int) -> list[Row]:
    return diagnosis_pairs(tools, reps, "loopback", TARGET_SMALLEST_LOOPBACK, None)


# ------------------------------------------------------------------------------ round trips


class LogCounts:
    """Times an action and counts, in the lab's logs and the proxy's, what it cost."""

    def __init__(self, cursor: labkit.LogCursor) -> None:
        self.cursor = cursor
        self.runs: dict[str, list[labkit.RoundTrips]] = {}

    def around(self, key: str, action: Callable[[], object]) -> float:
        self.cursor.mark()
        seconds = timed(action)
        self.runs.setdefault(key, []).append(self.cursor.round_trips())
        return seconds


def minimum_round_trips(blobs: int) -> dict[str, int]:
    """What the work needs: one connection (one TLS handshake) per host, but the lab's
    object store (moto, on werkzeug) answers `Connection: close`, so one per storage GET;
    per host one lookup (A and AAAA) and the report's direct comparison (A and AAAA again,
    which the issue allows); /v2/, token, index, platform manifest, then a redirect and a
    storage GET per blob."""
    hosts = 3  # registry, token service, object store
    connections = 2 + blobs  # registry, token service; object store: one per GET
    return {"tcp": connections, "tls": connections, "dns": 4 * hosts, "http": 4 + 2 * blobs}


ROUND_TRIP_NAMES = {
    "tcp": "TCP connections",
    "tls": "TLS handshakes",
    "dns": "DNS queries",
    "http": "HTTP requests",
}


def round_trip_rows(lab: Lab, counts: LogCounts) -> list[Row]:
    """Per kind of round trip and per mode: acrdiag's count (median over every run, the
    warm-up's too: the counts do not warm up) against the minimum, skopeo's for comparison."""
    platform_blobs = len(lab.images[IMAGE].manifests["linux/amd64"].blobs)
    rows = []
    for mode, blobs, ref_name in (
        ("smallest", 1, "skopeo inspect"),
        ("all", platform_blobs, "skopeo copy"),
    ):
        minimum = minimum_round_trips(blobs)
        ours_runs = counts.runs[f"acrdiag {mode}"]
        theirs_runs = counts.runs[f"skopeo {mode}"]
        for kind, name in ROUND_TRIP_NAMES.items():
            ours = med([run.totals()[kind] for run in ours_runs])
            theirs = med([run.totals()[kind] for run in theirs_runs])
            detail = dict(getattr(ours_runs[0], kind))
            rows.append(
                Row(
                    f"{name}, run --blob {mode}",
                    f"{ours:g}",
                    f"{ref_name} {theirs:g}",
                    f"{ours / minimum[kind]:.2f}× min",
                    f"= {minimum[kind]} (min)",
                    ours <= minimum[kind],
                    [f"acrdiag per host, one run: {detail}"],
                )
            )
    return rows


def measure_delay(tools: LabTools, reps: int) -> list[Row]:
    """The diagnosis pairs with DELAY_MS each way in front of registry, token service and
    object store; every run's round trips are counted at the proxy and in the logs."""
    lab = tools.lab
    hosts = [lab.registry_host, lab.realm_host, lab.storage_host]
    with labkit.delayed_hops(lab, hosts, DELAY_MS) as hops:
        counts = LogCounts(labkit.LogCursor(lab, hops))
        label = f"{DELAY_MS:g} ms/hop"
        rows = diagnosis_pairs(tools, reps, label, TARGET_SMALLEST_DELAYED, counts)
    return rows + round_trip_rows(lab, counts)


# ------------------------------------------------------------------------------ big blob


def max_rss_bytes(path: Path) -> int:
    """/usr/bin/time -f %M wrote the peak RSS in KiB."""
    return int(path.read_text().split()[-1]) * 1024


def measure_blob(tools: LabTools, reps: int) -> list[Row]:
    """Peak RSS and MB/s of --blob largest on a 512 MiB layer, against curl on the URL the
    registry redirects to. Both rates count the body only, from the first byte to the last."""
    lab = tools.lab
    big = labkit.push_big_image(lab, BIG_REPOSITORY, BIG_MIB)
    rss_file = lab.tmp / "max-rss"
    time_prefix = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)]

    def ours() -> tuple[int, float]:
        report = tools.acrdiag_run(
            big.reference, "--blob", "largest", "--max-download", "1G", prefix=time_prefix
        )
        download = _blob_download(report)
        if download.get("bytes") != big.layer_size:
            raise BenchError(f"acrdiag did not fetch the whole blob: {download}")
        return max_rss_bytes(rss_file), float(download["mb_per_s"])

    def curl() -> tuple[int, float]:
        url = labkit.presigned_url(lab, big.repository, big.layer_digest)
        argv = [*time_prefix, "curl", "-sS", "-o", "/dev/null", "--cacert", str(lab.ca_file)]
        argv += ["-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}", url]
        result = lab.exec(argv, timeout=RUN_TIMEOUT_S)
        status, size, total, first_byte = result.stdout.split()
        if result.returncode != 0 or status != "200" or int(size) != big.layer_size:
            raise BenchError(f"curl: {result.stdout} {result.stderr}")
        return max_rss_bytes(rss_file), int(size) / (float(total) - float(first_byte)) / 1e6

    ours_runs, curl_runs = interleave(reps, ours, curl)
    ours_rss, ours_rate = [r[0] for r in ours_runs], [r[1] for r in ours_runs]
    curl_rss, curl_rate = [r[0] for r in curl_runs], [r[1] for r in curl_runs]
    rss, rate = med(ours_rss), med(ours_rate)
    rate_ratio = pair_ratio(ours_rate, curl_rate)

    def mb(value: float) -> str:
        return f"{value / 1e6:.1f} MB"

    def mbps(value: float) -> str:
        return f"{value:.0f} MB/s"

    size_note = f"blob {big.layer_size / 2**20:.1f} MiB; n = {len(ours_rss)} each"
    return [
        Row(
            f"peak RSS, run --blob largest ({BIG_MIB} MiB)",
            mb(rss),
            f"curl {mb(med(curl_rss))}",
            f"{pair_ratio(ours_rss, curl_rss):.2f}×",
            f"< {mb(TARGET_RSS_BYTES)}",
            rss < TARGET_RSS_BYTES,
            [f"acrdiag {spread(ours_rss, mb)}", f"curl {spread(curl_rss, mb)}", size_note],
        ),
        Row(
            f"throughput, run --blob largest ({BIG_MIB} MiB)",
            mbps(rate),
            f"curl {mbps(med(curl_rate))}",
            f"{rate_ratio:.2f}×",
            f"≥ {TARGET_THROUGHPUT:g}×",
            rate_ratio >= TARGET_THROUGHPUT,
            [f"acrdiag {spread(ours_rate, mbps)}", f"curl {spread(curl_rate, mbps)}"],
        ),
    ]


def _blob_download(report: dict[str, Any]) -> dict[str, Any]:
    for step in report["steps"]:
        if step["id"] == "blob_fetch":
            return step["evidence"]["download"]
    raise BenchError("the report has no blob_fetch step")


# ------------------------------------------------------------------------------ fleet


def write_definitions(lab: Lab, path: Path, targets: int) -> None:
    """Check definitions for the lab: `targets` names for the same image, and module "lab"
    for serve; the password in a root-only file beside them."""
    password_file = path.parent / "puller-password"
    password_file.write_text(lab.users["puller"] + "\n")
    password_file.chmod(0o600)
    lines = [
        "[defaults]",
        'blob = "smallest"',
        'runtime = "none"',
        f'ca_file = "{lab.ca_file}"',
        'username = "puller"',
        f'password_file = "{password_file}"',
        "timeout = 10",
        "deadline = 60",
        "",
        "[module.lab]",
        "",
    ]
    for i in range(targets):
        lines += ["[[target]]", f'name = "lab-{i:03d}"', f'reference = "{lab.ref(IMAGE)}"', ""]
    path.write_text("\n".join(lines))


@dataclass
class CheckRun:
    seconds: float
    own_cpu: float  # acrdiag's user + system CPU seconds
    servers_cpu: float  # the lab's servers', during the run


def run_check(tools: LabTools, definitions: Path, targets: int) -> CheckRun:
    """Wall time and CPU of one `acrdiag check`; every target must pull."""
    argv = [*tools.acrdiag, "check", str(definitions), "--format", "json"]
    argv += ["--concurrency", str(FLEET_CONCURRENCY)]
    servers_before = labkit.namespace_cpu_seconds(tools.lab)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = tools.lab.exec(argv, timeout=RUN_TIMEOUT_S * 3)
    seconds = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    servers = labkit.namespace_cpu_seconds(tools.lab) - servers_before
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(reports) != targets:
        raise BenchError(
            f"check of {targets} exited {result.returncode} with {len(reports)} reports: "
            f"{result.stderr[-800:]}"
        )
    return CheckRun(seconds, own, servers)


def measure_fleet(tools: LabTools, reps: int) -> list[Row]:
    """check over 100 targets against one; serve under 50 concurrent probes against one."""
    lab = tools.lab
    work = Path(tempfile.mkdtemp(prefix="fleet-", dir=lab.tmp))
    many, one = work / "many.toml", work / "one.toml"
    write_definitions(lab, many, FLEET_TARGETS)
    write_definitions(lab, one, 1)
    rows = []
    try:
        fleet, single = interleave(
            reps,
            lambda: run_check(tools, many, FLEET_TARGETS),
            lambda: run_check(tools, one, 1),
        )
        row = time_pair_row(
            f"check: {FLEET_TARGETS} targets vs 1 (--concurrency {FLEET_CONCURRENCY})",
            [r.seconds for r in fleet],
            [r.seconds for r in single],
            "1 target",
            TARGET_FLEET,
        )
        own = med([r.own_cpu for r in fleet]) / FLEET_TARGETS
        servers = med([r.servers_cpu for r in fleet]) / FLEET_TARGETS
        row.notes.append(
            f"CPU per target with {FLEET_TARGETS}: acrdiag {own * 1000:.0f} ms, the lab's "
            f"servers {servers * 1000:.0f} ms; one target alone: acrdiag "
            f"{med([r.own_cpu for r in single]) * 1000:.0f} ms (start-up included); "
            f"{os.cpu_count()} cores for both"
        )
        rows.append(row)
    except BenchError as error:
        rows.append(error_row("check", error))
    try:
        rows.append(measure_serve(tools, one, reps))
    except (BenchError, LabError) as error:
        rows.append(error_row("serve", error))
    return rows


def measure_serve(tools: LabTools, definitions: Path, reps: int) -> Row:
    """`acrdiag serve --min-interval 0` (every probe diagnoses anew): 50 concurrent probes
    for one target against a single probe, alternating. The time has no target; every
    probe must be answered with probe_success 1."""
    lab = tools.lab
    argv = [*tools.acrdiag, "serve", "--listen", f"127.0.0.1:{SERVE_PORT}"]
    argv += ["--definitions", str(definitions), "--min-interval", "0"]
    argv += ["--concurrency", str(FLEET_CONCURRENCY)]
    server = labkit.spawn_in_lab(lab, argv, lab.logs_dir / "acrdiag-serve.log")
    try:
        client = [sys.executable, str(BENCH_DIR / "probe_burst.py")]
        client += ["--base", f"http://127.0.0.1:{SERVE_PORT}", "--target", lab.ref(IMAGE)]
        client += ["--module", "lab", "--burst", str(SERVE_BURST), "--reps", str(reps)]
        # per round: a single probe, then the burst, each bounded by the client's timeout
        burst = lab.exec(client, timeout=(reps + 1) * 2 * PROBE_TIMEOUT_S + 60)
    finally:
        labkit.stop_process(server)
    if burst.returncode != 0:
        raise BenchError(f"probe client failed: {burst.stderr[-800:]}")
    out = json.loads(burst.stdout)
    row = time_pair_row(
        f"serve: {SERVE_BURST} concurrent /probe vs 1 (--min-interval 0)",
        out["burst"],
        out["single"],
        "1 probe",
        None,
    )
    row.notes.append("probes of one target that arrive together share one diagnosis")
    if out["failed"]:
        # Timing is shown all the same; a probe left unanswered is a miss.
        row.target, row.ok = "every probe answered", False
        row.notes.append(f"{out['failed']} probes failed: {out['statuses']}")
    return row


# ------------------------------------------------------------------------------ report


def print_table(rows: Sequence[Row], header: Sequence[str]) -> None:
    """A Markdown table (it reads in a terminal too), then each row's notes."""
    for line in header:
        print(line)
    print()
    cols = ("metric", "acrdiag", "reference", "ratio", "target", "result")
    cells = [[r.metric, r.ours, r.reference, r.ratio, r.target, _verdict(r.ok)] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print()
    for r in rows:
        if r.notes:
            print(f"- {r.metric}: " + "; ".join(r.notes))


def _verdict(ok: bool | None) -> str:
    return {True: "pass", False: "MISS", None: "info"}[ok]


def machine_header(reps: int, sections: Sequence[str]) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    skopeo = subprocess.run(["skopeo", "-v"], capture_output=True, text=True).stdout.strip()
    ours = subprocess.run([*acrdiag_argv(), "--version"], capture_output=True, text=True)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"# acrdiag benchmark, {now}",
        f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}",
        f"versions: {ours.stdout.strip()}; {skopeo}; {_curl_version()}",
        f"sections: {', '.join(sections)}; {reps} interleaved runs of each command "
        "after one warm-up; medians, ratios are medians of pairwise ratios",
        f"load average at start: {load_average()}",
    ]


def load_average() -> str:
    """The machine is shared: a busy start or end says the figures are noisier."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _curl_version() -> str:
    out = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    return " ".join(out.split()[:2])


# ------------------------------------------------------------------------------ main


LAB_MEASURES: dict[str, Callable[[LabTools, int], list[Row]]] = {
    "loopback": measure_loopback,
    "delay": measure_delay,
    "blob": measure_blob,
    "fleet": measure_fleet,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPS} runs of each")
    parser.add_argument("--reps", type=int, help=f"runs of each (default {FULL_REPS})")
    parser.add_argument(
        "--only", help=f"comma-separated sections: {', '.join(SECTIONS)} (default all)"
    )
    args = parser.parse_args(argv)
    args.sections = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    reps = args.reps or (QUICK_REPS if args.quick else FULL_REPS)
    if not 1 <= reps <= 100:
        parser.error("--reps must be 1 to 100")
    args.reps = reps
    return args


def run_lab_sections(sections: Sequence[str], reps: int) -> list[Row] | None:
    """The lab's sections in one lab; None when the lab cannot start."""
    missing = missing_requirements()
    if missing:
        print(f"cannot start the lab: missing {', '.join(missing)}", file=sys.stderr)
        return None
    try:
        lab = Lab.start()
    except LabError as error:
        print(f"cannot start the lab: {error}", file=sys.stderr)
        return None
    rows: list[Row] = []
    with lab:
        tools = LabTools(lab, acrdiag_argv())
        for section in sections:
            try:
                rows += LAB_MEASURES[section](tools, reps)
            except (BenchError, LabError, subprocess.TimeoutExpired) as error:
                rows.append(error_row(section, error))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="acrdiag-bench-install-"))
    try:
        installed = install_as_user(work)
        return _measure(args, installed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, installed: str) -> int:
    header = [*machine_header(args.reps, args.sections), installed]
    rows: list[Row] = []
    if "startup" in args.sections:
        try:
            rows += measure_startup(args.reps)
        except (BenchError, subprocess.TimeoutExpired) as error:
            rows.append(error_row("startup", error))
    lab_sections = [s for s in args.sections if s in LAB_SECTIONS]
    if lab_sections:
        lab_rows = run_lab_sections(lab_sections, args.reps)
        if lab_rows is None:
            return 2
        rows += lab_rows
    print_table(rows, [*header, f"load average at end: {load_average()}"])
    missed = [r.metric for r in rows if r.ok is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: {'; '.join(missed)}")
        return 1
    print("\nevery target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
