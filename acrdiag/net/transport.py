"""An httpx transport that picks direct or proxy per request, by Go's rules.

A custom transport switches httpx's own environment proxies off, and httpx's
NO_PROXY matching differs from Go's anyway (CIDR, ports), so the choice is
made here with acrdiag.net.proxy, the rules docker and containerd follow.
"""

from __future__ import annotations

import ssl
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from acrdiag.net.connections import TracingBackend
from acrdiag.net.proxy import ProxyConfig
from acrdiag.redact import redact_url


def _wrap(pool: httpcore.ConnectionPool, context: ssl.SSLContext) -> httpx.HTTPTransport:
    # Reuse httpx's request/response and exception mapping around our own pool.
    # Relies on HTTPTransport._pool, stable across httpx 0.2x (pinned in pyproject).
    transport = httpx.HTTPTransport(verify=context)
    transport._pool = pool
    return transport


class RoutingTransport(httpx.BaseTransport):
    def __init__(
        self, backend: TracingBackend, context: ssl.SSLContext, proxies: ProxyConfig
    ) -> None:
        self._backend = backend
        self._context = context
        self.proxies = proxies
        pool = httpcore.ConnectionPool(ssl_context=context, network_backend=backend, retries=0)
        self._pools: list[httpcore.ConnectionPool] = [pool]
        self._direct = _wrap(pool, context)
        self._via: dict[str, httpx.HTTPTransport] = {}
        self._routes: dict[str, str | None] = {}

    def proxy_for(self, url: str) -> str | None:
        # Go's rules depend on scheme, host and port only: decide once per origin.
        origin = url.split("/", 3)[:3]
        key = "/".join(origin)
        if key not in self._routes:
            self._routes[key] = self.proxies.proxy_for(url)
        return self._routes[key]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy_for(str(request.url))
        transport = self._direct if proxy is None else self._through(proxy)
        return transport.handle_request(request)

    def _through(self, proxy: str) -> httpx.HTTPTransport:
        if proxy not in self._via:
            pool = self._proxy_pool(proxy)
            self._pools.append(pool)
            self._via[proxy] = _wrap(pool, self._context)
        return self._via[proxy]

    def discard_overrun(self, response: httpx.Response) -> int:
        """Bytes the response's idle connection received past the response's end; such a
        connection is closed, so that the next request (another step's) is not blamed.

        httpcore keeps those bytes in h11's buffer and would parse them as the next
        response. Reads httpcore internals (pinned <2 in pyproject); finds 0 if they change.
        """
        stream = response.extensions.get("network_stream")
        for pool in self._pools:
            for connection in pool.connections:
                http11 = getattr(connection, "_connection", None)
                if stream is None or getattr(http11, "_network_stream", None) is not stream:
                    continue
                if not connection.is_idle():
                    return 0  # closed, or a body left unread: httpcore drops it anyway
                state = getattr(http11, "_h11_state", None)
                trailing = getattr(state, "trailing_data", (b"", False))[0]
                if trailing:
                    connection.close()
                return len(trailing)
        return 0

    def _proxy_pool(self, proxy: str) -> httpcore.HTTPProxy:
        parts = urlsplit(proxy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Go accepts odd values (socks5, quoted URLs); say so instead of crashing.
            raise httpx.ProxyError(f"invalid or unsupported proxy URL {redact_url(proxy)}")
        auth = None
        if parts.username is not None:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        try:
            port = parts.port
            return httpcore.HTTPProxy(
                proxy_url=parts._replace(netloc=host + (f":{port}" if port else "")).geturl(),
                proxy_auth=auth,
                ssl_context=self._context,
                network_backend=self._backend,
            )
        except (ValueError, httpcore.UnsupportedProtocol) as exc:
            raise httpx.ProxyError(f"invalid proxy URL {redact_url(proxy)}: {exc}") from exc

    def close(self) -> None:
        self._direct.close()
        for transport in self._via.values():
            transport.close()
