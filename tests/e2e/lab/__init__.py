"""A lab of real servers that acrdiag's end-to-end tests pull from.

Everything runs inside a private network namespace `acrdiag-lab-<pid>` in which `lo` owns
127.0.0.0/8, so every lab host gets its own 127.x.y.z address:

    127.0.0.53:53    dnsmasq, the only resolver the namespace sees (unknown names: NXDOMAIN)
    127.0.10.1:443   docker-registry for  shop-registry.cn-hangzhou.cr.aliyuncs.com
    127.0.10.2:443   docker-registry for  shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com
                     (a second instance; its blob redirects go to the -internal OSS name)
    127.0.10.3:443   registry.example.com, a custom domain whose reverse proxy forwards to
                     the registry but drops WWW-Authenticate (a misconfigured front)
    127.0.10.5:443   docker-registry for  lab7x1.mirror.aliyuncs.com, a pull-through cache (the
                     mirror a runtime is configured with, like ACR's accelerator): anonymous,
                     own filesystem storage, fetching from shop-registry as "puller"; it sees
                     the registry, token service and OSS names through its own /etc/hosts
    127.0.20.1:443   token service for    dockerauth.cn-hangzhou.aliyuncs.com
    127.0.30.1:443   oss-cn-hangzhou.aliyuncs.com           } nftables DNAT to moto's
    127.0.30.2:443   oss-cn-hangzhou-internal.aliyuncs.com  } private address below
    127.0.31.1:443   moto_server (S3), reached directly only by the registries, which see the
                     OSS names through their own /etc/hosts (private mount namespace)

Faults aimed at the client's storage hop (DNS, dropped packets) therefore never reach the
registries' own storage traffic.

    with Lab.start() as lab:
        lab.acrdiag("run", lab.ref("ns/app:1.0"))

Facts: registry_host, vpc_registry_host, front_host, mirror_host, realm_host, realm, service,
issuer, storage_host, internal_storage_host, region, instance_id, bucket,
addresses (name -> client-facing IP), dns_server, closed_port, dead_proxy,
missing_registry_name, users (name -> password),
images ("repo:tag" -> content.Image), ca_file, cert_dir, home, work_dir, logs_dir, startup_s.
Running: exec(argv, env, input, timeout, cwd), acrdiag(*args, env, input, timeout),
ref(image, vpc), blob_key(digest), blob_data(digest), token_requests(), issued_tokens(),
storage_signatures(since, until), signatures_in_storage_log(), log(server),
spawn_daemon(name, env) (a context manager yielding the pid of a stand-in runtime daemon).
Faults (context managers, restored on exit): token_fault(**faults), dns_without(*names),
drop_traffic_to(name_or_ip, port=443), overwrite_blob(digest, data=None), stop_server(name).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.lab.content import Blob, Image, Manifest, build_images

__all__ = ["Blob", "Image", "Lab", "LabError", "Manifest", "missing_requirements"]

REPO_ROOT = Path(__file__).resolve().parents[3]
NS_PREFIX = "acrdiag-lab-"

REGION = "cn-hangzhou"
INSTANCE_ID = "cri-7lab3xk2q9mr4d1v"
BUCKET = f"{INSTANCE_ID}-registry"
SERVICE = f"registry.aliyuncs.com:{REGION}:china:{INSTANCE_ID}"
ISSUER = "dockerauth.cn-hangzhou.aliyuncs.com"

REGISTRY_HOST = "shop-registry.cn-hangzhou.cr.aliyuncs.com"
VPC_REGISTRY_HOST = "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
REALM_HOST = "dockerauth.cn-hangzhou.aliyuncs.com"
STORAGE_HOST = "oss-cn-hangzhou.aliyuncs.com"
INTERNAL_STORAGE_HOST = "oss-cn-hangzhou-internal.aliyuncs.com"
MISSING_REGISTRY_HOST = "gone-registry.cn-hangzhou.cr.aliyuncs.com"
# A self-hosted registry on a private S3 (MinIO, Ceph): path-style storage on a plain name.
PRIVATE_REGISTRY_HOST = "registry.corp.example"
PRIVATE_STORAGE_HOST = "s3.corp.example"
FRONT_HOST = "registry.example.com"
# A pull-through cache named like an ACR registry accelerator (<id>.mirror.aliyuncs.com).
MIRROR_HOST = "lab7x1.mirror.aliyuncs.com"
STORAGE_ACCESS_KEY = "LTAILABACCESSKEYID00"
STORAGE_SECRET_KEY = "lab-secret-key-not-a-secret"
PRESIGN_EXPIRES_S = 1200  # what docker-registry 2.8's s3 driver signs blob redirects for

DNS_ADDR = "127.0.0.53"
STORAGE_PRIVATE_ADDR = "127.0.31.1"
ADDRESSES = {
    REGISTRY_HOST: "127.0.10.1",
    VPC_REGISTRY_HOST: "127.0.10.2",
    FRONT_HOST: "127.0.10.3",
    REALM_HOST: "127.0.20.1",
    STORAGE_HOST: "127.0.30.1",
    INTERNAL_STORAGE_HOST: "127.0.30.2",
    PRIVATE_REGISTRY_HOST: "127.0.10.4",
    PRIVATE_STORAGE_HOST: "127.0.30.3",
    MIRROR_HOST: "127.0.10.5",
}
STORAGE_HOSTS = (STORAGE_HOST, INTERNAL_STORAGE_HOST, PRIVATE_STORAGE_HOST)
REGISTRY_HOSTS = (REGISTRY_HOST, VPC_REGISTRY_HOST, PRIVATE_REGISTRY_HOST)
CLOSED_PORT = 5000
DEAD_PROXY = "http://127.0.9.9:3128"

REQUIRED_BINARIES = ("ip", "unshare", "nft", "dnsmasq", "docker-registry", "skopeo", "faketime")
REQUIRED_MODULES = ("moto", "flask", "flask_cors", "werkzeug", "jwt", "cryptography")
SKIP_REASON = (
    "lab tests need root and Debian packages docker-registry, dnsmasq-base, nftables, skopeo, "
    "faketime: "
    "run bash .ci/run"
)

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_START_TIMEOUT = 20.0


class LabError(RuntimeError):
    """The lab could not be started or a lab operation failed."""


def missing_requirements() -> list[str]:
    """What this machine lacks for the lab (empty when the lab can start)."""
    import importlib.util

    missing = [] if os.geteuid() == 0 else ["root"]
    path = f"{os.environ.get('PATH', '')}:{_SBIN_PATH}"
    missing += [b for b in REQUIRED_BINARIES if shutil.which(b, path=path) is None]
    missing += [f"python:{m}" for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    return missing


def _which(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{_SBIN_PATH}")
    if found is None:
        raise LabError(f"{name} not found; {SKIP_REASON}")
    return found


def _die_with_parent() -> None:
    """In a lab server (before exec): get SIGKILL when the thread that started it exits,
    so a killed test run leaves no servers behind (its namespace is removed on the next start)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_hex(addr: str, port: int) -> str:
    """Address as /proc/net/{tcp,udp} shows it: little-endian hex IPv4, hex port."""
    return f"{socket.inet_aton(addr)[::-1].hex().upper()}:{port:04X}"


def _tail(path: Path, n: int = 25, width: int = 400) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line[:width] for line in lines[-n:])


def _destroy_namespace(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    for pid in pids.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    for _ in range(50):
        if not subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout:
            break
        time.sleep(0.02)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


def _presign_signature(host: str, path: str, amz_date: str, method: str = "GET") -> str:
    """SigV4 query signature of a GET (or HEAD) of https://host/path signed at amz_date
    (aws-sdk-go v1 presign, as docker-registry's s3 driver does it with the lab's key and
    region)."""
    import hashlib
    import hmac
    from urllib.parse import quote

    day = amz_date[:8]
    scope = f"{day}/{REGION}/s3/aws4_request"
    query = "&".join(
        f"{k}={quote(v, safe='-_.~')}"
        for k, v in sorted(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"{STORAGE_ACCESS_KEY}/{scope}",
                "X-Amz-Date": amz_date,
                "X-Amz-Expires": str(PRESIGN_EXPIRES_S),
                "X-Amz-SignedHeaders": "host",
            }.items()
        )
    )
    canonical = "\n".join(
        [method, quote(path, safe="/-_.~"), query, f"host:{host}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{STORAGE_SECRET_KEY}".encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def cleanup_stale() -> list[str]:
    """Remove namespaces, /etc/netns dirs and temp dirs of labs whose process is gone."""
    removed: list[str] = []
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    if Path("/etc/netns").is_dir():
        names |= {p.name for p in Path("/etc/netns").iterdir()}
    for name in sorted(names):
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)", name)
        if m and not _pid_alive(int(m.group(1))):
            _destroy_namespace(name)
            removed.append(name)
    for tmp in Path(tempfile.gettempdir()).glob(f"{NS_PREFIX}*"):
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)-.*", tmp.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(tmp, ignore_errors=True)
    return removed


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    argv: Sequence[str] = ()  # as given to _spawn: enough to start it again
    env: Mapping[str, str] | None = None
    listens: tuple[str, int, str] | None = None  # (addr, port, proto), once seen listening


class Lab:
    """The running lab. Create it with `Lab.start()`; stop it with `stop()` or a `with` block."""

    registry_host = REGISTRY_HOST
    vpc_registry_host = VPC_REGISTRY_HOST
    front_host = FRONT_HOST
    mirror_host = MIRROR_HOST
    realm_host = REALM_HOST
    realm = f"https://{REALM_HOST}/auth"
    service = SERVICE
    issuer = ISSUER
    storage_host = STORAGE_HOST
    internal_storage_host = INTERNAL_STORAGE_HOST
    private_registry_host = PRIVATE_REGISTRY_HOST
    private_storage_host = PRIVATE_STORAGE_HOST
    region = REGION
    instance_id = INSTANCE_ID
    bucket = BUCKET
    closed_port = CLOSED_PORT
    dead_proxy = DEAD_PROXY
    missing_registry_name = MISSING_REGISTRY_HOST
    dns_server = DNS_ADDR
    addresses: Mapping[str, str] = ADDRESSES

    def __init__(self, keep_tmp: bool = False) -> None:
        self.name = f"{NS_PREFIX}{os.getpid()}"
        self.keep_tmp = keep_tmp
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.cert_dir = self.tmp / "certs"  # holds only ca.crt: usable as skopeo --cert-dir
        # ca.crt, node.cert and node.key: the private registry wants this client certificate
        self.client_cert_dir = self.tmp / "client-certs"
        self.ca_file = self.cert_dir / "ca.crt"
        self.home = self.tmp / "home"  # HOME of every command run with exec()
        self.work_dir = self.tmp / "work"  # default cwd of exec()
        self.logs_dir = self.tmp / "logs"
        self._keys = self.tmp / "keys"
        self._conf = self.tmp / "conf"
        made = (self.cert_dir, self.client_cert_dir, self.home, self.work_dir, self.logs_dir)
        for d in (*made, self._keys, self._conf):
            d.mkdir(mode=0o755)
        self.tmp.chmod(0o755)
        self.users: dict[str, str] = {
            "puller": secrets.token_urlsafe(12),
            "pusher": secrets.token_urlsafe(12),
            "nopull": secrets.token_urlsafe(12),
        }
        self.images: dict[str, Image] = build_images()
        self.startup_s: float | None = None
        self._procs: dict[str, _Proc] = {}
        self._faults: dict[str, Any] = {}
        self._dns_hidden: set[str] = set()
        self._dropped: Counter[tuple[str, int]] = Counter()
        self._ns_created = False
        self._stopped = False
        self._faults_file = self._conf / "token-faults.json"
        self._requests_file = self.logs_dir / "token-requests.jsonl"
        self._http_secret = secrets.token_hex(16)

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def start(cls, keep_tmp: bool = False) -> Lab:
        """Start every server, seed the images, and return the running lab.

        `keep_tmp=True` (or ACRDIAG_LAB_KEEP=1) leaves the temp dir with logs and configs.
        """
        missing = missing_requirements()
        if missing:
            raise LabError(f"{SKIP_REASON} (missing: {', '.join(missing)})")
        cleanup_stale()
        name = f"{NS_PREFIX}{os.getpid()}"
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if name in {line.split()[0] for line in listing.splitlines() if line.strip()}:
            raise LabError(f"namespace {name} exists: a lab of this process is still running")
        lab = cls(keep_tmp=keep_tmp or os.environ.get("ACRDIAG_LAB_KEEP") == "1")
        atexit.register(lab.stop)
        try:
            lab._boot()
        except BaseException:
            lab.stop()
            raise
        return lab

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every process, delete the namespace, /etc/netns/<name> and the temp dir."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        for proc in reversed(list(self._procs.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in self._procs.values():
            try:
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        if self._ns_created:
            _destroy_namespace(self.name)
        if not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _boot(self) -> None:
        t0 = time.monotonic()
        self._make_keys()
        self._make_namespace()
        self._write_faults()
        self._start_dns()
        moto = self._start_storage()
        token = self._start_token_service()
        self._wait_listening(moto, STORAGE_PRIVATE_ADDR, 443)
        self._storage_tool("create-bucket", BUCKET, REGION)
        registries = [
            self._start_registry("registry", REGISTRY_HOST, f"https://{STORAGE_HOST}"),
            self._start_registry(
                "registry-vpc", VPC_REGISTRY_HOST, f"https://{INTERNAL_STORAGE_HOST}"
            ),
            self._start_registry(
                "registry-private", PRIVATE_REGISTRY_HOST, f"https://{PRIVATE_STORAGE_HOST}"
            ),
        ]
        front = self._start_front()
        self._wait_listening(token, ADDRESSES[REALM_HOST], 443)
        for proc, host in zip(registries, REGISTRY_HOSTS, strict=True):
            self._wait_listening(proc, ADDRESSES[host], 443)
        mirror = self._start_mirror()  # on start it asks the registry for its token realm
        self._wait_listening(front, ADDRESSES[FRONT_HOST], 443)
        self._seed()
        self._wait_listening(mirror, ADDRESSES[MIRROR_HOST], 443)
        self.startup_s = time.monotonic() - t0

    # ------------------------------------------------------------------ set-up pieces

    def _make_keys(self) -> None:
        from tests.e2e.lab.certs import CertAuthority, make_signing_pair

        # Server keys stay out of cert_dir: skopeo would read *.key there as client keys.
        ca = CertAuthority(self.cert_dir, leaf_dir=self._keys)
        assert ca.cert_file == self.ca_file
        self._tls = {
            "registry": ca.issue(
                "registry",
                list(REGISTRY_HOSTS),
                [ADDRESSES[h] for h in REGISTRY_HOSTS],
            ),
            "token": ca.issue("dockerauth", [REALM_HOST], [ADDRESSES[REALM_HOST]]),
            "front": ca.issue("front", [FRONT_HOST], [ADDRESSES[FRONT_HOST]]),
            "mirror": ca.issue("mirror", [MIRROR_HOST], [ADDRESSES[MIRROR_HOST]]),
            "storage": ca.issue(
                "oss",
                [*STORAGE_HOSTS, *(f"*.{h}" for h in STORAGE_HOSTS)],
                [*(ADDRESSES[h] for h in STORAGE_HOSTS), STORAGE_PRIVATE_ADDR],
            ),
        }
        self._signing = make_signing_pair(self._keys)
        node = ca.issue("node", ["puller-node.lab"], [], client=True)
        shutil.copy(self.ca_file, self.client_cert_dir / "ca.crt")
        shutil.copy(node.cert, self.client_cert_dir / "node.cert")
        shutil.copy(node.key, self.client_cert_dir / "node.key")

    def _make_namespace(self) -> None:
        etc = Path("/etc/netns") / self.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {DNS_ADDR}\n")
        (etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self._ns_created = True
        self._run_in_ns(["ip", "link", "set", "lo", "up"])
        storage = ", ".join(ADDRESSES[h] for h in STORAGE_HOSTS)
        self._nft(
            f"""
            table ip acrdiag_lab {{
              set blocked {{ type ipv4_addr . inet_service; }}
              set refused {{ type ipv4_addr . inet_service; }}
              chain drop_out {{
                type filter hook output priority -150; policy accept;
                meta l4proto {{ tcp, udp }} ip daddr . th dport @blocked drop
                meta l4proto tcp ip daddr . th dport @refused reject with tcp reset
              }}
              chain storage_nat {{
                type nat hook output priority -100; policy accept;
                ip daddr {{ {storage} }} tcp dport 443 dnat to {STORAGE_PRIVATE_ADDR}
              }}
              chain nat_post {{ type nat hook postrouting priority 100; policy accept; }}
            }}
            """
        )

    def _dns_conf(self) -> Path:
        lines = [
            f"listen-address={DNS_ADDR}",
            "port=53",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "local=/#/",
            "log-queries",
            "log-facility=-",
            "pid-file=",
            "user=root",  # no uid change: keeps the parent-death signal
            "group=root",
        ]
        lines += [
            f"host-record={host},{addr}"
            for host, addr in ADDRESSES.items()
            if host not in self._dns_hidden
        ]
        conf = self._conf / "dnsmasq.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _start_dns(self) -> _Proc:
        conf = self._dns_conf()
        proc = self._spawn(
            "dnsmasq",
            [
                _which("dnsmasq"),
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                f"--conf-file={conf}",
            ],
        )
        self._wait_listening(proc, DNS_ADDR, 53, proto="udp")
        return proc

    def _start_storage(self) -> _Proc:
        pair = self._tls["storage"]
        return self._spawn(
            "moto",
            [
                sys.executable,
                "-m",
                "moto.server",
                "-H",
                STORAGE_PRIVATE_ADDR,
                "-p",
                "443",
                "-c",
                str(pair.cert),
                "-k",
                str(pair.key),
            ],
            env={
                "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true",
                "MOTO_S3_CUSTOM_ENDPOINTS": ",".join(f"https://{h}" for h in STORAGE_HOSTS),
                "PYTHONUNBUFFERED": "1",
            },
        )

    def _start_token_service(self) -> _Proc:
        pair = self._tls["token"]
        cfg = {
            "address": ADDRESSES[REALM_HOST],
            "port": 443,
            "cert": str(pair.cert),
            "key": str(pair.key),
            "signing_cert": str(self._signing.cert),
            "signing_key": str(self._signing.key),
            "issuer": ISSUER,
            "service": SERVICE,
            "faults_file": str(self._faults_file),
            "requests_file": str(self._requests_file),
            "users": {
                "puller": {
                    "password": self.users["puller"],
                    "grants": [["ns/*", ["pull"]], ["public/*", ["pull"]]],
                },
                "pusher": {
                    "password": self.users["pusher"],
                    "grants": [["*", ["pull", "push", "delete"]]],
                },
                "nopull": {"password": self.users["nopull"], "grants": []},
            },
            "anonymous": [["public/*", ["pull"]]],
        }
        path = self._conf / "token-service.json"
        path.write_text(json.dumps(cfg, indent=2))
        return self._spawn(
            "token-service",
            [sys.executable, "-m", "tests.e2e.lab.token_service", str(path)],
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        )

    def _start_front(self) -> _Proc:
        pair = self._tls["front"]
        cfg = {
            "address": ADDRESSES[FRONT_HOST],
            "port": 443,
            "cert": str(pair.cert),
            "key": str(pair.key),
            "ca_file": str(self.ca_file),
            "upstream_host": REGISTRY_HOST,
        }
        path = self._conf / "front.json"
        path.write_text(json.dumps(cfg, indent=2))
        return self._spawn(
            "front",
            [sys.executable, "-m", "tests.e2e.lab.front", str(path)],
            env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        )

    def _start_registry(self, name: str, host: str, storage_endpoint: str) -> _Proc:
        pair = self._tls["registry"]
        config = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "s3": {
                    "accesskey": STORAGE_ACCESS_KEY,
                    "secretkey": STORAGE_SECRET_KEY,
                    "region": REGION,
                    "regionendpoint": storage_endpoint,
                    "bucket": BUCKET,
                    "secure": True,
                    "v4auth": True,
                },
                "redirect": {"disable": False},
                # As deployed registries do: a blob it has seen is not stat'ed in storage again,
                # so an object removed behind its back is found by the puller (step 7).
                "cache": {"blobdescriptor": "inmemory"},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": f"{ADDRESSES[host]}:443",
                "secret": self._http_secret,  # shared: both instances sign the same uploads
                "tls": {
                    "certificate": str(pair.cert),
                    "key": str(pair.key),
                    # The self-hosted one wants a client certificate (mutual TLS).
                    **({"clientcas": [str(self.ca_file)]} if host == PRIVATE_REGISTRY_HOST else {}),
                },
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "auth": {
                "token": {
                    "realm": self.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self._signing.cert),
                }
            },
            "health": {"storagedriver": {"enabled": False}},
        }
        hosts = self._conf / "registry-hosts"
        hosts.write_text(
            f"127.0.0.1\tlocalhost\n{STORAGE_PRIVATE_ADDR}\t{' '.join(STORAGE_HOSTS)}\n"
        )
        return self._serve_registry(name, config, hosts)

    def _start_mirror(self) -> _Proc:
        """The pull-through cache: anonymous to clients, "puller" to the registry upstream.

        Its /etc/hosts names the registry and the token service at their client-facing
        addresses (lab DNS faults spare it; nftables faults on those addresses do not) and
        the OSS names at moto's private address, where the registry's 307s send it.
        """
        pair = self._tls["mirror"]
        storage = self.tmp / "mirror-storage"
        storage.mkdir(exist_ok=True)
        config = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(storage)},
                "redirect": {"disable": True},  # a mirror serves the blobs itself
                "cache": {"blobdescriptor": "inmemory"},
                "delete": {"enabled": True},  # the proxy's scheduler expires cached content
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": f"{ADDRESSES[MIRROR_HOST]}:443",
                "secret": self._http_secret,
                "tls": {"certificate": str(pair.cert), "key": str(pair.key)},
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "proxy": {
                "remoteurl": f"https://{REGISTRY_HOST}",
                "username": "puller",
                "password": self.users["puller"],
            },
            "health": {"storagedriver": {"enabled": False}},
        }
        hosts = self._conf / "mirror-hosts"
        hosts.write_text(
            "127.0.0.1\tlocalhost\n"
            f"{ADDRESSES[REGISTRY_HOST]}\t{REGISTRY_HOST}\n"
            f"{ADDRESSES[REALM_HOST]}\t{REALM_HOST}\n"
            f"{STORAGE_PRIVATE_ADDR}\t{' '.join(STORAGE_HOSTS)}\n"
        )
        return self._serve_registry("mirror", config, hosts)

    def _serve_registry(self, name: str, config: Mapping[str, Any], hosts: Path) -> _Proc:
        """Run docker-registry with this config, seeing `hosts` as its /etc/hosts."""
        path = self._conf / f"{name}.json"
        path.write_text(json.dumps(config, indent=2))
        # A private mount namespace: the registry sees the OSS names at moto's private
        # address through its own /etc/hosts, whatever the lab DNS or nftables do to clients.
        script = 'mount --bind "$1" /etc/hosts && exec "$2" serve "$3"'
        return self._spawn(
            name,
            [
                _which("unshare"),
                "--mount",
                "--propagation",
                "private",
                "/bin/sh",
                "-c",
                script,
                "sh",
                str(hosts),
                _which("docker-registry"),
                str(path),
            ],
            env={"SSL_CERT_FILE": str(self.ca_file)},
        )

    def _seed(self) -> None:
        blobs_dir = self.tmp / "seed"
        blobs_dir.mkdir()

        def save(blob: Blob) -> str:
            path = blobs_dir / blob.hex
            if not path.exists():
                path.write_bytes(blob.data)
            return str(path)

        repos = []
        for image in self.images.values():
            blobs = {b.digest: save(b) for b in image.blobs}
            manifests = (
                [[m.digest, m.media_type, save(m.manifest)] for m in image.manifests.values()]
                if image.index
                else []
            )
            manifests.append([image.tag, image.media_type, save(image.top)])
            repos.append(
                {
                    "repository": image.repository,
                    "blobs": sorted(blobs.items()),
                    "manifests": manifests,
                }
            )
        plan = {
            "registry": REGISTRY_HOST,
            "ca_file": str(self.ca_file),
            "user": "pusher",
            "password": self.users["pusher"],
            "repositories": repos,
        }
        path = self._conf / "seed-plan.json"
        path.write_text(json.dumps(plan, indent=2))
        result = self.exec([sys.executable, "-m", "tests.e2e.lab.seed", str(path)], timeout=60)
        if result.returncode != 0:
            raise LabError(
                f"seeding failed:\n{result.stdout}{result.stderr}\n"
                f"--- registry log ---\n{_tail(self.logs_dir / 'registry.log')}"
            )

    # ------------------------------------------------------------------ processes

    def _base_env(self) -> dict[str, str]:
        return {
            "PATH": f"{Path(sys.executable).parent}:{_SBIN_PATH}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> _Proc:
        log = self.logs_dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self._base_env(), **(env or {})},
                cwd=self.work_dir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        proc = _Proc(name, popen, log, tuple(argv), dict(env) if env else None)
        self._procs[name] = proc
        return proc

    @staticmethod
    def _terminate(proc: _Proc, timeout: float = 5) -> None:
        """SIGTERM a server's process group; SIGKILL it if it is still there after `timeout`."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()

    def _in_namespace(self, pid: int) -> bool:
        try:
            return (
                os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{self.name}").st_ino
            )
        except OSError:
            return False

    def _wait_listening(
        self, proc: _Proc, addr: str, port: int, proto: str = "tcp", timeout: float = _START_TIMEOUT
    ) -> None:
        want = _proc_hex(addr, port)
        state = "0A" if proto == "tcp" else "07"  # TCP LISTEN / UDP unconnected
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise LabError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{_tail(proc.log)}"
                )
            if self._in_namespace(proc.popen.pid):
                try:
                    table = Path(f"/proc/{proc.popen.pid}/net/{proto}").read_text()
                except OSError:
                    table = ""
                for line in table.splitlines()[1:]:
                    fields = line.split()
                    if fields[1] == want and fields[3] == state:
                        proc.listens = (addr, port, proto)
                        return
            time.sleep(0.02)
        raise LabError(
            f"{proc.name} did not listen on {addr}:{port}/{proto} within "
            f"{timeout:.0f}s:\n{_tail(proc.log)}"
        )

    def _run_in_ns(self, argv: Sequence[str], input: str | None = None) -> str:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=input,
            capture_output=True,
            text=True,
            env=self._base_env(),
            timeout=30,
        )
        if result.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    def _nft(self, script: str) -> None:
        self._run_in_ns([_which("nft"), "-f", "-"], input=script)

    def _storage_tool(self, *args: str) -> None:
        result = self.exec(
            [
                sys.executable,
                "-m",
                "tests.e2e.lab.storage_tool",
                STORAGE_PRIVATE_ADDR,
                STORAGE_HOST,
                str(self.ca_file),
                *args,
            ],
            timeout=30,
        )
        if result.returncode != 0:
            raise LabError(
                f"storage {args[0]} failed: {result.stderr.strip()}\n"
                f"--- moto log ---\n{_tail(self.logs_dir / 'moto.log')}"
            )

    # ------------------------------------------------------------------ running commands

    def exec(
        self,
        argv: Sequence[str],
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        timeout: float = 60,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside the lab namespace with a clean environment; capture text output.

        The environment is PATH, HOME (the lab's own empty home), LANG=C.UTF-8 and
        PYTHONPATH=<repo root>, updated with `env` (a value of None removes a variable).
        On timeout the whole process group is killed and subprocess.TimeoutExpired raised.
        """
        if self._stopped:
            raise LabError("the lab is stopped")
        full_env: dict[str, str] = {**self._base_env(), "PYTHONPATH": str(REPO_ROOT)}
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        cmd = ["ip", "netns", "exec", self.name, *map(str, argv)]
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=cwd or self.work_dir,
            start_new_session=True,
        )
        try:
            out, err = popen.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            out, err = popen.communicate()
            raise subprocess.TimeoutExpired(list(argv), timeout, output=out, stderr=err) from None
        return subprocess.CompletedProcess(list(argv), popen.returncode, out, err)

    def acrdiag(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """`python -m acrdiag ARGS` inside the lab (see exec())."""
        return self.exec(
            [sys.executable, "-m", "acrdiag", *args], env=env, input=input, timeout=timeout
        )

    @contextlib.contextmanager
    def spawn_daemon(self, name: str, env: Mapping[str, str]) -> Iterator[int]:
        """Run a harmless long-lived process whose /proc/PID/comm is `name`, with exactly the
        environment `env`, and yield its pid; it is killed on exit.

        It stands in for a container runtime daemon (containerd, dockerd) whose environment
        a test reads: a copy of sleep named `name`, outside the lab namespace.
        """
        if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,15}", name) or name in (".", ".."):
            raise ValueError(f"daemon name {name!r}: 1-15 characters, no slash (TASK_COMM_LEN)")
        bin_dir = self.tmp / "bin"
        bin_dir.mkdir(mode=0o755, exist_ok=True)
        exe = bin_dir / name
        if not exe.exists():  # a copy already running cannot be overwritten (ETXTBSY)
            shutil.copy(_which("sleep"), exe)
        popen = subprocess.Popen(
            [str(exe), "3600"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            cwd="/",
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            yield popen.pid
        finally:
            popen.kill()
            popen.wait()

    # ------------------------------------------------------------------ facts for tests

    def ref(self, image: str, vpc: bool = False) -> str:
        """Full reference for an image name, e.g. ref("ns/app:1.0")."""
        return f"{self.vpc_registry_host if vpc else self.registry_host}/{image}"

    @staticmethod
    def blob_key(digest: str) -> str:
        """The object key under which the registry stores a blob in the bucket."""
        algo, hexd = digest.split(":", 1)
        return f"docker/registry/v2/blobs/{algo}/{hexd[:2]}/{hexd}/data"

    def blob_data(self, digest: str) -> bytes:
        """Bytes of a seeded blob or manifest (from the content the lab generated)."""
        for image in self.images.values():
            for m in image.manifests.values():
                for b in (m.manifest, m.config, *m.layers):
                    if b.digest == digest:
                        return b.data
            if image.top.digest == digest:
                return image.top.data
        raise KeyError(digest)

    def token_requests(self) -> list[dict[str, Any]]:
        """Every /auth request the token service saw: query, user, status, granted access."""
        try:
            lines = self._requests_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def issued_tokens(self) -> list[str]:
        """Every token the token service has issued so far, oldest first."""
        return [r["token"] for r in self.token_requests() if r.get("token")]

    def storage_signatures(
        self, since: float, until: float, digests: Sequence[str] | None = None
    ) -> dict[str, str]:
        """The X-Amz-Signature values of every blob redirect the registries could have signed
        between the epoch times `since` and `until` (whole seconds, both ends included), for
        `digests` (default: every blob of every image), on both storage endpoints.

        Maps signature -> "host/key@X-Amz-Date". The registries' s3 driver signs
        path-style SigV4 query URLs (`X-Amz-SignedHeaders=host`, UNSIGNED-PAYLOAD), so the
        values follow from the lab's storage key; `signatures_in_storage_log()` shows the
        ones that reached storage, to check this computation against.
        """
        if digests is None:
            digests = sorted({b.digest for img in self.images.values() for b in img.blobs})
        out: dict[str, str] = {}
        for second in range(int(since), int(until) + 1):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            for host in STORAGE_HOSTS:
                for digest in digests:
                    path = f"/{BUCKET}/{self.blob_key(digest)}"
                    # HEAD: the mirror (a pull-through cache) checks blobs upstream first.
                    for method in ("GET", "HEAD"):
                        signature = _presign_signature(host, path, stamp, method)
                        out[signature] = f"{method} {host}{path}@{stamp}"
        return out

    def signatures_in_storage_log(self) -> set[str]:
        """X-Amz-Signature values of the signed URLs that reached the object store."""
        return set(re.findall(r"X-Amz-Signature=([0-9a-f]{64})", self.log("moto")))

    def log(self, name: str) -> str:
        """A server's log: dnsmasq, moto, token-service, registry, registry-vpc,
        registry-private, front, mirror."""
        return (self.logs_dir / f"{name}.log").read_text(errors="replace")

    # ------------------------------------------------------------------ faults

    def _write_faults(self) -> None:
        tmp = self._faults_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._faults))
        os.replace(tmp, self._faults_file)

    @contextlib.contextmanager
    def token_fault(self, **faults: Any) -> Iterator[None]:
        """Switch token-service faults for the block: time_offset_s, empty_access, status,
        non_json, delay_s. The service re-reads them on every request."""
        from tests.e2e.lab.token_service import FAULT_KEYS

        unknown = set(faults) - set(FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown token faults {sorted(unknown)}; known: {sorted(FAULT_KEYS)}")
        before = dict(self._faults)
        self._faults.update(faults)
        self._write_faults()
        try:
            yield
        finally:
            self._faults = before
            self._write_faults()

    def _restart_dns(self) -> None:
        self._terminate(self._procs["dnsmasq"])
        self._start_dns()

    @contextlib.contextmanager
    def dns_without(self, *names: str) -> Iterator[None]:
        """The lab DNS answers NXDOMAIN for these names during the block."""
        unknown = [n for n in names if n not in ADDRESSES]
        if unknown:
            raise ValueError(f"not lab names: {unknown}")
        before = set(self._dns_hidden)
        self._dns_hidden |= set(names)
        self._restart_dns()
        try:
            yield
        finally:
            self._dns_hidden = before
            self._restart_dns()

    @contextlib.contextmanager
    def stop_server(self, name: str) -> Iterator[None]:
        """Stop one lab server for the block (clients get connection refused), e.g. "mirror",
        "registry", "token-service", "front"; see log() for the names.

        On exit it is started again with the same command, config and log, and the block
        returns once it listens again. moto cannot be stopped: its objects live in memory.
        The mirror asks the registry for its token realm when it starts, so it cannot be
        started again while the registry is stopped.
        """
        proc = self._procs.get(name)
        if proc is None or proc.listens is None or name == "moto":
            known = sorted(n for n, p in self._procs.items() if p.listens and n != "moto")
            raise ValueError(f"cannot stop {name!r}; servers: {known}")
        self._terminate(proc)
        try:
            yield
        finally:
            if not self._stopped and self._procs.get(name) is proc:  # not restarted meanwhile
                self._wait_listening(self._spawn(name, proc.argv, proc.env), *proc.listens)

    @contextlib.contextmanager
    def refuse_connections_to(self, name_or_ip: str, port: int = 443) -> Iterator[None]:
        """Answer TCP connections to a client-facing address and port with a reset, as a
        closed port or a rejecting firewall does."""
        addr = self.addresses.get(name_or_ip, name_or_ip)
        ipaddress.IPv4Address(addr)  # raises for anything else
        element = f"{{ {addr} . {int(port)} }}"
        self._nft(f"add element ip acrdiag_lab refused {element}")
        try:
            yield
        finally:
            self._nft(f"delete element ip acrdiag_lab refused {element}")

    @contextlib.contextmanager
    def drop_traffic_to(self, name_or_ip: str, port: int = 443) -> Iterator[None]:
        """Silently drop packets to a client-facing address and port (TCP and UDP).

        The registries' private path to storage is not affected.
        """
        addr = self.addresses.get(name_or_ip, name_or_ip)
        ipaddress.IPv4Address(addr)  # raises for anything else
        key = (addr, int(port))
        element = f"{{ {addr} . {int(port)} }}"
        if not self._dropped[key]:
            self._nft(f"add element ip acrdiag_lab blocked {element}")
        self._dropped[key] += 1
        try:
            yield
        finally:
            self._dropped[key] -= 1
            if not self._dropped[key]:
                self._nft(f"delete element ip acrdiag_lab blocked {element}")

    @contextlib.contextmanager
    def remove_blob(self, digest: str) -> Iterator[None]:
        """Delete a blob's object from storage behind the registry's back; put it back after."""
        key = self.blob_key(digest)
        scratch = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            original = scratch / "original"
            original.write_bytes(self.blob_data(digest))
            self._storage_tool("delete", BUCKET, key)
            try:
                yield
            finally:
                self._storage_tool("put", BUCKET, key, str(original))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @contextlib.contextmanager
    def overwrite_blob(self, digest: str, data: bytes | None = None) -> Iterator[bytes]:
        """Replace a blob's object in storage so it no longer matches its digest.

        The registry keeps answering 307 for it. Without `data`, the replacement has the
        same size with every byte changed. Yields the bytes now stored.
        """
        key = self.blob_key(digest)
        scratch = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            original = scratch / "original"
            try:
                original.write_bytes(self.blob_data(digest))
            except KeyError:
                self._storage_tool("get", BUCKET, key, str(original))
            new = bytes(b ^ 0x5A for b in original.read_bytes()) if data is None else data
            replacement = scratch / "replacement"
            replacement.write_bytes(new)
            self._storage_tool("put", BUCKET, key, str(replacement))
            try:
                yield new
            finally:
                self._storage_tool("put", BUCKET, key, str(original))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
