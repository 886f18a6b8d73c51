"""`acrdiag check` and `acrdiag serve` against the World: definitions, concurrency, isolation,
thresholds, outputs, Prometheus, the probe endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug import Request, Response

from acrdiag.env import Env
from acrdiag.health.definitions import DefinitionError, load
from acrdiag.health.serve import Prober, make_server
from tests.support.world import PASSWORD, World, invoke
from tests.support.world import test_env as make_env

REPO_ROOT = Path(__file__).resolve().parents[1]


def _definitions(world: World, tmp_path: Path, targets: str, defaults: str = "") -> Path:
    """A definitions file whose defaults reach the World (its DNS, CA, user)."""
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    path = tmp_path / "checks.toml"
    path.write_text(
        "[defaults]\n"
        f'nameservers = ["{world.dns.address}"]\n'
        f'ca_file = "{world.ca_file}"\n'
        'username = "puller"\n'
        f'password_file = "{password}"\n'
        'runtime = "none"\n'
        "timeout = 2\n"
        "deadline = 20\n" + defaults + "\n" + targets
    )
    return path


def _target(name: str, reference: str, extra: str = "") -> str:
    return f'[[target]]\nname = "{name}"\nreference = "{reference}"\n{extra}\n'


def _check(*argv: str) -> tuple[int, str, str]:
    result = invoke(["check", *argv])
    return result.code, result.stdout, result.stderr


# -- definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            '[[target]]\nname = "a"\nreference = "x/y:1"\nblobs = "all"\n',
            4,
            "unknown field 'blobs'",
        ),
        ('[[target]]\nreference = "x/y:1"\ntimeout = "10"\n', 3, "timeout must be seconds"),
        ('[[target]]\nreference = "UPPER/Case"\n', 2, "reference"),
        ('[[target]]\nname = "a"\n', 1, "target needs reference"),
        ("[defaults.thresholds]\nmanfest = 2.0\n", 1, "'manfest' is not a step"),
        ('[[target]]\nreference = "x/y:1"\nruntime = "k8s"\n', 3, "runtime"),
        ("[[target]\n", 1, "not valid TOML"),
    ],
)
def test_a_definition_mistake_names_the_file_line_and_field(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(DefinitionError) as caught:
        load([path])
    assert str(caught.value).startswith(f"{path}:{line}") or "line 1" in str(caught.value)
    assert message in str(caught.value)


def test_a_bad_definition_exits_2_before_anything_runs(world: World, tmp_path: Path) -> None:
    path = _definitions(world, tmp_path, _target("a", world.ref("ns/app:1.0"), "blob = 3"))
    code, _, err = _check(str(path))
    assert code == 2
    assert f"{path}:" in err and "blob must be" in err
    assert not world.requests["registry"]


def test_target_names_must_be_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[target]]\nname = "hub"\nreference = "busybox"\n')
    (tmp_path / "b.toml").write_text('[[target]]\nname = "hub"\nreference = "nginx"\n')
    with pytest.raises(DefinitionError, match="used twice"):
        load([tmp_path])


# -- running many targets ------------------------------------------------------------------


def test_fifty_targets_with_one_broken_show_exactly_that_one_failing(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    targets = "".join(_target(f"t{i:02d}", world.ref("ns/app:1.0")) for i in range(49))
    targets += _target("broken", world.ref("ns/missing:1.0"))
    path = _definitions(world, tmp_path, targets)
    code, out, _ = _check(str(path), "--format", "json", "--concurrency", "8")
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == 50
    failing = [r["target"]["repository"] for r in reports if r["verdict"]["status"] == "fail"]
    assert failing == ["ns/missing"]
    assert code == 15  # the failing target's own exit code


def test_slow_targets_run_side_by_side(world: World, tmp_path: Path) -> None:
    """Four targets whose registry answers the manifest after 1 s finish together, not in
    4 s: concurrency, not speed, is what this shows."""
    world.healthy()
    manifest = world.routes["registry"][("GET", "/v2/ns/app/manifests/1.0")]

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return manifest(request)

    world.route("registry", "GET", "/v2/ns/app/manifests/1.0", slow)
    targets = "".join(_target(f"slow{i}", world.ref("ns/app:1.0")) for i in range(4))
    path = _definitions(world, tmp_path, targets)
    started = time.monotonic()
    code, out, _ = _check(str(path), "--format", "json", "--concurrency", "4")
    elapsed = time.monotonic() - started
    assert code == 0, out
    assert elapsed < 3.0, f"4 targets of 1 s each took {elapsed:.1f} s"


def test_one_hanging_target_does_not_hold_back_the_others(world: World, tmp_path: Path) -> None:
    """The outputs of finished targets are written as they finish."""
    world.healthy()
    hang = threading.Event()

    def never(request: Request) -> Response:
        hang.wait(6)
        return Response("late", status=500)

    world.route("registry", "GET", "/v2/ns/hang/manifests/1.0", never)
    targets = _target("hangs", world.ref("ns/hang:1.0"), "deadline = 4") + _target(
        "quick", world.ref("ns/app:1.0")
    )
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    path = _definitions(world, tmp_path, targets)
    seen_at: dict[str, float] = {}
    started = time.monotonic()

    def watch() -> None:
        while time.monotonic() - started < 8 and len(seen_at) < 2:
            for name in ("hangs", "quick"):
                if name not in seen_at and (out_dir / f"{name}.json").exists():
                    seen_at[name] = time.monotonic() - started
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    code, _, _ = _check(str(path), "--output-dir", str(out_dir), "--format", "json")
    hang.set()
    watcher.join()
    assert seen_at["quick"] < 2.0 < seen_at["hangs"]
    assert code == 15  # the hanging one: its deadline ran out at the manifest
    quick = json.loads((out_dir / "quick.json").read_text())
    assert quick["verdict"]["status"] == "ok"


def test_a_step_over_its_threshold_is_a_warning_not_a_failure(world: World, tmp_path: Path) -> None:
    world.healthy()
    targets = _target("app", world.ref("ns/app:1.0"), "thresholds = { manifest = 0.000001 }")
    path = _definitions(world, tmp_path, targets)
    code, out, _ = _check(str(path), "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["verdict"]["status"] == "warn"
    manifest = next(s for s in report["steps"] if s["id"] == "manifest")
    assert (manifest["status"], manifest["cause"]) == ("warn", "slow_step")
    assert "threshold" in manifest["summary"]


def test_the_summary_table_has_a_row_per_target(world: World, tmp_path: Path) -> None:
    world.healthy()
    targets = _target("good", world.ref("ns/app:1.0")) + _target("gone", world.ref("ns/gone:1.0"))
    code, out, _ = _check(str(_definitions(world, tmp_path, targets)), "--format", "table")
    lines = out.splitlines()
    good = next(line for line in lines if line.lstrip().startswith("good"))
    gone = next(line for line in lines if line.lstrip().startswith("gone"))
    assert "ok" in good
    assert "fail" in gone and "5 manifest: name_unknown" in gone
    assert "2 target(s), 1 failing" in out
    assert code == 15


# -- outputs -------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_the_prometheus_textfile_parses_and_says_which_step_failed(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    targets = _target("good", world.ref("ns/app:1.0")) + _target("gone", world.ref("ns/gone:1.0"))
    prom = tmp_path / "acrdiag.prom"
    code, _, _ = _check(
        str(_definitions(world, tmp_path, targets)), "--prometheus", str(prom), "--format", "json"
    )
    assert code == 15
    samples = _samples(prom.read_text())
    good = (("reference", world.ref("ns/app:1.0")), ("target", "good"))
    gone = (("reference", world.ref("ns/gone:1.0")), ("target", "gone"))
    assert samples[("acrdiag_check_success", good)] == 1
    assert samples[("acrdiag_check_success", gone)] == 0
    assert samples[("acrdiag_check_exit_code", gone)] == 15
    failed_step = (("cause", "name_unknown"), ("step", "manifest"), ("target", "gone"))
    assert samples[("acrdiag_step_success", failed_step)] == 0
    assert (
        "acrdiag_step_success",
        (("cause", ""), ("step", "blob_fetch"), ("target", "good")),
    ) in samples
    assert not any(
        name == "acrdiag_step_success"
        and ("step", "blob_fetch") in labels
        and ("target", "gone") in labels
        for name, labels in samples
    ), "a skipped step has no value"
    assert any(name == "acrdiag_build_info" for name, _ in samples)


def test_a_reader_never_sees_a_half_written_textfile(world: World, tmp_path: Path) -> None:
    world.healthy()
    targets = "".join(_target(f"t{i}", world.ref("ns/app:1.0")) for i in range(5))
    path = _definitions(world, tmp_path, targets)
    prom = tmp_path / "acrdiag.prom"
    done = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(prom.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(3):
        _check(str(path), "--prometheus", str(prom), "--format", "json")
    done.set()
    reader.join()
    assert seen, "the reader saw the file"
    for text in seen:  # every read is a whole file: all five targets' series
        successes = [k for k in _samples(text) if k[0] == "acrdiag_check_success"]
        assert len(successes) == 5


def test_prometheus_file_must_end_in_prom(world: World, tmp_path: Path) -> None:
    path = _definitions(world, tmp_path, _target("a", world.ref("ns/app:1.0")))
    code, _, err = _check(str(path), "--prometheus", str(tmp_path / "acrdiag.txt"))
    assert code == 2 and "*.prom" in err


def test_sigterm_stops_every_target_and_still_writes_what_finished(
    world: World, tmp_path: Path
) -> None:
    world.healthy()
    release = threading.Event()

    def never(request: Request) -> Response:
        release.wait(20)
        return Response("late", status=500)

    world.route("registry", "GET", "/v2/ns/hang/manifests/1.0", never)
    targets = _target("quick", world.ref("ns/app:1.0")) + _target(
        "hangs", world.ref("ns/hang:1.0"), "deadline = 30\ntimeout = 30"
    )
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    path = _definitions(world, tmp_path, targets)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "acrdiag",
            "check",
            str(path),
            "--output-dir",
            str(out_dir),
            "--format",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not (out_dir / "quick.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        took = time.monotonic() - stopped_at
    finally:
        release.set()
        process.kill()
    assert process.returncode == 143
    assert took < 5
    quick = json.loads((out_dir / "quick.json").read_text())
    hangs = json.loads((out_dir / "hangs.json").read_text())
    assert quick["verdict"]["status"] == "ok"
    assert hangs["verdict"]["cause"] == "interrupted"
    assert len(out.splitlines()) == 2


# -- serve ---------------------------------------------------------------------------------


@pytest.fixture
def probe_server(world: World, tmp_path: Path) -> Iterator[tuple[str, World]]:
    module = (
        "[module.lab]\n"
        f'nameservers = ["{world.dns.address}"]\n'
        f'ca_file = "{world.ca_file}"\n'
        'username = "puller"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        'runtime = "none"\ntimeout = 2\n'
    )
    (tmp_path / "password").write_text(PASSWORD)
    path = tmp_path / "serve.toml"
    path.write_text(module)
    env: Env = make_env("", __import__("io").StringIO(), __import__("io").StringIO())
    prober = Prober(load([path]), env, min_interval=30.0)
    server = make_server("127.0.0.1:0", prober)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", world
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probe_answers_blackbox_style_metrics_for_a_healthy_target(
    probe_server: tuple[str, World],
) -> None:
    base, world = probe_server
    world.healthy()
    status, body = _get(f"{base}/probe?target={world.ref('ns/app:1.0')}&module=lab")
    assert status == 200
    samples = _samples(body)
    assert samples[("probe_success", ())] == 1
    assert samples[("acrdiag_step_success", (("cause", ""), ("step", "blob_fetch")))] == 1
    assert samples[("acrdiag_probe_cache_age_seconds", ())] == 0


def test_probe_of_a_failing_target_names_the_step_and_cause(
    probe_server: tuple[str, World],
) -> None:
    base, world = probe_server
    status, body = _get(f"{base}/probe?target={world.ref('ns/nothing:1.0')}&module=lab")
    samples = _samples(body)
    assert status == 200
    assert samples[("probe_success", ())] == 0
    assert samples[("acrdiag_probe_exit_code", ())] == 15
    assert samples[("acrdiag_step_success", (("cause", "name_unknown"), ("step", "manifest")))] == 0


def test_frequent_scrapes_reuse_a_recent_result(probe_server: tuple[str, World]) -> None:
    base, world = probe_server
    world.healthy()
    url = f"{base}/probe?target={world.ref('ns/app:1.0')}&module=lab"
    _get(url)
    asked = len(world.requests["registry"])
    time.sleep(0.2)
    _, body = _get(url)
    assert len(world.requests["registry"]) == asked, "no new request within --min-interval"
    assert _samples(body)[("acrdiag_probe_cache_age_seconds", ())] >= 0.2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("target=nginx&password=hunter2", "credentials are not taken from the query string"),
        ("module=lab", "exactly one target"),
        ("target=nginx::1", "invalid reference"),
        ("target=nginx&module=nope", "unknown module 'nope'"),
    ],
)
def test_probe_refuses_what_it_must_not_run(
    probe_server: tuple[str, World], query: str, message: str
) -> None:
    base, _ = probe_server
    status, body = _get(f"{base}/probe?{query}")
    assert status == 400
    assert message in body
    assert "hunter2" not in body


def test_metrics_serves_the_process_s_own_metrics(probe_server: tuple[str, World]) -> None:
    base, _ = probe_server
    status, body = _get(f"{base}/metrics")
    assert status == 200
    assert "process_cpu_seconds_total" in body or "python_info" in body


def test_the_readme_names_every_metric_acrdiag_exports(world: World, tmp_path: Path) -> None:
    """The README's metric tables are what dashboards are built from: none may be missing."""
    from acrdiag.health.metrics import probe, textfile

    world.healthy()
    path = _definitions(world, tmp_path, _target("app", world.ref("ns/app:1.0")))
    code, out, _ = _check(str(path), "--format", "json")
    from acrdiag.model import Report

    report = Report.model_validate_json(out)
    readme = (REPO_ROOT / "README.md").read_text()
    exported = textfile([("app", report)], 0.0).decode() + probe(report, 0.0).decode()
    names = {family.name for family in text_string_to_metric_families(exported)}
    missing = sorted(name for name in names if f"`{name}" not in readme)
    assert not missing, f"README's Health checks section does not name {missing}"
    assert code == 0


def test_a_burst_of_probes_for_one_target_shares_one_diagnosis(
    world: World, tmp_path: Path
) -> None:
    """Ten scrapes at once, no cache (--min-interval 0): all answered from one pull
    instead of ten diagnoses queued behind each other."""
    world.healthy()
    slow_pings = []

    def slow_ping(request: Request) -> Response:
        slow_pings.append(1)
        time.sleep(0.5)
        return world._ping(request)

    world.route("registry", "GET", "/v2/", slow_ping)
    path = tmp_path / "serve.toml"
    path.write_text(
        f'[module.lab]\nnameservers = ["{world.dns.address}"]\nca_file = "{world.ca_file}"\n'
        f'username = "puller"\npassword_file = "{tmp_path / "password"}"\n'
        'runtime = "none"\ntimeout = 5\n'
    )
    (tmp_path / "password").write_text(PASSWORD)
    env: Env = make_env("", __import__("io").StringIO(), __import__("io").StringIO())
    server = make_server("127.0.0.1:0", Prober(load([path]), env, min_interval=0.0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/probe?target={world.ref('ns/app:1.0')}"
    answers: list[tuple[int, str]] = []
    try:
        threads = [
            threading.Thread(target=lambda: answers.append(_get(url + "&module=lab")))
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(answers) == 10
        assert {status for status, _ in answers} == {200}
        assert {_samples(body)[("probe_success", ())] for _, body in answers} == {1}
        assert len(slow_pings) == 1, "one diagnosis for the whole burst"
        _get(url + "&module=lab")  # after it: a new diagnosis, as --min-interval 0 says
        assert len(slow_pings) == 2
    finally:
        server.shutdown()
        server.server_close()
