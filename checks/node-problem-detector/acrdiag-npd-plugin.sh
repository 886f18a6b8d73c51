#!/bin/sh
# node-problem-detector custom plugin: can this node still pull its images?
#
# Runs `acrdiag check` on the definitions (every [[target]] of DIR/*.toml) and answers in
# NPD's custom plugin protocol: exit 0 OK (the ImagePullPath condition False), 1 NonOK
# (True, reason ImagePullBroken), any other code Unknown; standard output, trimmed and cut
# at the monitor's max_output_length, becomes the condition's message. So:
#   acrdiag 0 (warnings allowed)               -> 0 OK
#   acrdiag 11-17 (a target's pull fails)      -> 1 NonOK: "step N NAME failed (cause) for REF"
#   acrdiag 2 (bad definition or flag), 1 (internal error), 130/143 (stopped), not found,
#   not finished in time                       -> 2 Unknown: nothing said about the pulls
#
# Usage: acrdiag-npd-plugin.sh [DIR]   (default /etc/acrdiag/checks; the rule's "args")
# Environment, all optional:
#   ACRDIAG                 the acrdiag command (default: acrdiag on PATH)
#   ACRDIAG_NPD_LIMIT       seconds acrdiag may take (default 100). NPD kills the plugin at
#                           the rule's timeout (150 s) with SIGKILL, and acrdiag would say
#                           nothing; stopped here by SIGTERM it reports what finished. Each
#                           target has its own deadline (60 s), 4 run at once: more than 4
#                           targets may need a longer limit and timeout.
#   ACRDIAG_NPD_MAX_OUTPUT  the monitor's max_output_length (default 160)
#   ACRDIAG_PYTHON          the Python that reads acrdiag's JSON (default: acrdiag's own)
set -u

definitions=${1:-/etc/acrdiag/checks}
acrdiag=${ACRDIAG:-acrdiag}
limit=${ACRDIAG_NPD_LIMIT:-100}
max=${ACRDIAG_NPD_MAX_OUTPUT:-160}

OK=0
NONOK=1
UNKNOWN=2

# One line of at most $max bytes (NPD cuts at bytes too), without control characters.
say() {
    printf '%s\n' "$1" | head -n 1 | tr -d '\000-\010\013-\037\177' | cut -b "1-$max"
}

step_name() {
    case $1 in
    1) echo reachability ;;
    2) echo challenge ;;
    3) echo auth_endpoint ;;
    4) echo token_scope ;;
    5) echo manifest ;;
    6) echo oss_resolution ;;
    7) echo blob_fetch ;;
    *) echo "?" ;;
    esac
}

# The interpreter to read the JSON with: ACRDIAG_PYTHON, else the one in acrdiag's own
# "#!" line (pip installs it so), else python3.
python_for() {
    if [ -n "${ACRDIAG_PYTHON:-}" ]; then
        echo "$ACRDIAG_PYTHON"
        return
    fi
    interpreter=$(sed -n '1s/^#![[:space:]]*//p' "$1" 2>/dev/null | cut -d ' ' -f 1)
    case $interpreter in
    */python*) [ -x "$interpreter" ] && echo "$interpreter" && return ;;
    esac
    echo python3
}

# acrdiag's JSON Lines (one report per target, in the definitions' order) -> one line.
# With "fail": the first failing target (the one acrdiag's exit code is about).
summarize() {
    "$python" - "$1" "$2" <<'PYTHON' 2>/dev/null
import json
import sys

mode, path = sys.argv[1], sys.argv[2]
reports = []
with open(path, encoding="utf-8", errors="replace") as lines:
    for line in lines:
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and isinstance(report.get("verdict"), dict):
            reports.append(report)
if not reports:
    sys.exit(1)
failing = [r for r in reports if r["verdict"].get("status") == "fail"]
if mode == "ok":
    warned = sum(r["verdict"].get("status") == "warn" for r in reports)
    print(f"{len(reports)} target(s) pull" + (f", {warned} with warnings" if warned else ""))
    sys.exit(0)
if not failing:
    sys.exit(1)
verdict = failing[0]["verdict"]
target = failing[0].get("target") or {}
reference = target.get("normalized") or target.get("reference") or "?"
cause = verdict.get("cause") or "?"
if verdict.get("failed_step"):
    what = f"step {verdict.get('failed_step_number')} {verdict['failed_step']} failed ({cause})"
else:
    what = f"not run ({cause})"
print(f"{what} for {reference}; {len(failing)} of {len(reports)} target(s) failing")
PYTHON
}

acrdiag_path=$(command -v "$acrdiag" 2>/dev/null) || {
    say "cannot check image pulls: $acrdiag not found"
    exit $UNKNOWN
}
python=$(python_for "$acrdiag_path")

work=$(mktemp -d 2>/dev/null) || {
    say "cannot check image pulls: no temporary directory"
    exit $UNKNOWN
}
trap 'rm -rf "$work"' EXIT

if command -v timeout >/dev/null 2>&1; then
    timeout -k 10 "$limit" "$acrdiag_path" check "$definitions" --format json \
        >"$work/out" 2>"$work/err" </dev/null
else
    "$acrdiag_path" check "$definitions" --format json >"$work/out" 2>"$work/err" </dev/null
fi
code=$?
error=$(head -n 1 "$work/err" 2>/dev/null)
[ -n "$error" ] && error=": $error"

case $code in
0)
    say "$(summarize ok "$work/out" || echo "every target pulls")"
    exit $OK
    ;;
1[1-7])
    step=$((code - 10))
    say "$(summarize fail "$work/out" || echo "step $step $(step_name $step) failed (acrdiag exit $code)")"
    exit $NONOK
    ;;
2) say "acrdiag: bad check definition or flag (exit 2)$error" ;;
1) say "acrdiag failed internally (exit 1)$error" ;;
124 | 137) say "acrdiag did not finish within $limit s" ;;
130 | 143) say "acrdiag was stopped before it finished (exit $code)" ;;
126 | 127) say "cannot run $acrdiag_path (exit $code)$error" ;;
*) say "acrdiag exited $code$error" ;;
esac
exit $UNKNOWN
