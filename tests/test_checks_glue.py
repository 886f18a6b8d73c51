"""checks/: the scheduler glue loads, parses, and calls acrdiag with flags it has.

Each file is read as the tool that consumes it would: the definitions by acrdiag's own loader,
the Kubernetes documents as kubectl needs them, the systemd units and cron lines field by
field, the node-problem-detector plugin run under NPD's protocol with a stand-in acrdiag, the
alerting rules for the metric names acrdiag writes.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from acrdiag.health.definitions import SETTINGS, load
from acrdiag.reference import parse_reference
from tests.support.world import invoke

CHECKS = Path(__file__).resolve().parent.parent / "checks"
TARGETS = CHECKS / "targets.toml"
DAEMONSET = CHECKS / "kubernetes" / "acrdiag-daemonset.yaml"
SERVICE = CHECKS / "systemd" / "acrdiag-check.service"
TIMER = CHECKS / "systemd" / "acrdiag-check.timer"
NPD_CONFIG = CHECKS / "node-problem-detector" / "acrdiag-plugin-monitor.json"
NPD_SCRIPT = CHECKS / "node-problem-detector" / "acrdiag-npd-plugin.sh"
ALERTS = CHECKS / "prometheus" / "acrdiag-alerts.yaml"
CRON_FILES = (CHECKS / "acrdiag.cron", CHECKS / "acrdiag-check.cron")

# What `acrdiag check --prometheus` and `acrdiag serve`'s /probe write (README "Health checks").
METRICS = {
    "acrdiag_check_success",
    "acrdiag_check_exit_code",
    "acrdiag_check_duration_seconds",
    "acrdiag_check_warnings",
    "acrdiag_step_success",
    "acrdiag_step_duration_seconds",
    "acrdiag_check_timestamp_seconds",
    "acrdiag_build_info",
    "probe_success",
    "probe_duration_seconds",
    "acrdiag_probe_exit_code",
    "acrdiag_probe_cache_age_seconds",
}
SHELL_OPERATORS = {"<", ">", ">>", "&&", "||", ";", "|", "&"}


# --- acrdiag command lines ------------------------------------------------------------


@functools.cache
def _help(command: str) -> str:
    result = invoke([command, "--help"])
    assert result.code == 0, f"acrdiag {command} --help: {result.stderr.strip()}"
    return result.stdout


def _acrdiag_argv(words: list[str]) -> list[str]:
    """The arguments after the acrdiag executable, up to the first shell operator."""
    start = next(i for i, w in enumerate(words) if Path(w).name == "acrdiag")
    rest = words[start + 1 :]
    end = next(
        (i for i, w in enumerate(rest) if w in SHELL_OPERATORS or re.match(r"^\d*[<>]", w)),
        len(rest),
    )
    return rest[:end]


def _assert_real_flags(argv: list[str]) -> None:
    command = argv[0]
    assert command in ("run", "check", "serve"), argv
    help_text = _help(command)
    for word in argv[1:]:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            pattern = rf"(?<![\w-]){re.escape(flag)}(?![\w-])"
            assert re.search(pattern, help_text), f"{flag} is not in `acrdiag {command} --help`"


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _assert_check_gets_past_validation(argv: list[str], tmp_path: Path) -> None:
    """The check command line, its definitions replaced by checks/targets.toml and its output
    directories by missing ones, is refused for the missing directory: its flags parsed and
    nothing was run (no network)."""
    assert argv[0] == "check"
    checked = list(argv)
    checked[1] = str(TARGETS)
    missing = tmp_path / "missing"
    if "--prometheus" in checked:
        checked[checked.index("--prometheus") + 1] = str(missing / "acrdiag.prom")
    if "--output-dir" in checked:
        checked[checked.index("--output-dir") + 1] = str(missing)
    else:  # a check with no output directory would run: give it a missing one
        checked += ["--output-dir", str(missing)]
    result = invoke(checked)
    assert result.code == 2, result.stderr
    assert "does not exist" in result.stderr, result.stderr


# --- targets.toml ---------------------------------------------------------------------


def test_targets_load_as_three_targets_and_two_modules() -> None:
    definitions = load([TARGETS])
    names = [t.name for t in definitions.targets]
    assert names == ["acr-ee-public", "acr-ee-vpc", "dockerhub"]
    public, vpc, hub = (parse_reference(t.reference) for t in definitions.targets)
    assert public.host.endswith("-registry.cn-hangzhou.cr.aliyuncs.com")
    assert vpc.host.endswith("-registry-vpc.cn-hangzhou.cr.aliyuncs.com")
    instance = public.host.removesuffix("-registry.cn-hangzhou.cr.aliyuncs.com")
    assert vpc.host == f"{instance}-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "one instance"
    assert (public.repository, public.tag) == (vpc.repository, vpc.tag)
    assert (hub.registry, hub.repository, hub.tag) == ("docker.io", "library/busybox", "1.36")
    for target in definitions.targets:
        assert target.settings["blob"] == "smallest"
        assert target.settings["runtime"] == "auto"
        assert target.thresholds, f"{target.name}: no thresholds"
    assert definitions.targets[2].settings.get("no_creds") is True, "Docker Hub: anonymous"
    assert set(definitions.modules) == {"acr", "dockerhub"}
    for module in definitions.modules.values():
        # Under the 30 s scrape_timeout of the /probe job in the DaemonSet's example.
        assert module.settings["deadline"] < 30


def test_commented_credential_lines_name_real_fields_and_load_once_uncommented(
    tmp_path: Path,
) -> None:
    text = TARGETS.read_text()
    commented = re.findall(r"^#\s*([a-z_]+)\s*=", text, re.M)
    assert {"authfile", "pull_secrets", "password_file"} <= set(commented)
    for key in commented:
        assert key in SETTINGS, f"targets.toml suggests {key!r}, which acrdiag does not know"
    authfile = tmp_path / "config.json"
    authfile.write_text('{"auths": {}}')
    line = '# authfile = "/root/.docker/config.json"'
    assert line in text.splitlines()
    uncommented = tmp_path / "targets.toml"
    uncommented.write_text(
        "\n".join(f'authfile = "{authfile}"' if x == line else x for x in text.splitlines())
    )
    definitions = load([uncommented])
    with_file = {t.name: t.settings.get("authfile") for t in definitions.targets}
    assert with_file == {
        "acr-ee-public": str(authfile),
        "acr-ee-vpc": str(authfile),
        "dockerhub": None,
    }
    assert definitions.modules["acr"].settings["authfile"] == str(authfile)


# --- Kubernetes -----------------------------------------------------------------------


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((CHECKS / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def _one(kind: str) -> dict[str, Any]:
    found = [d for d in _documents() if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} documents"
    return found[0]


def _container() -> dict[str, Any]:
    return _one("DaemonSet")["spec"]["template"]["spec"]["containers"][0]


def test_every_kubernetes_document_has_what_kubectl_requires() -> None:
    docs = _documents()
    assert {"ConfigMap", "DaemonSet"} <= {d["kind"] for d in docs}
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    for doc in docs:
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"]
        assert isinstance(doc.get("kind"), str) and doc["kind"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])
        if doc["kind"] != "Namespace" and namespaces:
            assert doc["metadata"].get("namespace") in namespaces, doc["metadata"]["name"]


def test_daemonset_runs_on_every_node_with_the_nodes_view_read_only() -> None:
    daemonset = _one("DaemonSet")
    template = daemonset["spec"]["template"]
    pod = template["spec"]
    assert daemonset["spec"]["selector"]["matchLabels"] == template["metadata"]["labels"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "Default", "the node's resolv.conf, not the cluster DNS"
    assert pod["hostPID"] is True, "the runtime daemon's /proc/PID/environ"
    assert {"operator": "Exists"} in pod["tolerations"]
    for container in pod["containers"]:
        assert container["name"] and container["image"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
    container = _container()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(mounts) <= set(volumes), set(mounts) - set(volumes)
    host_paths = {
        volumes[n]["hostPath"]["path"]: m for n, m in mounts.items() if "hostPath" in volumes[n]
    }
    assert {"/etc/containerd", "/etc/docker", "/etc/containers"} <= set(host_paths)
    for path, mount in host_paths.items():
        assert mount.get("readOnly") is True, f"{path} is mounted writable"
        assert mount["mountPath"] == path, "acrdiag looks where the runtime keeps it"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsUser"] == 0
    assert security["allowPrivilegeEscalation"] is False
    assert "SYS_PTRACE" in security["capabilities"]["add"]
    assert security["capabilities"]["drop"] == ["ALL"]


def test_configmap_holds_targets_toml(tmp_path: Path) -> None:
    text = _one("ConfigMap")["data"]["targets.toml"]
    assert text == TARGETS.read_text(), "the ConfigMap and checks/targets.toml differ"
    copy = tmp_path / "targets.toml"
    copy.write_text(text)
    assert [t.name for t in load([copy]).targets] == [t.name for t in load([TARGETS]).targets]


def test_daemonset_serves_the_configmap_with_real_serve_flags() -> None:
    container = _container()
    argv = [*container.get("command", []), *container.get("args", [])]
    assert Path(argv[0]).name == "acrdiag"
    argv = argv[1:]
    assert argv[0] == "serve"
    _assert_real_flags(argv)
    port = int(_option(argv, "--listen").rsplit(":", 1)[1])
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": port}
    assert {p["containerPort"] for p in container["ports"]} == {port}
    pod = _one("DaemonSet")["spec"]["template"]["spec"]
    checks = next(v for v in pod["volumes"] if "configMap" in v)
    assert checks["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == checks["name"])
    assert _option(argv, "--definitions") == mount["mountPath"]


def _command_lines(path: Path) -> list[list[str]]:
    """Every `acrdiag check|run|serve /…` or `… --…` written out in a file, comments too."""
    commands = []
    for line in path.read_text().splitlines():
        found = re.search(r"(?<![\w-])acrdiag (?:check|run|serve) (?=[/-])", line)
        if found:
            commands.append(_acrdiag_argv(shlex.split(line[found.start() :])))
    return commands


def test_every_acrdiag_command_line_in_checks_uses_real_flags(tmp_path: Path) -> None:
    files = [p for p in sorted(CHECKS.rglob("*")) if p.is_file() and p.suffix != ".md"]
    found = {path.name: _command_lines(path) for path in files}
    # The DaemonSet's commented textfile alternative, targets.toml's "try it", cron, systemd.
    for name in (DAEMONSET.name, TARGETS.name, SERVICE.name, "acrdiag-check.cron"):
        assert any(argv[0] == "check" for argv in found[name]), name
    for argvs in found.values():
        for argv in argvs:
            _assert_real_flags(argv)
            if argv[0] == "check":
                _assert_check_gets_past_validation(argv, tmp_path)


# --- systemd --------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of KEY=VALUE lines, repeated keys kept, as systemd reads them."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), raw
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, raw
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def _get(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def test_service_runs_a_real_check_writing_only_where_it_may(tmp_path: Path) -> None:
    service = _unit(SERVICE)["Service"]
    assert _get(service, "Type") == ["oneshot"]
    (exec_start,) = _get(service, "ExecStart")
    argv = _acrdiag_argv(shlex.split(exec_start))
    assert argv[0] == "check"
    _assert_real_flags(argv)
    _assert_check_gets_past_validation(argv, tmp_path)
    writable = [Path(p.lstrip("-")) for v in _get(service, "ReadWritePaths") for p in v.split()]
    writable += [Path("/var/lib") / p for v in _get(service, "StateDirectory") for p in v.split()]
    for output in (Path(_option(argv, "--prometheus")).parent, Path(_option(argv, "--output-dir"))):
        assert output in writable, f"{output} is read-only under ProtectSystem=strict"
    assert _get(service, "NoNewPrivileges") == ["yes"]
    assert _get(service, "ProtectSystem") == ["strict"]
    assert _get(service, "PrivateTmp") == ["yes"]
    # Hiding /root would hide /root/.docker/config.json; /proc must show the runtime daemon.
    assert _get(service, "ProtectHome") in ([], ["read-only"])
    assert not _get(service, "ProtectProc") and not _get(service, "PrivatePIDs")
    assert _get(service, "UMask") in ([], ["0022"]), "node_exporter must read acrdiag.prom"


def test_timer_starts_the_service_every_five_minutes_spread_over_the_fleet() -> None:
    timer = _unit(TIMER)["Timer"]
    assert _get(timer, "OnCalendar") == ["*:0/5"]
    assert _get(timer, "RandomizedDelaySec")
    assert _get(timer, "Persistent") == ["yes"]
    assert _get(timer, "Unit") in ([], [SERVICE.name])
    assert TIMER.stem == SERVICE.stem
    assert _get(_unit(TIMER)["Install"], "WantedBy") == ["timers.target"]


# --- cron -----------------------------------------------------------------------------


def _cron_lines(path: Path) -> list[list[str]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            fields = line.split(None, 6)
            assert len(fields) == 7, f"{path.name}: five time fields, a user, a command: {line}"
            for field in fields[:5]:
                assert re.fullmatch(r"[\d*/,-]+", field), field
            assert fields[5] == "root"
            lines.append(shlex.split(fields[6]))
    return lines


def test_cron_files_have_time_fields_a_user_and_a_command() -> None:
    for path in CRON_FILES:
        assert _cron_lines(path), f"{path.name} runs nothing"


def test_check_cron_line_is_a_real_check_under_timeout(tmp_path: Path) -> None:
    (words,) = _cron_lines(CHECKS / "acrdiag-check.cron")
    argv = _acrdiag_argv(words)
    assert argv[0] == "check"
    _assert_real_flags(argv)
    _assert_check_gets_past_validation(argv, tmp_path)
    before = words[: next(i for i, w in enumerate(words) if Path(w).name == "acrdiag")]
    assert "timeout" in before, "SIGTERM before the next run"
    assert _option(argv, "--prometheus").endswith(".prom")


# --- node-problem-detector ------------------------------------------------------------


def _duration(text: str) -> float:
    """A Go duration as NPD parses it (time.ParseDuration), in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


def _npd() -> dict[str, Any]:
    return json.loads(NPD_CONFIG.read_text())


def test_npd_config_is_one_npd_accepts() -> None:
    config = _npd()
    assert config["plugin"] == "custom"
    global_config = config["pluginConfig"]
    interval = _duration(global_config["invoke_interval"])
    global_timeout = _duration(global_config["timeout"])
    assert global_timeout <= interval
    assert isinstance(global_config["max_output_length"], int)
    assert config["source"]
    conditions = {c["type"]: c for c in config["conditions"]}
    assert config["rules"]
    for rule in config["rules"]:
        assert rule["type"] in ("permanent", "temporary")
        assert Path(rule["path"]).name == NPD_SCRIPT.name
        assert _duration(rule["timeout"]) <= global_timeout, "NPD refuses it"
        if rule["type"] == "permanent":
            # NPD refuses a permanent rule without a default condition of its type.
            assert rule["condition"] == "ImagePullPath"
            assert conditions[rule["condition"]]["reason"]
            assert conditions[rule["condition"]]["message"]
            assert rule["reason"] == "ImagePullBroken"


def test_npd_script_stops_acrdiag_before_npd_kills_it() -> None:
    script = NPD_SCRIPT.read_text()
    limit = int(re.search(r"limit=\$\{ACRDIAG_NPD_LIMIT:-(\d+)\}", script).group(1))
    grace = int(re.search(r"timeout -k (\d+) ", script).group(1))
    (rule,) = _npd()["rules"]
    assert limit + grace < _duration(rule["timeout"])
    default_max = int(re.search(r"max=\$\{ACRDIAG_NPD_MAX_OUTPUT:-(\d+)\}", script).group(1))
    assert default_max == _npd()["pluginConfig"]["max_output_length"]


def test_npd_script_is_executable_and_parses() -> None:
    assert NPD_SCRIPT.stat().st_mode & stat.S_IXUSR
    bash = shutil.which("bash")
    assert bash
    checked = subprocess.run([bash, "-n", str(NPD_SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


FAKE_ACRDIAG = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_ARGV"], "w") as f:
    json.dump(sys.argv[1:], f)
sys.stdout.write(os.environ.get("FAKE_STDOUT", ""))
sys.stderr.write(os.environ.get("FAKE_STDERR", ""))
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
sys.exit(int(os.environ["FAKE_CODE"]))
"""


def _report(
    reference: str,
    status: str,
    step: str | None = None,
    number: int | None = None,
    cause: str | None = None,
    code: int = 0,
) -> str:
    """One line of `acrdiag check --format json`: the parts of a report the plugin reads."""
    verdict = {
        "status": status,
        "failed_step": step,
        "failed_step_number": number,
        "cause": cause,
        "summary": "x",
        "exit_code": code,
    }
    target = {"reference": reference, "normalized": reference}
    return json.dumps({"target": target, "verdict": verdict, "steps": []}) + "\n"


def _run_plugin(tmp_path: Path, code: int, stdout: str = "", stderr: str = "", **env: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "acrdiag"
    # acrdiag as pip installs it: a script whose #! names its Python, which reads the JSON.
    fake.write_text(FAKE_ACRDIAG.format(python=sys.executable))
    fake.chmod(0o755)
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_ARGV": str(tmp_path / "argv.json"),
        "FAKE_CODE": str(code),
        "FAKE_STDOUT": stdout,
        "FAKE_STDERR": stderr,
        **env,
    }
    result = subprocess.run(
        [str(NPD_SCRIPT), "/etc/acrdiag/checks"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    max_output = _npd()["pluginConfig"]["max_output_length"]
    assert result.stdout.count("\n") == 1, f"one line: {result.stdout!r}"
    assert len(result.stdout.strip().encode()) <= max_output, result.stdout
    return result


VPC = "shop-registry-vpc.cn-hangzhou.cr.aliyuncs.com/ns/app:1.0"


def test_npd_plugin_says_ok_when_every_pull_works(tmp_path: Path) -> None:
    out = _report("docker.io/library/busybox:1.36", "ok") + _report(VPC, "warn")
    result = _run_plugin(tmp_path, 0, out)
    assert result.returncode == 0
    assert "2 target(s) pull, 1 with warnings" in result.stdout


def test_npd_plugin_says_nonok_naming_the_first_failing_target_and_step(tmp_path: Path) -> None:
    out = (
        _report("docker.io/library/busybox:1.36", "ok")
        + _report(VPC, "fail", "auth_endpoint", 3, "credentials_rejected", 13)
        + _report("other.example.com/a:1", "fail", "manifest", 5, "manifest_unknown", 15)
    )
    result = _run_plugin(tmp_path, 13, out)
    assert result.returncode == 1
    line = result.stdout.strip()
    assert line.startswith("step 3 auth_endpoint failed (credentials_rejected) for " + VPC)
    assert "2 of 3 target(s) failing" in line
    assert json.loads((tmp_path / "argv.json").read_text()) == [
        "check",
        "/etc/acrdiag/checks",
        "--format",
        "json",
    ]


def test_npd_plugin_cuts_a_long_message_to_max_output_length(tmp_path: Path) -> None:
    long_ref = "shop-registry.cn-hangzhou.cr.aliyuncs.com/" + "n" * 200 + "/app:1.0"
    out = _report(long_ref, "fail", "blob_fetch", 7, "blob_digest_mismatch", 17)
    result = _run_plugin(tmp_path, 17, out)
    assert result.returncode == 1
    assert result.stdout.startswith("step 7 blob_fetch failed (blob_digest_mismatch)")


def test_npd_plugin_says_the_step_from_the_exit_code_without_json(tmp_path: Path) -> None:
    result = _run_plugin(tmp_path, 14, "not json\n")
    assert result.returncode == 1
    assert result.stdout.strip() == "step 4 token_scope failed (acrdiag exit 14)"


@pytest.mark.parametrize(
    ("code", "stderr", "said"),
    [
        (2, "acrdiag: targets.toml:7: unknown field 'blobs'\n", "targets.toml:7: unknown field"),
        (1, "", "failed internally"),
        (143, "", "stopped"),
        (130, "", "stopped"),
    ],
)
def test_npd_plugin_says_unknown_when_acrdiag_could_not_tell(
    tmp_path: Path, code: int, stderr: str, said: str
) -> None:
    result = _run_plugin(tmp_path, code, "", stderr)
    assert result.returncode == 2, "Unknown: nothing known about the pulls"
    assert said in result.stdout


def test_npd_plugin_says_unknown_without_acrdiag(tmp_path: Path) -> None:
    result = _run_plugin(tmp_path, 0, ACRDIAG=str(tmp_path / "nowhere" / "acrdiag"))
    assert result.returncode == 2
    assert "not found" in result.stdout


@pytest.mark.skipif(shutil.which("timeout") is None, reason="coreutils timeout")
def test_npd_plugin_stops_a_check_that_outlives_its_limit(tmp_path: Path) -> None:
    result = _run_plugin(tmp_path, 0, FAKE_SLEEP="30", ACRDIAG_NPD_LIMIT="1")
    assert result.returncode == 2
    assert result.stdout.strip() == "acrdiag did not finish within 1 s"


def test_npd_plugins_acrdiag_command_uses_real_check_flags(tmp_path: Path) -> None:
    _run_plugin(tmp_path, 0)
    argv = json.loads((tmp_path / "argv.json").read_text())
    _assert_real_flags(argv)


# --- Prometheus -----------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_have_what_alertmanager_routes_on() -> None:
    rules = _rules()
    names = {r["alert"] for r in rules}
    assert {"AcrdiagPullBroken", "AcrdiagCheckStale", "AcrdiagProbeFailing"} <= names
    for rule in rules:
        assert rule["alert"] and rule["expr"]
        assert _duration(rule["for"]) > 0
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
        for text in rule["annotations"].values():
            opened = len(re.findall(r"\{\{-?\s*(?:range|with|if)\b", text))
            assert opened == len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text)), text
            assert text.count("{{") == text.count("}}"), text


def test_alert_rules_use_only_metrics_acrdiag_writes() -> None:
    for rule in _rules():
        used = set(re.findall(r"\b((?:acrdiag|probe)_[a-z_]+)\b", rule["expr"]))
        assert used, rule["expr"]
        for text in rule["annotations"].values():
            used |= set(re.findall(r"\b((?:acrdiag|probe)_[a-z_]+)\{", text))
        assert used <= METRICS, used - METRICS
