"""The lab's pull-through mirror and the helpers around it, shown with skopeo.

The mirror (`lab.mirror_host`, named like an ACR accelerator) is anonymous to clients and
fetches from the token-authenticated registry as "puller", following its 307s to storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.lab import Lab

pytestmark = pytest.mark.lab


def through_mirror(lab: Lab, image: str) -> str:
    return f"docker://{lab.mirror_host}/{image}"


def inspect(
    lab: Lab, ref: str, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """skopeo inspect inside the lab, trusting the lab CA, as `user` (None: anonymous)."""
    creds = ["--no-creds"] if user is None else ["--creds", f"{user}:{lab.users[user]}"]
    argv = ["skopeo", "inspect", "--cert-dir", str(lab.cert_dir), *creds, *args, ref]
    return lab.exec(argv, timeout=30)


def copy_anonymously(lab: Lab, ref: str, dest: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--retry-times",
        "0",
        "--src-cert-dir",
        str(lab.cert_dir),
        "--src-no-creds",
        ref,
        f"dir:{dest}",
    ]
    return lab.exec(argv, timeout=30)


def amd64_digest(lab: Lab, ref: str, user: str | None = None) -> str:
    r = inspect(lab, ref, "--override-os", "linux", "--override-arch", "amd64", user=user)
    assert r.returncode == 0, r.stderr
    digest: str = json.loads(r.stdout)["Digest"]
    return digest


def test_mirror_serves_upstream_images_anonymously(lab: Lab) -> None:
    app = lab.images["ns/app:1.0"]
    raw = inspect(lab, through_mirror(lab, "ns/app:1.0"), "--raw")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.encode() == app.top.data
    upstream = amd64_digest(lab, f"docker://{lab.ref('ns/app:1.0')}", user="puller")
    assert amd64_digest(lab, through_mirror(lab, "ns/app:1.0")) == upstream == app.digest

    plain = lab.images["ns/plain:1.0"]
    dest = lab.work_dir / "mirror-copy-plain"
    r = copy_anonymously(lab, through_mirror(lab, "ns/plain:1.0"), dest)
    assert r.returncode == 0, r.stderr
    assert (dest / "manifest.json").read_bytes() == plain.top.data
    for blob in plain.manifest().blobs:
        assert hashlib.sha256((dest / blob.hex).read_bytes()).hexdigest() == blob.hex
    # the mirror resolved the tag upstream itself (Go's client, not skopeo), with a token
    fetched = [
        line
        for line in lab.log("registry").splitlines()
        if "GET /v2/ns/plain/manifests/1.0 " in line and "Go-http-client" in line
    ]
    assert fetched and all('" 200 ' in line for line in fetched)


def test_stopped_mirror_refuses_connections_and_comes_back(lab: Lab) -> None:
    ref = through_mirror(lab, "public/hello:latest")
    with pytest.raises(ValueError, match="servers"), lab.stop_server("no-such-server"):
        pass
    with lab.stop_server("mirror"):
        r = inspect(lab, ref, "--raw")
        assert r.returncode != 0
        assert f"dial tcp {lab.addresses[lab.mirror_host]}:443: connect: connection refused" in (
            r.stderr
        )
    r = inspect(lab, ref, "--raw")
    assert r.returncode == 0, r.stderr
    assert r.stdout.encode() == lab.images["public/hello:latest"].top.data


def test_mirror_name_missing_from_dns(lab: Lab) -> None:
    ref = through_mirror(lab, "ns/app:1.0")
    with lab.dns_without(lab.mirror_host):
        r = inspect(lab, ref, "--raw")
        assert r.returncode != 0
        assert f"lookup {lab.mirror_host}" in r.stderr and "no such host" in r.stderr
    assert inspect(lab, ref, "--raw").returncode == 0


def test_spawn_daemon_has_the_name_and_exactly_the_environment(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACRDIAG_TEST_ONLY", "not-for-the-daemon")
    env = {
        "PATH": "/usr/bin:/bin",
        "HTTPS_PROXY": "http://proxy.corp.example:3128",
        "NO_PROXY": ".aliyuncs.com,localhost",
    }
    with lab.spawn_daemon("containerd", env) as pid:
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "containerd"
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode()
        seen = dict(item.split("=", 1) for item in raw.split("\0") if item)
        assert seen == env
        assert "ACRDIAG_TEST_ONLY" in os.environ and "ACRDIAG_TEST_ONLY" not in seen
    try:
        after = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        after = ""
    assert after != "containerd"
    with pytest.raises(ValueError), lab.spawn_daemon("bin/dockerd", {}):
        pass
