"""Step 3, auth_endpoint: the realm is a separate host with its own failures (exit 13)."""

from __future__ import annotations

import base64
import json

from werkzeug import Request, Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.servers import blackhole_port, closed_port
from tests.support.world import PASSWORD, REALM_HOST, SERVICE, STORAGE_HOST, USER, World


def _realm(world: World, realm: str) -> None:
    def ping(request: Request) -> Response:
        return Response(
            "{}",
            status=401,
            headers={
                "WWW-Authenticate": f'Bearer realm="{realm}",service="{SERVICE}"',
                "Docker-Distribution-API-Version": "registry/2.0",
            },
        )

    world.route("registry", "GET", "/v2/", ping)


def _token_answer(world: World, response: Response) -> None:
    world.route("realm", "GET", "/auth", lambda request: response)


def test_token_request_carries_service_scope_account_and_basic_auth(world: World) -> None:
    world.healthy()
    assert_passed(world.run(world.ref("ns/app:1.0")))
    request = world.requests["realm"][0]
    assert request.args["service"] == SERVICE
    assert request.args["scope"] == "repository:ns/app:pull"
    assert request.args["account"] == USER
    sent = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
    assert sent == f"{USER}:{PASSWORD}"


def test_anonymous_token_request_sends_no_credentials(world: World) -> None:
    world.healthy()
    world.anonymous_repos.add("ns/app")
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert_passed(result)
    request = world.requests["realm"][0]
    assert "Authorization" not in request.headers and "account" not in request.args
    assert result.report["environment"]["credentials"].startswith("anonymous")


def test_realm_host_not_in_dns_is_dns_nxdomain_at_step_3(world: World) -> None:
    _realm(world, f"https://dockerauth-gone.cn-hangzhou.aliyuncs.com:{world.realm.port}/auth")
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "dns_nxdomain")
    assert failed["evidence"]["failure"]["hop"] == "token service"


def test_realm_dropping_packets_is_tcp_timeout_with_separate_host_hint(world: World) -> None:
    with blackhole_port() as port:
        _realm(world, f"https://{REALM_HOST}:{port}/auth")
        result = world.run(world.ref("ns/app:1.0"), timeout=1)
    failed = assert_failed_at(result, "auth_endpoint", "tcp_timeout")
    assert failed["evidence"]["failure"]["hop"] == "token service"
    assert any("separate host" in h for h in failed["hints"])


def test_realm_refusing_connections_is_tcp_refused_not_hidden(world: World) -> None:
    _realm(world, f"https://{REALM_HOST}:{closed_port()}/auth")
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "tcp_refused")
    assert failed["evidence"]["failure"]["hop"] == "token service"


def test_wrong_password_is_bad_credentials_and_quotes_the_server(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"), password="wrong-password")
    failed = assert_failed_at(result, "auth_endpoint", "bad_credentials")
    assert "authentication failed" in failed["summary"]
    assert any("access credential" in h for h in failed["hints"])
    assert "wrong-password" not in result.stdout


def test_401_without_credentials_is_auth_required(world: World) -> None:
    _token_answer(world, Response('{"details":"authentication required"}', status=401))
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "auth_endpoint", "auth_required"
    )
    assert any("--password-stdin" in h for h in failed["hints"])


def test_403_is_forbidden(world: World) -> None:
    _token_answer(world, Response('{"details":"account disabled"}', status=403))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "forbidden")
    assert "account disabled" in failed["summary"]


def test_500_is_server_error(world: World) -> None:
    _token_answer(world, Response("oops", status=500))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "server_error")


def test_html_200_is_bad_response(world: World) -> None:
    _token_answer(world, Response("<html>proxy login</html>", content_type="text/html"))
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "bad_response")
    assert "text/html" in failed["summary"]


def test_json_without_token_is_no_token(world: World) -> None:
    _token_answer(world, Response(json.dumps({"expires_in": 300}), content_type="application/json"))
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "auth_endpoint", "no_token")


def test_credentials_are_not_sent_to_a_plain_http_realm(world: World) -> None:
    _realm(world, f"http://{REALM_HOST}:{world.realm.port}/auth")
    result = world.run(world.ref("ns/app:1.0"))
    assert_failed_at(result, "auth_endpoint", "insecure_realm")
    assert world.requests["realm"] == []


def test_basic_registry_with_good_credentials_passes(world: World) -> None:
    good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def ping(request: Request) -> Response:
        if request.headers.get("Authorization") == good:
            return Response("{}", headers={"Docker-Distribution-API-Version": "registry/2.0"})
        return Response("{}", status=401, headers={"WWW-Authenticate": 'Basic realm="ecr"'})

    world.route("registry", "GET", "/v2/", ping)
    result = world.run(world.ref("ns/app:1.0"))
    assert result.step("auth_endpoint")["status"] == "pass"
    assert result.step("token_scope")["summary"].startswith("not applicable")
    bad = world.run(world.ref("ns/app:1.0"), password="nope")
    assert_failed_at(bad, "auth_endpoint", "bad_credentials")
    anonymous = world.run(world.ref("ns/app:1.0"), user=None)
    assert_failed_at(anonymous, "auth_endpoint", "auth_required")


def test_realm_redirect_is_followed_and_credentials_stay_on_the_realm_host(
    world: World,
) -> None:
    world.healthy()
    token_handler = world.routes["realm"][("GET", "/auth")]
    world.route("realm", "GET", "/v1/auth", token_handler)
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(
            "", status=307, headers={"Location": "/v1/auth?" + r.query_string.decode()}
        ),
    )
    assert_passed(world.run(world.ref("ns/app:1.0")))
    first, second = world.requests["realm"][:2]
    assert (first.path, second.path) == ("/auth", "/v1/auth")
    assert second.headers["Authorization"] == first.headers["Authorization"]


def test_realm_redirect_to_another_host_drops_the_password(world: World) -> None:
    world.healthy()
    moved = f"https://{STORAGE_HOST}:{world.storage.port}/token"
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(
            "", status=302, headers={"Location": moved + "?" + r.query_string.decode()}
        ),
    )
    world.route("storage", "GET", "/token", world.token_service)
    result = world.run(world.ref("ns/app:1.0"))
    moved_request = next(r for r in world.requests["storage"] if r.path == "/token")
    assert "Authorization" not in moved_request.headers
    # Without the password the token service grants nothing: step 4 shows it.
    assert_failed_at(result, "token_scope", "scope_missing")


def test_a_plain_text_refusal_is_quoted(world: World) -> None:
    world.healthy()
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response("temporary token expired at 2026-12-03 09:00\n", status=401),
    )
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0")), "auth_endpoint", "bad_credentials"
    )
    assert "temporary token expired at 2026-12-03 09:00" in failed["summary"]
