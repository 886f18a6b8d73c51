#!/usr/bin/env python3
"""Regenerate sample_reports/ from the end-to-end lab: a healthy pull and one failure per step.

    sudo python scripts/make_sample_reports.py [--out DIR]

Starts the lab (root, Debian packages: see tests/e2e/lab), runs `acrdiag run` inside it for
every entry of SAMPLES and writes what acrdiag wrote: `healthy.json`, `healthy.txt`,
`healthy.md`, `fail-<N>-<step>-<cause>.json` for N = 1..7 and one failing `.md`.

The files are byte-stable across lab restarts apart from times and dates (VOLATILE_KEYS and
VOLATILE_PATTERNS below; `normalize()` blanks them). To get there the lab CA is copied to the
fixed path FIXED_CA_FILE first (acrdiag names its --ca-file in the report), and the lab issues
fixed-width serials and token IDs. tests/test_sample_reports_stable.py regenerates the reports
and compares them with the committed ones through `normalize()`.

Exit status: 0 written, every verdict as expected; 3 written, but some verdict differs from
the expectation in SAMPLES (acrdiag changed or misbehaves: read the table); 2 lab unusable.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from acrdiag.steps import PULL_STEPS  # noqa: E402
from tests.e2e.lab import Lab, LabError, missing_requirements  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "sample_reports"
FIXED_CA_FILE = Path("/tmp/acrdiag-lab/ca.crt")
# containerd's config.toml for the mirror sample, at a fixed path for the same reason.
FIXED_CONTAINERD_CONFIG = Path("/tmp/acrdiag-lab/containerd/config.toml")
WRONG_PASSWORD = "not-the-password-of-puller"
STEP_IDS = tuple(step.id.value for step in PULL_STEPS)

# ---------------------------------------------------------------------------------------------
# What may differ between two runs: times and dates only. Shared with the stability test.

# JSON keys whose values are times, dates or durations (any key ending in "_s" is one too:
# duration_s, tcp_s, handshake_s, ttfb_s, clock_skew_s, expires_in_s, mb_per_s, phases_s).
VOLATILE_KEYS = frozenset(
    {
        "started_at",
        "local_time",
        "issued_at",
        "iat",
        "nbf",
        "exp",
        "expires_at",
        "not_before",
        "not_after",
        "days_left",
        "seconds",  # blob_fetch evidence.download.seconds
        "time",  # judged_by.time: the clock that judged a token or a signed URL
        "registry_date",  # reachability evidence.clock
    }
)
# Blobs are fetched three at a time: which request found a pooled connection varies.
VOLATILE_STRINGS = frozenset({"connection"})
VOLATILE_SUFFIX = "_s"

# Times and dates inside strings: summaries, redacted URLs, and the text and Markdown renderings
# (whose evidence lines are "key: value" and whose tables show step times).
_KEYS_ALT = "|".join(sorted(VOLATILE_KEYS, key=len, reverse=True))
VOLATILE_PATTERNS: tuple[tuple[str, str], ...] = (
    # 2026-11-25T08:42:48.206943+00:00, 2026-11-25T08:42:48Z, 2026-11-25 08:42:49 UTC
    (
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}|\s?UTC)?",
        "<time>",
    ),
    (r"X-Amz-Date=\d{8}T\d{6}Z", "X-Amz-Date=<time>"),  # the signing time of a redirect URL
    (r"-?\d+(?:\.\d+)? MB/s", "<n> MB/s"),  # download rate in summaries
    (r"-?\d+(?:\.\d+)? ms\b", "<n> ms"),  # text panel timings
    (r"-?\d+(?:\.\d+)? s\b", "<n> s"),  # durations, "599 s left", "3300 s from now"
    (r"valid (?:<?\d+) min\b", "valid <n> min"),  # "URL valid 20 min"
    # evidence lines of the text and Markdown reports: "dns.duration_s: 0.0315"
    (
        rf"(?m)^(\s*(?:[\w\[\]-]+\.)*(?:{_KEYS_ALT}|\w+{VOLATILE_SUFFIX})): .*$",
        r"\1: <volatile>",
    ),
)
_BOX = re.compile(r"[│┃┆━─╇╈╭╮╰╯═║╔╗╚╝┏┓┗┛┡┩┬┴┼┳┻╋]+")


def normalize(name: str, text: str) -> str:
    """A report file's text with its times and dates blanked, by the file's suffix."""
    if name.endswith(".json"):
        return json.dumps(_normalize_json(json.loads(text)), indent=2, ensure_ascii=False) + "\n"
    text = _normalize_string(text)
    if name.endswith(".txt"):
        # rich wraps table cells where the words fall: a rate of "12.4 MB/s" instead of
        # "0.4 MB/s" may move a line break, so the text compares as words, not lines.
        # Once more on the joined words: a wrapped "(27.9\n MB/s)" is one rate again.
        return _normalize_string(" ".join(_BOX.sub(" ", text).split())) + "\n"
    return text


def _normalize_json(value: Any, key: str = "") -> Any:
    if key in VOLATILE_KEYS or key.endswith(VOLATILE_SUFFIX):
        return _blank(value)
    if key in VOLATILE_STRINGS and isinstance(value, str):
        return "<volatile>"
    if isinstance(value, dict):
        return {k: _normalize_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_json(v) for v in value]
    if isinstance(value, str):
        return _normalize_string(value)
    return value


def _blank(value: Any) -> Any:
    """Keep the shape (keys, null or not), drop the value."""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return None if value is None else "<volatile>"


def _normalize_string(text: str) -> str:
    for pattern, replacement in VOLATILE_PATTERNS:
        text = re.sub(pattern, replacement, text)
    return text


# ---------------------------------------------------------------------------------------------
# The runs.

Fault = Callable[[Lab], AbstractContextManager[Any]]


@dataclass(frozen=True)
class Sample:
    stem: str  # file name without suffix
    image: Callable[[Lab], str]  # the reference
    expect_step: int | None  # failing step number, None for a healthy run
    expect_cause: str | None
    user: str | None = "puller"
    password: str | None = None  # default: the user's real password
    trust_lab_ca: bool = True
    fault: Fault | None = None
    env: Callable[[Lab], dict[str, str]] | None = None
    extra: tuple[str, ...] = ()
    suffix: str = ".json"  # of the --output file
    # --format; None lets the suffix pick the file's format while stdout stays JSON, which
    # is then written as <stem>.json: one run, two files.
    fmt: str | None = "json"


def _no_fault(lab: Lab) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


def _fail(step: int, cause: str) -> str:
    return f"fail-{step}-{STEP_IDS[step - 1]}-{cause}"


SAMPLES: tuple[Sample, ...] = (
    # One run gives healthy.json (stdout) and healthy.md (the --output file); a second the text.
    Sample(
        "healthy",
        lambda lab: lab.ref("ns/app:1.0"),
        None,
        None,
        suffix=".md",
        fmt=None,
    ),
    Sample("healthy", lambda lab: lab.ref("ns/app:1.0"), None, None, suffix=".txt", fmt="text"),
    # 1: a private CA that the client does not trust: the evidence names the presented issuer.
    Sample(
        _fail(1, "tls_untrusted"),
        lambda lab: lab.ref("ns/app:1.0"),
        1,
        "tls_untrusted",
        trust_lab_ca=False,
    ),
    # 2: a custom domain whose reverse proxy drops WWW-Authenticate.
    Sample(
        _fail(2, "missing_challenge"),
        lambda lab: f"{lab.front_host}/ns/app:1.0",
        2,
        "missing_challenge",
    ),
    # 3: the wrong password.
    Sample(
        _fail(3, "bad_credentials"),
        lambda lab: lab.ref("ns/app:1.0"),
        3,
        "bad_credentials",
        password=WRONG_PASSWORD,
    ),
    # 4: a user who may log in but not pull this repository.
    Sample(
        _fail(4, "scope_missing"),
        lambda lab: lab.ref("ns/app:1.0"),
        4,
        "scope_missing",
        user="nopull",
    ),
    # 5: an arm64 node pulling an amd64-only image.
    Sample(
        _fail(5, "platform_missing"),
        lambda lab: lab.ref("ns/single:1.0"),
        5,
        "platform_missing",
        extra=("--platform", "linux/arm64"),
    ),
    # 6: the registry works, the storage host in its redirect does not resolve here.
    Sample(
        _fail(6, "dns_nxdomain"),
        lambda lab: lab.ref("ns/app:1.0"),
        6,
        "dns_nxdomain",
        fault=lambda lab: lab.dns_without(lab.storage_host),
    ),
    # 7: HTTPS_PROXY set, NO_PROXY covers registry and token service but not storage; the
    # proxy is dead. JSON on stdout, Markdown in the file.
    Sample(
        _fail(7, "proxy_unreachable"),
        lambda lab: lab.ref("ns/app:1.0"),
        7,
        "proxy_unreachable",
        env=lambda lab: {
            "HTTPS_PROXY": lab.dead_proxy,
            "NO_PROXY": f"{lab.registry_host},{lab.realm_host}",
        },
        suffix=".md",
        fmt=None,
    ),
    # In Chinese (--lang zh): a text report and a Markdown report of lab failures.
    Sample(
        _fail(3, "bad_credentials") + "-zh",
        lambda lab: lab.ref("ns/app:1.0"),
        3,
        "bad_credentials",
        password=WRONG_PASSWORD,
        extra=("--lang", "zh"),
        suffix=".txt",
        fmt=None,
    ),
    Sample(
        _fail(6, "dns_nxdomain") + "-zh",
        lambda lab: lab.ref("ns/app:1.0", vpc=True),
        6,
        "dns_nxdomain",
        fault=lambda lab: lab.dns_without(lab.internal_storage_host),
        extra=("--lang", "zh"),
        suffix=".md",
        fmt=None,
    ),
    # containerd pulls through a mirror (an ACR accelerator's name) that is down: the upstream
    # pulls, the verdict warns and names the mirror. JSON on stdout, text in the file.
    Sample(
        "warn-mirror_failed",
        lambda lab: lab.ref("ns/app:1.0"),
        None,
        None,
        fault=lambda lab: lab.stop_server("mirror"),
        extra=("--runtime", "containerd", "--runtime-config", str(FIXED_CONTAINERD_CONFIG)),
        suffix=".txt",
        fmt=None,
    ),
)


@dataclass
class Outcome:
    sample: Sample
    returncode: int
    verdict: dict[str, Any] | None
    seconds: float
    written: list[str]

    @property
    def expected(self) -> bool:
        s = self.sample
        if s.expect_step is None:
            return self.returncode == 0
        v = self.verdict or {}
        return (
            self.returncode == 10 + s.expect_step
            and v.get("failed_step_number") == s.expect_step
            and v.get("cause") == s.expect_cause
        )


@contextlib.contextmanager
def fixed_ca(lab: Lab) -> Iterator[Path]:
    """The lab CA at FIXED_CA_FILE for the block, under a lock: labs of other processes
    making samples at the same time must not swap it under us."""
    FIXED_CA_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(FIXED_CA_FILE.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tmp = FIXED_CA_FILE.with_suffix(".tmp")
        shutil.copyfile(lab.ca_file, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, FIXED_CA_FILE)
        yield FIXED_CA_FILE


def write_containerd_config(lab: Lab, ca_file: Path) -> None:
    """containerd's config.toml and hosts.toml: the lab registry through the lab's mirror."""
    root = FIXED_CONTAINERD_CONFIG.parent
    hosts_dir = root / "certs.d" / lab.registry_host
    hosts_dir.mkdir(parents=True, exist_ok=True)
    (hosts_dir / "hosts.toml").write_text(
        f'server = "https://{lab.registry_host}"\nca = "{ca_file}"\n\n'
        f'[host."https://{lab.mirror_host}"]\n  capabilities = ["pull", "resolve"]\n'
        f'  ca = "{ca_file}"\n'
    )
    FIXED_CONTAINERD_CONFIG.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n'
        f'  config_path = "{root / "certs.d"}"\n'
    )
    for directory in (root, root / "certs.d", hosts_dir):
        directory.chmod(0o755)


def run_sample(lab: Lab, sample: Sample, ca_file: Path, out_dir: Path) -> Outcome:
    suffix, fmt = sample.suffix, sample.fmt
    work = Path(tempfile.mkdtemp(dir=lab.tmp))
    target = work / f"report{suffix}"
    argv = ["run", sample.image(lab), "--timeout", "3", "--deadline", "30"]
    argv += ["--output", str(target)]
    if fmt is not None:
        argv += ["--format", fmt]
    if sample.trust_lab_ca:
        argv += ["--ca-file", str(ca_file)]
    argv += list(sample.extra)
    if "--runtime" not in sample.extra:
        argv += ["--runtime", "none"]  # this machine's runtime must not change the samples
    stdin = None
    if sample.user is not None:
        argv += ["--username", sample.user, "--password-stdin"]
        stdin = (sample.password or lab.users[sample.user]) + "\n"
    env = sample.env(lab) if sample.env else None
    started = time.monotonic()
    with (sample.fault or _no_fault)(lab):
        result = lab.acrdiag(*argv, env=env, input=stdin, timeout=60)
    seconds = time.monotonic() - started
    written: list[str] = []
    if not target.is_file():
        raise LabError(f"{sample.stem}: acrdiag wrote no {target.name}:\n{result.stderr}")
    shutil.copyfile(target, out_dir / f"{sample.stem}{suffix}")
    written.append(f"{sample.stem}{suffix}")
    if fmt is None:
        (out_dir / f"{sample.stem}.json").write_text(result.stdout)
        written.append(f"{sample.stem}.json")
    verdict = None
    if fmt in (None, "json"):
        with contextlib.suppress(ValueError):
            verdict = json.loads(result.stdout).get("verdict")
    shutil.rmtree(work, ignore_errors=True)
    return Outcome(sample, result.returncode, verdict, seconds, written)


def generate(lab: Lab, out_dir: Path) -> list[Outcome]:
    """Run every sample in the running lab and write the reports into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    with fixed_ca(lab) as ca_file:
        write_containerd_config(lab, ca_file)
        for sample in SAMPLES:
            outcomes.append(run_sample(lab, sample, ca_file, out_dir))
    return outcomes


def report_files(directory: Path) -> dict[str, str]:
    """name -> text of every report file in a sample directory."""
    return {
        p.name: p.read_text()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.suffix in (".json", ".txt", ".md")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory to write into")
    args = parser.parse_args(argv)
    missing = missing_requirements()
    if missing:
        print(f"cannot start the lab: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    out_dir: Path = args.out
    if out_dir.is_dir():
        for stale in report_files(out_dir):
            (out_dir / stale).unlink()
    with Lab.start() as lab:
        lab_s = lab.startup_s or 0.0
        outcomes = generate(lab, out_dir)
    bad = [o for o in outcomes if not o.expected]
    for o in outcomes:
        v = o.verdict or {}
        got = f"exit {o.returncode}"
        if v.get("cause"):
            got += f" step {v.get('failed_step_number')} {v.get('cause')}"
        mark = "ok      " if o.expected else "UNEXPECTED"
        print(f"{mark} {o.seconds:5.2f} s  {', '.join(o.written):55s} {got}")
    total = time.monotonic() - started
    print(f"{len(outcomes)} runs into {out_dir} in {total:.1f} s (lab start {lab_s:.1f} s)")
    if bad:
        print(
            f"{len(bad)} run(s) ended otherwise than expected: the files hold what acrdiag "
            "wrote, under the expected names",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
