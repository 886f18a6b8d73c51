"""docker-credential-<name> helpers, run exactly as docker runs them.

`docker-credential-<name> get` with the server URL on standard input answers
{"ServerURL", "Username", "Secret"} on standard output; "<token>" as the user
name means the secret is an identity token. "credentials not found" means the
helper has nothing for that registry; anything else is a failure the pull meets
too, reported at step 3 with the helper's stderr (redacted).
"""

from __future__ import annotations

import json
import shutil
import subprocess

from acrdiag.auth.credential import Credential, CredentialKind, failed
from acrdiag.causes import Cause
from acrdiag.redact import redact_text

_NOT_FOUND = "credentials not found"
_MAX_OUTPUT = 64 * 1024


def run_helper(name: str, server_url: str, timeout: float) -> Credential | None:
    """What ``docker-credential-<name>`` holds for ``server_url``; None when nothing."""
    program = f"docker-credential-{name}"
    source = f"credential helper {program}"
    path = shutil.which(program)
    if path is None:
        return _helper_failed(source, f"{program} is not on PATH (docker would fail the same way)")
    try:
        done = subprocess.run(
            [path, "get"],
            input=server_url,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _helper_failed(source, f"{program} did not answer within {timeout:g} s")
    except OSError as exc:
        return _helper_failed(source, f"{program} could not run ({exc.strerror or exc})")
    said = f"{done.stdout[:_MAX_OUTPUT]} {done.stderr[:_MAX_OUTPUT]}"
    if done.returncode != 0:
        if _NOT_FOUND in said.lower():
            return None
        error = redact_text(done.stderr.strip()[:300] or done.stdout.strip()[:300], [])
        return _helper_failed(
            source, f"{program} exited {done.returncode}: {error or 'no message'}"
        )
    return _answer(done.stdout[:_MAX_OUTPUT], source, program)


def _answer(output: str, source: str, program: str) -> Credential:
    try:
        answer = json.loads(output)
    except (ValueError, RecursionError):
        return _helper_failed(source, f"{program} printed something that is not JSON")
    user = answer.get("Username") if isinstance(answer, dict) else None
    secret = answer.get("Secret") if isinstance(answer, dict) else None
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return _helper_failed(source, f"{program} answered JSON without Username and Secret")
    if user == "<token>":
        return Credential(CredentialKind.IDENTITY_TOKEN, source, None, secret)
    return Credential(CredentialKind.BASIC, source, user, secret)


def _helper_failed(source: str, problem: str) -> Credential:
    return failed(source, problem, Cause.CREDENTIAL_HELPER_FAILED)
