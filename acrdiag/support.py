"""The report's support block, derived once from what the run learned.

Support asks first for the instance ID and the OSS bucket: the registry's host and
challenge name the one, the blob redirect the other.
"""

from __future__ import annotations

from acrdiag.kinds import StepId
from acrdiag.model import RequestId, Support
from acrdiag.registry.profiles import RegistryProfile
from acrdiag.registry.storage import StorageLocation


def support_block(
    profile: RegistryProfile,
    redirect: StorageLocation | None,
    request_ids: list[tuple[StepId, str, str]],
    image_platform: str | None = None,
) -> Support:
    """``request_ids``: (step, header, value) in the order the run met them."""
    support = Support(
        registry_kind=profile.kind,
        image_platform=image_platform,
        instance_id=profile.instance_id,
        instance_name=profile.instance_name,
        region=profile.region,
        endpoint_type=profile.endpoint_type,
        request_ids=[RequestId(step=s, header=h, value=v) for s, h, v in request_ids],
    )
    if redirect is None:
        return support
    return support.model_copy(
        update={
            "bucket": redirect.bucket,
            "storage_endpoint": _endpoint(redirect),
            "storage_endpoint_type": redirect.endpoint_type,
            "region": support.region or redirect.region,
        }
    )


def _endpoint(location: StorageLocation) -> str:
    """The storage endpoint without the bucket of a virtual-hosted name."""
    host = location.host
    if location.bucket and host.startswith(location.bucket + "."):
        return host[len(location.bucket) + 1 :]
    return host
