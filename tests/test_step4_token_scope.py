"""Step 4, token_scope: empty access, audience and the local clock (exit 14)."""

from __future__ import annotations

import json
import re
import time

import pytest
from werkzeug import Response

from tests.support.assertions import assert_failed_at, assert_passed
from tests.support.world import World


def test_claims_are_shown_but_never_the_token(world: World) -> None:
    world.healthy()
    result = world.run(world.ref("ns/app:1.0"))
    assert_passed(result)
    step = result.step("token_scope")
    assert step["evidence"]["granted_actions"] == ["pull"]
    assert step["evidence"]["claims"]["access"][0]["name"] == "ns/app"
    assert abs(step["evidence"]["clock_skew_s"]) < 5
    for token in world.tokens:
        assert token not in result.stdout


def test_logged_in_without_right_is_scope_missing(world: World) -> None:
    world.healthy()
    world.grant = lambda repo, user: []
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "scope_missing")
    assert "empty access list" in failed["summary"]
    assert any("may not pull" in h and "does not exist" in h for h in failed["hints"])


def test_anonymous_without_right_says_pass_credentials(world: World) -> None:
    world.healthy()
    failed = assert_failed_at(
        world.run(world.ref("ns/app:1.0"), user=None), "token_scope", "scope_missing"
    )
    assert any("pass credentials" in h for h in failed["hints"])


def test_push_only_grant_is_scope_missing(world: World) -> None:
    world.healthy()
    world.grant = lambda repo, user: ["push"]
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "scope_missing")
    assert failed["evidence"]["granted_actions"] == ["push"]


def test_token_for_another_service_is_wrong_audience(world: World) -> None:
    world.healthy()
    world.token_claims = {"aud": "registry.aliyuncs.com:cn-beijing:china:cri-other"}
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "wrong_audience")
    assert "cri-other" in failed["summary"]


def test_token_from_the_future_is_not_yet_valid(world: World) -> None:
    world.healthy()
    now = int(time.time())
    world.token_claims = {"iat": now + 3600, "nbf": now + 3600, "exp": now + 4200}
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "not_yet_valid")
    assert any("clock" in h for h in failed["hints"])
    assert failed["evidence"]["clock_skew_s"] > 3500


def test_token_already_expired(world: World) -> None:
    world.healthy()
    now = int(time.time())
    world.token_claims = {"iat": now - 4000, "nbf": now - 4300, "exp": now - 3400}
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "expired")
    assert "ago" in failed["summary"]


def test_token_service_ahead_of_the_registry_is_a_clock_skew_warning(world: World) -> None:
    world.healthy()
    now = int(time.time())
    # ACR-like window (nbf = iat - 300), issued 200 s ahead of the registry's clock.
    world.token_claims = {"iat": now + 200, "nbf": now - 100, "exp": now + 800}
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0
    step = result.step("token_scope")
    assert step["status"] == "warn" and step["cause"] == "clock_skew"
    said = re.search(
        r"the token service's clock is (\d+) s ahead of the registry's", step["summary"]
    )
    assert said is not None and abs(int(said[1]) - 200) <= 2  # Date has 1 s steps
    assert step["evidence"]["judged_by"]["clock"] == "the registry's clock"


@pytest.mark.parametrize("offset", [3 * 3600, -3 * 3600], ids=["local-behind", "local-ahead"])
def test_a_local_clock_hours_off_does_not_fail_a_pull_that_works(world: World, offset: int) -> None:
    world.healthy()
    world.server_clock_offset_s = offset  # registry, token service and storage agree
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0, result.stdout
    reachability = result.step("reachability")
    assert (reachability["status"], reachability["cause"]) == ("warn", "clock_skew")
    pattern = r"the local clock is (\d+) s (behind|ahead of) the registry's"
    said = re.search(pattern, reachability["summary"])
    assert said is not None and abs(int(said[1]) - abs(offset)) <= 2  # Date has 1 s steps
    assert said[2] == ("behind" if offset > 0 else "ahead of")
    assert "TLS certificates are judged by the local clock" in reachability["summary"]
    assert result.step("token_scope")["status"] == "pass"
    # The signed URL is judged by the registry's Date on the redirect, not the local clock.
    assert result.step("oss_resolution")["status"] == "pass"


def test_a_token_service_ahead_of_the_registry_fails_naming_that_clock(world: World) -> None:
    world.healthy()
    world.server_clock_offset_s = -3 * 3600  # the local clock agrees with the token service
    now = int(time.time())
    world.token_claims = {"iat": now, "nbf": now - 300, "exp": now + 600}
    failed = assert_failed_at(world.run(world.ref("ns/app:1.0")), "token_scope", "not_yet_valid")
    assert "by the registry's clock: the token service's clock runs ahead" in failed["summary"]


def test_opaque_token_is_a_warning_and_the_pull_goes_on(world: World) -> None:
    world.healthy()
    opaque = "ya29.c.opaque-gcr-style-token-0123456789"
    world.tokens.add(opaque)
    world.route(
        "realm",
        "GET",
        "/auth",
        lambda r: Response(json.dumps({"access_token": opaque}), content_type="application/json"),
    )
    result = world.run(world.ref("ns/app:1.0"))
    assert result.code == 0
    step = result.step("token_scope")
    assert step["status"] == "warn" and step["cause"] == "opaque_token"
    assert opaque not in result.stdout
