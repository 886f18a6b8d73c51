"""Concrete next steps for network failures, by hop (registry, realm, storage).

Hints name the real thing to change: the DNS record, the allowlist, the
NO_PROXY entry, the CA file. Probe-specific hints live beside their probe.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from acrdiag.causes import Cause
from acrdiag.registry.profiles import vpc_only_endpoint, well_known_endpoint

if TYPE_CHECKING:
    from acrdiag.context import RunContext
    from acrdiag.net.errors import NetFailure

_ALIYUN = re.compile(r"\.aliyuncs\.com$")
HOP_NAMES = {"registry": "registry", "realm": "token service", "storage": "storage"}


def network_hints(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    if failure.phase == "dns":
        return lookup_hints(ctx, failure.host, failure.cause, hop)
    if failure.cause in (Cause.PROXY_UNREACHABLE, Cause.PROXY_REFUSED, Cause.PROXY_AUTH_REQUIRED):
        return proxy_hints(ctx, failure, hop)
    handler = _BY_CAUSE.get(failure.cause)
    return handler(ctx, failure, hop) if handler else []


def lookup_hints(ctx: RunContext, host: str, cause: Cause, hop: str) -> list[str]:
    """What to do when resolving ``host`` (of the registry, realm or storage hop) failed."""
    if cause in (Cause.DNS_NXDOMAIN, Cause.DNS_NO_ANSWER):
        return dns_missing_hints(host, hop)
    if cause is Cause.DNS_TIMEOUT:
        return [dns_timeout_hint()]
    if cause is Cause.DEADLINE_EXCEEDED:
        return _deadline_text(ctx)
    return [
        "the DNS server failed or the system resolver disagrees with DNS: compare "
        f"`getent hosts {host}` with `dig {host}`"
    ]


def dns_missing_hints(host: str, hop: str) -> list[str]:
    if vpc_only_endpoint(host):
        public = host.replace("-vpc.", ".", 1)
        return [
            f"{host} is an ACR VPC endpoint: it resolves only inside a VPC linked to the instance "
            "(ACR console > Access Control > VPC; the PrivateZone record is created there)",
            f"outside that VPC use the public endpoint {public} and add your egress IP to the "
            "instance's internet access control allowlist",
        ]
    if "-internal." in host and _ALIYUN.search(host):
        return [
            f"{host} is an Alibaba Cloud internal endpoint: it works only from Alibaba Cloud "
            "in the same region; outside it, pull through the public endpoint",
        ]
    # Fixed public endpoints (not per-customer names): NXDOMAIN for them means DNS is wrong.
    if well_known_endpoint(host):
        return [
            f"{host} is a public registry endpoint that exists on the internet: the DNS server "
            "this machine uses answers otherwise, so it is filtered or split-horizon; compare "
            f"`dig {host}` with `dig @223.5.5.5 {host}` (a public resolver)"
        ]
    if host.endswith(".cr.aliyuncs.com"):
        return [
            f"check the instance name and region in {host} against the ACR console "
            "(Instance > Access Control shows the instance's domains)"
        ]
    if hop != "registry":
        # The server named this host; the user did not type it.
        return [
            f"the {HOP_NAMES.get(hop, hop)} host {host} was named by the registry, and this "
            "machine's DNS does not know it: a DNS filter, split-horizon DNS or a private zone "
            f"hides it; compare `dig {host}` here and on a machine where pulls work"
        ]
    return [
        f"check the spelling of {host}; `dig {host}` asks DNS directly, "
        f"`getent hosts {host}` asks the system resolver as docker does"
    ]


def dns_timeout_hint() -> str:
    return (
        "no DNS server answered: check the nameserver lines in /etc/resolv.conf (on Alibaba "
        "Cloud ECS: 100.100.2.136 and 100.100.2.138) and that UDP/TCP port 53 is open"
    )


def proxy_hints(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    name = HOP_NAMES.get(hop, hop)
    hints = [
        f"the {name} host {failure.host} goes through the proxy {failure.proxy}, "
        "which does not work: fix or allow it on the proxy, or add the host to NO_PROXY "
        "if it should be reached directly"
    ]
    registry_route = ctx.environment.proxies.get("registry", "")
    if hop != "registry" and registry_route.startswith("direct"):
        hints.append(
            f"the registry goes direct ({registry_route}) while the {name} host does "
            f"not: add {_domain_of(failure.host)} to NO_PROXY or allow it on the proxy"
        )
    return hints


def _domain_of(host: str) -> str:
    # A NO_PROXY entry "oss-<region>.aliyuncs.com" covers every bucket's virtual host.
    match = re.search(r"(^|\.)(oss-[a-z0-9-]+\.aliyuncs\.com)$", host)
    return match.group(2) if match else host


def _tcp_refused(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        f"nothing accepts connections on {failure.host} at that port: wrong port, a stopped "
        "service, or a firewall that rejects"
    ]


def _tcp_timeout(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    host = failure.host
    hints = [f"packets to {host} are dropped: a firewall, security group or route"]
    if hop == "registry" and host.endswith(".cr.aliyuncs.com"):
        hints.append(
            "ACR Enterprise instances drop traffic until your source is allowed: add "
            "your egress IP to the internet access control list (public endpoint) or "
            "link your VPC (VPC endpoint)"
        )
    if hop == "storage" and "-internal." in host:
        hints.append(
            f"{host} is an internal OSS endpoint, reachable only from Alibaba Cloud in "
            "the same region: pull through the public registry endpoint from elsewhere"
        )
    elif hop == "storage":
        hints.append(f"allow outbound HTTPS to {host} (object storage) as well as to the registry")
    if hop == "realm":
        hints.append(f"the token service {host} is a separate host from the registry: allow it too")
    return hints


def _private_ca_hint(ctx: RunContext, host: str, hop: str) -> str:
    if hop == "registry":
        # docker names the directory after the registry as the reference gives it: host:port.
        where = f"/etc/docker/certs.d/{ctx.reference.registry}/ca.crt"
        return f"if {host} uses a private CA, pass it with --ca-file (docker reads it from {where})"
    return (
        f"if {host} uses a private CA, pass it with --ca-file; docker reads certs.d only for the "
        "registry's own host, so add this CA to the system store (update-ca-certificates)"
    )


def _tcp_unreachable(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [f"no route to {failure.host}: check the default route, VPN and IPv6 connectivity"]


def _tls_untrusted(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        f"trust used: {ctx.trust.description}",
        _private_ca_hint(ctx, failure.host, hop),
        "a TLS-inspecting proxy or firewall re-signing traffic also looks like this: compare the "
        "issuer with your organisation's CA",
    ]


def _tls_mismatch(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        f"the certificate does not name {failure.host}: DNS may point at another server, or "
        "use the name the certificate gives"
    ]


def _tls_expired(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        "the certificate is outside its validity period; if the server renewed it, check the "
        "local clock (`date -u`, chrony/ntp): a wrong clock makes valid certificates fail"
    ]


def _tls_error(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    if "client certificate" in failure.message:
        where = f"/etc/docker/certs.d/{ctx.reference.registry}/"
        return [
            f"{failure.host} requires mutual TLS: put the node's certificate and key in {where} "
            "as client.cert and client.key (docker and containerd read them there), or pass "
            f"--cert-dir; trust used: {ctx.trust.description}"
        ]
    if "plain HTTP" in failure.message:
        return [
            "the port speaks plain HTTP: use --plain-http (docker needs the registry in "
            "insecure-registries)"
        ]
    return [
        "the TLS handshake failed: check the protocol versions and ciphers the server allows, "
        "and whether a middlebox interferes"
    ]


def _read_timeout(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    if failure.phase == "tls":
        return [
            f"{failure.host} took the TCP connection but not the TLS handshake: a port that "
            "speaks plain HTTP (try --plain-http), or a middlebox holding TLS; the route itself "
            "works"
        ]
    return [
        f"{failure.host} accepted the connection but did not answer within "
        f"--timeout {ctx.options.timeout:g} s: an overloaded server or a middlebox holding "
        "the connection"
    ]


def _reset(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        *_plain_http_hint(ctx, hop),
        "the connection was cut mid-exchange: a proxy or firewall with a short idle timeout, "
        "or an MTU problem on the path",
    ]


def _protocol(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [*_plain_http_hint(ctx, hop), f"{failure.host} did not answer with valid HTTP"]


def _plain_http_hint(ctx: RunContext, hop: str) -> list[str]:
    if ctx.plain_http and hop == "registry":
        return ["the port may speak TLS: drop --plain-http"]
    return []


def _redirects(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        f"{failure.host} redirects in a loop or a long chain; the requests above show "
        "each hop: a proxy or login page may be answering instead of the service"
    ]


def _too_large(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return [
        f"{failure.host} sent far more than a registry answer holds: another service "
        "(or a proxy) answers on this URL"
    ]


def _deadline(ctx: RunContext, failure: NetFailure, hop: str) -> list[str]:
    return _deadline_text(ctx)


def _deadline_text(ctx: RunContext) -> list[str]:
    return [
        f"the whole run is bounded by --deadline {ctx.options.deadline:g} s; raise it for "
        "slow links or large blobs"
    ]


_BY_CAUSE = {
    Cause.TCP_REFUSED: _tcp_refused,
    Cause.TCP_TIMEOUT: _tcp_timeout,
    Cause.TCP_UNREACHABLE: _tcp_unreachable,
    Cause.TLS_UNTRUSTED: _tls_untrusted,
    Cause.TLS_HOSTNAME_MISMATCH: _tls_mismatch,
    Cause.TLS_EXPIRED: _tls_expired,
    Cause.TLS_ERROR: _tls_error,
    Cause.READ_TIMEOUT: _read_timeout,
    Cause.CONNECTION_RESET: _reset,
    Cause.PROTOCOL_ERROR: _protocol,
    Cause.DEADLINE_EXCEEDED: _deadline,
    Cause.TOO_MANY_REDIRECTS: _redirects,
    Cause.RESPONSE_TOO_LARGE: _too_large,
}
