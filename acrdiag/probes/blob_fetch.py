"""Step 7: fetch what the puller downloads, and verify it.

Every blob step 5 selected (by default the config and all layers) is fetched
from where step 6 found it, three at a time as docker does by default. Blobs
are downloaded in full, streamed and hashed, within --max-download and while
the deadline allows; beyond that a ranged GET of the first bytes proves the
object exists and is readable. The first blob, in manifest order, that fails
decides the cause.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from acrdiag.causes import Cause
from acrdiag.context import BlobRoute, RunContext, StepRecord
from acrdiag.probes.base import StepFailed, human_size, short_digest
from acrdiag.probes.blob_download import PROBE_BYTES, Fetched, fetch
from acrdiag.registry.manifests import Descriptor, config_platform, platform_label

# docker's max-concurrent-downloads default.
PARALLEL_DOWNLOADS = 3
# A full download expected to take more than this share of the time left is only reached.
_DEADLINE_SHARE = 0.5


def run(ctx: RunContext) -> str:
    routes = ctx.facts.routes
    planner = _Planner(ctx)
    records = [StepRecord(ctx.step.id, ctx.step.number) for _ in routes]
    try:
        if len(routes) == 1:
            outcomes: list[Fetched | StepFailed] = [_attempt(ctx, planner, routes[0], records[0])]
        else:
            outcomes = _in_parallel(ctx, routes, records, planner)
    finally:
        for record in records:  # in blob order, whatever order the downloads ran in
            _merge(ctx.step, record)
    pairs = zip(routes, outcomes, strict=True)
    ctx.step.evidence["blobs"] = [_shown(route, outcome) for route, outcome in pairs]
    _raise_first_failure(ctx, routes, outcomes)
    fetched = [o for o in outcomes if isinstance(o, Fetched)]
    ctx.step.evidence["download"] = fetched[0].evidence if len(fetched) == 1 else _totals(fetched)
    _check_platform(ctx, fetched)
    return _summary(ctx, fetched)


def _check_platform(ctx: RunContext, fetched: list[Fetched]) -> None:
    """A single-platform image names its platform only in its config: docker pulls it
    whatever --platform says, and warns when they differ. So does acrdiag."""
    config = next((f.content for f in fetched if f.content is not None), None)
    if config is None or ctx.facts.image_platform is not None:
        return  # not read, or chosen from an index by its platform already
    platform = config_platform(config)
    if platform is None:
        return
    ctx.facts.image_platform = platform_label(Descriptor("", "", 0, platform))
    wanted = ctx.options.platform
    if not wanted.matches(platform):
        ctx.step.warn(
            Cause.PLATFORM_MISMATCH,
            f"the image is {ctx.facts.image_platform}, not the requested {wanted}: docker pulls "
            "it with a warning, and containers fail with 'exec format error' unless emulated",
            f"push a {wanted} variant (docker buildx --platform) in an index, or pull with "
            f"--platform {ctx.facts.image_platform}",
        )


class _Planner:
    """Decides, blob by blob, a full download or a ranged read: by byte budget and time."""

    def __init__(self, ctx: RunContext) -> None:
        self._deadline = ctx.session.deadline
        self._left = ctx.options.max_download  # None: no budget
        self._bytes = 0
        self._seconds = 0.0

    def why_not_full(self, size: int) -> str | None:
        """None for a full download, else why only the first bytes are read."""
        if size <= PROBE_BYTES:
            return None  # a ranged read would fetch all of it anyway: verify it
        if self._left is not None:
            if size > self._left:
                return "past --max-download"
            self._left -= size
        rate = self._bytes / self._seconds if self._seconds > 0 else None
        if rate and size / rate > self._deadline.remaining() * _DEADLINE_SHARE:
            return "no time left before --deadline"
        return None

    def measured(self, fetched: Fetched) -> None:
        if fetched.outcome == "verified":
            self._bytes += fetched.received
            self._seconds += fetched.seconds


def _attempt(
    ctx: RunContext, planner: _Planner, route: BlobRoute, record: StepRecord
) -> Fetched | StepFailed:
    why_not = planner.why_not_full(route.blob.size)
    try:
        with ctx.session.recording_into(record):
            fetched = fetch(ctx, route, full=why_not is None)
    except StepFailed as failed:
        return failed
    if why_not is not None:
        fetched.evidence["why_not_in_full"] = why_not
    planner.measured(fetched)
    return fetched


def _in_parallel(
    ctx: RunContext, routes: list[BlobRoute], records: list[StepRecord], planner: _Planner
) -> list[Fetched | StepFailed]:
    attempt = partial(_attempt, ctx, planner)
    with ThreadPoolExecutor(PARALLEL_DOWNLOADS, thread_name_prefix="blob") as pool:
        futures: list[Future[Fetched | StepFailed]] = [
            pool.submit(attempt, route, record)
            for route, record in zip(routes, records, strict=True)
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # Ctrl-C, or a crash: every wait of the workers ends now, so the pool can close.
            ctx.session.deadline.cancel()
            raise


def _merge(step: StepRecord, record: StepRecord) -> None:
    for entry in record.requests:
        step.add_request(entry)
    for header, value in record.request_ids:
        step.add_request_id(header, value)
    for name, seconds in record.phases.items():
        step.add_phase(name, seconds)
    for cause, message in record.warnings:
        step.warn(cause, message)
    for hint in record.hints:
        step.hint(hint)


def _raise_first_failure(
    ctx: RunContext, routes: list[BlobRoute], outcomes: list[Fetched | StepFailed]
) -> None:
    for index, (route, outcome) in enumerate(zip(routes, outcomes, strict=True)):
        if not isinstance(outcome, StepFailed):
            continue
        if len(routes) > 1:
            which = _which(route, index, len(routes))
            outcome.summary = f"{which}: {outcome.summary}"
        raise outcome


def _which(route: BlobRoute, index: int, count: int) -> str:
    kind = "config" if index == 0 else f"layer {index} of {count - 1}"
    return f"blob {short_digest(route.blob.digest)} ({kind})"


def _shown(route: BlobRoute, outcome: Fetched | StepFailed) -> dict[str, object]:
    out: dict[str, object] = {"digest": route.blob.digest, "size": route.blob.size}
    if isinstance(outcome, StepFailed):
        out.update(outcome="failed", cause=outcome.cause.value)
    else:
        out.update(outcome=outcome.outcome, host=outcome.host, bytes=outcome.received)
    return out


def _totals(fetched: list[Fetched]) -> dict[str, object]:
    verified = [f for f in fetched if f.outcome == "verified"]
    size = sum(f.received for f in verified)
    seconds = max(sum(f.seconds for f in verified), 1e-6)
    return {
        "verified": len(verified),
        "reached": len(fetched) - len(verified),
        "bytes_verified": size,
        "seconds": round(seconds, 4),
        "mb_per_s": round(size / seconds / 1e6, 2),
    }


def _summary(ctx: RunContext, fetched: list[Fetched]) -> str:
    verified = [f for f in fetched if f.outcome == "verified"]
    reached = [f for f in fetched if f.outcome == "reached"]
    hosts = ", ".join(dict.fromkeys(f.host for f in fetched))
    size = sum(f.received for f in verified)
    seconds = max(sum(f.seconds for f in verified), 1e-6)
    rate = size / seconds / 1e6
    if len(fetched) == 1 and verified:
        return (
            f"downloaded {human_size(size)} from {hosts} in {seconds:.2f} s "
            f"({rate:.1f} MB/s); sha256 verified"
        )
    text = f"downloaded {_count(verified)} ({human_size(size)}) from {hosts}"
    if verified:
        text += f" in {seconds:.2f} s ({rate:.1f} MB/s); sha256 verified"
    if reached:
        why = ", ".join(dict.fromkeys(str(f.evidence.get("why_not_in_full")) for f in reached))
        text += f"; {_count(reached)} only reached, its first bytes read ({why})"
    return text


def _count(items: list[Fetched]) -> str:
    return f"{len(items)} blob" if len(items) == 1 else f"{len(items)} blobs"
