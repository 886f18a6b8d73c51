"""HTTP exchanges for the probes: bounded bodies, per-phase timing, classified failures.

Credentials are never added here: each probe passes its own Authorization
header, and only to the registry or realm it belongs to. Redirects are never
followed here: the probes step through them to record each hop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from acrdiag import __version__
from acrdiag.causes import Cause
from acrdiag.deadline import Deadline
from acrdiag.net.connections import CONNECTION_INFO, ConnectionInfo, TracingBackend
from acrdiag.net.dns import HostResolver, Lookup
from acrdiag.net.errors import BodyTooLarge, NetFailure, classify
from acrdiag.net.proxy import ProxyConfig
from acrdiag.net.tls import Trust
from acrdiag.net.transport import RoutingTransport
from acrdiag.net.urls import resolve_redirect
from acrdiag.redact import redact_url

DEFAULT_MAX_BODY = 64 * 1024
MAX_REDIRECTS = 10  # Go's http.Client stops after 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEADLINE_SLACK_S = 0.05
_TIMEOUTS = {Cause.READ_TIMEOUT, Cause.TCP_TIMEOUT, Cause.DNS_TIMEOUT, Cause.PROXY_UNREACHABLE}
REQUEST_ID_HEADERS = (
    "x-oss-request-id",
    "x-amz-request-id",
    "x-acr-request-id",
    "x-request-id",
    "request-id",
    "x-ms-request-id",
    "x-goog-request-id",
    "cf-ray",
)


class Recorder(Protocol):
    def add_phase(self, name: str, seconds: float) -> None: ...
    def add_request(self, entry: dict[str, Any]) -> None: ...
    def add_request_id(self, header: str, value: str) -> None: ...


@dataclass
class Exchange:
    """A finished request. ``url`` may carry a signed query: never report it unredacted."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    connection: ConnectionInfo | None
    proxy: str | None


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


class HttpSession:
    def __init__(
        self,
        *,
        trust: Trust,
        resolver: HostResolver,
        proxies: ProxyConfig,
        timeout: float,
        deadline: Deadline,
    ) -> None:
        self.recorder: Recorder | None = None
        self.deadline = deadline
        self._timeout = timeout
        self._connect_total = 0.0
        resolver.on_lookup = self._on_lookup
        backend = TracingBackend(resolver, deadline, self._phase)
        self.transport = RoutingTransport(backend, trust.context, proxies)
        self._client = httpx.Client(
            transport=self.transport,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": f"acrdiag/{__version__}"},
        )

    def close(self) -> None:
        self._client.close()

    def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> Exchange:
        """GET ``url``, following redirects, and read the body."""
        with self.open_following(url, headers=headers) as response:
            return self.exchange(response, max_body)

    @contextmanager
    def open_following(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Like open(), but redirects are followed as Go's client does; every hop is recorded.

        A redirect whose Location no client could follow ends the chain: its 3xx is yielded.
        """
        seen = [url]
        for _ in range(MAX_REDIRECTS + 1):
            with self.open(url, headers=headers) as response:
                target = _redirect_target(response, url)
                if target is None:
                    yield response
                    return
            if target in seen:
                break
            seen.append(target)
            headers = _headers_for_redirect(headers, url, target)
            url = target
        raise NetFailure(
            Cause.TOO_MANY_REDIRECTS,
            f"redirects loop or go on past {MAX_REDIRECTS} hops at {host_of(url)}",
            host=host_of(url),
            phase="http",
        )

    def exchange(self, response: httpx.Response, max_body: int) -> Exchange:
        """The finished exchange of an open response, its body read up to ``max_body``."""
        url = str(response.request.url)
        body = self.read_body(response, max_body)
        return Exchange(
            response.request.method,
            url,
            response.status_code,
            response.headers,
            body,
            connection_of(response),
            self.transport.proxy_for(url),
        )

    @contextmanager
    def open(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Send the request and yield the response with its body unread."""
        proxy = self.transport.proxy_for(url)
        started, connect_before = time.monotonic(), self._connect_total
        try:
            timeout = httpx.Timeout(self.deadline.clamp(self._timeout))
            request = self._client.build_request(method, url, headers=headers, timeout=timeout)
            response = self._client.send(request, stream=True)
        except Exception as exc:
            raise self._classified(exc, url, proxy) from exc
        ttfb = time.monotonic() - started - (self._connect_total - connect_before)
        self._phase("ttfb", ttfb)
        self._note(method, url, response, proxy, ttfb)
        try:
            yield response
        finally:
            response.close()

    def read_body(self, response: httpx.Response, max_body: int) -> bytes:
        """The decoded body, refusing more than ``max_body`` bytes."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise self._classified(BodyTooLarge(max_body), str(response.request.url), None)
        parts: list[bytes] = []
        size = 0
        for chunk in self._guarded(response, response.iter_bytes()):
            size += len(chunk)
            if size > max_body:
                raise self._classified(BodyTooLarge(max_body), str(response.request.url), None)
            parts.append(chunk)
        return b"".join(parts)

    def iter_raw(self, response: httpx.Response) -> Iterator[bytes]:
        """The undecoded body as it arrives (no re-chunking, so a cut counts what came)."""
        return self._guarded(response, response.iter_raw())

    def _guarded(self, response: httpx.Response, chunks: Iterator[bytes]) -> Iterator[bytes]:
        url = str(response.request.url)
        started = time.monotonic()
        try:
            for chunk in chunks:
                self.deadline.check()
                yield chunk
        except Exception as exc:
            raise self._classified(exc, url, self.transport.proxy_for(url)) from exc
        finally:
            self._phase("body", time.monotonic() - started)

    def _classified(self, exc: BaseException, url: str, proxy: str | None) -> BaseException:
        failure = classify(exc, host=host_of(url), proxy=proxy)
        if failure is None:
            return exc
        if failure.cause in _TIMEOUTS and self.deadline.remaining() <= DEADLINE_SLACK_S:
            # Waits are clamped to the deadline: a timeout at that moment is the deadline's.
            failure.cause = Cause.DEADLINE_EXCEEDED
            failure.message = (
                f"the run's deadline of {self.deadline.seconds:g} s ran out "
                f"waiting for {failure.host} ({failure.phase})"
            )
        return failure

    def _note(
        self, method: str, url: str, response: httpx.Response, proxy: str | None, ttfb: float
    ) -> None:
        info = connection_of(response)
        entry: dict[str, Any] = {
            "request": f"{method} {redact_url(url)}",
            "status": response.status_code,
            "via": f"proxy {redact_url(proxy)}" if proxy else "direct",
            "ttfb_s": round(ttfb, 4),
        }
        if info is not None:
            entry["address"] = info.address
            entry["connection"] = "reused" if info.requests else "new"
            info.requests += 1
        if self.recorder is None:
            return
        self.recorder.add_request(entry)
        for name in REQUEST_ID_HEADERS:
            value = response.headers.get(name)
            if value:
                self.recorder.add_request_id(name, value[:200])

    def _on_lookup(self, lookup: Lookup) -> None:
        self._phase("dns", lookup.duration_s)

    def _phase(self, name: str, seconds: float) -> None:
        if name in ("dns", "tcp", "tls"):
            self._connect_total += seconds
        if self.recorder is not None:
            self.recorder.add_phase(name, seconds)


def _redirect_target(response: httpx.Response, url: str) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    return resolve_redirect(url, location) if location else None


def _headers_for_redirect(
    headers: Mapping[str, str] | None, source: str, target: str
) -> Mapping[str, str] | None:
    """Go keeps Authorization only for the same host or its subdomains (CVE-2023-45289)."""
    old, new = host_of(source), host_of(target)
    if headers is None or new == old or new.endswith("." + old):
        return headers
    return {k: v for k, v in headers.items() if k.lower() != "authorization"}


def connection_of(response: httpx.Response) -> ConnectionInfo | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    info = stream.get_extra_info(CONNECTION_INFO)
    return info if isinstance(info, ConnectionInfo) else None
