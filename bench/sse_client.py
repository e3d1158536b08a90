"""A small asyncio SSE load client: many EventSource-like connections from
one process, each timing the messages that carry a bench marker.

Why our own: wrk cannot hold long-lived streams, and a browser per reader is
far too heavy. A connection here is one socket and one small
:class:`asyncio.Protocol`; it does not parse SSE fully, it only looks for
``bench-t=<unix time>`` (written into an entry's body by the publisher) and
records ``now - t`` once per message and connection. Receive time is taken
with :func:`time.time`, the same clock the publisher used, on the same machine.

Bounded by design: it connects at most ``--connections`` sockets, to one
loopback URL (any of 127/8), and exits by itself at ``--deadline`` seconds or as soon as its
standard input closes (the bench closes it when a phase is over). It then
prints one JSON line: connections made, failed, closed early, and the latency
samples keyed by marker.

Run: ``python -m bench.sse_client --url http://127.0.0.1:8080/live/x/events
--connections 2500 --deadline 120``. It prints ``READY <n>`` once every
connection has its response headers, so the parent knows when to publish.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import re
import sys
import time
from urllib.parse import urlsplit

MARKER = re.compile(rb"bench-t=(\d+\.\d+)")


class SSEConnection(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes):
        self.stats = stats
        self.request = request
        self.headers_done = asyncio.get_running_loop().create_future()
        self.seen: set[bytes] = set()
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes):
        now = time.time()
        if not self.headers_done.done():
            self.buffer += data
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.buffer = b""
            status = head.split(b" ", 2)[1:2]
            if status != [b"200"]:
                self.headers_done.set_exception(ConnectionError(head[:80].decode("latin-1")))
                self.transport.close()
                return
            self.headers_done.set_result(True)
            data = rest
            if not data:
                return
        # A marker may be cut by a read boundary: keep a short tail.
        chunk = self.buffer + data
        for match in MARKER.finditer(chunk):
            stamp = match.group(1)
            if stamp in self.seen:
                continue
            self.seen.add(stamp)
            self.stats.samples.setdefault(stamp.decode(), []).append(round((now - float(stamp)) * 1000, 3))
        self.buffer = chunk[-40:]

    def connection_lost(self, exc):
        if not self.stats.stopping:
            self.stats.closed_early += 1
        if not self.headers_done.done():
            self.headers_done.set_exception(exc or ConnectionError("closed before headers"))


class Stats:
    def __init__(self):
        self.connected = 0
        self.failed = 0
        self.closed_early = 0
        self.stopping = False
        self.errors: dict[str, int] = {}
        self.samples: dict[str, list[float]] = {}


async def _connect_one(loop, host, port, request, stats, gate, connections, source=None):
    async with gate:
        try:
            _, proto = await loop.create_connection(
                lambda: SSEConnection(stats, request), host, port, local_addr=(source, 0) if source else None
            )
            await asyncio.wait_for(proto.headers_done, timeout=30)
        except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal
            stats.failed += 1
            key = type(exc).__name__ + ": " + str(exc)[:60]
            stats.errors[key] = stats.errors.get(key, 0) + 1
            return
        stats.connected += 1
        connections.append(proto)


async def _stdin_closed(loop) -> None:
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def run(url: str, count: int, deadline: float, parallel: int, source: str | None = None) -> dict:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:  # 127/8 (deploy/cluster) or ::1
        raise SystemExit("sse_client only talks to loopback addresses")
    if source is not None and not ipaddress.ip_address(source).is_loopback:
        raise SystemExit("sse_client only binds loopback source addresses")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n\r\n"
    ).encode()
    stats = Stats()
    gate = asyncio.Semaphore(parallel)
    connections: list[SSEConnection] = []
    stop_at = loop.time() + deadline
    started = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(*(_connect_one(loop, host, port, request, stats, gate, connections, source) for _ in range(count))),
        timeout=max(1.0, deadline),
    )
    print(f"READY {stats.connected} {stats.failed} {time.monotonic() - started:.2f}", flush=True)
    try:
        await asyncio.wait_for(_stdin_closed(loop), timeout=max(0.1, stop_at - loop.time()))
    except TimeoutError:
        pass
    stats.stopping = True
    for proto in connections:
        if proto.transport is not None:
            proto.transport.close()
    return {
        "connected": stats.connected,
        "failed": stats.failed,
        "closed_early": stats.closed_early,
        "errors": stats.errors,
        "samples": stats.samples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds before exiting regardless")
    parser.add_argument("--parallel", type=int, default=256, help="connections opened at once")
    parser.add_argument("--source", default=None,
                        help="loopback source address (127/8): ~28,000 streams per source and destination")
    parser.add_argument("--out", default=None, help="write the result here instead of standard output")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.url, args.connections, args.deadline, args.parallel, args.source))
    if args.out:
        # A file, not the pipe: a result of several hundred KiB once came
        # back cut at 64 KiB through the pipe on a loaded machine.
        tmp = f"{args.out}.tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh)
        os.replace(tmp, args.out)
        return
    os.set_blocking(sys.stdout.fileno(), True)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
