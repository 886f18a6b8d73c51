"""The proxy a Go puller (docker, containerd, skopeo, crane) would use for a URL.

A port of golang.org/x/net/http/httpproxy, quirks included, because httpx and
urllib read the same variables differently (lowercase first, CIDR entries that
never match) and the user needs to know what *their puller* does. Go's
url.Parse and net.SplitHostPort are ported just far enough to reproduce which
values Go accepts, rewrites or silently ignores.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from acrdiag.redact import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (field, variables in Go's order of precedence: uppercase first)
_VARIABLES = (
    ("http_proxy", ("HTTP_PROXY", "http_proxy")),
    ("https_proxy", ("HTTPS_PROXY", "https_proxy")),
    ("no_proxy", ("NO_PROXY", "no_proxy")),
)
_PROXY_SCHEMES = frozenset({"http", "https", "socks5"})
_DEFAULT_PORTS = {"http": "80", "https": "443", "socks5": "1080"}
# RFC 3986 sub-delims plus what Go's shouldEscape(encodeHost) lets through.
_HOST_PUNCTUATION = frozenset("-_.~!$&'()*+,;=:[]<>\"")
_USERINFO_PUNCTUATION = frozenset("-._:~!$&'()*+,;=%@")
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class ProxyConfig:
    http_proxy: str | None
    https_proxy: str | None
    no_proxy: str | None
    source: dict[str, str] = field(default_factory=dict)
    # REQUEST_METHOD set: Go refuses HTTP_PROXY (golang.org/s/cgihttpproxy).
    cgi: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxyConfig:
        """Go's FromEnvironment: a non-empty uppercase variable wins; ALL_PROXY is not read."""
        values: dict[str, str] = {}
        source: dict[str, str] = {}
        for name, candidates in _VARIABLES:
            found = next((c for c in candidates if environ.get(c)), None)
            if found is not None:
                values[name], source[name] = environ[found], found
        return cls(
            http_proxy=values.get("http_proxy"),
            https_proxy=values.get("https_proxy"),
            no_proxy=values.get("no_proxy"),
            source=source,
            cgi=bool(environ.get("REQUEST_METHOD")),
        )

    @classmethod
    def given(cls, url: str | None) -> ProxyConfig:
        """--proxy URL for every hop, or (None) --no-proxy: the environment is not read."""
        if url is None:
            return cls(None, None, None)
        source = {"http_proxy": "--proxy", "https_proxy": "--proxy"}
        return cls(http_proxy=url, https_proxy=url, no_proxy=None, source=source)

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL Go would use for this request, or None for a direct connection."""
        return _decide(self, url).proxy

    def explain(self, url: str) -> str:
        """One line saying which proxy Go would use for this URL, and why."""
        return _decide(self, url).reason

    def describe(self) -> dict[str, str]:
        """The variables Go reads, as set, with proxy credentials redacted (for the report)."""
        values = {"http_proxy": self.http_proxy, "https_proxy": self.https_proxy}
        out = {self._label(k): redact_url(v) for k, v in values.items() if v}
        if self.no_proxy:
            out[self._label("no_proxy")] = self.no_proxy
        return out

    def _label(self, name: str) -> str:
        return self.source.get(name, name.upper())


@dataclass(frozen=True)
class _Decision:
    proxy: str | None
    reason: str


@dataclass(frozen=True)
class _Rule:
    """One parsed NO_PROXY entry (Go's allMatch, cidrMatch, ipMatch or domainMatch)."""

    entry: str
    network: IPNetwork | None = None
    ip: IPAddress | None = None
    domain: str | None = None  # always with a leading dot, as Go stores it
    port: str = ""
    match_bare: bool = False  # "example.com" also matches "example.com" itself
    match_all: bool = False

    def matches(self, host: str, port: str, ip: IPAddress | None) -> bool:
        if self.match_all:
            return True
        if self.network is not None:
            return ip is not None and ip in self.network
        if self.ip is not None:
            return self.ip == ip and self.port in ("", port)
        return self.domain_matches(host) and self.port in ("", port)

    def domain_matches(self, host: str) -> bool:
        if self.domain is None:
            return False
        return host.endswith(self.domain) or (self.match_bare and host == self.domain[1:])


def _decide(cfg: ProxyConfig, url: str) -> _Decision:
    target = _go_parse_url(url)
    if target is None:
        return _Decision(None, f"direct: Go cannot parse the URL {redact_url(url)!r}")
    scheme, hostport = target
    if scheme not in ("http", "https"):
        return _Decision(None, f"direct: Go proxies only http and https URLs, not {scheme!r}")
    name = f"{scheme}_proxy"
    raw = cfg.https_proxy if scheme == "https" else cfg.http_proxy
    if not raw:
        return _Decision(None, _nothing_configured(cfg, scheme))
    proxy = _go_parse_proxy(raw)
    if proxy is None:
        return _Decision(
            None,
            f"direct: {cfg._label(name)} value {redact_url(raw)!r} is not a URL Go can parse,"
            " so Go ignores it",
        )
    if scheme == "http" and cfg.cgi:
        return _Decision(
            None,
            "direct here, but Go fails the request: it refuses HTTP_PROXY"
            " while REQUEST_METHOD is set (CGI)",
        )
    host, port = _host_and_port(hostport, scheme)
    bypass = _bypass(cfg, host, port)
    if bypass is not None:
        return _Decision(None, f"direct: {bypass}")
    hint = _rewritten(raw, proxy) or _near_miss(cfg, host, port)
    return _Decision(proxy, f"via {redact_url(proxy)} ({cfg._label(name)}){hint}")


def _rewritten(raw: str, proxy: str) -> str:
    """A quoted or padded value still "parses" once Go prepends http://, to a nonsense host."""
    if "://" not in raw or proxy.lower() == raw.lower():
        return ""
    parsed = _go_parse_url(proxy)
    host = _host_and_port(parsed[1], "http")[0] if parsed is not None else ""
    return f"; the value is not a clean URL, so Go connects to proxy host {host!r}"


def _nothing_configured(cfg: ProxyConfig, scheme: str) -> str:
    if scheme == "https" and cfg.http_proxy:
        return (
            f"direct: no proxy configured for https URLs"
            f" ({cfg._label('http_proxy')} applies to http:// URLs only)"
        )
    return "direct: no proxy configured"


def _bypass(cfg: ProxyConfig, host: str, port: str) -> str | None:
    """Go's useProxy, returning why the proxy is skipped (None: use it)."""
    split = _split_host_port(_join_host_port(host, port))
    if split is None:
        return f"Go cannot split {host!r} into host and port"
    host, port = split
    if host == "localhost":
        return "localhost is never proxied"
    ip = _parse_ip(host)
    if ip is not None and ip.is_loopback:
        return f"loopback address {host} is never proxied"
    host = host.strip().lower()
    ip_rules, domain_rules = _parse_no_proxy(cfg.no_proxy or "")
    # IP and CIDR entries are tried only for IP-literal hosts, never for names (kind#1304).
    for rule in [*(ip_rules if ip is not None else []), *domain_rules]:
        if rule.matches(host, port, ip):
            return f"{cfg._label('no_proxy')} entry {rule.entry!r} matches"
    return None


def _near_miss(cfg: ProxyConfig, host: str, port: str) -> str:
    """Why an entry the user probably meant to match did not."""
    ip_rules, domain_rules = _parse_no_proxy(cfg.no_proxy or "")
    label = cfg._label("no_proxy")
    lowered = host.lower()
    if _parse_ip(host) is None and ip_rules:
        entries = ", ".join(rule.entry for rule in ip_rules)
        return (
            f"; {label} IP/CIDR entries ({entries}) match only URLs written with an IP address,"
            " not names that resolve to one"
        )
    for rule in domain_rules:
        if rule.port and rule.domain_matches(lowered):
            return f"; {label} entry {rule.entry!r} applies only to port {rule.port}, not {port}"
    return ""


def _parse_no_proxy(value: str) -> tuple[list[_Rule], list[_Rule]]:
    """Go's config.init: (ip rules, domain rules); malformed entries are skipped, never raised."""
    ip_rules: list[_Rule] = []
    domain_rules: list[_Rule] = []
    for raw in value.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            everything = _Rule(entry, match_all=True)
            return [everything], [everything]
        rule = _parse_entry(entry)
        if rule is not None:
            (domain_rules if rule.domain is not None else ip_rules).append(rule)
    return ip_rules, domain_rules


def _parse_entry(entry: str) -> _Rule | None:
    network = _parse_cidr(entry)
    if network is not None:
        return _Rule(entry, network=network)
    split = _split_host_port(entry)
    host, port = split if split is not None else (entry, "")
    if split is not None:
        if not host:
            return None  # ":8080" has no host part
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    ip = _parse_ip(host)
    if ip is not None:
        return _Rule(entry, ip=ip, port=port)
    if not host:
        return None
    if host.startswith("*."):
        host = host[1:]  # "*.example.com" is the same as ".example.com"
    match_bare = not host.startswith(".")
    domain = _idna("." + host if match_bare else host)
    return _Rule(entry, domain=domain, port=port, match_bare=match_bare)


def _parse_cidr(entry: str) -> IPNetwork | None:
    address, slash, bits = entry.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or len(bits) > 6:
        return None
    if _parse_ip(address, keep_mapped=True) is None:
        return None
    try:
        return ipaddress.ip_network(f"{address}/{int(bits)}", strict=False)
    except ValueError:
        return None


def _parse_ip(text: str, keep_mapped: bool = False) -> IPAddress | None:
    """Go's net.ParseIP: no zones; an IPv4-mapped IPv6 address equals its IPv4 form."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if not keep_mapped and isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _idna(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return ".".join(
            label.encode("idna").decode("ascii") if label else "" for label in domain.split(".")
        )
    except UnicodeError:
        return domain


# --- Go's net and net/url, as far as proxy selection depends on them ---------------------


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """net.SplitHostPort: None where Go returns an error; the port may be any string."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    start, end_search = 0, 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host = hostport[1:end]
        start, end_search = 1, end + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            return None
    if "[" in hostport[start:] or "]" in hostport[end_search:]:
        return None
    return host, hostport[colon + 1 :]


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _host_and_port(hostport: str, scheme: str) -> tuple[str, str]:
    """url.Hostname() and url.Port(), with the scheme's default port as canonicalAddr adds."""
    host, port = hostport, ""
    colon = host.rfind(":")
    if colon >= 0 and _valid_optional_port(host[colon:]):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return _idna(host), port or _DEFAULT_PORTS.get(scheme, "")


def _go_parse_proxy(value: str) -> str | None:
    """parseProxy: keep an http/https/socks5 URL, else retry with "http://" prepended."""
    parsed = _go_parse_url(value)
    if parsed is not None and parsed[0] in _PROXY_SCHEMES:
        return parsed[0] + value[len(parsed[0]) :]
    if _go_parse_url("http://" + value) is not None:
        return "http://" + value  # "proxy:3128" and also '"http://p:3128"' (host '"http')
    if parsed is not None:
        return value
    return None


def _go_parse_url(raw: str) -> tuple[str, str] | None:
    """url.Parse: (lowercased scheme, Host) or None where Go returns an error."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return None
    rest, _, fragment = raw.partition("#")
    if not _valid_escapes(fragment):
        return None
    split = _go_scheme(rest)
    if split is None:
        return None
    scheme, rest = split
    rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return scheme, ""  # opaque, e.g. "proxy:3128" parses with scheme "proxy"
        if ":" in rest.partition("/")[0]:
            return None  # "first path segment in URL cannot contain colon"
    host = ""
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        parsed_host = _go_parse_authority(authority)
        if parsed_host is None:
            return None
        host, rest = parsed_host, slash + path
    return (scheme, host) if _valid_escapes(rest) else None


def _go_scheme(raw: str) -> tuple[str, str] | None:
    for i, char in enumerate(raw):
        if char.isascii() and char.isalpha():
            continue
        if char.isascii() and (char.isdigit() or char in "+-."):
            if i == 0:
                return "", raw
            continue
        if char == ":":
            return (raw[:i].lower(), raw[i + 1 :]) if i > 0 else None
        return "", raw
    return "", raw


def _go_parse_authority(authority: str) -> str | None:
    userinfo, at, host = authority.rpartition("@")
    if at and not all(
        c.isascii() and (c.isalnum() or c in _USERINFO_PUNCTUATION) for c in userinfo
    ):
        return None
    if at and not _valid_escapes(userinfo):
        return None
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0 or not _valid_optional_port(host[close + 1 :]):
            return None
    elif ":" in host and not _valid_optional_port(host[host.rfind(":") :]):
        return None
    if not _valid_escapes(host):
        return None
    if any(c.isascii() and not (c.isalnum() or c in _HOST_PUNCTUATION) for c in host if c != "%"):
        return None
    return unquote(host)


def _valid_optional_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _valid_escapes(text: str) -> bool:
    i = text.find("%")
    while i >= 0:
        if text[i + 1 : i + 2] not in _HEX or text[i + 2 : i + 3] not in _HEX:
            return False
        i = text.find("%", i + 3)
    return True
