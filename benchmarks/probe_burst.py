#!/usr/bin/env python3
"""Time `acrdiag serve`'s /probe: one request alone, then BURST at once, REPS times in turn.

    python benchmarks/probe_burst.py --base http://127.0.0.1:9436 --target REF \
        --module lab --burst 50 --reps 10

Runs inside the lab namespace (where the server listens), started by bench.py. Prints one
JSON object: {"single": [s, ...], "burst": [s, ...], "failed": N, "statuses": {...}}; a
probe fails when it is not HTTP 200 with `probe_success 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

READY_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 120.0  # a burst of 50 may queue behind one lock: generous, but bounded


def wait_ready(base: str) -> None:
    """Poll /metrics until the server answers (it binds before it serves)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/metrics", timeout=2) as response:
                response.read()
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _is_success(line: str) -> bool:
    """`probe_success 1` (or 1.0): the exposition format writes floats."""
    name, _, value = line.strip().partition(" ")
    try:
        return name == "probe_success" and float(value) == 1.0
    except ValueError:
        return False


def probe(url: str) -> tuple[bool, str]:
    """One /probe: (succeeded, a short status for the tally)."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            body = response.read().decode("utf-8", "replace")
            ok = any(_is_success(line) for line in body.splitlines())
            return ok, f"{response.status} success={int(ok)}"
    except urllib.error.HTTPError as error:
        return False, f"{error.code}"
    except (urllib.error.URLError, OSError) as error:
        return False, type(error).__name__


def timed_burst(url: str, count: int, pool: ThreadPoolExecutor) -> tuple[float, list[str]]:
    """Wall time until every one of `count` simultaneous probes has its answer."""
    started = time.monotonic()
    results = list(pool.map(probe, [url] * count))
    return time.monotonic() - started, [status for _, status in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    query = urllib.parse.urlencode({"target": args.target, "module": args.module})
    url = f"{args.base}/probe?{query}"
    wait_ready(args.base)
    times: dict[str, list[float]] = {"single": [], "burst": []}
    tally: Counter[str] = Counter()
    failed = 0
    with ThreadPoolExecutor(max_workers=args.burst) as pool:
        for rep in range(args.warmup + args.reps):
            for kind, count in (("single", 1), ("burst", args.burst)):
                seconds, statuses = timed_burst(url, count, pool)
                if rep < args.warmup:
                    continue
                times[kind].append(round(seconds, 4))
                tally.update(statuses)
                failed += sum(not s.endswith("success=1") for s in statuses)
    print(json.dumps({**times, "failed": failed, "statuses": dict(tally)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
