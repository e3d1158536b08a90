"""Readers for the fault drill: streams that note every seq they get,
reconnect as the live page's script does (static/live/live.js, docs/events.md
"Reconnecting without a herd": a stream dropped after it had been open 3 s
comes back after a random 0.5-1.5 x 3 s; one the server ended sooner, a
replay handing the reader over, after the ``retry:`` it was given), resuming
from the last seq received, and report per reader what was lost, duplicated
or out of order, the statuses seen and which engine served the last stream.
``--no-jitter`` reconnects as a bare EventSource does, all after ``retry:``.

Driven over standard input: ``CUT`` closes every stream at once (the readers
reconnect, resuming); end of input stops them. Prints ``READY <n>`` once all
are connected; writes one JSON result to ``--out``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
from urllib.parse import urlsplit

ID_LINE = re.compile(rb"^id: (\d+)$", re.M)
RETRY_LINE = re.compile(rb"^retry: (\d+)$", re.M)


RECONNECT_MS = 3000  # live.js
HANDOVER_MS = 3000


class Reader:
    jitter = True

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.seqs: list[int] = []
        self.statuses: dict[str, int] = {}
        self.engine = ""
        self.retry_ms = 3000
        self.reconnects = 0
        self.opened_at = 0.0
        self.streams: list[list] = []  # [when, resumed after, status, engine, first id received]
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            self.opened_at = 0.0
            try:
                await self._one_stream(stopping)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.statuses["error"] = self.statuses.get("error", 0) + 1
            if stopping.is_set():
                return
            self.reconnects += 1
            lived = loop.time() - self.opened_at if self.opened_at else 0.0
            if self.jitter and lived * 1000 >= HANDOVER_MS:
                await asyncio.sleep(RECONNECT_MS * (0.5 + random.random()) / 1000)  # noqa: S311 - jitter, not a secret
            else:
                await asyncio.sleep(self.retry_ms / 1000)

    async def _one_stream(self, stopping: asyncio.Event) -> None:
        reader, self.writer = await asyncio.open_connection(self.host, self.port)
        last = f"Last-Event-ID: {self.seqs[-1]}\r\n" if self.seqs else ""
        self.writer.write(
            # Connection: close: a stream the server ends (a replay before
            # the hand-off) ends the connection, as for a browser.
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
            f"Connection: close\r\n{last}\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1].decode()
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.engine = "nchan" if b"X-Push-Engine: nchan" in head else "app"
        self.opened_at = asyncio.get_running_loop().time()
        self.streams.append([round(asyncio.get_running_loop().time(), 3), self.seqs[-1] if self.seqs else None, status, self.engine, None])
        self.connected.set()
        if status != "200":
            self.writer.close()
            return
        buffer = b""
        while not stopping.is_set():
            data = await reader.read(65536)
            if not data:
                break
            buffer += data
            blocks = buffer.split(b"\n\n")
            buffer = blocks.pop()
            for block in blocks:
                if (match := RETRY_LINE.search(block)) is not None:
                    self.retry_ms = int(match.group(1))
                if (match := ID_LINE.search(block)) is not None:
                    self.seqs.append(int(match.group(1)))
                    if self.streams[-1][4] is None:
                        self.streams[-1][4] = self.seqs[-1]
        self.writer.close()

    def cut(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()

    def result(self) -> dict:
        seqs = self.seqs
        return {
            "first": seqs[0] if seqs else None,
            "last": seqs[-1] if seqs else None,
            "count": len(seqs),
            "duplicates": len(seqs) - len(set(seqs)),
            "out_of_order": sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a),
            "seqs": seqs,
            "statuses": self.statuses,
            "engine": self.engine,
            "reconnects": self.reconnects,
            "streams": self.streams,
        }


async def main_async(url: str, count: int, last_event_id: int) -> list[dict]:
    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("fault_client only talks to loopback addresses")
    # A negative id: fresh streams (as the page opens them), no resume point.
    path = f"{parts.path}?last_event_id={last_event_id}" if last_event_id >= 0 else parts.path
    readers = [Reader(parts.hostname, parts.port or 80, path) for _ in range(count)]
    stopping = asyncio.Event()
    tasks = []
    for i, reader in enumerate(readers):
        tasks.append(asyncio.create_task(reader.run(stopping)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(r.connected.wait() for r in readers)), timeout=120)
    print(f"READY {count}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := await stdin.readline():
        if line.strip() == b"CUT":
            for reader in readers:
                reader.cut()
    stopping.set()
    for reader in readers:
        reader.cut()
    await asyncio.wait(tasks, timeout=10)
    return [reader.result() for reader in readers]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--last-event-id", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-jitter", action="store_true", help="reconnect after retry: only, as a bare EventSource")
    args = parser.parse_args(argv)
    Reader.jitter = not args.no_jitter
    results = asyncio.run(main_async(args.url, args.readers, args.last_event_id))
    tmp = f"{args.out}.tmp"
    with open(tmp, "w") as fh:
        json.dump(results, fh)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
