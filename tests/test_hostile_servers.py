"""Hostile servers get no credentials, no unbounded time and no unbounded memory.

Each test is a misbehaving registry, token service or storage host seen in the
wild (or built to break acrdiag), and asserts what a user would notice: the
step and cause, the exit code, how long the run took, and what every server
received.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug import Request, Response

from acrdiag.redact import redact_text
from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.pki import Issued
from tests.support.servers import http_server, raw_server, read_request
from tests.support.world import (
    PASSWORD,
    REALM_HOST,
    REGISTRY,
    STORAGE_HOST,
    Blob,
    Image,
    World,
    index_of,
)

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 5.0
# The brief's promise: every run ends within --deadline + 1 s, with its report.
WITHIN = DEADLINE + 1.0


def _timed_run(world: World, *args: str, **kwargs: object) -> tuple[float, object]:
    started = time.monotonic()
    result = world.run(*args, deadline=DEADLINE, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, result


def _authorizations(requests: list[Request]) -> list[str]:
    return [r.headers["Authorization"] for r in requests if "Authorization" in r.headers]


@pytest.fixture
def plain() -> Iterator[object]:
    """A plain-http server: where a downgrading redirect would carry credentials."""
    with http_server() as server:
        yield server


# -- credentials go only where a careful puller sends them -------------------------------


def _realm_redirects_to_plain_http(world: World, plain: object, status: int) -> None:
    """The token service redirects to a plain-http token service on the same host name."""
    port = plain.port  # type: ignore[attr-defined]
    plain.expect_request(re.compile(".*")).respond_with_handler(world.token_service)  # type: ignore[attr-defined]
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(
            "",
            status=status,
            headers={"Location": f"http://{REALM_HOST}:{port}/auth?{r.query_string.decode()}"},
        ),
    )


def test_token_service_redirect_to_plain_http_never_gets_the_password(
    world: World, plain: object
) -> None:
    world.healthy()
    _realm_redirects_to_plain_http(world, plain, 307)
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "auth_endpoint", "insecure_realm")
    assert "redirected there" in failed["summary"]
    assert plain.log == []  # type: ignore[attr-defined]  # nothing was sent in clear at all
    assert PASSWORD not in result.stdout


def test_anonymous_realm_redirect_to_plain_http_is_reported(world: World, plain: object) -> None:
    world.healthy()
    world.anonymous_repos.add("ns/app")
    _realm_redirects_to_plain_http(world, plain, 302)
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert_passed(result)
    step = result.step("auth_endpoint")
    assert (step["status"], step["cause"]) == ("warn", "insecure_realm")
    assert result.report["verdict"]["status"] == "warn"


def test_manifest_redirect_to_plain_http_on_the_same_host_gets_no_token(
    world: World, plain: object
) -> None:
    images = world.healthy()
    index = index_of(images, {"arm64": "v8"})
    port = plain.port  # type: ignore[attr-defined]
    plain.expect_request(re.compile(".*")).respond_with_handler(  # type: ignore[attr-defined]
        lambda r: Response(
            index.data,
            content_type=index.media_type,
            headers={"Docker-Content-Digest": index.digest},
        )
    )
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/manifests/1.0",
        lambda r: Response(
            "",
            status=307,
            headers={"Location": f"http://{REGISTRY}:{port}/v2/ns/app/manifests/1.0"},
        ),
    )
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0
    step = result.step("manifest")
    assert (step["status"], step["cause"]) == ("warn", "insecure_redirect")
    assert "not sent" in step["summary"]
    requests = [request for request, _ in plain.log]  # type: ignore[attr-defined]
    assert requests and _authorizations(requests) == []


def test_no_cookie_reaches_any_request(world: World) -> None:
    world.healthy()
    ping = world.routes["registry"][("GET", "/v2/")]
    token = world.routes["realm"][("GET", "/auth")]

    def with_cookies(handler: object, name: str) -> object:
        def answer(request: Request) -> Response:
            response: Response = handler(request)  # type: ignore[operator]
            # A parent-domain cookie would reach the token service and OSS too.
            response.headers.add("Set-Cookie", f"{name}=c00kie-{name}; Path=/")
            response.headers.add("Set-Cookie", f"{name}-wide=w1de; Domain=.aliyuncs.com; Path=/")
            return response

        return answer

    world.route("registry", "GET", "/v2/", with_cookies(ping, "registry"))  # type: ignore[arg-type]
    world.route("realm", "GET", "/auth", with_cookies(token, "realm"))  # type: ignore[arg-type]
    assert_passed(world.run(world.ref("ns/app:1.0")))
    sent = [r for role in ("registry", "realm", "storage") for r in world.requests[role]]
    assert len(sent) >= 5
    assert [r.headers.get("Cookie") for r in sent if "Cookie" in r.headers] == []


def _redirect_config_blob(world: World, location: str) -> Image:
    image = world.healthy()[0]
    digest = image.config.digest
    world.route(
        "registry",
        "GET",
        f"/v2/ns/app/blobs/{digest}",
        lambda r: Response("", status=307, headers={"Location": location}),
    )
    return image


def test_userinfo_in_a_blob_location_is_never_sent_to_storage(world: World) -> None:
    image = world.healthy()[0]
    signed = world.signed_url(image.config.digest)
    smuggled = signed.replace("https://", "https://smuggler:s3cret-in-url@", 1)
    _redirect_config_blob(world, smuggled)
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0
    step = result.step("blob_fetch")
    assert (step["status"], step["cause"]) == ("warn", "credentials_in_redirect")
    assert _authorizations(world.requests["storage"]) == []
    assert world.requests["storage"]
    assert "s3cret-in-url" not in result.stdout and "smuggler" not in result.stdout


def test_storage_on_the_registry_host_name_with_another_port_gets_no_token(
    world: World,
) -> None:
    image = world.healthy()[0]
    signed = world.signed_url(image.config.digest)
    other_port = signed.replace(STORAGE_HOST, REGISTRY, 1)
    _redirect_config_blob(world, other_port)
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    assert world.requests["storage"]
    assert _authorizations(world.requests["storage"]) == []


def test_location_without_a_host_is_no_location_and_nothing_is_sent(world: World) -> None:
    image = world.healthy()[0]
    _redirect_config_blob(world, "https:///v2/ns/app/blobs/elsewhere")
    result = world.run(world.ref("ns/app:1.0"))
    assert_failed_at(result, "oss_resolution", "no_location")
    assert not [r for r in world.requests["registry"] if r.path.endswith("/elsewhere")]
    assert world.requests["storage"] == []
    assert result.step("manifest")["evidence"]["blobs"][0]["digest"] == image.config.digest


# -- every run ends within --deadline + 1 s, with its report ----------------------------


def test_a_90_kb_challenge_parameter_is_cut_not_slow(world: World) -> None:
    world.healthy()
    huge = "a" * 90_000
    challenge = f'{world.challenge},note="{huge}"'
    world.route(
        "registry",
        "GET",
        "/v2/",
        lambda r: Response(
            "{}",
            status=401,
            headers={"WWW-Authenticate": challenge, "Docker-Distribution-API-Version": "v"},
        ),
    )
    elapsed, result = _timed_run(world, world.ref("ns/app:1.0"))
    assert elapsed < WITHIN
    assert_passed(result)  # type: ignore[arg-type]
    shown = result.step("challenge")["evidence"]["www_authenticate"][0]  # type: ignore[attr-defined]
    assert len(shown) < 3000 and "more characters" in shown


def test_a_200_kb_media_type_is_a_bounded_finding(world: World) -> None:
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/" + "x" * 200_000, "layers": []}
    ).encode()
    blob = Blob("application/json", manifest)
    world.serve_manifest("ns/app", "1.0", blob)
    elapsed, result = _timed_run(world, world.ref("ns/app:1.0"))
    assert elapsed < WITHIN
    failed = assert_failed_at(result, "manifest", "unsupported_media_type")  # type: ignore[arg-type]
    assert len(failed["summary"]) <= 1100


def test_a_jwt_with_a_120_kb_subject_is_bounded(world: World) -> None:
    world.healthy()
    world.token_claims = {"sub": "s" * 120_000}
    elapsed, result = _timed_run(world, world.ref("ns/app:1.0"))
    assert elapsed < WITHIN
    claims = result.step("token_scope")["evidence"]["claims"]  # type: ignore[attr-defined]
    assert len(claims["sub"]) < 3000 and "more characters" in claims["sub"]
    assert len(result.stdout) < 300_000  # type: ignore[attr-defined]


def test_a_one_megabyte_token_ends_in_time_and_never_shows(world: World) -> None:
    world.healthy()
    token = "tk-" + os.urandom(375_000).hex()  # 750 KB, opaque
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(json.dumps({"token": token}), content_type="application/json"),
    )
    elapsed, result = _timed_run(world, world.ref("ns/app:1.0"))
    assert elapsed < WITHIN
    assert result.step("token_scope")["cause"] == "opaque_token"  # type: ignore[attr-defined]
    assert token[:40] not in result.stdout  # type: ignore[attr-defined]


def _gzip_bomb(decoded_mib: int) -> bytes:
    """gzip inside gzip: a few KB on the wire, ``decoded_mib`` MiB once both are undone."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    layer = b"".join(inner.compress(chunk) for _ in range(decoded_mib)) + inner.flush()
    return gzip.compress(layer, 9)


@pytest.mark.parametrize(
    ("encoding", "cause"),
    [
        # Go undoes exactly one "gzip" layer for docker: acrdiag too, within the body limit.
        ("gzip", "response_too_large"),
        # Nothing else is undone, by Go or by acrdiag: the answer is not token JSON.
        ("gzip, gzip", "bad_response"),
    ],
)
def test_a_gzip_bomb_costs_neither_memory_nor_time(
    world: World, tmp_path: Path, encoding: str, cause: str
) -> None:
    world.healthy()
    bomb = _gzip_bomb(1024) if "," in encoding else _gzip_once(1024)
    assert len(bomb) < 1_100_000
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(
            bomb, content_type="application/json", headers={"Content-Encoding": encoding}
        ),
    )
    argv = world.argv(world.ref("ns/app:1.0"), deadline=DEADLINE)
    peak = tmp_path / "peak_kib"
    program = (
        "import re, sys\n"
        "from acrdiag.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "finally:\n"
        # VmHWM: this process's own peak. ru_maxrss would keep the forking pytest's across exec.
        f"    status = open('/proc/self/status').read()\n"
        f"    open({str(peak)!r}, 'w').write(re.search(r'VmHWM:\\s*(\\d+)', status)[1])\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program, *argv],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 13, done.stdout + done.stderr
    report = json.loads(done.stdout)
    step = next(s for s in report["steps"] if s["id"] == "auth_endpoint")
    assert step["cause"] == cause
    if cause == "bad_response":
        assert "Content-Encoding" in step["summary"]
    assert int(peak.read_text()) < 200 * 1024  # KiB: the gigabyte was never decoded
    assert elapsed < WITHIN + 2  # the interpreter's own start-up on top


def _gzip_once(decoded_mib: int) -> bytes:
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    return b"".join(out.compress(chunk) for _ in range(decoded_mib)) + out.flush()


def test_a_gzipped_manifest_is_read_as_docker_reads_it(world: World) -> None:
    images = world.healthy()
    index = index_of(images, {"arm64": "v8"})
    world.route(
        "registry",
        "GET",
        "/v2/ns/app/manifests/1.0",
        lambda r: Response(
            gzip.compress(index.data),
            content_type=index.media_type,
            headers={"Content-Encoding": "gzip", "Docker-Content-Digest": index.digest},
        ),
    )
    assert_passed(world.run(world.ref("ns/app:1.0")))


# -- server data never crashes the run ----------------------------------------------------


def test_claims_nested_600_deep_keep_the_whole_report(world: World) -> None:
    world.healthy()
    deep: object = "bottom"
    for _ in range(600):
        deep = {"d": deep}
    access = [{"type": "repository", "name": "ns/app", "actions": ["pull"], "extra": deep}]
    world.token_claims = {"access": access}
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    assert "connection" in result.step("reachability")["evidence"]
    shown = json.dumps(result.step("token_scope")["evidence"]["claims"])
    assert "nested deeper than" in shown


# -- the right hop is blamed --------------------------------------------------------------


def _overrunning_registry(conn: socket.socket) -> None:
    """A registry whose /v2/ sends bytes past its Content-Length, on a keep-alive connection."""
    while True:
        request = read_request(conn)
        if not request:
            return
        path = request.split(b" ", 2)[1].decode()
        if path == "/v2/":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            head += b"Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n"
            conn.sendall(head + b"{}" + b"garbage that is not a response\r\n\r\n")
            continue
        code = "NAME_UNKNOWN" if "/tags/" in path else "MANIFEST_UNKNOWN"
        body = json.dumps({"errors": [{"code": code, "message": "unknown"}]}).encode()
        head = (
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        conn.sendall(head + body)


def test_a_response_past_its_length_is_blamed_on_its_own_step(
    world: World, server_cert: Issued
) -> None:
    with raw_server(_overrunning_registry, server_cert) as port:
        result = world.run(f"{REGISTRY}:{port}/ns/app:1.0", user=None)
    reachability = result.step("reachability")
    assert (reachability["status"], reachability["cause"]) == ("warn", "protocol_error")
    assert "Content-Length" in reachability["summary"]
    # The manifest step gets a fresh connection and the registry's real answer.
    assert_failed_at(result, "manifest", "name_unknown")


def test_a_token_issued_at_the_calendars_edge_is_a_warning(world: World) -> None:
    world.healthy()

    def token(request: Request) -> Response:
        answer = json.loads(world.token_service(request).get_data())
        answer["issued_at"] = "0001-01-01T00:00:00+01:00"  # Go reads it; Python cannot hold it
        return Response(json.dumps(answer), content_type="application/json")

    world.route("realm", "GET", "/auth", token)
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0
    step = result.step("auth_endpoint")
    assert (step["status"], step["cause"]) == ("warn", "bad_response")
    assert "outside the range" in step["summary"]


def test_a_signed_url_expiring_past_the_calendar_is_expiry_unknown(world: World) -> None:
    image = world.healthy()[0]
    signed = world.signed_url(image.config.digest).split("?", 1)[0]
    sas = "?sv=2021-08-06&sr=b&sp=r&se=9999-12-31T23:59:59-01:00&sig=c2lnbmF0dXJlLXNhcw%3D%3D"
    _redirect_config_blob(world, signed + sas)
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    redirect = result.step("oss_resolution")["evidence"]["redirect"]
    assert "expires_at" not in redirect and "se=9999-12-31" in redirect["expiry_problem"]


def test_a_layer_size_of_ten_to_the_400_is_a_bad_manifest(world: World) -> None:
    image = Image("amd64")
    manifest = json.loads(image.manifest.data)
    manifest["layers"][0]["size"] = 10**400
    world.serve_manifest(
        "ns/app", "1.0", Blob(image.manifest.media_type, json.dumps(manifest).encode())
    )
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "manifest", "bad_response")
    assert "out of range" in failed["summary"] and len(failed["summary"]) < 400


# -- found by review: each once crashed, overran or leaked -------------------------------------


@pytest.mark.parametrize("where", ["realm", "manifest", "blob"])
def test_a_host_name_idna_refuses_is_a_finding_not_a_crash(world: World, where: str) -> None:
    image = world.healthy()[0]
    bad = "https://xn--reg-.example.com/x"  # an A-label must not end with a hyphen
    if where == "realm":
        challenge = f'Bearer realm="{bad}",service="s"'
        world.route(
            "registry",
            "GET",
            "/v2/",
            lambda r: Response("{}", status=401, headers={"WWW-Authenticate": challenge}),
        )
    else:
        path = (
            "/v2/ns/app/manifests/1.0"
            if where == "manifest"
            else f"/v2/ns/app/blobs/{image.config.digest}"
        )
        world.route(
            "registry", "GET", path, lambda r: Response("", status=307, headers={"Location": bad})
        )
    result = world.run(world.ref("ns/app:1.0"))
    # Go cannot look such a name up either: the step that meets it fails, with a reason.
    step = {"realm": "auth_endpoint", "manifest": "manifest", "blob": "oss_resolution"}[where]
    failed = result.failed
    assert failed is not None and failed["id"] == step, result.stdout
    assert failed["cause"] != "internal_error" and "xn--reg-" in failed["summary"]


def test_thousands_of_query_values_cost_no_time_and_blank_no_support_field(
    world: World,
) -> None:
    image = world.healthy()[0]
    signed = world.signed_url(image.config.digest)
    noise = "".join(f"&p{i}=%21{i:07d}" for i in range(3500))  # 55 KB: httpx's limit is 64
    _redirect_config_blob(world, f"{signed}{noise}&x=cri-te7dg2c239ujvd3e&bucket=oss-cn-hangzhou")
    # Storage stalls past the deadline: all that redaction happens after it ran out.
    world.route(
        "storage",
        "GET",
        world.storage_path(image.config.digest),
        lambda r: time.sleep(DEADLINE + 1) or Response("late"),
    )
    elapsed, result = _timed_run(world, world.ref("ns/app:1.0"), timeout=DEADLINE * 2)
    assert elapsed < WITHIN
    assert result.report["verdict"]["cause"] == "deadline_exceeded"  # type: ignore[attr-defined]
    support = result.report["support"]  # type: ignore[attr-defined]
    assert support["instance_id"] == "cri-te7dg2c239ujvd3e"
    assert support["storage_endpoint"] == "oss-cn-hangzhou.aliyuncs.com"


def _overrunning_storage(data: bytes) -> object:
    def serve(conn: socket.socket) -> None:
        while read_request(conn):
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            conn.sendall(head + data + b"GARBAGE-PAST-THE-END\r\n\r\n")

    return serve


def test_a_storage_answer_past_its_length_is_named_at_step_7(
    world: World, server_cert: Issued
) -> None:
    image = world.healthy()[0]
    with raw_server(_overrunning_storage(image.config.data), server_cert) as port:  # type: ignore[arg-type]
        signed = world.signed_url(image.config.digest).replace(
            f":{world.storage.port}/", f":{port}/", 1
        )
        _redirect_config_blob(world, signed)
        result = world.run(world.ref("ns/app:1.0"))
    step = result.step("blob_fetch")
    assert (step["status"], step["cause"]) == ("warn", "protocol_error")
    assert "sha256 verified" in step["summary"]


@pytest.mark.parametrize("userinfo", ["ruser:pass realm-secret", 'ruser:pa\\"ss-realm-secret'])
def test_userinfo_in_a_realm_never_shows(world: World, userinfo: str) -> None:
    world.healthy()
    challenge = (
        f'Bearer realm="https://{userinfo}@{REALM_HOST}:{world.realm.port}/auth",service="s"'
    )
    world.route(
        "registry",
        "GET",
        "/v2/",
        lambda r: Response("{}", status=401, headers={"WWW-Authenticate": challenge}),
    )
    for fmt in ("json", "text", "markdown"):
        result = world.run(world.ref("ns/app:1.0"), fmt=fmt)
        assert "realm-secret" not in result.stdout and "ruser" not in result.stdout


@pytest.mark.parametrize("password", ["ab9", "p@ss!"])
def test_short_passwords_echoed_by_a_server_never_show(world: World, password: str) -> None:
    world.healthy()

    def echo(request: Request) -> Response:
        body = {"details": f"bad password ab9 / p%40ss%21 / {password} for puller"}
        return Response(json.dumps(body), status=401, content_type="application/json")

    world.route("realm", "GET", "/auth", echo)
    result = world.run(world.ref("ns/app:1.0"), password=password)
    assert_failed_at(result, "auth_endpoint", "bad_credentials")
    quoted = {"ab9": "ab9", "p@ss!": "p%40ss%21"}[password]
    assert password not in result.stdout and quoted not in result.stdout


def test_basic_registries_read_as_prose(world: World) -> None:
    world.healthy()
    assert "Basic credentials of" in redact_text("Basic credentials of 'puller' accepted", [])
    assert "Basic [REDACTED]" in redact_text("Basic cHVsbGVyOnB3MTIz", [])
