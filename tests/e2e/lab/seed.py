"""Push the lab's images over the registry API. Runs inside the lab namespace.

`python -m tests.e2e.lab.seed PLAN.json`. The plan names the registry, the CA file, the pushing
user and, per repository, the blob files and the manifests in push order (children first).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Pusher:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.base = f"https://{plan['registry']}"
        ctx = ssl.create_default_context(cafile=plan["ca_file"])
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx), _NoRedirect()
        )
        self.basic = base64.b64encode(f"{plan['user']}:{plan['password']}".encode()).decode()
        self.challenge = self._challenge()

    def _call(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _challenge(self) -> dict[str, str]:
        status, headers, _ = self._call("GET", f"{self.base}/v2/")
        if status != 401:
            raise SystemExit(f"GET /v2/ answered {status}, expected a 401 challenge")
        value = headers.get("Www-Authenticate") or headers.get("WWW-Authenticate") or ""
        return dict(re.findall(r'(\w+)="([^"]*)"', value))

    def token(self, repository: str) -> str:
        query = urllib.parse.urlencode(
            {"service": self.challenge["service"], "scope": f"repository:{repository}:pull,push"}
        )
        status, _, body = self._call(
            "GET",
            f"{self.challenge['realm']}?{query}",
            headers={"Authorization": f"Basic {self.basic}"},
        )
        if status != 200:
            raise SystemExit(f"token for {repository}: {status} {body[:200]!r}")
        return str(json.loads(body)["token"])

    def push_blob(self, repository: str, token: str, digest: str, path: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        status, headers, body = self._call(
            "POST", f"{self.base}/v2/{repository}/blobs/uploads/", data=b"", headers=auth
        )
        if status != 202:
            raise SystemExit(f"start upload {repository}: {status} {body[:300]!r}")
        location = urllib.parse.urljoin(self.base, headers["Location"])
        sep = "&" if "?" in location else "?"
        data = Path(path).read_bytes()
        status, _, body = self._call(
            "PUT",
            f"{location}{sep}digest={urllib.parse.quote(digest)}",
            data=data,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        if status != 201:
            raise SystemExit(f"upload {repository}@{digest}: {status} {body[:300]!r}")

    def push_manifest(
        self, repository: str, token: str, ref: str, media_type: str, path: str
    ) -> None:
        status, _, body = self._call(
            "PUT",
            f"{self.base}/v2/{repository}/manifests/{ref}",
            data=Path(path).read_bytes(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": media_type},
        )
        if status != 201:
            raise SystemExit(f"manifest {repository}:{ref}: {status} {body[:300]!r}")

    def push_repository(self, repo: dict[str, Any]) -> None:
        name = repo["repository"]
        token = self.token(name)
        with ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(self.push_blob, name, token, d, p) for d, p in repo["blobs"]]:
                f.result()
        for ref, media_type, path in repo["manifests"]:
            self.push_manifest(name, token, ref, media_type, path)


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text())
    pusher = Pusher(plan)
    with ThreadPoolExecutor(max_workers=len(plan["repositories"])) as pool:
        for f in [pool.submit(pusher.push_repository, r) for r in plan["repositories"]]:
            f.result()
    print("seeded", ", ".join(r["repository"] for r in plan["repositories"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
