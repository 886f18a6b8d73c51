"""Which registry this is, read from its host name and its challenge's ``service``.

Support's first questions are the instance ID and the OSS bucket. The host names
the ACR edition, instance, region and endpoint; the challenge's ``service``
carries the instance ID (and reveals ACR behind a custom domain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from acrdiag.kinds import RegistryKind


@dataclass(frozen=True)
class RegistryProfile:
    kind: RegistryKind
    instance_name: str | None = None
    region: str | None = None
    endpoint_type: str | None = None
    instance_id: str | None = None

    @property
    def is_acr(self) -> bool:
        return self.kind in _ACR_KINDS


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
    "docker.io": RegistryKind.DOCKERHUB,
    "registry-1.docker.io": RegistryKind.DOCKERHUB,
    "index.docker.io": RegistryKind.DOCKERHUB,
    "registry.hub.docker.com": RegistryKind.DOCKERHUB,
    "ghcr.io": RegistryKind.GHCR,
    "quay.io": RegistryKind.QUAY,
    "public.ecr.aws": RegistryKind.ECR,
    "registry.gitlab.com": RegistryKind.GITLAB,
}
_AZURE = re.compile(r"[a-z0-9]{5,50}\.azurecr\.(?:io|cn|us)")
_ACR_MIRROR = re.compile(r"(?P<name>[a-z0-9]+)\.mirror\.aliyuncs\.com")
_EE_SERVICE = re.compile(
    r"registry\.aliyuncs\.com:(?P<region>[a-z0-9-]+):[a-z0-9_-]+:(?P<id>cri-[a-z0-9]+)"
)
_PERSONAL_SERVICE = re.compile(r"registry\.aliyuncs\.com:(?P<region>[a-z0-9-]+):[0-9]+")
_ACR_KINDS = frozenset({RegistryKind.ACR_EE, RegistryKind.ACR_PERSONAL})
_PERSONAL_HOME_REGION = "cn-hangzhou"
_WELL_KNOWN = re.compile(
    r"registry(-intl)?\.[a-z0-9-]+\.aliyuncs\.com|(registry-1|index|auth)\.docker\.io|docker\.io"
    r"|ghcr\.io|quay\.io|gcr\.io|[a-z]+\.gcr\.io|public\.ecr\.aws"
)  # its bucket is plain "aliregistry"

OTHER = RegistryProfile(RegistryKind.OTHER)


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
        return RegistryProfile(RegistryKind.ACR_EE, match["name"], match["region"], endpoint)
    if match := _ACR_PERSONAL.fullmatch(host):
        endpoint = "vpc" if match["vpc"] else "public"
        return RegistryProfile(RegistryKind.ACR_PERSONAL, match["name"], match["region"], endpoint)
    if match := _ACR_PERSONAL_LEGACY.fullmatch(host):
        endpoint = (match["endpoint"] or "-public").removeprefix("-")
        return RegistryProfile(RegistryKind.ACR_PERSONAL, None, match["region"], endpoint)
    return None


def _saas(host: str) -> RegistryProfile | None:
    if host in _SAAS:
        return RegistryProfile(_SAAS[host], None, None, "public")
    if match := _ECR.fullmatch(host):
        return RegistryProfile(RegistryKind.ECR, None, match["region"], "public")
    if match := _GCR.fullmatch(host):
        return RegistryProfile(RegistryKind.GCR, None, match["multi"], "public")
    if match := _ARTIFACT_REGISTRY.fullmatch(host):
        return RegistryProfile(RegistryKind.GCR, None, match["region"], "public")
    if _AZURE.fullmatch(host):
        return RegistryProfile(RegistryKind.AZURE, None, None, "public")
    if match := _ACR_MIRROR.fullmatch(host):
        return RegistryProfile(RegistryKind.ACR_MIRROR, match["name"], None, "public")
    return None


def refine_with_service(
    profile: RegistryProfile, service: str | None
) -> tuple[RegistryProfile, str | None]:
    """Return (profile, instance_id) after reading the challenge's ``service``.

    The service wins over the host for ACR because EE instances can sit behind
    custom domains; a SaaS registry's profile is never overridden.
    """
    service = (service or "").strip().lower()
    can_be_acr = profile.kind in _ACR_KINDS or profile.kind is RegistryKind.OTHER
    if can_be_acr and (match := _EE_SERVICE.fullmatch(service)):
        return _with_region(replace(profile, kind=RegistryKind.ACR_EE), match["region"]), match[
            "id"
        ]
    if can_be_acr and (match := _PERSONAL_SERVICE.fullmatch(service)):
        return _with_region(replace(profile, kind=RegistryKind.ACR_PERSONAL), match["region"]), None
    if profile.kind is RegistryKind.OTHER and service == "harbor-registry":
        return replace(profile, kind=RegistryKind.HARBOR), None
    return profile, None


def _with_region(profile: RegistryProfile, region: str) -> RegistryProfile:
    return profile if profile.region else replace(profile, region=region)


def profile_of(host: str, service: str | None) -> RegistryProfile:
    """What the registry is, from its host and (once step 2 read it) the challenge's service."""
    profile, instance_id = refine_with_service(profile_from_host(host), service)
    return replace(profile, instance_id=instance_id) if instance_id else profile


def vpc_only_endpoint(host: str) -> bool:
    """An ACR endpoint that resolves only inside a linked VPC (VPC and P2P endpoints)."""
    return profile_from_host(host).endpoint_type in ("vpc", "p2p")


def well_known_endpoint(host: str) -> bool:
    """A fixed public registry endpoint (not a customer's name): it exists on the internet."""
    return _WELL_KNOWN.fullmatch(_normalize(host)) is not None


def bucket_hint(profile: RegistryProfile, instance_id: str | None) -> str | None:
    """The default OSS bucket support will ask about; the redirect host is the authority."""
    if profile.kind is RegistryKind.ACR_EE and instance_id:
        return f"{instance_id}-registry"
    legacy_personal = profile.kind is RegistryKind.ACR_PERSONAL and profile.instance_name is None
    if legacy_personal and profile.region:
        if profile.region == _PERSONAL_HOME_REGION:
            return "aliregistry"
        return f"aliregistry-{profile.region}"
    return None
