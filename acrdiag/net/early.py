"""What a run's first step needs, started while the rest of acrdiag is imported.

Importing httpx, pydantic and the probes takes a quarter of a second before the first
packet. Meanwhile, in threads (they wait on the kernel, OpenSSL or the network, not on
Python): the system CA store is loaded, the registry's name is looked up with the system
resolver, and, when the run will go straight to the registry (--runtime none, no proxy),
its TCP connection is opened. Each is only what step 1 does first anyway; the run takes
what is ready (net/tls.py, net/dns.py, net/connections.py) and does the rest itself.
Nothing here changes a verdict: a failed early connect is reported as the run's own.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acrdiag.net.dns import SystemLookup, host_key, is_ip_literal

if TYPE_CHECKING:
    from acrdiag.run_options import RunOptions


@dataclass
class EarlyConnect:
    """One TCP connect to an address, in a thread: the socket or the error, and its time."""

    address: str
    port: int
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket | None = None
    error: OSError | None = None
    seconds: float = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.sock = socket.create_connection((self.address, self.port), self.timeout)
        except OSError as exc:  # socket.timeout included
            self.error = exc
        finally:
            self.seconds = time.monotonic() - started
            self.done.set()


class _Early:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: threading.Thread | None = None
        self._context: ssl.SSLContext | None = None
        self._lookups: dict[str, SystemLookup] = {}
        self._connects: dict[tuple[str, int], EarlyConnect] = {}
        self._generation = 0  # one per run: work of a run that ended is not started late

    def load_store(self) -> None:
        """The system CA store, loading in a thread unless it is loaded or loading."""
        with self._lock:
            if self._store is None and self._context is None:
                self._store = threading.Thread(target=self._load_store, daemon=True)
                self._store.start()

    def start(self, host: str, port: int, connect: bool, timeout: float) -> None:
        """``host`` looked up, and connected to on ``port`` if ``connect``."""
        generation = self._generation
        then = (lambda found: self._connect(found, port, timeout, generation)) if connect else None
        lookup = SystemLookup(host, then)
        with self._lock:
            self._lookups[host] = lookup
        lookup.start()

    def connect_literal(self, address: str, port: int, timeout: float) -> None:
        self._register(address, port, timeout, self._generation)

    def _load_store(self) -> None:
        self._context = ssl.create_default_context()

    def _connect(self, found: SystemLookup, port: int, timeout: float, generation: int) -> None:
        """Runs as the look-up answers, before the run can see the answer: the attempt is
        registered first, so the run finds it rather than opening a second connection."""
        if found.addresses:
            self._register(found.addresses[0], port, timeout, generation)

    def _register(self, address: str, port: int, timeout: float, generation: int) -> None:
        attempt = EarlyConnect(address, port, timeout)
        with self._lock:
            if generation != self._generation:
                return  # that run has ended
            self._connects[(address, port)] = attempt
        threading.Thread(target=attempt.run, daemon=True, name=f"connect {address}").start()

    def system_store(self, wait: float) -> ssl.SSLContext | None:
        """The default context with the system store loaded, once; None if not started."""
        with self._lock:
            store, self._store = self._store, None
        if store is None:
            return None
        store.join(wait)
        context, self._context = self._context, None
        return context

    def lookup(self, host: str) -> SystemLookup | None:
        """The system resolver's look-up of ``host`` started early, once (it may still run)."""
        with self._lock:
            return self._lookups.pop(host, None)

    def connection(self, address: str, port: int, wait: float) -> EarlyConnect | None:
        """The early connect to ``address``:``port``, once, waited for at most ``wait``;
        None when there was none, or it is still under way (then it is abandoned)."""
        with self._lock:
            attempt = self._connects.pop((address, port), None)
        if attempt is None:
            return None
        if not attempt.done.wait(wait):
            self._abandon(attempt)
            return None
        return attempt

    def _abandon(self, attempt: EarlyConnect) -> None:
        def close_when_done() -> None:
            attempt.done.wait()
            if attempt.sock is not None:
                attempt.sock.close()

        threading.Thread(target=close_when_done, daemon=True).start()

    def discard(self) -> None:
        """Closes connections the run did not take (another host decided, or it ended)."""
        with self._lock:
            left, self._connects = list(self._connects.values()), {}
            self._lookups.clear()
            self._generation += 1
        for attempt in left:
            self._abandon(attempt)


EARLY = _Early()


def begin_run(options: RunOptions, direct: bool) -> None:
    """Starts step 1's look-up of the registry (and, if ``direct``, its connection), as step
    1 will make them: not through a proxy (the proxy resolves the name), not with
    --nameserver (dnspython asks, in step 1). ``direct``: no runtime's mirror comes first
    (--runtime none). Call it once the input is checked: bad input touches no network.
    Never raises: what it cannot start, step 1 does itself (and reports)."""
    # e.g. a proxy variable Go would reject: step 1 meets it, and says so
    with contextlib.suppress(ValueError, OSError, RuntimeError):
        _begin(options, direct)


def _begin(options: RunOptions, direct: bool) -> None:
    if options.nameservers:
        return
    ref = options.reference
    plain = options.plain_http
    port = ref.port or (80 if plain else 443)
    host = host_key(ref.api_host)
    netloc = f"[{host}]" if ":" in host else host
    url = f"{'http' if plain else 'https'}://{netloc}:{port}{options.api_path}/"
    if options.proxy_config().proxy_for(url) is not None:
        return
    if is_ip_literal(host):
        if direct:
            EARLY.connect_literal(host, port, options.timeout)
        return
    EARLY.start(host, port, connect=direct, timeout=options.timeout)


def begin_store() -> None:
    """The system CA store, loading from now on (no network)."""
    EARLY.load_store()
