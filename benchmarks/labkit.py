"""What the benchmark does to the end-to-end lab beyond its public API: a delay proxy in front
of the client-facing hops, counting round trips in the servers' logs, and a 512 MiB image.

Everything here works through `tests.e2e.lab.Lab`'s public facts (addresses, logs_dir, users,
ca_file, cert_dir, exec) and leaves the lab as it found it: the nftables table and the proxy
exist only inside a `with` block.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.e2e.lab import Lab, LabError

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

PROXY_ADDR = "127.0.50.1"  # inside the lab namespace, where lo owns 127.0.0.0/8
PROXY_PORT = 8443
PROXY_MARK = 0x4244  # delay_proxy.UPSTREAM_MARK: its own upstream connections pass the DNAT
NFT_TABLE = "acrdiag_bench"
# Before the lab's storage_nat chain (-100): the first NAT decision for a connection wins,
# so a client's storage connection goes to the proxy, and the proxy's (marked) one goes on
# through storage_nat to moto.
NFT_PRIORITY = -110
PROXY_READY_TIMEOUT_S = 10.0
SETTLE_S = 0.15  # lets servers write a finished request's log line before we read the logs

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _die_with_parent() -> None:
    """In a helper (before exec): SIGKILL when the benchmark exits, however it exits."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def lab_env(lab: Lab, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment lab.exec() gives a command, for the processes we start ourselves."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{_SBIN_PATH}",
        "HOME": str(lab.home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        **(extra or {}),
    }


def spawn_in_lab(
    lab: Lab, argv: Sequence[str], log: Path, stdout_pipe: bool = False
) -> subprocess.Popen[bytes]:
    """A long-lived helper inside the lab namespace (a server, the proxy); stop_process()
    ends it. It dies with the benchmark even if the benchmark is killed."""
    with log.open("ab") as err:
        return subprocess.Popen(
            ["ip", "netns", "exec", lab.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else err,
            stderr=err,
            env=lab_env(lab),
            cwd=lab.work_dir,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_process(popen: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the helper's process group, SIGKILL it if it lingers; always reap it."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if popen.stdout is not None:
        popen.stdout.close()


def _wait_for_line(popen: subprocess.Popen[bytes], expected: bytes, timeout: float) -> None:
    assert popen.stdout is not None
    ready, _, _ = select.select([popen.stdout], [], [], timeout)
    line = popen.stdout.readline() if ready else b""
    if line.strip() != expected:
        raise LabError(f"helper did not say {expected!r} within {timeout:.0f}s (got {line!r})")


def nft(lab: Lab, script: str) -> None:
    """Apply an nftables script inside the lab namespace."""
    result = lab.exec(["nft", "-f", "-"], input=script, timeout=30)
    if result.returncode != 0:
        raise LabError(f"nft failed: {result.stderr.strip()}")


# ------------------------------------------------------------------------------ delay proxy


@dataclass
class DelayedHops:
    """A running delay proxy: where it logs, and which lab address means which host."""

    log: Path
    hosts_by_addr: dict[str, str]


@contextlib.contextmanager
def delayed_hops(lab: Lab, hosts: Sequence[str], delay_ms: float) -> Iterator[DelayedHops]:
    """For the block, every client connection to `hosts` (:443) goes through the delay proxy.

    Only client traffic is redirected: the registries reach storage at moto's private
    address, which the rule does not match, so their own storage reads are not delayed.
    """
    addrs = {lab.addresses[h]: h for h in hosts}
    log = lab.logs_dir / f"delay-proxy-{int(delay_ms)}ms.jsonl"
    log.touch()
    argv = [
        sys.executable,
        str(BENCH_DIR / "delay_proxy.py"),
        "--listen",
        f"{PROXY_ADDR}:{PROXY_PORT}",
        "--delay-ms",
        str(delay_ms),
        "--log",
        str(log),
    ]
    proxy = spawn_in_lab(lab, argv, lab.logs_dir / "delay-proxy.log", stdout_pipe=True)
    try:
        _wait_for_line(proxy, b"ready", PROXY_READY_TIMEOUT_S)
        targets = ", ".join(addrs)
        nft(
            lab,
            f"""
            table ip {NFT_TABLE} {{
              chain delay_nat {{
                type nat hook output priority {NFT_PRIORITY}; policy accept;
                meta mark {PROXY_MARK:#x} return
                ip daddr {{ {targets} }} tcp dport 443 dnat to {PROXY_ADDR}:{PROXY_PORT}
              }}
            }}
            """,
        )
        try:
            yield DelayedHops(log, addrs)
        finally:
            nft(lab, f"delete table ip {NFT_TABLE}")
    finally:
        stop_process(proxy)


# ------------------------------------------------------------------------------ counting


@dataclass
class RoundTrips:
    """What one run cost on the wire, as the servers and the proxy saw it."""

    tcp: Counter[str] = field(default_factory=Counter)  # host -> connections
    tls: Counter[str] = field(default_factory=Counter)  # host -> ClientHellos
    dns: Counter[str] = field(default_factory=Counter)  # "A name" -> queries
    http: Counter[str] = field(default_factory=Counter)  # host -> requests

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(self, k).values()) for k in ("tcp", "tls", "dns", "http")}


_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[A-Z]+ \S+ HTTP/[\d.]+" \d{3}', re.M)
_SIGNED_GET = re.compile(r'"(?:\x1b\[[\d;]*m)*(?:GET|HEAD) \S*X-Amz-Signature=')
_DNS_QUERY = re.compile(r"query\[(\w+)\] (\S+) from")


class LogCursor:
    """Remembers where the lab's logs ended, to read what one run appended to them."""

    def __init__(self, lab: Lab, proxy: DelayedHops | None = None) -> None:
        self._lab = lab
        self._proxy = proxy
        self._files = {
            "registry": lab.logs_dir / "registry.log",
            "token": lab.logs_dir / "token-requests.jsonl",
            "storage": lab.logs_dir / "moto.log",
            "dns": lab.logs_dir / "dnsmasq.log",
        }
        if proxy is not None:
            self._files["proxy"] = proxy.log
        self._offsets = self._sizes()

    def _sizes(self) -> dict[str, int]:
        return {k: (p.stat().st_size if p.exists() else 0) for k, p in self._files.items()}

    def mark(self) -> None:
        self._offsets = self._sizes()

    def _since(self, key: str) -> str:
        with self._files[key].open("rb") as f:
            f.seek(self._offsets[key])
            return f.read().decode("utf-8", "replace")

    def round_trips(self) -> RoundTrips:
        """Everything appended since mark(): requests per host, DNS queries, and (with the
        proxy) connections and TLS handshakes per host."""
        time.sleep(SETTLE_S)
        lab = self._lab
        trips = RoundTrips()
        trips.http[lab.registry_host] = len(_ACCESS_LINE.findall(self._since("registry")))
        trips.http[lab.realm_host] = sum(1 for line in self._since("token").splitlines() if line)
        trips.http[lab.storage_host] = len(_SIGNED_GET.findall(self._since("storage")))
        for qtype, name in _DNS_QUERY.findall(self._since("dns")):
            trips.dns[f"{qtype} {name}"] += 1
        if self._proxy is not None:
            trips.tcp, trips.tls = self._connections(self._since("proxy"))
        return trips

    def _connections(self, text: str) -> tuple[Counter[str], Counter[str]]:
        assert self._proxy is not None
        host_of: dict[int, str] = {}
        tcp: Counter[str] = Counter()
        tls: Counter[str] = Counter()
        for line in text.splitlines():
            event = json.loads(line)
            if event["ev"] == "open":
                addr = event["dst"].rsplit(":", 1)[0]
                host_of[event["id"]] = self._proxy.hosts_by_addr.get(addr, addr)
                tcp[host_of[event["id"]]] += 1
            elif event["ev"] == "data" and event["tls"] and event["id"] in host_of:
                tls[host_of[event["id"]]] += 1
        return tcp, tls


# ------------------------------------------------------------------------------ big image


@dataclass(frozen=True)
class BigImage:
    reference: str
    repository: str
    layer_digest: str
    layer_size: int


def _write_stored_gzip(path: Path, mib: int) -> tuple[str, str, int]:
    """MIB MiB of incompressible bytes as a gzip of stored (uncompressed) blocks: a valid
    gzip layer that no tool recompresses, made at disk speed. (digest, diff_id, size)."""
    chunk = os.urandom(1 << 20)  # repeated: random-looking to anything on the path
    compressed, uncompressed = hashlib.sha256(), hashlib.sha256()
    gz = zlib.compressobj(0, zlib.DEFLATED, 31)
    size = 0
    with path.open("wb") as out:
        for last in [False] * mib + [True]:
            part = gz.flush() if last else gz.compress(chunk)
            if not last:
                uncompressed.update(chunk)
            out.write(part)
            compressed.update(part)
            size += len(part)
    return "sha256:" + compressed.hexdigest(), "sha256:" + uncompressed.hexdigest(), size


def _put_blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def push_big_image(lab: Lab, repository: str, mib: int) -> BigImage:
    """Build an OCI layout with one MIB MiB layer and push it to the lab registry as pusher
    (skopeo copy, inside the namespace). Takes a minute or so: moto holds it in memory."""
    layout = lab.tmp / "big-oci"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    try:
        layer_tmp = blobs / "layer.tmp"
        digest, diff_id, size = _write_stored_gzip(layer_tmp, mib)
        layer_tmp.rename(blobs / digest.split(":", 1)[1])
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        config_digest, config_size = _put_blob(blobs, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": size,
                }
            ],
        }
        manifest_digest, manifest_size = _put_blob(blobs, json.dumps(manifest).encode())
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": manifest["mediaType"],
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "annotations": {"org.opencontainers.image.ref.name": "1.0"},
                }
            ],
        }
        (layout / "index.json").write_text(json.dumps(index))
        reference = lab.ref(f"{repository}:1.0")
        result = lab.exec(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-cert-dir",
                str(lab.cert_dir),
                "--dest-creds",
                f"pusher:{lab.users['pusher']}",
                f"oci:{layout}:1.0",
                f"docker://{reference}",
            ],
            timeout=600,
        )
        if result.returncode != 0:
            raise LabError(f"pushing the big image failed: {result.stderr.strip()[-2000:]}")
    finally:
        for path in sorted(layout.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        layout.rmdir()
    return BigImage(reference, repository, digest, size)


def _curl_config(lines: Mapping[str, str]) -> str:
    """curl -K - input: keeps passwords and tokens out of argv."""
    return "".join(f'{key} = "{value}"\n' for key, value in lines.items())


def presigned_url(lab: Lab, repository: str, digest: str) -> str:
    """The storage URL the registry redirects a puller to for this blob: a token from the
    lab's token service, then the blob GET without following its 307."""
    scope = f"repository:{repository}:pull"
    auth_url = f"{lab.realm}?service={quote(lab.service, safe='')}&scope={quote(scope, safe='')}"
    got = lab.exec(
        ["curl", "-sSf", "--cacert", str(lab.ca_file), "-K", "-", auth_url],
        input=_curl_config({"user": f"puller:{lab.users['puller']}"}),
        timeout=30,
    )
    if got.returncode != 0:
        raise LabError(f"token request failed: {got.stderr.strip()}")
    token = json.loads(got.stdout)["token"]
    blob_url = f"https://{lab.registry_host}/v2/{repository}/blobs/{digest}"
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"]
    got = lab.exec(
        [*argv, "--cacert", str(lab.ca_file), "-K", "-", blob_url],
        input=_curl_config({"header": f"Authorization: Bearer {token}"}),
        timeout=30,
    )
    status, _, location = got.stdout.partition(" ")
    if status != "307" or not location.startswith("https://"):
        raise LabError(f"blob GET answered {got.stdout!r}, not a 307 to storage")
    return location


def namespace_cpu_seconds(lab: Lab) -> float:
    """User and system CPU seconds used so far by the processes in the lab's namespace (its
    servers): what a run made them spend is the difference around it."""
    pids = subprocess.run(
        ["ip", "netns", "pids", lab.name], capture_output=True, text=True, check=False
    ).stdout.split()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks
