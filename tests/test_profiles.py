from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.model import RegistryKind
from acrdiag.registry.profiles import (
    RegistryProfile,
    bucket_hint,
    profile_from_host,
    refine_with_service,
)

KINDS = {
    "acr-ee",
    "acr-personal",
    "acr-mirror",
    "dockerhub",
    "ghcr",
    "ecr",
    "gcr",
    "azure",
    "gitlab",
    "harbor",
    "quay",
    "other",
}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            "shop-registry.cn-hangzhou.cr.aliyuncs.com",
            RegistryProfile("acr-ee", "shop", "cn-hangzhou", "public"),
        ),
        (
            "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
            RegistryProfile("acr-ee", "shop", "cn-hangzhou", "vpc"),
        ),
        (
            "shop-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com",
            RegistryProfile("acr-ee", "shop", "cn-hangzhou", "p2p"),
        ),
        (
            "my-shop-prod-registry.ap-southeast-1.cr.aliyuncs.com",
            RegistryProfile("acr-ee", "my-shop-prod", "ap-southeast-1", "public"),
        ),
        (
            "Shop-Registry.CN-Hangzhou.cr.aliyuncs.com:443",
            RegistryProfile("acr-ee", "shop", "cn-hangzhou", "public"),
        ),
        (
            "registry.cn-hangzhou.aliyuncs.com",
            RegistryProfile("acr-personal", None, "cn-hangzhou", "public"),
        ),
        (
            "registry-vpc.cn-shanghai.aliyuncs.com",
            RegistryProfile("acr-personal", None, "cn-shanghai", "vpc"),
        ),
        (
            "registry-internal.cn-beijing.aliyuncs.com",
            RegistryProfile("acr-personal", None, "cn-beijing", "internal"),
        ),
        (
            "registry-intl.ap-southeast-1.aliyuncs.com",
            RegistryProfile("acr-personal", None, "ap-southeast-1", "public"),
        ),
        (
            "registry-intl-vpc.ap-southeast-1.aliyuncs.com",
            RegistryProfile("acr-personal", None, "ap-southeast-1", "vpc"),
        ),
        (
            "crpi-abc123.cn-hangzhou.personal.cr.aliyuncs.com",
            RegistryProfile("acr-personal", "crpi-abc123", "cn-hangzhou", "public"),
        ),
        (
            "crpi-abc123-vpc.cn-hangzhou.personal.cr.aliyuncs.com",
            RegistryProfile("acr-personal", "crpi-abc123", "cn-hangzhou", "vpc"),
        ),
        ("docker.io", RegistryProfile("dockerhub", None, None, "public")),
        ("registry-1.docker.io", RegistryProfile("dockerhub", None, None, "public")),
        ("index.docker.io", RegistryProfile("dockerhub", None, None, "public")),
        ("ghcr.io", RegistryProfile("ghcr", None, None, "public")),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            RegistryProfile("ecr", None, "us-east-1", "public"),
        ),
        ("gcr.io", RegistryProfile("gcr", None, None, "public")),
        ("eu.gcr.io", RegistryProfile("gcr", None, "eu", "public")),
        ("europe-west1-docker.pkg.dev", RegistryProfile("gcr", None, "europe-west1", "public")),
        ("quay.io", RegistryProfile("quay", None, None, "public")),
        ("harbor.corp.example", RegistryProfile("other", None, None, None)),
        ("dockerauth.cn-hangzhou.aliyuncs.com", RegistryProfile("other", None, None, None)),
        ("10.0.3.7", RegistryProfile("other", None, None, None)),
    ],
)
def test_profile_from_host(host: str, expected: RegistryProfile) -> None:
    assert profile_from_host(host) == expected


@pytest.mark.parametrize(
    ("host", "service", "kind", "instance_id", "region"),
    [
        pytest.param(
            "shop-registry.cn-hangzhou.cr.aliyuncs.com",
            "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e",
            "acr-ee",
            "cri-te7dg2c239ujvd3e",
            "cn-hangzhou",
            id="ee",
        ),
        pytest.param(
            "registry.shop.example.com",
            "registry.aliyuncs.com:cn-shanghai:china:cri-te7dg2c239ujvd3e",
            "acr-ee",
            "cri-te7dg2c239ujvd3e",
            "cn-shanghai",
            id="ee-custom-domain",
        ),
        pytest.param(
            "shop-registry.ap-southeast-1.cr.aliyuncs.com",
            "registry.aliyuncs.com:ap-southeast-1:intl:cri-0a1b2c3d4e5f6g7h",
            "acr-ee",
            "cri-0a1b2c3d4e5f6g7h",
            "ap-southeast-1",
            id="ee-non-china-partition",
        ),
        pytest.param(
            "registry.cn-hangzhou.aliyuncs.com",
            "registry.aliyuncs.com:cn-hangzhou:26842",
            "acr-personal",
            None,
            "cn-hangzhou",
            id="personal",
        ),
        pytest.param(
            "harbor.corp.example",
            "harbor-registry",
            "harbor",
            None,
            None,
            id="harbor",
        ),
        pytest.param(
            "registry-1.docker.io",
            "registry.docker.io",
            "dockerhub",
            None,
            None,
            id="docker-hub",
        ),
        pytest.param(
            "ghcr.io",
            "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e",
            "ghcr",
            None,
            None,
            id="saas-host-not-overridden",
        ),
        pytest.param("gcr.io", None, "gcr", None, None, id="no-service"),
        pytest.param(
            "registry.example.com",
            "registry.aliyuncs.com:cn-hangzhou:china:cri-bad id",
            "other",
            None,
            None,
            id="malformed-service",
        ),
    ],
)
def test_refine_with_service(
    host: str, service: str | None, kind: str, instance_id: str | None, region: str | None
) -> None:
    profile, found = refine_with_service(profile_from_host(host), service)
    assert (profile.kind, found, profile.region) == (kind, instance_id, region)


def test_host_region_wins_over_service_region() -> None:
    # The auth realm's region may differ from the registry's; the host names the registry's own.
    profile, _ = refine_with_service(
        profile_from_host("shop-registry.cn-shanghai.cr.aliyuncs.com"),
        "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e",
    )
    assert profile.region == "cn-shanghai"


@pytest.mark.parametrize(
    ("host", "service", "bucket"),
    [
        (
            "shop-registry.cn-hangzhou.cr.aliyuncs.com",
            "registry.aliyuncs.com:cn-hangzhou:china:cri-te7dg2c239ujvd3e",
            "cri-te7dg2c239ujvd3e-registry",
        ),
        ("shop-registry.cn-hangzhou.cr.aliyuncs.com", None, None),
        (
            "registry.cn-hangzhou.aliyuncs.com",
            "registry.aliyuncs.com:cn-hangzhou:26842",
            "aliregistry",
        ),
        ("registry-vpc.cn-shenzhen.aliyuncs.com", None, "aliregistry-cn-shenzhen"),
        ("crpi-abc123.cn-hangzhou.personal.cr.aliyuncs.com", None, None),
        ("registry-1.docker.io", "registry.docker.io", None),
        ("harbor.corp.example", "harbor-registry", None),
    ],
)
def test_bucket_hint(host: str, service: str | None, bucket: str | None) -> None:
    profile, instance_id = refine_with_service(profile_from_host(host), service)
    assert bucket_hint(profile, instance_id) == bucket


@given(host=st.text(), service=st.one_of(st.none(), st.text()))
def test_profiles_total(host: str, service: str | None) -> None:
    profile = profile_from_host(host)
    refined, instance_id = refine_with_service(profile, service)
    assert {profile.kind, refined.kind} <= KINDS
    assert instance_id is None or instance_id.startswith("cri-")
    hint = bucket_hint(refined, instance_id)
    assert hint is None or hint.startswith(("cri-", "aliregistry"))


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("myregistry.azurecr.io", RegistryKind.AZURE),
        ("registry.gitlab.com", RegistryKind.GITLAB),
        ("abcd1234.mirror.aliyuncs.com", RegistryKind.ACR_MIRROR),
    ],
)
def test_more_registries_are_known_by_their_host(host: str, kind: RegistryKind) -> None:
    assert profile_from_host(host).kind is kind
