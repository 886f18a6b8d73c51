"""acrdiag against the real-server lab, run as a user runs it, one scenario per pull failure.

Every run goes through `diagnose()`, which also proves that no secret of the run (the
passwords, every token the token service issued meanwhile, every storage URL signature the
registries could have signed meanwhile) reaches stdout, stderr or the --output file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from acrdiag.steps import PULL_STEPS
from tests.e2e.lab import Lab

pytestmark = pytest.mark.lab

STEPS = [step.id.value for step in PULL_STEPS]
TIMEOUT = 3.0
DEADLINE = 30.0
SUFFIX = {"json": ".json", "text": ".txt", "markdown": ".md"}


# ---------------------------------------------------------------------------------------------
# Running acrdiag and the checks every run gets


@dataclass
class Run:
    argv: list[str]
    fmt: str | None
    timeout: float
    returncode: int
    stdout: str
    stderr: str
    output: str  # the --output file
    elapsed: float
    secrets: dict[str, str] = field(repr=False)  # value -> what it is
    signatures_used: set[str] = field(repr=False)  # signed URLs that reached storage
    report: dict[str, Any] | None = None  # stdout parsed, when stdout is JSON

    @property
    def verdict(self) -> dict[str, Any]:
        assert self.report is not None
        verdict: dict[str, Any] = self.report["verdict"]
        return verdict

    @property
    def steps(self) -> list[dict[str, Any]]:
        assert self.report is not None
        steps: list[dict[str, Any]] = self.report["steps"]
        return steps

    @property
    def support(self) -> dict[str, Any]:
        assert self.report is not None
        support: dict[str, Any] = self.report["support"]
        return support

    @property
    def environment(self) -> dict[str, Any]:
        assert self.report is not None
        environment: dict[str, Any] = self.report["environment"]
        return environment

    def step(self, step_id: str) -> dict[str, Any]:
        return self.steps[STEPS.index(step_id)]

    def __str__(self) -> str:  # shown by pytest when an assertion on a Run fails
        return f"acrdiag {' '.join(self.argv)} -> {self.returncode}\n{self.stderr}"


def lab_secrets(lab: Lab, password: str | None, user: str | None) -> dict[str, str]:
    out = {pw: f"password of {name}" for name, pw in lab.users.items()}
    out.update({_basic(name, pw): f"Basic credentials of {name}" for name, pw in lab.users.items()})
    if password:
        out[password] = "the password given on stdin"
        if user:
            out[_basic(user, password)] = "the Basic credentials given"
    return out


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def diagnose(
    lab: Lab,
    out_dir: Path,
    ref: str,
    *,
    user: str | None = "puller",
    password: str | None = None,
    fmt: str | None = "json",
    output_name: str | None = None,
    timeout: float = TIMEOUT,
    ca: bool = True,
    extra: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Run:
    """`acrdiag run REF` in the lab as a user would run it, with --output; checked for leaks."""
    output = out_dir / (output_name or f"report{SUFFIX[fmt or 'json']}")
    argv = ["run", ref, "--timeout", f"{timeout:g}", "--deadline", f"{DEADLINE:g}"]
    argv += ["--output", str(output)]
    if fmt is not None:
        argv += ["--format", fmt]
    if ca:
        argv += ["--ca-file", str(lab.ca_file)]
    argv += list(extra)
    stdin = None
    if user is not None:
        password = password if password is not None else lab.users[user]
        argv += ["--username", user, "--password-stdin"]
        stdin = password + "\n"
    tokens_before = len(lab.issued_tokens())
    signed_before = lab.signatures_in_storage_log()
    wall_start, started = time.time(), time.monotonic()
    result = lab.acrdiag(*argv, env=env, input=stdin, timeout=DEADLINE + 15)
    elapsed = time.monotonic() - started
    wall_end = time.time()
    # Servers log a request after answering it: let their logs catch up with the run.
    reached = _settled(lambda: lab.signatures_in_storage_log() - signed_before)

    secrets = lab_secrets(lab, password, user)
    for token in lab.issued_tokens()[tokens_before:]:
        secrets[token] = "a token issued during the run"
        secrets[token.rsplit(".", 1)[-1]] = "the signature of a token issued during the run"
    signatures = lab.storage_signatures(wall_start - 1, wall_end + 1)
    # The computed signatures must cover the ones that reached storage, or the leak check
    # below would pass for the wrong reason.
    assert reached <= signatures.keys(), "lab.storage_signatures() no longer matches the registry"
    secrets.update({sig: f"storage URL signature of {what}" for sig, what in signatures.items()})

    run = Run(
        argv=argv,
        fmt=fmt,
        timeout=timeout,
        returncode=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
        output=output.read_text() if output.is_file() else "",
        elapsed=elapsed,
        secrets=secrets,
        signatures_used=reached,
    )
    if fmt in (None, "json"):
        run.report = json.loads(result.stdout)
    assert_no_secrets(run)
    return run


def _settled(read: Callable[[], set[str]]) -> set[str]:
    """What a server log shows once it stops growing: moto writes a request's line after the
    response, and acrdiag may exit before it does (a bounded wait, 2 s at most)."""
    seen, stable_since = read(), time.monotonic()
    deadline = stable_since + 2.0
    while time.monotonic() < deadline and time.monotonic() - stable_since < 0.2:
        time.sleep(0.05)
        now = read()
        if now != seen:
            seen, stable_since = now, time.monotonic()
    return seen


def assert_no_secrets(run: Run) -> None:
    """No password, issued token or URL signature in stdout, stderr or the --output file."""
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("--output", run.output)):
        leaked = sorted({what for value, what in run.secrets.items() if value in text})
        assert not leaked, f"{where} of `acrdiag {' '.join(run.argv)}` shows {leaked}"


def assert_output_file_matches(run: Run) -> None:
    assert run.output, f"no --output file: {run}"
    if run.fmt == "json":
        assert run.output == run.stdout


def assert_ok(run: Run) -> None:
    assert run.returncode == 0, run
    assert run.verdict["status"] == "ok", run.verdict
    assert run.verdict["exit_code"] == 0
    assert run.verdict["failed_step"] is None and run.verdict["cause"] is None
    assert [(s["id"], s["number"], s["status"]) for s in run.steps] == [
        (step_id, n, "pass") for n, step_id in enumerate(STEPS, 1)
    ]
    assert run.elapsed < 2 * run.timeout + 3, f"took {run.elapsed:.1f} s"
    assert_output_file_matches(run)


def assert_failed_at(run: Run, step_id: str, cause: str) -> dict[str, Any]:
    """Exit code, failing step and cause; earlier steps passed, later ones skipped. Returns the
    failing step."""
    number = STEPS.index(step_id) + 1
    verdict = run.verdict
    got = (run.returncode, verdict["failed_step"], verdict["failed_step_number"], verdict["cause"])
    assert got == (10 + number, step_id, number, cause), f"{verdict['summary']}\n{run.stderr}"
    assert verdict["status"] == "fail" and verdict["exit_code"] == 10 + number
    steps = run.steps
    assert [(s["id"], s["number"]) for s in steps] == [(s, n) for n, s in enumerate(STEPS, 1)]
    for before in steps[: number - 1]:
        assert before["status"] in ("pass", "warn"), before
    failed = steps[number - 1]
    assert failed["status"] == "fail" and failed["cause"] == cause
    for after in steps[number:]:
        assert after["status"] == "skipped" and after["cause"] is None, after
    assert run.elapsed < 2 * run.timeout + 3, f"took {run.elapsed:.1f} s"
    assert_output_file_matches(run)
    return failed


def assert_support(
    lab: Lab,
    run: Run,
    *,
    learned_up_to: int,
    instance_name: str = "shop",
    vpc: bool = False,
) -> None:
    """The support block holds what the run learned and nothing guessed.

    `learned_up_to`: the last step that completed its look (step 2 passed: the instance ID is
    known; 6 or more: the storage redirect was seen)."""
    support = run.support
    assert support["registry_kind"] == "acr-ee"
    assert support["instance_name"] == instance_name
    assert support["region"] == lab.region
    assert support["endpoint_type"] == ("vpc" if vpc else "public")
    assert support["instance_id"] == (lab.instance_id if learned_up_to >= 2 else None)
    redirected = learned_up_to >= 6
    storage = lab.internal_storage_host if vpc else lab.storage_host
    assert support["bucket"] == (lab.bucket if redirected else None)
    assert support["storage_endpoint"] == (storage if redirected else None)
    assert support["storage_endpoint_type"] == (
        ("internal" if vpc else "public") if redirected else None
    )


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_of(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_of(v)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path


# ---------------------------------------------------------------------------------------------
# Healthy pulls


def test_healthy_private_pull(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    assert_ok(run)
    assert_support(lab, run, learned_up_to=7)
    amd = lab.images["ns/app:1.0"].manifest("linux/amd64")
    manifest = run.step("manifest")["evidence"]
    assert manifest["selected_platform"] == "linux/amd64"
    assert manifest["platform_manifest"]["digest"] == amd.digest
    # What docker downloads: the config and every layer, each verified.
    wanted = list(dict.fromkeys(b.digest for b in (amd.config, *amd.layers)))
    assert [b["digest"] for b in manifest["blobs"]] == wanted
    fetched = run.step("blob_fetch")["evidence"]["blobs"]
    assert [(b["digest"], b["outcome"]) for b in fetched] == [(d, "verified") for d in wanted]
    assert run.support["storage_endpoint"] == "oss-cn-hangzhou.aliyuncs.com"
    # the leak check had something to find: the run's token and its signed URLs
    assert "a token issued during the run" in run.secrets.values()
    assert len(run.signatures_used) == len(wanted) and run.signatures_used <= run.secrets.keys()
    # One connection to the registry, opened in step 1, carries every later request; the
    # lab's object store (moto) closes each connection, so storage takes one per blob.
    registry = [
        r["connection"]
        for step in run.report["steps"]
        for r in step["evidence"].get("requests", [])
        if r["request"].startswith(f"GET https://{lab.registry_host}/")
    ]
    assert registry[0] == "new" and set(registry[1:]) == {"reused"} and len(registry) > 4


def test_healthy_cheap_check_fetches_only_the_smallest_blob(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=("--blob", "smallest"))
    assert_ok(run)
    amd = lab.images["ns/app:1.0"].manifest("linux/amd64")
    smallest = min((amd.config, *amd.layers), key=lambda b: b.size)
    assert run.step("manifest")["evidence"]["blob"]["digest"] == smallest.digest
    download = run.step("blob_fetch")["evidence"]["download"]
    assert (download["bytes"], download["sha256"]) == (smallest.size, smallest.digest)
    assert len(run.signatures_used) == 1


def test_healthy_pull_of_another_platform(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=("--platform", "linux/arm64"))
    assert_ok(run)
    assert_support(lab, run, learned_up_to=7)
    arm = lab.images["ns/app:1.0"].manifest("linux/arm64/v8")
    manifest = run.step("manifest")["evidence"]
    assert manifest["selected_platform"] == "linux/arm64/v8"
    assert manifest["platform_manifest"]["digest"] == arm.digest
    assert {b["digest"] for b in manifest["blobs"]} == {b.digest for b in (arm.config, *arm.layers)}


def test_healthy_pull_of_a_plain_manifest(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/plain:1.0"))
    assert_ok(run)
    assert_support(lab, run, learned_up_to=7)
    image = lab.images["ns/plain:1.0"]
    manifest = run.step("manifest")["evidence"]
    assert manifest["manifest"]["kind"] == "image"
    assert manifest["manifest"]["digest"] == image.digest
    assert "platform_manifest" not in manifest


def test_healthy_pull_of_the_largest_blob(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=("--blob", "largest"))
    assert_ok(run)
    largest = max(lab.images["ns/app:1.0"].manifest("linux/amd64").layers, key=lambda b: b.size)
    download = run.step("blob_fetch")["evidence"]["download"]
    assert (download["bytes"], download["sha256"]) == (largest.size, largest.digest)


def test_healthy_anonymous_pull(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("public/hello:latest"), user=None)
    assert_ok(run)
    assert_support(lab, run, learned_up_to=7)
    assert run.environment["credentials"].startswith("anonymous")
    assert run.step("token_scope")["evidence"]["granted_actions"] == ["pull"]


def test_healthy_pull_through_the_vpc_endpoint(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0", vpc=True))
    assert_ok(run)
    assert_support(lab, run, learned_up_to=7, vpc=True)
    assert run.step("oss_resolution")["evidence"]["redirect"]["endpoint_type"] == "internal"


# ---------------------------------------------------------------------------------------------
# Step 1: reachability


def test_registry_name_not_in_dns(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, f"{lab.missing_registry_name}/ns/app:1.0")
    assert_failed_at(run, "reachability", "dns_nxdomain")
    # the instance name is read from the host name asked for, "gone-registry...": never guessed
    assert_support(lab, run, learned_up_to=1, instance_name="gone")


def test_registry_port_closed(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, f"{lab.registry_host}:{lab.closed_port}/ns/app:1.0")
    failed = assert_failed_at(run, "reachability", "tcp_refused")
    assert failed["evidence"]["failure"]["phase"] == "tcp"
    assert_support(lab, run, learned_up_to=1)


def test_registry_certificate_from_an_untrusted_ca(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), ca=False)
    failed = assert_failed_at(run, "reachability", "tls_untrusted")
    ca = x509.load_pem_x509_certificate(lab.ca_file.read_bytes())
    presented = failed["evidence"]["presented_certificate"]
    assert presented["issuer"] == ca.subject.rfc4514_string()
    assert presented["subject"] == f"CN={lab.registry_host}"
    assert any("--ca-file" in h for h in failed["hints"])
    assert_support(lab, run, learned_up_to=1)


# ---------------------------------------------------------------------------------------------
# Step 2: challenge (the lab's custom-domain front drops WWW-Authenticate)


def test_challenge_stripped_by_a_reverse_proxy(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, f"{lab.front_host}/ns/app:1.0")
    failed = assert_failed_at(run, "challenge", "missing_challenge")
    assert any("proxy" in h for h in failed["hints"])
    support = run.support
    # a custom domain with no challenge: nothing says which instance this is
    assert support["registry_kind"] == "other"
    assert {k: v for k, v in support.items() if k not in ("registry_kind", "request_ids")} == {
        k: None
        for k in (
            "instance_id",
            "instance_name",
            "region",
            "endpoint_type",
            "bucket",
            "storage_endpoint",
            "storage_endpoint_type",
            "image_platform",
        )
    }


# ---------------------------------------------------------------------------------------------
# Step 3: auth_endpoint


def test_wrong_password(lab: Lab, out_dir: Path) -> None:
    wrong = f"wrong-{lab.users['pusher'][::-1]}"
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), password=wrong)
    failed = assert_failed_at(run, "auth_endpoint", "bad_credentials")
    assert failed["evidence"]["status"] == 401
    assert_support(lab, run, learned_up_to=2)


@pytest.mark.parametrize(
    ("fault", "cause"),
    [({"status": 500}, "server_error"), ({"non_json": True}, "bad_response")],
    ids=["status-500", "non-json"],
)
def test_token_service_failing(lab: Lab, out_dir: Path, fault: dict[str, Any], cause: str) -> None:
    with lab.token_fault(**fault):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    assert_failed_at(run, "auth_endpoint", cause)
    assert_support(lab, run, learned_up_to=2)


def test_token_service_refusing_connections_is_tcp_refused(lab: Lab, out_dir: Path) -> None:
    with lab.refuse_connections_to(lab.realm_host):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    failed = assert_failed_at(run, "auth_endpoint", "tcp_refused")
    assert failed["evidence"]["failure"]["hop"] == "token service"
    assert lab.realm_host in failed["summary"]
    assert_support(lab, run, learned_up_to=2)


# ---------------------------------------------------------------------------------------------
# Step 4: token_scope


@pytest.mark.parametrize("user", ["nopull", None], ids=["user-without-pull", "anonymous"])
def test_no_pull_right(lab: Lab, out_dir: Path, user: str | None) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), user=user)
    failed = assert_failed_at(run, "token_scope", "scope_missing")
    assert failed["evidence"]["granted_actions"] == []
    assert_support(lab, run, learned_up_to=3)


def test_token_with_empty_access(lab: Lab, out_dir: Path) -> None:
    with lab.token_fault(empty_access=True):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    assert_failed_at(run, "token_scope", "scope_missing")
    assert_support(lab, run, learned_up_to=3)


def test_token_service_clock_ahead_fails_naming_that_clock(lab: Lab, out_dir: Path) -> None:
    with lab.token_fault(time_offset_s=3600):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    failed = assert_failed_at(run, "token_scope", "not_yet_valid")
    assert failed["evidence"]["clock_skew_s"] > 3000
    assert "by the registry's clock: the token service's clock runs ahead" in failed["summary"]
    assert failed["evidence"]["judged_by"]["clock"] == "the registry's clock"
    assert_support(lab, run, learned_up_to=3)


def _faketime(shift: str) -> dict[str, str]:
    """libfaketime on acrdiag's process only: its wall clock shifted, monotonic time kept."""
    library = next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    return {"LD_PRELOAD": str(library), "FAKETIME": shift, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.mark.parametrize("shift", ["+3h", "-3h"])
def test_local_clock_hours_off_still_pulls_with_a_skew_warning(
    lab: Lab, out_dir: Path, shift: str
) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), env=_faketime(shift))
    assert run.returncode == 0, run
    assert run.verdict["status"] == "warn"
    first = run.step("reachability")
    assert (first["status"], first["cause"]) == ("warn", "clock_skew")
    direction = "ahead of" if shift.startswith("+") else "behind"
    said = re.search(rf"the local clock is (\d+) s {direction} the registry's", first["summary"])
    assert said is not None and abs(int(said[1]) - 3 * 3600) < 30
    # Tokens and the signed URL are judged by the servers' clocks: nothing else warns.
    assert [s["status"] for s in run.steps[1:]] == ["pass"] * 6


# ---------------------------------------------------------------------------------------------
# Step 5: manifest


def test_tag_missing(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:nope"))
    failed = assert_failed_at(run, "manifest", "manifest_unknown")
    assert failed["evidence"]["tags_seen"] == ["1.0"]
    assert_support(lab, run, learned_up_to=4)


def test_repository_missing(lab: Lab, out_dir: Path) -> None:
    # puller may pull ns/*, so the token grants pull on ns/nope: the registry must say it
    run = diagnose(lab, out_dir, lab.ref("ns/nope:1.0"))
    assert_failed_at(run, "manifest", "name_unknown")
    assert_support(lab, run, learned_up_to=4)


def test_platform_missing(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/single:1.0"), extra=("--platform", "linux/arm64"))
    failed = assert_failed_at(run, "manifest", "platform_missing")
    assert "linux/amd64" in failed["summary"]
    assert failed["evidence"]["platforms"] == ["linux/amd64"]
    assert_support(lab, run, learned_up_to=4)


# ---------------------------------------------------------------------------------------------
# Step 6: oss_resolution


def test_storage_host_not_in_dns(lab: Lab, out_dir: Path) -> None:
    with lab.dns_without(lab.storage_host):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    failed = assert_failed_at(run, "oss_resolution", "dns_nxdomain")
    assert failed["evidence"]["redirect"]["host"] == lab.storage_host
    assert_support(lab, run, learned_up_to=6)


# ---------------------------------------------------------------------------------------------
# Step 7: blob_fetch


def test_storage_dropping_packets(lab: Lab, out_dir: Path) -> None:
    with lab.drop_traffic_to(lab.storage_host):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), timeout=2)
    failed = assert_failed_at(run, "blob_fetch", "tcp_timeout")
    assert failed["duration_s"] < 2 * 2
    assert run.elapsed < 2 * 2 + 1.5, f"took {run.elapsed:.1f} s with --timeout 2"
    assert_support(lab, run, learned_up_to=7)


def test_blob_overwritten_in_storage(lab: Lab, out_dir: Path) -> None:
    config = lab.images["ns/app:1.0"].manifest("linux/amd64").config
    # --blob: by default acrdiag fetches the smallest layer, not the config
    with lab.overwrite_blob(config.digest):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), extra=("--blob", config.digest))
    failed = assert_failed_at(run, "blob_fetch", "digest_mismatch")
    assert failed["evidence"]["download"]["bytes"] == config.size
    assert config.digest in failed["summary"]
    assert_support(lab, run, learned_up_to=7)


def test_a_corrupted_layer_that_is_not_the_config_fails_step_7(lab: Lab, out_dir: Path) -> None:
    layers = lab.images["ns/app:1.0"].manifest("linux/amd64").layers
    layer = max(layers, key=lambda b: b.size)
    with lab.overwrite_blob(layer.digest):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))  # every blob, by default
    failed = assert_failed_at(run, "blob_fetch", "digest_mismatch")
    assert f"blob {layer.digest[:19]} (layer" in failed["summary"]
    shown = {b["digest"]: b["outcome"] for b in failed["evidence"]["blobs"]}
    assert shown.pop(layer.digest) == "failed"
    assert set(shown.values()) == {"verified"}
    assert_support(lab, run, learned_up_to=7)


def test_a_layer_gone_from_storage_fails_step_7(lab: Lab, out_dir: Path) -> None:
    layer = lab.images["ns/app:1.0"].manifest("linux/amd64").layers[-1]
    with lab.remove_blob(layer.digest):
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"))
    failed = assert_failed_at(run, "blob_fetch", "storage_object_missing")
    assert failed["evidence"]["storage_error"]["code"] == "NoSuchKey"
    assert_support(lab, run, learned_up_to=7)


def dead_proxy_env(lab: Lab) -> dict[str, str]:
    return {"HTTPS_PROXY": lab.dead_proxy, "NO_PROXY": f"{lab.registry_host},{lab.realm_host}"}


def test_dead_proxy_for_storage_only(lab: Lab, out_dir: Path) -> None:
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), env=dead_proxy_env(lab))
    failed = assert_failed_at(run, "blob_fetch", "proxy_unreachable")
    assert any("NO_PROXY" in h for h in failed["hints"]), failed["hints"]
    proxies = run.environment["proxies"]
    assert proxies["registry"].startswith("direct")
    assert proxies["realm"].startswith("direct")
    assert lab.dead_proxy in proxies["storage"] and not proxies["storage"].startswith("direct")
    assert_support(lab, run, learned_up_to=7)


@pytest.mark.parametrize("case", ["refused", "timed-out"])
def test_tcp_failure_summary_says_it_once(lab: Lab, out_dir: Path, case: str) -> None:
    if case == "refused":
        run = diagnose(lab, out_dir, f"{lab.registry_host}:{lab.closed_port}/ns/app:1.0")
        failed = assert_failed_at(run, "reachability", "tcp_refused")
    else:
        with lab.drop_traffic_to(lab.storage_host):
            run = diagnose(lab, out_dir, lab.ref("public/hello:latest"), user=None, timeout=1)
        failed = assert_failed_at(run, "blob_fetch", "tcp_timeout")
    stutter = re.search(r"\b(\w+(?: \w+)?) \1\b", failed["summary"])
    assert stutter is None, failed["summary"]


def test_redaction_spares_ordinary_words(lab: Lab, out_dir: Path) -> None:
    """Redaction hides secret values only: a URL's non-secret parameters (X-Amz-SignedHeaders
    is "host") must not make every "host" in the report vanish."""
    run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), env=dead_proxy_env(lab))
    assert_failed_at(run, "blob_fetch", "proxy_unreachable")
    for text in strings_of(run.report):
        # Only query values are redacted here (=[REDACTED]); no other word may vanish.
        assert "[REDACTED]" not in text.replace("=[REDACTED]", ""), text
    assert "&X-Amz-SignedHeaders=host&" in run.step("oss_resolution")["evidence"]["redirect"]["url"]


# ---------------------------------------------------------------------------------------------
# The other formats, and the --output file


def _config_blob(lab: Lab) -> str:
    return lab.images["ns/app:1.0"].manifest("linux/amd64").config.digest


# name: (lab -> (diagnose() keywords, fault for the run), exit code, text the report shows)
Setup = Callable[[Lab], tuple[dict[str, Any], AbstractContextManager[Any]]]
FORMAT_SCENARIOS: dict[str, tuple[Setup, int, str]] = {
    "healthy": (lambda lab: ({}, contextlib.nullcontext()), 0, "the pull works"),
    "wrong-password": (
        lambda lab: ({"password": "wrong-password-5f2c9e"}, contextlib.nullcontext()),
        13,
        "bad_credentials",
    ),
    "not-yet-valid": (lambda lab: ({}, lab.token_fault(time_offset_s=3600)), 14, "not_yet_valid"),
    "dead-proxy": (
        lambda lab: ({"env": dead_proxy_env(lab)}, contextlib.nullcontext()),
        17,
        "proxy_unreachable",
    ),
    "digest-mismatch": (
        lambda lab: (
            {"extra": ("--blob", _config_blob(lab))},
            lab.overwrite_blob(_config_blob(lab)),
        ),
        17,
        "digest_mismatch",
    ),
}


@pytest.mark.parametrize("fmt", ["text", "markdown"])
@pytest.mark.parametrize("name", list(FORMAT_SCENARIOS))
def test_text_and_markdown_reports_hold_no_secrets(
    lab: Lab, out_dir: Path, name: str, fmt: str
) -> None:
    setup, code, shown = FORMAT_SCENARIOS[name]
    kwargs, fault = setup(lab)
    with fault:
        run = diagnose(lab, out_dir, lab.ref("ns/app:1.0"), fmt=fmt, **kwargs)
    assert run.returncode == code, run
    assert run.elapsed < 2 * run.timeout + 3
    assert shown in run.stdout and shown in run.output
    if fmt == "markdown":
        assert run.output == run.stdout
    else:
        # the file is the uncoloured text at a fixed width; stdout (no terminal) is plain too
        assert "\x1b[" not in run.output and "\x1b[" not in run.stdout


@pytest.mark.parametrize("fmt", [None, "json"], ids=["md-by-suffix", "json"])
def test_output_file_written_on_failure(lab: Lab, out_dir: Path, fmt: str | None) -> None:
    """--output is written even when the pull fails, and holds the report stdout shows."""
    from acrdiag.model import Report
    from acrdiag.render.markdown import render_markdown

    name = "report.md" if fmt is None else "report.json"
    run = diagnose(lab, out_dir, lab.ref("ns/app:nope"), fmt=fmt, output_name=name)
    assert_failed_at(run, "manifest", "manifest_unknown")
    assert (out_dir / name).is_file()
    if fmt is None:  # stdout (not a terminal) is JSON, the file Markdown by its suffix
        assert run.output.startswith("# acrdiag report: ")
        assert run.output == render_markdown(Report.model_validate(run.report))
    else:
        assert json.loads(run.output) == run.report
        assert run.output == run.stdout


def test_a_path_style_bucket_on_a_private_storage_name_is_reported(lab: Lab, out_dir: Path) -> None:
    # This registry wants a client certificate: the CA and the certificate come from a
    # certs.d-style directory, as docker and skopeo read them.
    run = diagnose(
        lab,
        out_dir,
        f"{lab.private_registry_host}/ns/app:1.0",
        extra=("--blob", "smallest", "--cert-dir", str(lab.client_cert_dir)),
        ca=False,
    )
    assert_ok(run)
    assert f"--cert-dir {lab.client_cert_dir} (ca.crt, node.cert)" in run.environment["trust"]
    assert run.support["registry_kind"] == "acr-ee"  # its challenge names the ACR instance
    assert run.support["bucket"] == lab.bucket  # from distribution's path layout
    assert run.support["storage_endpoint"] == lab.private_storage_host
    assert run.step("oss_resolution")["evidence"]["redirect"]["provider"] == "other"


def test_a_registry_wanting_a_client_certificate_fails_step_1_without_one(
    lab: Lab, out_dir: Path
) -> None:
    run = diagnose(lab, out_dir, f"{lab.private_registry_host}/ns/app:1.0")
    failed = assert_failed_at(run, "reachability", "tls_error")
    assert "the server wants a client certificate" in failed["summary"]
    assert any("client.cert and client.key" in h for h in failed["hints"])


# ---------------------------------------------------------------------------------------------
# Credentials the puller already has (docker login, credential helpers, pull secrets)


def _basic_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _home_with_docker_config(tmp_path: Path, document: dict[str, Any]) -> Path:
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps(document))
    return home


def test_after_docker_login_the_pull_works_with_its_config_json(
    lab: Lab, out_dir: Path, tmp_path: Path
) -> None:
    entry = _basic_entry("puller", lab.users["puller"])
    home = _home_with_docker_config(tmp_path, {"auths": {lab.registry_host: entry}})
    run = diagnose(
        lab,
        out_dir,
        lab.ref("ns/app:1.0"),
        user=None,
        env={"HOME": str(home)},
        extra=("--blob", "smallest"),
    )
    assert_ok(run)
    assert "docker's config.json" in run.environment["credentials"]


def test_a_credential_helper_gives_the_pull_its_credential(
    lab: Lab, out_dir: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-lab"
    answer = json.dumps(
        {"ServerURL": lab.registry_host, "Username": "puller", "Secret": lab.users["puller"]}
    )
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{answer}'\n")
    helper.chmod(0o755)
    home = _home_with_docker_config(tmp_path, {"credHelpers": {lab.registry_host: "lab"}})
    env = {"HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = diagnose(
        lab, out_dir, lab.ref("ns/app:1.0"), user=None, env=env, extra=("--blob", "smallest")
    )
    assert_ok(run)
    assert "docker-credential-lab" in run.environment["credentials"]


def test_a_stale_pull_secret_is_rejected_and_named(lab: Lab, out_dir: Path, tmp_path: Path) -> None:
    config = {"auths": {lab.registry_host: _basic_entry("puller", "rotated-long-ago")}}
    data = base64.b64encode(json.dumps(config).encode()).decode()
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: acr}\n"
        f"type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data}\n"
    )
    run = diagnose(
        lab, out_dir, lab.ref("ns/app:1.0"), user=None, extra=("--pull-secret", str(secret))
    )
    failed = assert_failed_at(run, "auth_endpoint", "bad_credentials")
    assert any(f"the credential from --pull-secret {secret}" in h for h in failed["hints"])
    assert "rotated-long-ago" not in run.stdout
