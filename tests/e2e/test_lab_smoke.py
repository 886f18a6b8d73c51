"""The lab works, shown with an independent client (skopeo) and the standard library.

Every fault helper is checked to change what a client sees, and to restore the lab afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.lab import Lab

pytestmark = pytest.mark.lab

DROP_TIMEOUT_S = 3  # a blackholed host makes skopeo wait ~20 s; we stop it much earlier


def skopeo(
    lab: Lab, *args: str, user: str | None = "puller", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """skopeo inspect/copy against the lab, trusting the lab CA, as `user` (None: anonymous)."""
    cmd, rest = args[0], list(args[1:])
    if cmd == "copy":
        creds = (
            ["--src-no-creds"]
            if user is None
            else ["--src-creds", f"{user}:{lab.users.get(user, 'wrong-password')}"]
        )
        argv = [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--retry-times",
            "0",
            "--src-cert-dir",
            str(lab.cert_dir),
            *creds,
            *rest,
        ]
    else:
        creds = (
            ["--no-creds"]
            if user is None
            else ["--creds", f"{user}:{lab.users.get(user, 'wrong-password')}"]
        )
        argv = ["skopeo", cmd, "--cert-dir", str(lab.cert_dir), *creds, *rest]
    return lab.exec(argv, timeout=timeout)


def docker(lab: Lab, image: str, vpc: bool = False) -> str:
    return f"docker://{lab.ref(image, vpc=vpc)}"


def copy_plain(
    lab: Lab, dest: Path, vpc: bool = False, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return skopeo(lab, "copy", docker(lab, "ns/plain:1.0", vpc), f"dir:{dest}", timeout=timeout)


# The scripts below run inside the lab with only the standard library: a second client.
_BLOB_REDIRECT = r"""
import json, re, ssl, sys, urllib.error, urllib.parse, urllib.request
host, repo, digest, user, password, ca = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
class Stop(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), Stop())
def get(url, headers={}):
    try:
        with op.open(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)
status, h = get(f"https://{host}/v2/")
chal = dict(re.findall(r'(\w+)="([^"]*)"', h["Www-Authenticate"]))
q = urllib.parse.urlencode({"service": chal["service"], "scope": f"repository:{repo}:pull"})
import base64
basic = base64.b64encode(f"{user}:{password}".encode()).decode()
with urllib.request.urlopen(urllib.request.Request(f"{chal['realm']}?{q}",
        headers={"Authorization": "Basic " + basic}), context=ctx, timeout=10) as r:
    token = json.load(r)["token"]
status, h = get(f"https://{host}/v2/{repo}/blobs/{digest}", {"Authorization": "Bearer " + token})
print(json.dumps({"challenge_status": 401, "challenge": chal, "status": status,
                  "location": h.get("Location")}))
"""

_TOKENS = r"""
import base64, json, ssl, sys, urllib.error, urllib.parse, urllib.request
realm, service, ca = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
out = []
for case in json.load(sys.stdin):
    q = urllib.parse.urlencode([("service", service)] + [("scope", s) for s in case["scopes"]])
    headers = {}
    if case.get("user"):
        cred = f"{case['user']}:{case['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{realm}?{q}", headers=headers),
                                    context=ctx, timeout=10) as r:
            out.append({"status": r.status, "type": r.headers["Content-Type"],
                        "body": r.read().decode()})
    except urllib.error.HTTPError as e:
        out.append({"status": e.code, "type": e.headers["Content-Type"], "body": e.read().decode()})
print(json.dumps(out))
"""


_DNS = r"""
import json, socket, struct, sys
out = []
for name, qtype in json.load(sys.stdin):
    query = struct.pack(">HHHHHH", 0x1AB5, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + bytes(1)
    query += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(query, (sys.argv[1], 53))
    reply = s.recv(512)
    flags, _, answers = struct.unpack(">HHH", reply[2:8])
    addr = socket.inet_ntoa(reply[-4:]) if answers and qtype == 1 else None
    out.append({"rcode": flags & 0xF, "answers": answers, "addr": addr})
print(json.dumps(out))
"""


def dns_query(lab: Lab, *questions: tuple[str, int]) -> list[dict[str, Any]]:
    """Ask the lab DNS directly: (name, qtype) -> {rcode, answers, addr}."""
    r = lab.exec([sys.executable, "-c", _DNS, lab.dns_server], input=json.dumps(questions))
    assert r.returncode == 0, r.stderr
    answers: list[dict[str, Any]] = json.loads(r.stdout)
    return answers


def fetch_tokens(lab: Lab, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = lab.exec(
        [sys.executable, "-c", _TOKENS, lab.realm, lab.service, str(lab.ca_file)],
        input=json.dumps(cases),
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    answers: list[dict[str, Any]] = json.loads(r.stdout)
    return answers


def unverified_claims(answer: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        json.loads(answer["body"])["token"], options={"verify_signature": False}
    )
    return claims


# ---------------------------------------------------------------- healthy lab


def test_lab_start_is_quick_and_commands_get_a_clean_environment(lab: Lab) -> None:
    assert lab.startup_s is not None and lab.startup_s < 15
    r = lab.exec(["env"], env={"EXTRA": "1"})
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert set(env) == {"PATH", "HOME", "LANG", "PYTHONPATH", "EXTRA"}
    assert env["HOME"] == str(lab.home) and env["LANG"] == "C.UTF-8"
    assert Path(env["PYTHONPATH"], "acrdiag").is_dir()


def test_lab_dns_answers_like_real_zones(lab: Lab) -> None:
    a, aaaa, unknown = dns_query(
        lab, (lab.registry_host, 1), (lab.registry_host, 28), (lab.missing_registry_name, 1)
    )
    assert a == {"rcode": 0, "answers": 1, "addr": lab.addresses[lab.registry_host]}
    assert aaaa == {"rcode": 0, "answers": 0, "addr": None}  # NoAnswer, not NXDOMAIN
    assert unknown["rcode"] == 3  # NXDOMAIN
    for host in (
        lab.vpc_registry_host,
        lab.realm_host,
        lab.storage_host,
        lab.internal_storage_host,
    ):
        (answer,) = dns_query(lab, (host, 1))
        assert answer["addr"] == lab.addresses[host]
    with lab.dns_without(lab.vpc_registry_host):
        gone, kept = dns_query(lab, (lab.vpc_registry_host, 1), (lab.registry_host, 1))
        assert gone["rcode"] == 3 and kept["rcode"] == 0
    assert dns_query(lab, (lab.vpc_registry_host, 1))[0]["rcode"] == 0


def test_inspect_multiarch_index(lab: Lab) -> None:
    image = lab.images["ns/app:1.0"]
    raw = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"))
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.encode() == image.index.data  # type: ignore[union-attr]
    index = json.loads(raw.stdout)
    assert [m["digest"] for m in index["manifests"]] == [
        image.manifest(p).digest for p in ("linux/amd64", "linux/arm64/v8")
    ]

    amd = skopeo(
        lab,
        "inspect",
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
        docker(lab, "ns/app:1.0"),
    )
    assert amd.returncode == 0, amd.stderr
    info = json.loads(amd.stdout)
    assert info["Digest"] == image.digest
    assert info["Layers"] == [b.digest for b in image.manifest("linux/amd64").layers]

    arm = skopeo(
        lab,
        "inspect",
        "--override-os",
        "linux",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        docker(lab, "ns/app:1.0"),
    )
    assert arm.returncode == 0, arm.stderr
    assert json.loads(arm.stdout)["Layers"] == [
        b.digest for b in image.manifest("linux/arm64/v8").layers
    ]


def test_single_platform_index_and_plain_manifest(lab: Lab) -> None:
    for name in ("ns/single:1.0", "ns/plain:1.0"):
        image = lab.images[name]
        r = skopeo(lab, "inspect", "--raw", docker(lab, name))
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(r.stdout.encode()).hexdigest() == image.digest.split(":")[1]
        assert json.loads(r.stdout)["mediaType"] == image.media_type
    assert lab.images["ns/single:1.0"].platforms == ["linux/amd64"]
    assert lab.images["ns/plain:1.0"].index is None


def test_copy_downloads_blobs_from_storage_through_presigned_redirects(lab: Lab) -> None:
    image = lab.images["ns/plain:1.0"]
    dest = lab.work_dir / "copy-plain"
    r = copy_plain(lab, dest)
    assert r.returncode == 0, r.stderr
    for blob in image.manifest().blobs:
        assert hashlib.sha256((dest / blob.hex).read_bytes()).hexdigest() == blob.hex
    assert (dest / "manifest.json").read_bytes() == image.top.data
    layer_key = lab.blob_key(image.manifest().layers[0].digest)
    gets = [
        line for line in lab.log("moto").splitlines() if f"GET /{lab.bucket}/{layer_key}?" in line
    ]
    assert any("X-Amz-Signature=" in line for line in gets), "blob was not fetched via a signed URL"


@pytest.mark.parametrize(
    ("vpc", "storage"), [(False, Lab.storage_host), (True, Lab.internal_storage_host)]
)
def test_blob_get_redirects_to_the_matching_oss_endpoint(lab: Lab, vpc: bool, storage: str) -> None:
    layer = lab.images["ns/app:1.0"].manifest().layers[0]
    host = lab.vpc_registry_host if vpc else lab.registry_host
    r = lab.exec(
        [
            sys.executable,
            "-c",
            _BLOB_REDIRECT,
            host,
            "ns/app",
            layer.digest,
            "puller",
            lab.users["puller"],
            str(lab.ca_file),
        ]
    )
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    assert seen["challenge"] == {"realm": lab.realm, "service": lab.service}
    assert seen["status"] == 307
    assert seen["location"].startswith(
        f"https://{storage}/{lab.bucket}/{lab.blob_key(layer.digest)}?"
    )
    assert "X-Amz-Signature=" in seen["location"]
    assert copy_plain(lab, lab.work_dir / f"copy-vpc-{vpc}", vpc=vpc).returncode == 0


def test_anonymous_pull_only_from_public(lab: Lab) -> None:
    r = skopeo(lab, "inspect", docker(lab, "public/hello:latest"), user=None)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Digest"] == lab.images["public/hello:latest"].digest
    denied = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"), user=None)
    assert denied.returncode != 0
    assert "requested access to the resource is denied" in denied.stderr


def test_wrong_password_and_user_without_rights(lab: Lab) -> None:
    bad = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"), user="intruder")
    assert bad.returncode != 0 and "incorrect username or password" in bad.stderr
    nopull = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"), user="nopull")
    assert nopull.returncode != 0
    assert "requested access to the resource is denied" in nopull.stderr


def test_token_service_grants_the_intersection_with_acr_times(lab: Lab) -> None:
    pw = lab.users
    cases: list[dict[str, Any]] = [
        {"user": "puller", "password": pw["puller"], "scopes": ["repository:ns/app:pull,push"]},
        {"user": "nopull", "password": pw["nopull"], "scopes": ["repository:ns/app:pull"]},
        {"scopes": ["repository:public/hello:pull repository:ns/app:pull"]},
        {"user": "puller", "password": "wrong", "scopes": ["repository:ns/app:pull"]},
    ]
    puller, nopull, anonymous, wrong = fetch_tokens(lab, cases)

    body = json.loads(puller["body"])
    assert body["token"] == body["access_token"] and body["expires_in"] == 600
    header = jwt.get_unverified_header(body["token"])
    key = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0])).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    claims = jwt.decode(
        body["token"],
        key,
        algorithms=["RS256"],
        audience=lab.service,
        issuer=lab.issuer,
    )
    assert claims["sub"] == "puller"
    assert claims["access"] == [{"type": "repository", "name": "ns/app", "actions": ["pull"]}]
    assert claims["nbf"] == claims["iat"] - 300 and claims["exp"] == claims["iat"] + 600

    assert unverified_claims(nopull)["access"] == []
    anon = unverified_claims(anonymous)
    assert anon["sub"] == ""
    assert anon["access"] == [{"type": "repository", "name": "public/hello", "actions": ["pull"]}]

    assert wrong["status"] == 401 and wrong["type"].startswith("application/json")
    assert json.loads(wrong["body"])["errors"][0]["code"] == "UNAUTHORIZED"


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"time_offset_s": 3600}, "unauthorized: authentication required"),
        ({"empty_access": True}, "requested access to the resource is denied"),
        ({"status": 500}, "invalid status code from registry 500"),
        ({"non_json": True}, "invalid character '<'"),
    ],
)
def test_token_fault(lab: Lab, fault: dict[str, object], expected: str) -> None:
    with lab.token_fault(**fault):
        r = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"))
        assert r.returncode != 0 and expected in r.stderr, r.stderr
        if "time_offset_s" in fault:
            (seen,) = fetch_tokens(lab, [{"scopes": ["repository:public/hello:pull"]}])
            assert unverified_claims(seen)["nbf"] > time.time() + 3000
    assert skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0")).returncode == 0


def test_dns_without_storage_breaks_only_the_storage_hop(lab: Lab) -> None:
    with lab.dns_without(lab.storage_host):
        manifest = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"))
        assert manifest.returncode == 0, manifest.stderr  # the registry still reaches storage
        r = copy_plain(lab, lab.work_dir / "copy-nodns")
        assert r.returncode != 0
        assert f"lookup {lab.storage_host}" in r.stderr and "no such host" in r.stderr
    assert copy_plain(lab, lab.work_dir / "copy-dns-back").returncode == 0


def test_drop_traffic_to_storage_hangs_the_client_only(lab: Lab) -> None:
    with lab.drop_traffic_to(lab.storage_host, 443):
        manifest = skopeo(lab, "inspect", "--raw", docker(lab, "ns/app:1.0"))
        assert manifest.returncode == 0, manifest.stderr  # the registry's own path is spared
        # skopeo would wait ~20 s before failing; it must still be waiting when we stop it
        with pytest.raises(subprocess.TimeoutExpired):
            copy_plain(lab, lab.work_dir / "copy-dropped", timeout=DROP_TIMEOUT_S)
        # the rule hits the public storage address only, not the internal one
        assert copy_plain(lab, lab.work_dir / "copy-vpc-dropped", vpc=True).returncode == 0
    assert copy_plain(lab, lab.work_dir / "copy-after-drop").returncode == 0


def test_overwrite_blob_gives_a_digest_mismatch(lab: Lab) -> None:
    layer = lab.images["ns/plain:1.0"].manifest().layers[0]
    with lab.overwrite_blob(layer.digest) as stored:
        assert len(stored) == layer.size and stored != layer.data
        r = copy_plain(lab, lab.work_dir / "copy-corrupt")
        assert r.returncode != 0
        assert "Digest did not match" in r.stderr and layer.digest in r.stderr
    assert copy_plain(lab, lab.work_dir / "copy-restored").returncode == 0


def test_unreachable_endpoints(lab: Lab) -> None:
    closed = skopeo(
        lab, "inspect", "--raw", f"docker://{lab.registry_host}:{lab.closed_port}/ns/app:1.0"
    )
    assert "connect: connection refused" in closed.stderr
    missing = skopeo(lab, "inspect", "--raw", f"docker://{lab.missing_registry_name}/ns/app:1.0")
    assert f"lookup {lab.missing_registry_name}" in missing.stderr
    assert "no such host" in missing.stderr
    proxied = lab.exec(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--cert-dir",
            str(lab.cert_dir),
            "--no-creds",
            docker(lab, "public/hello:latest"),
        ],
        env={"HTTPS_PROXY": lab.dead_proxy},
    )
    assert proxied.returncode != 0 and "proxyconnect tcp" in proxied.stderr
