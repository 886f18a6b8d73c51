"""Step 2, challenge: what /v2/ asks for, and the instance ID support needs (exit 12)."""

from __future__ import annotations

from werkzeug import Request, Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.world import INSTANCE, World


def _challenge(world: World, *values: str, status: int = 401) -> None:
    def ping(request: Request) -> Response:
        response = Response(
            "{}",
            status=status,
            content_type="application/json",
            headers={"Docker-Distribution-API-Version": "registry/2.0"},
        )
        for value in values:
            response.headers.add("WWW-Authenticate", value)
        return response

    world.route("registry", "GET", "/v2/", ping)


def test_acr_service_gives_instance_id_region_and_expected_bucket(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"))
    report = assert_passed(result)
    support = report["support"]
    assert support["instance_id"] == INSTANCE
    assert (support["registry_kind"], support["region"], support["instance_name"]) == (
        "acr-ee",
        "cn-hangzhou",
        "shop",
    )
    challenge = result.step("challenge")
    assert challenge["evidence"]["challenges"][0]["service"].endswith(INSTANCE)
    assert challenge["evidence"]["expected_bucket"] == f"{INSTANCE}-registry"


def test_401_without_www_authenticate_is_missing_challenge(world: World) -> None:
    _challenge(world)
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "challenge", "missing_challenge")
    assert "WWW-Authenticate" in failed["summary"]


def test_unterminated_quote_is_malformed(world: World) -> None:
    _challenge(world, 'Bearer realm="https://dockerauth.example.com/auth,service="x')
    result = world.run(world.ref("ns/app:1.0"))
    failed = assert_failed_at(result, "challenge", "malformed_challenge")
    assert failed["evidence"]["www_authenticate"][0].startswith("Bearer realm=")


def test_bearer_without_realm_is_malformed(world: World) -> None:
    _challenge(world, 'Bearer service="registry.docker.io"')
    assert_failed_at(world.run(world.ref("ns/app:1.0")), "challenge", "malformed_challenge")


def test_relative_realm_is_malformed(world: World) -> None:
    _challenge(world, 'Bearer realm="/token",service="harbor-registry"')
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0")), "challenge", "malformed_challenge"
    )
    assert "/token" in failed["summary"]


def test_negotiate_only_is_unsupported(world: World) -> None:
    _challenge(world, "Negotiate", 'NTLM realm="corp"')
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "challenge", "unsupported_scheme")
    assert "negotiate" in failed["summary"]


def test_bearer_is_chosen_among_several_challenges(world: World) -> None:
    world.healthy()
    _challenge(world, "Negotiate abc==", world.challenge)
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    assert result.step("challenge")["summary"].startswith("Bearer token from https://")


def test_http_realm_for_https_registry_warns(world: World) -> None:
    world.healthy()
    realm = f"http://dockerauth.cn-hangzhou.aliyuncs.com:{world.realm.port}/auth"
    _challenge(world, f'Bearer realm="{realm}",service="svc"')
    result = world.run(world.ref("ns/app:1.0"), user=None)
    step = result.step("challenge")
    assert step["status"] == "warn" and step["cause"] == "insecure_realm"


def test_200_on_v2_means_no_auth_and_steps_3_4_pass_as_not_required(world: World) -> None:
    world.healthy()
    world.route(
        "registry",
        "GET",
        "/v2/",
        lambda r: Response(
            "{}",
            content_type="application/json",
            headers={"Docker-Distribution-API-Version": "registry/2.0"},
        ),
    )
    # The manifest still demands a token: the run goes on to step 5 and says so.
    result = world.run(world.ref("ns/app:1.0"), user=None)
    assert result.step("challenge")["summary"].startswith("no authentication required")
    assert result.step("auth_endpoint")["summary"].startswith("not required")
    assert result.step("token_scope")["summary"].startswith("not required")
    failed = assert_failed_at(result, "manifest", "unauthorized")
    assert any("needs credentials" in h for h in failed["hints"])
