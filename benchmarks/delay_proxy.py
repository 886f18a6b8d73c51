#!/usr/bin/env python3
"""A TCP delay line for the end-to-end lab: every byte waits DELAY ms in each direction.

    python benchmarks/delay_proxy.py --listen 127.0.50.1:8443 --delay-ms 20 --log FILE

netem is not available on these machines, so latency comes from this proxy. It is meant to
sit behind an nftables DNAT rule in the lab namespace (see labkit.delayed_hops): a client's
connection to a lab host's address is redirected here, the proxy reads where it was going
(SO_ORIGINAL_DST) and connects there itself with a firewall mark the DNAT rule skips, so the
proxy's own connection is not redirected back to itself.

What a real path with DELAY ms each way costs, and how it is reproduced:
- each chunk is forwarded DELAY ms after it arrived, in order, in both directions (a delay
  line, not a rate limit: chunks in flight overlap);
- a TCP connect costs one round trip before the client may send: the kernel completes the
  client's connect to this proxy at once, so the client's first bytes are held until
  accept + 3 * DELAY (SYN, SYN-ACK, then the bytes' own one-way trip).

It logs one JSON line per event to --log, flushed at once, for the benchmark to count:
{"ev": "open", "id": N, "dst": "127.0.10.1:443", "t": epoch} at accept, and
{"ev": "data", "id": N, "tls": true} when the client's first bytes arrive (a TLS record
of type handshake: a ClientHello). It prints "ready" on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import IO

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
UPSTREAM_MARK = 0x4244  # the DNAT rule returns early for sockets with this mark
CHUNK = 64 * 1024
QUEUE_CHUNKS = 256  # per direction: bounds memory, and 256 * 64 KiB per DELAY is plenty
CONNECT_TIMEOUT_S = 10.0
TLS_HANDSHAKE_RECORD = 0x16


class EventLog:
    """Append-only JSON lines, flushed per line: the benchmark reads them while we run."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._next_id = 0

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def write(self, **event: object) -> None:
        self._stream.write(json.dumps(event) + "\n")
        self._stream.flush()


def original_destination(sock: socket.socket) -> tuple[str, int]:
    """Where the client meant to connect before the DNAT rule sent it here."""
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


async def connect_marked(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose packets carry UPSTREAM_MARK, so the DNAT rule lets them through."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, UPSTREAM_MARK)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), CONNECT_TIMEOUT_S)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    not_before: float,
    on_first: Callable[[bytes], None] | None = None,
) -> None:
    """Copy reader to writer, each chunk DELAY seconds after it arrived (never before
    `not_before`), keeping order; end with a half-close once the reader ends."""
    queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side() -> None:
        first = True
        try:
            while True:
                data = await reader.read(CHUNK)
                now = time.monotonic()
                if first and data and on_first is not None:
                    on_first(data)
                first = False
                await queue.put((max(now + delay, not_before), data or None))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((time.monotonic() + delay, None))

    async def write_side() -> None:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    reading = asyncio.create_task(read_side())
    try:
        await write_side()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await reading


async def handle(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    delay: float,
    log: EventLog,
) -> None:
    """One client connection: log it, connect upstream, run both delay lines to the end."""
    accepted = time.monotonic()
    conn_id = log.new_id()
    sock = client_writer.get_extra_info("socket")
    host, port = original_destination(sock)
    log.write(ev="open", id=conn_id, dst=f"{host}:{port}", t=time.time())

    def first_bytes(data: bytes) -> None:
        log.write(ev="data", id=conn_id, tls=data[0] == TLS_HANDSHAKE_RECORD)

    try:
        up_reader, up_writer = await connect_marked(host, port)
    except (OSError, TimeoutError):
        client_writer.close()
        return
    try:
        await asyncio.gather(
            pump(client_reader, up_writer, delay, accepted + 3 * delay, first_bytes),
            pump(up_reader, client_writer, delay, 0.0),
        )
    finally:
        for w in (up_writer, client_writer):
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()


async def serve(listen: str, delay_ms: float, log_path: str) -> None:
    """Listen until SIGTERM or SIGINT."""
    host, _, port = listen.rpartition(":")
    delay = delay_ms / 1000.0
    with open(log_path, "a", encoding="utf-8") as stream:
        log = EventLog(stream)
        server = await asyncio.start_server(
            lambda r, w: handle(r, w, delay, log), host, int(port), backlog=256
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="ADDR:PORT")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay")
    parser.add_argument("--log", required=True, help="JSON lines file of connection events")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.delay_ms, args.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
