"""docker-credential-<name> helpers, run exactly as docker runs them.

`docker-credential-<name> get` with the server URL on standard input answers
{"ServerURL", "Username", "Secret"} on standard output; "<token>" as the user name
means the secret is an identity token. A helper that answers exactly "credentials not
found in native keychain" has nothing for that registry, and docker then pulls
anonymously (it does not fall back to config.json's "auths"); empty answers mean the
same. Anything else is a failure docker's pull meets too, reported at step 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from acrdiag.auth.credential import Credential, CredentialKind, failed
from acrdiag.causes import Cause

NOT_FOUND = "credentials not found in native keychain"  # docker-credential-helpers' message
_MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True)
class NotFound:
    """The helper has nothing for this registry: docker pulls anonymously."""

    source: str


def run_helper(
    name: str, server_url: str, timeout: float, environ: Mapping[str, str]
) -> Credential | NotFound:
    program = f"docker-credential-{name}"
    source = f"credential helper {program}"
    path = shutil.which(program, path=environ.get("PATH", os.defpath))
    if path is None:
        return _helper_failed(source, f"{program} is not on PATH (docker would fail the same way)")
    try:
        code, out, err = _run(path, server_url, timeout, environ)
    except subprocess.TimeoutExpired:
        return _helper_failed(source, f"{program} did not answer within {timeout:g} s")
    except OSError as exc:
        return _helper_failed(source, f"{program} could not run ({exc.strerror or exc})")
    if code != 0:
        if out.strip() == NOT_FOUND:
            return NotFound(source)
        # Never quote what it printed: a helper failing half-way may print the secret.
        said = " (it printed a message, not shown: it could hold the secret)" if err else ""
        return _helper_failed(source, f"{program} exited {code}{said}")
    return _answer(out, source, program)


def _run(
    path: str, server_url: str, timeout: float, environ: Mapping[str, str]
) -> tuple[int, str, str]:
    """Run the helper in a session of its own, so that a timeout or Ctrl-C ends it and
    whatever it started."""
    process = subprocess.Popen(
        [path, "get"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(environ),
        start_new_session=True,
    )
    try:
        out, err = process.communicate(server_url.encode(), timeout=timeout)
    except BaseException:
        _kill_group(process)
        raise

    def text(part: bytes) -> str:
        return part[:_MAX_OUTPUT].decode("utf-8", "replace")

    return process.returncode, text(out), text(err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _answer(output: str, source: str, program: str) -> Credential | NotFound:
    try:
        answer = json.loads(output)
    except (ValueError, RecursionError):
        return _helper_failed(source, f"{program} printed something that is not JSON")
    if not isinstance(answer, dict):
        return _helper_failed(source, f"{program} printed JSON that is not an object")
    user, secret = answer.get("Username"), answer.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str):
        return _helper_failed(source, f"{program} answered JSON without Username and Secret")
    if not secret:
        return NotFound(source)  # docker: empty credentials, an anonymous pull
    if user == "<token>":
        return Credential(CredentialKind.IDENTITY_TOKEN, source, None, secret)
    return Credential(CredentialKind.BASIC, source, user, secret)


def _helper_failed(source: str, problem: str) -> Credential:
    return failed(source, problem, Cause.CREDENTIAL_HELPER_FAILED)
