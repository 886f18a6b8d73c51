"""HTTP exchanges for the probes: bounded bodies, per-phase timing, classified failures.

Credentials are never added here: each probe passes its own Authorization
header, and only to the registry or realm it belongs to. This layer only ever
takes credentials away: on a redirect to another host or to plain http, and
from userinfo in a URL a server handed over. Requests go straight to the
transport, past httpx's Client: so no cookie is kept or sent (docker and
containerd keep none: Go's client has no jar by default), and no redirect URL
is parsed before acrdiag's own rules judge it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from acrdiag import __version__
from acrdiag.causes import Cause
from acrdiag.deadline import Deadline
from acrdiag.net.clocks import ServerClocks
from acrdiag.net.connections import CONNECTION_INFO, ConnectionInfo, TracingBackend
from acrdiag.net.dns import HostResolver, Lookup
from acrdiag.net.early import EARLY
from acrdiag.net.errors import BodyTooLarge, NetFailure, classify
from acrdiag.net.proxy import ProxyConfig
from acrdiag.net.tls import Trust
from acrdiag.net.transport import RoutingTransport
from acrdiag.net.urls import is_downgrade, resolve_redirect, split_userinfo
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


# Decides whether Authorization may follow a redirect from the first URL to the second.
AuthorizationRule = Callable[[str, str], bool]
# Sees each redirect target before it is requested; raises to stop the chain.
HopCheck = Callable[[str], None]


class Recorder(Protocol):
    def add_phase(self, name: str, seconds: float) -> None: ...
    def add_request(self, entry: dict[str, Any]) -> None: ...
    def add_request_id(self, header: str, value: str) -> None: ...
    def warn(self, cause: Cause, message: str, hint: str | None = None) -> None: ...


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
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._recorder: Recorder | None = None
        self._thread = threading.local()
        self.clocks = ServerClocks(now) if now is not None else ServerClocks()
        self.deadline = deadline
        self._timeout = timeout
        resolver.on_lookup = self._on_lookup
        backend = TracingBackend(resolver, deadline, self._phase)
        self.transport = RoutingTransport(backend, trust.context, proxies)
        self._host_headers: dict[str, tuple[tuple[str, str], ...]] = {}
        self._headers = httpx.Headers(
            {
                "User-Agent": f"acrdiag/{__version__}",
                "Accept": "*/*",
                # Servers should send bodies as they are: a registry client has no use for
                # Content-Encoding (see read_body for one that sends gzip all the same).
                "Accept-Encoding": "identity",
            }
        )

    def add_host_headers(self, netloc: str, headers: Sequence[tuple[str, str]]) -> None:
        """Headers sent on every request to ``netloc`` (host[:port]) and no other: containerd's
        hosts.toml [header] belongs to that host alone."""
        self._host_headers[netloc.lower()] = tuple(headers)

    @property
    def recorder(self) -> Recorder | None:
        """Where requests, phases and warnings go: the current step, or what
        recording_into() set for this thread."""
        mine: Recorder | None = getattr(self._thread, "recorder", None)
        return mine if mine is not None else self._recorder

    @recorder.setter
    def recorder(self, recorder: Recorder | None) -> None:
        self._recorder = recorder

    @contextmanager
    def recording_into(self, recorder: Recorder) -> Iterator[None]:
        """This thread's exchanges go to ``recorder`` (a worker's own, merged in order later)."""
        self._thread.recorder = recorder
        try:
            yield
        finally:
            self._thread.recorder = None

    def close(self) -> None:
        self.transport.close()
        EARLY.discard()  # an early connection this run did not take (net/early.py)

    def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        check_hop: HopCheck | None = None,
    ) -> Exchange:
        """GET ``url``, following redirects, and read the body."""
        with self.open_following(url, headers=headers, check_hop=check_hop) as response:
            return self.exchange(response, max_body)

    @contextmanager
    def open_following(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        keep_authorization: AuthorizationRule | None = None,
        check_hop: HopCheck | None = None,
    ) -> Iterator[httpx.Response]:
        """Like open(), but redirects are followed as Go's client does; every hop is recorded.

        Authorization follows a redirect only where ``keep_authorization`` allows (by default
        Go's rule: the same host or a subdomain), and never onto plain http.
        A redirect whose Location no client could follow ends the chain: its 3xx is yielded.
        """
        keep = keep_authorization or _same_host_or_subdomain
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
            if check_hop is not None:
                check_hop(target)
            headers = self._headers_for_redirect(headers, url, target, keep)
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
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Iterator[httpx.Response]:
        """Send the request and yield the response with its body unread."""
        url = self._without_userinfo(url)
        proxy = self.transport.proxy_for(url)
        started, connect_before = time.monotonic(), self._connect_seconds()
        try:
            response = self._send(method, url, headers, body)
        except Exception as exc:
            raise self._classified(exc, url, proxy) from exc
        ttfb = time.monotonic() - started - (self._connect_seconds() - connect_before)
        self._phase("ttfb", ttfb)
        self._note(method, url, response, proxy, ttfb)
        try:
            yield response
        finally:
            response.close()
            self._check_overrun(response)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None, body: bytes | None
    ) -> httpx.Response:
        merged = self._headers.copy()
        for name, value in self._host_headers.get(urlsplit(url).netloc.lower(), ()):
            merged[name] = value
        merged.update(headers or {})
        timeout = httpx.Timeout(self.deadline.clamp(self._timeout))
        request = httpx.Request(
            method, url, headers=merged, content=body, extensions={"timeout": timeout.as_dict()}
        )
        response = self.transport.handle_request(request)
        response.request = request
        return response

    def finish(self, response: httpx.Response, max_body: int = 64 * 1024) -> None:
        """Done with a response whose body does not matter (a redirect's HTML): read a small
        one to its end so its connection can carry the next request, else close it."""
        declared = response.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > max_body:
            response.close()  # chunked or large: reading it could take long
            return
        try:
            self.read_body(response, max_body)
        except NetFailure:
            pass  # the next request opens a new connection, and meets the problem itself
        finally:
            response.close()

    def read_body(self, response: httpx.Response, max_body: int) -> bytes:
        """The body, refusing more than ``max_body`` bytes on the wire or once decoded.

        Only ``Content-Encoding: gzip`` exactly is undone, as Go's client undoes it for
        docker (one layer, no other coding); it is decoded bit by bit within the limit, so
        a gzip bomb stops at ``max_body``. Anything else stays as sent.
        """
        url = str(response.request.url)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise self._classified(BodyTooLarge(max_body), url, None)
        gzipped = response.headers.get("content-encoding", "").strip().lower() == "gzip"
        decoder = zlib.decompressobj(wbits=31) if gzipped else None
        parts: list[bytes] = []
        size = 0
        for chunk in self.iter_raw(response):
            for part in _decoded(decoder, chunk, max_body - size + 1, url):
                size += len(part)
                if size > max_body:
                    raise self._classified(BodyTooLarge(max_body), url, None)
                parts.append(part)
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
        # The whole body is in: now, while its step is still the current one, an answer
        # that ran past its Content-Length can be told (see _check_overrun).
        response.close()
        self._check_overrun(response)

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
        self.clocks.note(host_of(url), response.headers.get("date"))
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
        recorder = self.recorder
        if recorder is None:
            return
        recorder.add_request(entry)
        for name in REQUEST_ID_HEADERS:
            value = response.headers.get(name)
            if value:
                recorder.add_request_id(name, value[:200])

    def _headers_for_redirect(
        self,
        headers: Mapping[str, str] | None,
        source: str,
        target: str,
        keep: AuthorizationRule,
    ) -> Mapping[str, str] | None:
        if headers is None or not any(k.lower() == "authorization" for k in headers):
            return headers
        downgrade = is_downgrade(source, target)
        if keep(source, target) and not downgrade:
            return headers
        if downgrade:
            self._warn(
                Cause.INSECURE_REDIRECT,
                f"{host_of(source)} redirected from https to plain http "
                f"({redact_url(target)}): the credentials were not sent there",
                "a redirect to plain http exposes credentials to anyone on the path: fix the "
                "server's redirect (Go clients such as docker would send them)",
            )
        return {k: v for k, v in headers.items() if k.lower() != "authorization"}

    def _without_userinfo(self, url: str) -> str:
        bare, had_userinfo = split_userinfo(url)
        if had_userinfo:
            self._warn(
                Cause.CREDENTIALS_IN_REDIRECT,
                f"the URL for {host_of(bare)} carried a user name and password: they were not "
                "sent (Go clients turn them into an Authorization header)",
                "a server that puts credentials into a URL it hands out leaks them: fix it",
            )
        return bare

    def _check_overrun(self, response: httpx.Response) -> None:
        extra = self.transport.discard_overrun(response)
        if extra:
            host = host_of(str(response.request.url))
            self._warn(
                Cause.PROTOCOL_ERROR,
                f"{host} sent {extra:,} bytes beyond the end of its response (more than its "
                "Content-Length): that connection was closed rather than reused",
                "the server or a proxy in front of it frames responses wrongly; Go clients "
                "drop such a connection too ('Unsolicited response received on idle HTTP "
                "channel')",
            )

    def _warn(self, cause: Cause, message: str, hint: str) -> None:
        recorder = self.recorder
        if recorder is not None:
            recorder.warn(cause, message, hint)

    def _connect_seconds(self) -> float:
        """DNS, TCP and TLS time spent by this thread so far (kept out of time to first byte)."""
        seconds: float = getattr(self._thread, "connect_s", 0.0)
        return seconds

    def _on_lookup(self, lookup: Lookup) -> None:
        self._phase("dns", lookup.duration_s)

    def _phase(self, name: str, seconds: float) -> None:
        if name in ("dns", "tcp", "tls"):
            # Per thread: parallel downloads must not take each other's connect time off.
            self._thread.connect_s = self._connect_seconds() + seconds
        recorder = self.recorder
        if recorder is not None:
            recorder.add_phase(name, seconds)


def _decoded(decoder: Any, chunk: bytes, room: int, url: str) -> Iterator[bytes]:
    """``chunk`` as it is, or gunzipped in pieces of at most ``room`` bytes."""
    if decoder is None:
        yield chunk
        return
    try:
        data = chunk
        while data:
            part = decoder.decompress(data, max(room, 1))
            yield part
            room -= len(part)
            data = decoder.unconsumed_tail
    except zlib.error as exc:
        raise NetFailure(
            Cause.PROTOCOL_ERROR,
            f"{host_of(url)} marked its answer Content-Encoding: gzip, but it does not "
            f"decompress ({exc})",
            host=host_of(url),
            phase="body",
        ) from exc


def _redirect_target(response: httpx.Response, url: str) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    return resolve_redirect(url, location) if location else None


def _same_host_or_subdomain(source: str, target: str) -> bool:
    """Go keeps Authorization only for the same host or its subdomains (CVE-2023-45289)."""
    old, new = host_of(source).rstrip("."), host_of(target).rstrip(".")
    return new == old or new.endswith("." + old)


def connection_of(response: httpx.Response) -> ConnectionInfo | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    info = stream.get_extra_info(CONNECTION_INFO)
    return info if isinstance(info, ConnectionInfo) else None
