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
            self._via[proxy] = _wrap(self._proxy_pool(proxy), self._context)
        return self._via[proxy]

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
