"""Which registry this is, read from its host name and its challenge's ``service``.

Support's first questions are the instance ID and the OSS bucket. The host names
the ACR edition, instance, region and endpoint; the challenge's ``service``
carries the instance ID (and reveals ACR behind a custom domain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RegistryProfile:
    kind: str
    instance_name: str | None = None
    region: str | None = None
    endpoint_type: str | None = None


_ACR_EE = re.compile(
    r"(?P<name>[a-z0-9][a-z0-9-]*?)-registry(?P<vpc>-vpc)?(?P<p2p>\.distributed)?"
    r"\.(?P<region>[a-z0-9-]+)\.cr\.aliyuncs\.com"
)
_ACR_PERSONAL = re.compile(
    r"(?P<name>crpi-[a-z0-9]+)(?P<vpc>-vpc)?\.(?P<region>[a-z0-9-]+)\.personal\.cr\.aliyuncs\.com"
)
_ACR_PERSONAL_LEGACY = re.compile(
    r"registry(?:-intl)?(?P<endpoint>-vpc|-internal)?\.(?P<region>[a-z0-9-]+)\.aliyuncs\.com"
)
_ECR = re.compile(r"[0-9]{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
_GCR = re.compile(r"(?:(?P<multi>[a-z]+)\.)?gcr\.io")
_ARTIFACT_REGISTRY = re.compile(r"(?P<region>[a-z0-9-]+)-docker\.pkg\.dev")
_SAAS = {
    "docker.io": "dockerhub",
    "registry-1.docker.io": "dockerhub",
    "index.docker.io": "dockerhub",
    "registry.hub.docker.com": "dockerhub",
    "ghcr.io": "ghcr",
    "quay.io": "quay",
    "public.ecr.aws": "ecr",
}
_EE_SERVICE = re.compile(
    r"registry\.aliyuncs\.com:(?P<region>[a-z0-9-]+):[a-z0-9_-]+:(?P<id>cri-[a-z0-9]+)"
)
_PERSONAL_SERVICE = re.compile(r"registry\.aliyuncs\.com:(?P<region>[a-z0-9-]+):[0-9]+")
_ACR_KINDS = frozenset({"acr-ee", "acr-personal"})
_PERSONAL_HOME_REGION = "cn-hangzhou"  # its bucket is plain "aliregistry"

OTHER = RegistryProfile("other")


def profile_from_host(host: str) -> RegistryProfile:
    """Classify a registry host (port and case are ignored)."""
    host = _normalize(host)
    for classify in (_acr, _saas):
        profile = classify(host)
        if profile is not None:
            return profile
    return OTHER


def _normalize(host: str) -> str:
    host = host.strip().lower()
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _acr(host: str) -> RegistryProfile | None:
    if match := _ACR_EE.fullmatch(host):
        endpoint = "p2p" if match["p2p"] else "vpc" if match["vpc"] else "public"
        return RegistryProfile("acr-ee", match["name"], match["region"], endpoint)
    if match := _ACR_PERSONAL.fullmatch(host):
        endpoint = "vpc" if match["vpc"] else "public"
        return RegistryProfile("acr-personal", match["name"], match["region"], endpoint)
    if match := _ACR_PERSONAL_LEGACY.fullmatch(host):
        endpoint = (match["endpoint"] or "-public").removeprefix("-")
        return RegistryProfile("acr-personal", None, match["region"], endpoint)
    return None


def _saas(host: str) -> RegistryProfile | None:
    if host in _SAAS:
        return RegistryProfile(_SAAS[host], None, None, "public")
    if match := _ECR.fullmatch(host):
        return RegistryProfile("ecr", None, match["region"], "public")
    if match := _GCR.fullmatch(host):
        return RegistryProfile("gcr", None, match["multi"], "public")
    if match := _ARTIFACT_REGISTRY.fullmatch(host):
        return RegistryProfile("gcr", None, match["region"], "public")
    return None


def refine_with_service(
    profile: RegistryProfile, service: str | None
) -> tuple[RegistryProfile, str | None]:
    """Return (profile, instance_id) after reading the challenge's ``service``.

    The service wins over the host for ACR because EE instances can sit behind
    custom domains; a SaaS registry's profile is never overridden.
    """
    service = (service or "").strip().lower()
    can_be_acr = profile.kind in _ACR_KINDS or profile.kind == "other"
    if can_be_acr and (match := _EE_SERVICE.fullmatch(service)):
        return _with_region(replace(profile, kind="acr-ee"), match["region"]), match["id"]
    if can_be_acr and (match := _PERSONAL_SERVICE.fullmatch(service)):
        return _with_region(replace(profile, kind="acr-personal"), match["region"]), None
    if profile.kind == "other" and service == "harbor-registry":
        return replace(profile, kind="harbor"), None
    return profile, None


def _with_region(profile: RegistryProfile, region: str) -> RegistryProfile:
    return profile if profile.region else replace(profile, region=region)


def bucket_hint(profile: RegistryProfile, instance_id: str | None) -> str | None:
    """The default OSS bucket support will ask about; the redirect host is the authority."""
    if profile.kind == "acr-ee" and instance_id:
        return f"{instance_id}-registry"
    legacy_personal = profile.kind == "acr-personal" and profile.instance_name is None
    if legacy_personal and profile.region:
        if profile.region == _PERSONAL_HOME_REGION:
            return "aliregistry"
        return f"aliregistry-{profile.region}"
    return None
