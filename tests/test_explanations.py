"""Explanations as users read them, in English and Chinese: an ACR VPC endpoint, a Docker Hub
rate limit, an OSS EC code, and a proxy that storage traffic should not have used."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug import Request, Response

from acrdiag.explain import explain_report
from acrdiag.model import RegistryKind, Report
from acrdiag.render.formats import render
from tests.support.world import REALM_HOST, REGISTRY, World, invoke, oss_error

HAN = re.compile(r"[\u4e00-\u9fff]")
VPC_HOST = "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com"


def _both(world: World, reference: str, *extra: str) -> dict[str, dict[str, str]]:
    """The run's text and Markdown reports in each language."""
    out: dict[str, dict[str, str]] = {}
    for lang in ("en", "zh"):
        report = Report.model_validate(world.run(reference, "--lang", lang, *extra).report)
        assert report.lang == lang
        out[lang] = {fmt: render(report, fmt) for fmt in ("text", "markdown")}
    return out


def test_an_acr_vpc_endpoint_outside_its_vpc_names_privatezone_and_access_control(
    world: World,
) -> None:
    shown = _both(world, f"{VPC_HOST}:{world.registry.port}/ns/app:1.0")
    for fmt in ("text", "markdown"):
        assert "PrivateZone" in shown["en"][fmt]
        assert "Access Control" in shown["en"][fmt] or "access control" in shown["en"][fmt]
        assert "PrivateZone" in shown["zh"][fmt] and "专有网络" in shown["zh"][fmt]
        assert "怎么办" in shown["zh"][fmt] and "含义" in shown["zh"][fmt]
        assert not HAN.search(shown["en"][fmt])


def test_the_json_report_carries_the_explanation_in_the_chosen_language(world: World) -> None:
    result = world.run(f"{VPC_HOST}:{world.registry.port}/ns/app:1.0", "--lang", "zh")
    report = result.report
    step = report["steps"][0]
    assert report["lang"] == "zh"
    assert step["cause"] == "dns_nxdomain"  # codes stay stable in every language
    assert HAN.search(step["explanation"]["meaning"])
    assert report["verdict"]["explanation"]["cause"] == "dns_nxdomain"


def test_a_docker_hub_rate_limit_says_to_log_in_or_use_a_mirror(world: World) -> None:
    world.healthy()

    def limited(request: Request) -> Response:
        body = {
            "errors": [
                {"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}
            ]
        }
        return Response(json.dumps(body), status=429, content_type="application/json")

    world.route("registry", "GET", "/v2/ns/app/manifests/1.0", limited)
    run = Report.model_validate(world.run(world.ref("ns/app:1.0")).report)
    assert run.verdict.cause is not None and run.verdict.cause.value == "rate_limited"
    # As Docker Hub: the registry kind picks the vendor's part of the entry.
    hub = run.model_copy(
        update={"support": run.support.model_copy(update={"registry_kind": RegistryKind.DOCKERHUB})}
    )
    en = render(explain_report(hub, "en"), "text")
    zh = render(explain_report(hub, "zh"), "markdown")
    assert "docker login" in en and "mirror" in en
    assert "docker login" in zh and HAN.search(zh)
    assert "docs.docker.com" in en


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_oss_ec_code_is_shown_with_what_to_do(world: World, lang: str) -> None:
    world.healthy()
    denied = oss_error(
        403, "AccessDenied", "You have no right to access this object.", "0003-00000001"
    )
    for route in list(world.routes["storage"]):
        world.routes["storage"][route] = lambda request, denied=denied: denied
    result = world.run(world.ref("ns/app:1.0"), "--lang", lang, fmt="text")
    assert result.code == 17
    assert "0003-00000001" in result.stdout  # the evidence: the storage's own words
    if lang == "zh":
        assert "怎么办" in result.stdout and "OSS" in result.stdout
    else:
        assert "what to do" in result.stdout and "EC" in result.stdout


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_proxy_split_that_sends_storage_to_a_dead_proxy_says_no_proxy(
    world: World, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY covers the registry and token service but not storage: the split users hit."""
    world.healthy()
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", f"{REGISTRY},{REALM_HOST}")
    result = world.run(world.ref("ns/app:1.0"), "--lang", lang, fmt="markdown")
    assert result.code in (16, 17)
    assert "proxy_unreachable" in result.stdout
    assert "NO_PROXY" in result.stdout
    if lang == "zh":
        assert "代理" in result.stdout and "怎么办" in result.stdout


def test_explain_prints_an_entry_in_either_language() -> None:
    en = invoke(["explain", "url_expired", "--lang", "en"])
    zh = invoke(["explain", "url_expired", "--lang", "zh", "--registry", "acr"])
    assert en.code == 0 and zh.code == 0
    assert en.stdout.startswith("url_expired: ") and "what to do:" in en.stdout
    assert "怎么办" in zh.stdout and HAN.search(zh.stdout)
    listing = invoke(["explain", "--list"])
    assert listing.code == 0 and len(listing.stdout.splitlines()) >= 70
    bad = invoke(["explain", "no_such_cause"])
    assert bad.code == 2 and "explain --list" in bad.stderr
