"""Bench phase: poll votes through nginx (docs/polls.md).

One poll is posted through the API; then several ``wrk`` processes, each
bound to its own loopback source address (127.0.0.2, .3, …) by a tiny
``LD_PRELOAD`` shim (wrk has no option for it; the per-address rate limit
counts these addresses apart, as it would readers' networks), POST votes
to ``/live/<slug>/polls/<id>/vote`` with no cookie, each a new browser.
A wrk Lua script counts the answers by status. After the flush the poll's
total, in Redis and in the database, must equal the 2xx count exactly.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from pathlib import Path

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <sys/socket.h>

/* connect() from the address in BENCH_SOURCE_ADDR (IPv4, any port). */
int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    const char *source = getenv("BENCH_SOURCE_ADDR");
    if (source && addr && addr->sa_family == AF_INET) {
        struct sockaddr_in local = {0};
        local.sin_family = AF_INET;
        inet_pton(AF_INET, source, &local.sin_addr);
        bind(fd, (struct sockaddr *)&local, sizeof local);
    }
    return real(fd, addr, len);
}
"""

COUNT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
local options = {%(options)s}
local threads = {}
local n = 0
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; other = 0; started = os.time() end
-- Votes stop %(quiet)d s before wrk does: what is in flight when wrk stops
-- is then a GET nginx answers itself, never a vote the server counted
-- while wrk did not see its answer.
function request()
  if os.time() - started >= %(vote_seconds)d then return wrk.format("GET", "/_baseline/none") end
  n = n + 1
  return wrk.format(nil, nil, nil, "option=" .. options[(n %% #options) + 1])
end
function response(status, headers, body)
  if body:find('"voted"', 1, true) then
    if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
  elseif body:find('"code"', 1, true) then other = other + 1 end
end
function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_other = total_other + t:get("other")
  end
  io.write(string.format("BENCH-COUNTS ok=%%d other=%%d\\n", total_ok, total_other))
end
"""


def build_shim(run_dir: Path) -> Path:
    source = run_dir / "bindshim.c"
    library = run_dir / "bindshim.so"
    source.write_text(SHIM_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"], check=True)
    return library


def _request(base: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    host, port = base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def phase_votes(report, plan, base: str, run_dir: Path, seeded: dict, *, db_total) -> None:
    """``db_total(poll_id)`` reads the poll's flushed total from the database."""
    vote_seconds = max(6, plan.wrk_seconds * 2)
    quiet = 3
    seconds = vote_seconds + quiet
    sources = 4
    print(f"\n[votes] poll votes through nginx: {sources} wrk processes from 127.0.0.2-{sources + 1}, {vote_seconds} s",
          flush=True)
    slug = seeded["live"]["slug"]
    status, entry = _request(base, "POST", f"/api/blogs/{slug}/entries", {
        "body": "Bench poll.", "poll": {"question": "Bench: which?", "options": ["One", "Two", "Three"]},
    }, token=seeded["token"])
    if status != 201:
        report.fail(f"votes: creating the poll answered {status}")
        return
    poll = entry["poll"]
    options = ", ".join(f'"{o["id"]}"' for o in poll["options"])
    script = run_dir / "votes.lua"
    script.write_text(COUNT_LUA % {"options": options, "vote_seconds": vote_seconds, "quiet": quiet})
    shim = build_shim(run_dir)
    url = f"{base}/live/{slug}/polls/{poll['id']}/vote"
    procs = []
    for i in range(sources):
        env = {"LD_PRELOAD": str(shim), "BENCH_SOURCE_ADDR": f"127.0.0.{i + 2}", "PATH": "/usr/bin:/bin"}
        procs.append(subprocess.Popen(
            ["wrk", "-t1", f"-c{max(8, plan.wrk_connections // sources)}", f"-d{seconds}s", "--timeout", "30s",
             "--latency", "-s", str(script), url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ))
    ok = other = 0
    p99 = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 60)
        counts = re.search(r"BENCH-COUNTS ok=(\d+) other=(\d+)", out)
        if proc.returncode != 0 or counts is None:
            report.fail(f"votes: wrk failed: {err[-300:] or out[-300:]}")
            return
        ok += int(counts.group(1))
        other += int(counts.group(2))
        found = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if found:
            p99.append(float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)])
    rps = (ok + other) / vote_seconds
    # The flush runs every second (beat); give it a few, then read both sides.
    deadline = time.monotonic() + 15
    counted = flushed = -1
    while time.monotonic() < deadline:
        time.sleep(1.5)
        _status, tallies = _request(base, "GET", f"/live/{slug}/polls/{poll['id']}")
        counted = tallies["total"]
        flushed = db_total(poll["id"])
        if counted == flushed == ok:
            break
    report.details["votes"] = {
        "sources": sources, "seconds": vote_seconds, "ok": ok, "other": other, "rps": rps, "p99_ms": p99,
        "counted": counted, "flushed": flushed,
    }
    if counted != ok or flushed != ok:
        report.fail(f"votes: {ok:,} answered 2xx but {counted:,} counted and {flushed:,} flushed")
    report.add(
        f"votes/s through nginx ({sources} source addresses)", f"{rps:,.0f}/s", ">= 2,000/s", rps >= 2000,
        note=f"{ok:,} 2xx, {other:,} other; p99 {max(p99 or [0]):.0f} ms",
    )
    report.add("votes: total counted = flushed = 2xx", f"{counted:,} = {flushed:,} = {ok:,}", "equal",
               counted == flushed == ok)
