"""Measure publish → SSE receive latency with many local readers, in-process
(the embedded default); see docs/performance.md."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Measure publish→SSE receive latency with many local SSE readers."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=200)
        parser.add_argument("--events", type=int, default=20)
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between events")

    def handle(self, *args, clients: int, events: int, interval: float, **options):
        import uvicorn

        from liveblog.asgi import application
        from posts.domain import services
        from posts.domain.models import Blog

        call_command("migrate", verbosity=0)
        editor = services.author_ensure(username="latency-bench", role="editor").user
        blog = services.blog_create(user=editor, title=f"SSE latency {time.strftime('%H:%M:%S')}", status="live")

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                           timeout_graceful_shutdown=1, backlog=4096)
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)

        sent: dict[int, float] = {}
        service_ms: list[float] = []

        def publish_all():
            for n in range(events):
                started = time.perf_counter()
                services.entry_create(blog=blog, user=editor, body=f"Latency probe {n}")
                service_ms.append((time.perf_counter() - started) * 1000)
                sent[Blog.objects.values_list("last_seq", flat=True).get(pk=blog.pk)] = started
                time.sleep(interval)

        url = f"http://127.0.0.1:{port}/live/{blog.slug}/events"
        # Readers run in their own process (perf_counter is CLOCK_MONOTONIC,
        # shared by processes), so parsing 200 streams does not compete with
        # the server for this process's GIL.
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        ready = ctx.Event()
        child = ctx.Process(target=_client_process, args=(url, clients, events, ready, results), daemon=True)
        child.start()
        if not ready.wait(timeout=60):
            raise CommandError("the SSE readers did not all connect")
        publish_all()
        received, connect_s = results.get(timeout=60)
        child.join(timeout=10)
        services.blog_close(blog=blog, user=editor, body="Latency run over.")
        server.should_exit = True
        thread.join(timeout=5)

        latencies = sorted(
            (at - sent[seq]) * 1000 for per_client in received for seq, at in per_client.items() if seq in sent
        )
        expected = clients * events
        self.stdout.write(
            f"channel backend={settings.LIVEBLOG_CHANNEL_BACKEND} db={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
            f"clients={clients} events={events} connect_all={connect_s:.2f}s"
        )
        if not latencies:
            self.stdout.write("no events received")
            return
        q = statistics.quantiles(latencies, n=100)
        self.stdout.write(
            f"received {len(latencies)}/{expected}  latency ms: p50={q[49]:.1f} p95={q[94]:.1f} "
            f"p99={q[98]:.1f} max={latencies[-1]:.1f} mean={statistics.fmean(latencies):.1f}"
        )
        self.stdout.write(
            f"service call (commit + in-process fan-out) ms: median={statistics.median(service_ms):.1f} "
            f"max={max(service_ms):.1f}"
        )


def _client_process(url: str, clients: int, events: int, ready, results) -> None:
    results.put(asyncio.run(_readers(url, clients, events, ready)))


async def _readers(url: str, clients: int, events: int, ready):
    import aiohttp

    received: list[dict[int, float]] = [dict() for _ in range(clients)]
    connected = 0
    started = time.perf_counter()
    connect_s = 0.0

    async def reader(n: int, session: aiohttp.ClientSession):
        nonlocal connected, connect_s
        async with session.get(url, headers={"Accept": "text/event-stream"}) as resp:
            seq = None
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("retry:"):
                    connected += 1
                    if connected == clients:
                        connect_s = time.perf_counter() - started
                        ready.set()
                elif line.startswith("id: "):
                    seq = int(line[4:])
                elif line.startswith("data: ") and seq is not None:
                    received[n][seq] = time.perf_counter()
                    if len(received[n]) >= events:
                        return

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(reader(n, session)) for n in range(clients)]
        await asyncio.wait(tasks, timeout=120)
        for task in tasks:
            task.cancel()
    return received, connect_s
