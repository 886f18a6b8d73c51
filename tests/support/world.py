"""A fake pull world for unit tests: registry, token service and OSS on pytest-httpserver.

Each server dispatches through a routes table the test can change, so a test
states only what differs from a healthy ACR Enterprise pull. Names resolve
through the FakeDns server to 127.0.0.1; TLS uses the test CA.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.http import http_date

from acrdiag.env import Env
from acrdiag.model import StepId
from acrdiag.probes.base import Probe
from acrdiag.steps import PULL_STEPS, Step
from tests.support.dns_server import FakeDns

REGISTRY = "shop-registry.cn-hangzhou.cr.aliyuncs.com"
REALM_HOST = "dockerauth.cn-hangzhou.aliyuncs.com"
INSTANCE = "cri-te7dg2c239ujvd3e"
SERVICE = f"registry.aliyuncs.com:cn-hangzhou:china:{INSTANCE}"
BUCKET = f"{INSTANCE}-registry"
STORAGE_HOST = f"{BUCKET}.oss-cn-hangzhou.aliyuncs.com"
USER = "puller"
PASSWORD = "Pa55-word-for-tests"
IDENTITY_TOKEN = "identity-refresh-token-for-tests"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

Handler = Callable[[Request], Response]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any]) -> str:
    header = {"alg": "RS256", "typ": "JWT"}
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(claims).encode()),
            b64url(b"not-a-real-signature-but-long-enough"),
        ]
    )


@dataclass
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass
class Image:
    """An image manifest with its config and layers."""

    arch: str = "amd64"
    layers: list[Blob] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = {"architecture": self.arch, "os": "linux", "rootfs": {"type": "layers"}}
        self.config = Blob(OCI_CONFIG, json.dumps(config).encode())
        if not self.layers:
            self.layers = [Blob(OCI_LAYER, (f"layer-{self.arch}-".encode() * 4000)[:50_000])]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.config.descriptor(),
            "layers": [layer.descriptor() for layer in self.layers],
        }
        self.manifest = Blob(OCI_MANIFEST, json.dumps(manifest).encode())

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def index_of(images: list[Image], variants: dict[str, str] | None = None) -> Blob:
    entries = []
    for image in images:
        platform = {"architecture": image.arch, "os": "linux"}
        if variants and image.arch in variants:
            platform["variant"] = variants[image.arch]
        entries.append(image.manifest.descriptor(platform=platform))
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return Blob(OCI_INDEX, json.dumps(body).encode())


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def step(self, step_id: str) -> dict[str, Any]:
        return next(s for s in self.report["steps"] if s["id"] == step_id)

    @property
    def failed(self) -> dict[str, Any] | None:
        return next((s for s in self.report["steps"] if s["status"] == "fail"), None)


class World:
    def __init__(
        self,
        registry: HTTPServer,
        realm: HTTPServer,
        storage: HTTPServer,
        dns: FakeDns,
        ca_file: str,
    ) -> None:
        self.registry, self.realm, self.storage, self.dns = registry, realm, storage, dns
        self.ca_file = ca_file
        self.routes: dict[str, dict[tuple[str, str], Handler]] = {
            "registry": {},
            "realm": {},
            "storage": {},
        }
        self.requests: dict[str, list[Request]] = {"registry": [], "realm": [], "storage": []}
        self.tokens: set[str] = set()
        self.anonymous_repos: set[str] = set()
        self.grant: Callable[[str, str | None], list[str]] = self._default_grant
        self.token_claims: dict[str, Any] = {}
        self.url_lifetime_s = 1800
        # The servers' clocks (Date headers, token times, URL expiry) against the real one:
        # non-zero makes the local clock look wrong, as a node without NTP sees it.
        self.server_clock_offset_s = 0
        self.fixed_dates: dict[str, int] = {}
        for role, server in (("registry", registry), ("realm", realm), ("storage", storage)):
            server.expect_request(re.compile(".*")).respond_with_handler(self._dispatcher(role))
        dns.records.update(
            {REGISTRY: ["127.0.0.1"], REALM_HOST: ["127.0.0.1"], STORAGE_HOST: ["127.0.0.1"]}
        )
        self.route("registry", "GET", "/v2/", self._ping)
        self.route("realm", "GET", "/auth", self.token_service)
        self.route("realm", "POST", "/auth", self.oauth_token_service)

    # -- addressing -------------------------------------------------------------------
    def ref(self, path: str) -> str:
        return f"{REGISTRY}:{self.registry.port}/{path}"

    @property
    def realm_url(self) -> str:
        return f"https://{REALM_HOST}:{self.realm.port}/auth"

    @property
    def challenge(self) -> str:
        return f'Bearer realm="{self.realm_url}",service="{SERVICE}"'

    def route(self, role: str, method: str, path: str, handler: Handler) -> None:
        self.routes[role][(method, path)] = handler

    def _dispatcher(self, role: str) -> Handler:
        def dispatch(request: Request) -> Response:
            self.requests[role].append(request)
            handler = self.routes[role].get((request.method, request.path))
            if handler is None:
                return Response(
                    '{"errors":[{"code":"NOT_FOUND","message":"no route"}]}',
                    status=404,
                    content_type="application/json",
                )
            return handler(request)

        return dispatch

    def server_now(self) -> int:
        return int(time.time()) + self.server_clock_offset_s

    def date_header(self, path: str = "") -> str:
        """The Date the world's servers send (werkzeug's server asks for it), or the one
        ``fixed_dates`` gives the request path (a cache replaying an old answer)."""
        return http_date(self.fixed_dates.get(path.split("?", 1)[0], self.server_now()))

    # -- registry ---------------------------------------------------------------------
    def _ping(self, request: Request) -> Response:
        return Response(
            "{}",
            status=401,
            content_type="application/json",
            headers={
                "WWW-Authenticate": self.challenge,
                "Docker-Distribution-API-Version": "registry/2.0",
            },
        )

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _unauthorized(self) -> Response:
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return Response(
            json.dumps(body),
            status=401,
            content_type="application/json",
            headers={"WWW-Authenticate": self.challenge},
        )

    def serve_manifest(self, repo: str, reference: str, blob: Blob) -> None:
        def handler(request: Request) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            return Response(
                blob.data,
                content_type=blob.media_type,
                headers={"Docker-Content-Digest": blob.digest},
            )

        self.route("registry", "GET", f"/v2/{repo}/manifests/{reference}", handler)

    def serve_image(self, repo: str, tag: str, image: Image) -> None:
        self.serve_manifest(repo, tag, image.manifest)
        self.serve_manifest(repo, image.manifest.digest, image.manifest)
        for blob in image.blobs:
            self.serve_blob(repo, blob)

    def serve_index(
        self, repo: str, tag: str, images: list[Image], variants: dict[str, str] | None = None
    ) -> Blob:
        index = index_of(images, variants)
        self.serve_manifest(repo, tag, index)
        self.serve_manifest(repo, index.digest, index)
        for image in images:
            self.serve_manifest(repo, image.manifest.digest, image.manifest)
            for blob in image.blobs:
                self.serve_blob(repo, blob)
        return index

    def storage_path(self, digest: str) -> str:
        hexpart = digest.split(":", 1)[1]
        return f"/docker/registry/v2/blobs/sha256/{hexpart[:2]}/{hexpart}/data"

    def signed_url(self, digest: str, expires: int | None = None) -> str:
        expires = expires if expires is not None else self.server_now() + self.url_lifetime_s
        query = urlencode(
            {
                "Expires": expires,
                "OSSAccessKeyId": "LTAI5tExampleKeyId",
                "Signature": "c2lnbmF0dXJlLXZhbHVlLXNlY3JldA==",
            }
        )
        return f"https://{STORAGE_HOST}:{self.storage.port}{self.storage_path(digest)}?{query}"

    def serve_blob(self, repo: str, blob: Blob, stored: bytes | None = None) -> None:
        def redirect(request: Request) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            return Response("", status=307, headers={"Location": self.signed_url(blob.digest)})

        self.route("registry", "GET", f"/v2/{repo}/blobs/{blob.digest}", redirect)
        self.route(
            "storage",
            "GET",
            self.storage_path(blob.digest),
            self._object(stored if stored is not None else blob.data),
        )

    def _object(self, data: bytes) -> Handler:
        def handler(request: Request) -> Response:
            if "Authorization" in request.headers:
                return oss_error(
                    400, "InvalidArgument", "Authorization header is invalid.", "0002-00000039"
                )
            return Response(
                data,
                content_type="application/octet-stream",
                headers={"x-oss-request-id": "65A1B2C3D4E5F60718293A4B", "Server": "AliyunOSS"},
            )

        return handler

    # -- token service ----------------------------------------------------------------
    def _default_grant(self, repo: str, user: str | None) -> list[str]:
        if user == USER or repo in self.anonymous_repos:
            return ["pull"]
        return []

    def token_service(self, request: Request) -> Response:
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (name, password) != (USER, PASSWORD):
                return _auth_failed()
            user = name
        return self._issue(request.args.get("scope", ""), request.args.get("service"), user)

    def oauth_token_service(self, request: Request) -> Response:
        """docker's OAuth2 POST: a refresh token (docker login's identity token) for a token."""
        form = request.form
        if form.get("grant_type") != "refresh_token":
            return _auth_failed()
        if form.get("refresh_token") != IDENTITY_TOKEN:
            return _auth_failed()
        return self._issue(form.get("scope", ""), form.get("service"), USER)

    def _issue(self, scope: str, service: str | None, user: str | None) -> Response:
        repo = scope.split(":")[1] if scope.count(":") >= 2 else ""
        actions = self.grant(repo, user)
        now = self.server_now()
        claims = {
            "iss": "dockerauth",
            "sub": user or "",
            "aud": service,
            "iat": now,
            "nbf": now - 300,
            "exp": now + 600,
            "jti": "j1",
            "access": [{"type": "repository", "name": repo, "actions": actions}] if actions else [],
        }
        claims.update(self.token_claims)
        token = make_jwt(claims)
        self.tokens.add(token)
        return Response(
            json.dumps({"token": token, "access_token": token, "expires_in": 600}),
            content_type="application/json",
        )

    # -- running ----------------------------------------------------------------------
    def healthy(self, repo: str = "ns/app", tag: str = "1.0") -> list[Image]:
        images = [Image("amd64"), Image("arm64")]
        self.serve_index(repo, tag, images, variants={"arm64": "v8"})
        return images

    def run(
        self,
        *args: str,
        password: str | None = PASSWORD,
        user: str | None = USER,
        fmt: str = "json",
        ca: bool = True,
        timeout: float = 2.0,
        deadline: float = 20.0,
        etc: Path | None = None,
    ) -> RunResult:
        """acrdiag run ARGS against this world, as a user types it."""
        argv = self.argv(*args, user=user, fmt=fmt, ca=ca, timeout=timeout, deadline=deadline)
        stdin = "" if user is None else (password or "") + "\n"
        return invoke(argv, stdin, etc)

    def argv(
        self,
        *args: str,
        user: str | None = USER,
        fmt: str = "json",
        ca: bool = True,
        timeout: float = 2.0,
        deadline: float = 20.0,
    ) -> list[str]:
        """The command line of run(): ``acrdiag`` ARGV, the password (if any) on stdin."""
        argv = [
            "run",
            *args,
            "--nameserver",
            self.dns.address,
            "--timeout",
            str(timeout),
            "--deadline",
            str(deadline),
            "--format",
            fmt,
        ]
        if ca:
            argv += ["--ca-file", self.ca_file]
        if user is not None:
            argv += ["--username", user, "--password-stdin"]
        return argv

    def run_steps(
        self, reference: str, steps: Sequence[Step], output: Path | None = None
    ) -> RunResult:
        """run() with the engine given ``steps``: how a test swaps a probe for its own."""
        from acrdiag.run_command import RunArgs, execute

        args = RunArgs(
            reference=reference,
            username=USER,
            password_stdin=True,
            platform="linux/amd64",
            output_format="json",
            output=output,
            timeout=2.0,
            deadline=20.0,
            ca_file=Path(self.ca_file),
            insecure=False,
            plain_http=False,
            nameservers=[self.dns.address],
            blob="smallest",
        )
        return _captured(lambda env: execute(args, steps, env), PASSWORD + "\n")


def replace_probe(step_id: StepId, probe: Probe) -> tuple[Step, ...]:
    """The pull's steps with one probe swapped."""
    return tuple(Step(s.id, probe) if s.id is step_id else s for s in PULL_STEPS)


def test_env(stdin: str, out: io.StringIO, err: io.StringIO, etc: Path | None = None) -> Env:
    """What a run reads from its process, for an in-process run: no global is swapped.
    ``etc`` stands for /etc (docker's and containers' certs.d)."""
    env = Env(stdin=io.StringIO(stdin), stdout=out, stderr=err, environ=dict(os.environ))
    if etc is not None:
        env.etc = etc
    # No container runtime, whatever runs on the test machine: --runtime auto finds none.
    env.proc = env.root = NO_MACHINE
    return env


NO_MACHINE = Path("/nonexistent/acrdiag-test-machine")


def _captured(call: Callable[[Env], int], stdin: str) -> RunResult:
    out, err = io.StringIO(), io.StringIO()
    code = call(test_env(stdin, out, err))
    return RunResult(code, out.getvalue(), err.getvalue())


def invoke(argv: list[str], stdin: str = "", etc: Path | None = None) -> RunResult:
    """Run the CLI in-process as a user would, capturing output and the exit code."""
    from acrdiag.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        # Help and usage errors are printed by typer itself, to the process's streams.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv, env=test_env(stdin, out, err, etc))
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return RunResult(code, out.getvalue(), err.getvalue())


def _auth_failed() -> Response:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]}
    return Response(json.dumps(body), status=401, content_type="application/json")


def oss_error(
    status: int, code: str, message: str, ec: str, request_id: str = "5C3D9175B6FC201293AD4F1E"
) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>{request_id}</RequestId>"
        f"<HostId>{STORAGE_HOST}</HostId><EC>{ec}</EC></Error>"
    )
    return Response(
        body,
        status=status,
        content_type="application/xml",
        headers={"x-oss-request-id": request_id, "x-oss-ec": ec, "Server": "AliyunOSS"},
    )
