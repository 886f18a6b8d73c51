"""Name resolution the way the puller does it, compared with what DNS itself says.

docker and containerd resolve through the system resolver (/etc/hosts, nsswitch,
resolv.conf), so by default its answer decides where we connect; dnspython
queries the DNS servers directly and tells NXDOMAIN, no-answer and timeout
apart, which getaddrinfo cannot. With --nameserver the given servers decide.
Every host is looked up once per run; connections reuse the answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acrdiag.causes import Cause
from acrdiag.deadline import Deadline

_SYSTEM = "system resolver (getaddrinfo)"
COMPARISON_GRACE_S = 0.5


@dataclass
class Lookup:
    host: str
    addresses: list[str]
    source: str
    cause: Cause | None = None
    detail: str = ""
    dns: dict[str, Any] = field(default_factory=dict)
    system: list[str] | str | None = None
    note: str | None = None
    duration_s: float = 0.0
    # The direct DNS comparison, when it was still running as the system answered.
    comparison: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.cause is None

    def settle(self) -> bool:
        """Waits out the comparison, if one is running; True when the evidence changed."""
        finish, self.comparison = self.comparison, None
        if finish is None:
            return False
        finish()
        return True

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "decided_by": self.source}
        out["addresses"] = self.addresses
        if self.dns:
            out["dns"] = self.dns
        if self.system is not None:
            out["system"] = self.system
        if self.note:
            out["note"] = self.note
        if self.cause:
            out["error"] = self.detail
        out["duration_s"] = round(self.duration_s, 4)
        return out


def parse_nameserver(text: str) -> tuple[str, int]:
    """'IP', 'IP:PORT', '[v6]:PORT' or bare IPv6 → (ip, port); ValueError otherwise."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid nameserver {text!r}")
        port = int(rest[1:]) if rest else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text) if port_text.isdigit() else -1
    ipaddress.ip_address(host)  # raises ValueError
    if not 0 < port < 65536:
        raise ValueError(f"invalid nameserver port in {text!r}")
    return host, port


def host_key(host: str) -> str:
    """A host as look-ups are kept: no brackets, no final dot, lower case."""
    return host.strip("[]").rstrip(".").lower()


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostResolver:
    """Resolves each host once per run, within the per-operation timeout and the deadline."""

    def __init__(
        self,
        nameservers: list[tuple[str, int]],
        timeout: float,
        deadline: Deadline,
        on_lookup: Callable[[Lookup], None] | None = None,
    ) -> None:
        self._nameservers = nameservers
        self._timeout = timeout
        self._deadline = deadline
        self._cache: dict[str, Lookup] = {}
        self.on_lookup = on_lookup

    def settle(self) -> list[Lookup]:
        """Lookups whose DNS comparison finished only now (their evidence grew)."""
        return [lookup for lookup in list(self._cache.values()) if lookup.settle()]

    def describe(self) -> str:
        if self._nameservers:
            servers = ", ".join(f"{h}:{p}" for h, p in self._nameservers)
            return f"DNS servers from --nameserver ({servers}); system resolver not consulted"
        return f"{_SYSTEM}, compared with the DNS servers in /etc/resolv.conf"

    def lookup(self, host: str) -> Lookup:
        host = host_key(host)
        if host in self._cache:
            return self._cache[host]
        started = time.monotonic()
        if is_ip_literal(host):
            result = Lookup(host, [host], "address literal")
        elif self._nameservers:
            result = self._lookup_dns_only(host)
        else:
            result = self._lookup_system(host)
        result.duration_s = result.duration_s or time.monotonic() - started
        if result.cause is Cause.DNS_TIMEOUT and self._deadline.remaining() <= 0.05:
            result.cause = Cause.DEADLINE_EXCEEDED
            result.detail = f"the run's deadline ran out resolving {host}"
        self._cache[host] = result
        if self.on_lookup:
            self.on_lookup(result)
        return result

    def _lookup_dns_only(self, host: str) -> Lookup:
        answers, errors, server = _query_dns(host, self._nameservers, self._budget())
        dns_view = _dns_view(answers, errors, server)
        addresses = answers.get("A", []) + answers.get("AAAA", [])
        if addresses:
            return Lookup(host, addresses, f"DNS {server}", dns=dns_view)
        cause, detail = _dns_failure(host, errors)
        return Lookup(host, [], f"DNS {server}", cause, detail, dns=dns_view)

    def _lookup_system(self, host: str) -> Lookup:
        budget = self._budget()
        started = time.monotonic()
        system, direct = _early_lookup(host), _DnsQuery(host, budget)
        if system is None:
            system = SystemLookup(host)
            system.start()
        direct.start()
        system.answered.wait(budget)
        if system.addresses:
            lookup = self._answered(host, system.addresses, direct)
            lookup.duration_s = system.seconds  # its own time, even when it ran early
            return lookup
        left = budget - (time.monotonic() - started)
        direct.join(max(0.0, min(left, self._deadline.remaining())))
        answers, errors, server = direct.outcome(waited_full=True)
        dns_view = _dns_view(answers, errors, server) if server else {"error": errors.get("config")}
        dns_addresses = answers.get("A", []) + answers.get("AAAA", [])
        system_text = system.error or "no answer in time"
        cause, detail = _system_failure(host, system, dns_addresses, errors)
        return Lookup(
            host, [], _SYSTEM, cause, detail, dns=dns_view, system=f"error: {system_text}"
        )

    def _answered(self, host: str, addresses: list[str], direct: _DnsQuery) -> Lookup:
        """The system resolver decides; DNS itself only explains, so its answer is not
        waited for here: the connection goes ahead, and the comparison (dnspython's import
        and two queries) runs beside it until settle(), briefly waited for then."""
        lookup = Lookup(host, addresses, _SYSTEM, system=addresses)
        answered = time.monotonic()

        def finish() -> None:
            wait = COMPARISON_GRACE_S - (time.monotonic() - answered)
            direct.join(max(0.0, min(wait, self._deadline.remaining())))
            answers, errors, server = direct.outcome(waited_full=False)
            view = _dns_view(answers, errors, server) if server else {"error": errors.get("config")}
            lookup.dns = view
            # A single label is no DNS name (queried without the search list): no comparison.
            if "." in host:
                dns_addresses = answers.get("A", []) + answers.get("AAAA", [])
                lookup.note = _disagreement(addresses, dns_addresses, errors)

        if direct.is_alive():
            lookup.comparison = finish
        else:
            finish()
        return lookup

    def _budget(self) -> float:
        return self._deadline.clamp(self._timeout)


class _DnsQuery(threading.Thread):
    """dnspython's A/AAAA queries, run beside getaddrinfo rather than before it."""

    def __init__(self, host: str, budget: float) -> None:
        super().__init__(daemon=True, name=f"dns {host}")
        self.host, self.budget = host, budget
        self.result: tuple[dict[str, list[str]], dict[str, str], str] | None = None

    def run(self) -> None:
        self.result = _query_dns(self.host, None, self.budget)

    def outcome(self, waited_full: bool) -> tuple[dict[str, list[str]], dict[str, str], str]:
        if self.result is not None:
            return self.result
        if waited_full:
            return {}, {"A": f"timeout after {self.budget:.1f} s"}, "resolv.conf servers"
        late = f"no answer within {COMPARISON_GRACE_S:g} s (the system resolver had answered)"
        return {}, {"A": late}, "resolv.conf servers"


class SystemLookup(threading.Thread):
    """getaddrinfo has no timeout of its own, so it runs aside and is abandoned when late.
    ``then`` runs in the same thread as it answers, before anyone sees the answer (net/early.py
    registers its connect there); it must not block."""

    def __init__(self, host: str, then: Callable[[SystemLookup], None] | None = None) -> None:
        super().__init__(daemon=True, name=f"getaddrinfo {host}")
        self.host = host
        self.addresses: list[str] = []
        self.error: str | None = None
        self.gai_code: int | None = None
        self.seconds = 0.0
        self.answered = threading.Event()
        self._then = then

    def run(self) -> None:
        started = time.monotonic()
        try:
            self._resolve()
        finally:
            self.seconds = time.monotonic() - started
            if self._then is not None:
                with contextlib.suppress(Exception):  # optional work (net/early.py)
                    self._then(self)  # before the answer is seen: it must not block
            self.answered.set()

    def _resolve(self) -> None:
        try:
            infos = socket.getaddrinfo(self.host, 443, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            self.gai_code = exc.errno
            self.error = exc.strerror or str(exc)
            return
        except (OSError, UnicodeError) as exc:
            self.error = str(exc)
            return
        seen: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in seen:
                seen.append(address)
        self.addresses = seen


def _early_lookup(host: str) -> SystemLookup | None:
    from acrdiag.net.early import EARLY  # a look-up started before the imports, if any

    return EARLY.lookup(host)


def _query_dns(
    host: str, nameservers: list[tuple[str, int]] | None, budget: float
) -> tuple[dict[str, list[str]], dict[str, str], str]:
    """A then AAAA over dnspython; returns (answers, errors by type, server description)."""
    import dns.exception
    import dns.name
    import dns.nameserver
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        return {}, {"config": f"no usable /etc/resolv.conf: {exc}"}, ""
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in nameservers]
    resolver.timeout = budget
    server = ", ".join(str(ns) for ns in resolver.nameservers)
    answers: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    try:
        qname = dns.name.from_text(host)
    except (dns.exception.DNSException, ValueError) as exc:
        return {}, {"A": f"invalid name: {exc}"}, server
    started = time.monotonic()
    for rdtype in ("A", "AAAA"):
        left = budget - (time.monotonic() - started)
        if left <= 0 or errors.get("A", "").startswith(("timeout", "NXDOMAIN")):
            break  # one timeout or NXDOMAIN says it all; don't double the wait
        try:
            answer = resolver.resolve(
                qname, rdtype, lifetime=left, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            errors[rdtype] = "NXDOMAIN"
            continue
        except dns.exception.Timeout:
            errors[rdtype] = f"timeout after {left:.1f} s"
            continue
        except dns.resolver.NoNameservers as exc:
            errors[rdtype] = f"all servers failed: {_short(exc)}"
            continue
        except dns.exception.DNSException as exc:
            errors[rdtype] = _short(exc)
            continue
        found = [rr.to_text() for rr in answer.rrset] if answer.rrset is not None else []
        if found:
            answers[rdtype] = found
        else:
            errors[rdtype] = "no answer"
    return answers, errors, server


def _dns_view(answers: dict[str, list[str]], errors: dict[str, str], server: str) -> dict[str, Any]:
    view: dict[str, Any] = {"server": server}
    for rdtype in ("A", "AAAA"):
        if rdtype in answers:
            view[rdtype] = answers[rdtype]
        elif rdtype in errors:
            view[rdtype] = errors[rdtype]
    return view


def _dns_failure(host: str, errors: dict[str, str]) -> tuple[Cause, str]:
    values = list(errors.values())
    if any(v == "NXDOMAIN" for v in values):
        return Cause.DNS_NXDOMAIN, f"{host} does not exist in DNS (NXDOMAIN)"
    if any(v.startswith("timeout") for v in values):
        return Cause.DNS_TIMEOUT, f"no DNS server answered for {host} in time"
    if values and all(v == "no answer" for v in values):
        return Cause.DNS_NO_ANSWER, f"{host} exists in DNS but has no A or AAAA record"
    detail = "; ".join(f"{k}: {v}" for k, v in errors.items()) or "no answer"
    return Cause.DNS_ERROR, f"resolving {host} failed: {detail}"


def _system_failure(
    host: str, system: SystemLookup, dns_addresses: list[str], errors: dict[str, str]
) -> tuple[Cause, str]:
    said = system.error or "no answer in time"
    if not system.answered.is_set():  # its thread may still be ending after it answered
        return Cause.DNS_TIMEOUT, f"the system resolver did not answer for {host} in time"
    if dns_addresses:
        return Cause.DNS_ERROR, (
            f"DNS answers {', '.join(dns_addresses)} for {host}, but the system resolver "
            f"(which docker uses) fails: {said}; check /etc/nsswitch.conf and /etc/hosts"
        )
    if errors and "config" not in errors:
        cause, detail = _dns_failure(host, errors)
        return cause, f"{detail}; system resolver: {said}"
    by_code = {
        getattr(socket, "EAI_NONAME", -2): Cause.DNS_NXDOMAIN,
        getattr(socket, "EAI_NODATA", -5): Cause.DNS_NO_ANSWER,
        getattr(socket, "EAI_AGAIN", -3): Cause.DNS_TIMEOUT,
    }
    cause = by_code.get(system.gai_code or 0, Cause.DNS_ERROR)
    return cause, f"the system resolver cannot resolve {host}: {said}"


def _disagreement(
    system: list[str], dns_addresses: list[str], errors: dict[str, str]
) -> str | None:
    denied = {k: v for k, v in errors.items() if v in ("NXDOMAIN", "no answer")}
    if not dns_addresses and denied:
        said = "; ".join(f"{k}: {v}" for k, v in denied.items())
        return f"the system resolver found it (/etc/hosts?) but DNS says {said}"
    if dns_addresses and not set(system) & set(dns_addresses):
        return "the system resolver and DNS give different addresses (/etc/hosts override?)"
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
