"""Local webhook partners for the benchmark: ``--count`` aiohttp endpoints,
each on its own loopback port (``--port`` + i, path ``/hook/<i>``), each
answering ``204`` after ``--delay`` seconds, like a slow partner.

Distinct ports, not one port with many paths, so the sender cannot reuse a
single keep-alive connection for everybody: every partner costs it a
connection of its own, as distinct hosts would.

It prints ``READY`` once every port listens, then records when each partner
first received a request (:func:`time.time`) and keeps the headers and body
of the first request per partner. It stops by itself when every partner has
been called, when ``--deadline`` passes or when its standard input closes,
and prints one JSON line: per-partner first arrival times and, for a sample
of partners (``--verify``, with secrets read from ``--secrets``, a JSON list
of ``{url, secret}``), whether the Standard Webhooks signature verified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import web


async def run(args) -> dict:
    arrivals: dict[int, float] = {}
    requests: dict[int, dict] = {}
    every_partner = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        now = time.time()
        index = int(request.match_info["index"])
        body = await request.read()
        if index not in arrivals:
            arrivals[index] = now
            requests[index] = {"headers": dict(request.headers), "body": body.decode("utf-8", "replace")}
            if len(arrivals) >= args.count:
                every_partner.set()
        await asyncio.sleep(args.delay)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/{index}", hook)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    for i in range(args.count):
        await web.TCPSite(runner, args.host, args.port + i, backlog=128, reuse_address=True).start()
    print("READY", flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def stdin_closed():
        while await reader.read(4096):
            pass

    waiters = [asyncio.ensure_future(every_partner.wait()), asyncio.ensure_future(stdin_closed())]
    await asyncio.wait(waiters, timeout=args.deadline, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    # Let the last answers go out before closing.
    await asyncio.sleep(args.delay + 0.05)
    await runner.cleanup()
    return {"arrivals": arrivals, "verified": _verify(args, requests)}


def _verify(args, requests: dict[int, dict]) -> dict:
    if not args.secrets:
        return {}
    from standardwebhooks.webhooks import Webhook

    with open(args.secrets) as fh:
        secrets = {item["url"]: item["secret"] for item in json.load(fh)}
    checked, good = 0, 0
    for index in sorted(requests)[: args.verify]:
        url = f"http://{args.host}:{args.port + index}/hook/{index}"
        req = requests[index]
        headers = {k.lower(): v for k, v in req["headers"].items()}
        checked += 1
        try:
            Webhook(secrets[url]).verify(req["body"], headers)
            good += 1
        except Exception:  # noqa: BLE001, S110 - a bad signature is counted, not raised
            pass
    return {"checked": checked, "good": good}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=21000)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--deadline", type=float, default=60)
    parser.add_argument("--secrets", default="")
    parser.add_argument("--verify", type=int, default=20)
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("partners listen on loopback only")
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
