"""Load-test `papertide serve` with wrk from a second process on 127.0.0.1 (issue 5 figures).

Imports the 80,017 shared papers into a fresh store (about 45 s) unless ``--db``
already holds them, starts ``papertide serve --workers 2``, and runs wrk:

* keyword search ``/api/v1/search?q=…`` over the 250 short topical queries of
  ``../shared/data/eval/topical_dev.jsonl`` (and, for contrast, the 500 long
  known-item queries): p50 with 1 connection; requests/s with 32 connections as
  fast as they go (closed loop: p50 is then mostly queueing, 32 / requests/s); and
  p50 with 32 connections paced to offer a little over 200 requests/s;
* hybrid search with 1 and 8 connections (when the store has vectors);
* the trending page ``/``: p50 with 1 connection, requests/s with 32;

then prints each worker's peak RSS (VmHWM). wrk's own output is printed as is.
Search rate limits are switched off for the run (all load comes from one address), and so is
the query-vector cache (every hybrid request embeds its query).

    .venv/bin/python bench/web.py [--db PATH] [--duration 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PAPERTIDE = Path(sys.executable).with_name("papertide")
IMPORTS = [DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", DATA / "hf" / "hf_daily_papers_2024-05_to_2026-08.jsonl.gz"]
EXPECTED_PAPERS = 80_017
LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""
# Paced: each connection waits a random 0..2*MEAN ms before each request, so that the
# connections offer a steady load (as many independent users do) instead of firing the
# next request the moment one returns. wrk's timers run a little late: aiming at 250
# requests/s from 32 connections gives about 210 (wrk's own Requests/sec is reported).
PACED = """
delay = function()
  return math.random(0, %d)
end
"""


def ensure_store(db: str) -> None:
    """Import the shared data unless the store already holds all of it (a SQLite path or a
    postgresql:// URL)."""
    env = {**os.environ, "PAPERTIDE_DB": str(db)}
    if str(db).startswith("postgresql") or Path(db).exists():
        stats = json.loads(subprocess.run([str(PAPERTIDE), "stats", "--json"], env=env, check=True,
                                          capture_output=True, text=True).stdout)
        if stats["papers"] >= EXPECTED_PAPERS:
            return
    started = time.monotonic()
    done = subprocess.run([str(PAPERTIDE), "import", *map(str, IMPORTS)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the import failed:\n{done.stderr[-2000:]}")
    print(f"imported the shared data into {db} in {time.monotonic() - started:.0f} s")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def start_server(db: Path, port: int, workers: int, log: Path) -> subprocess.Popen:
    # No query-vector cache: the runs cycle through a few hundred queries, and every hybrid
    # request must pay for embedding its query, as a new query does.
    env = {**os.environ, "PAPERTIDE_DB": str(db), "PAPERTIDE_RATE_LIMIT_SEARCH": "0", "PAPERTIDE_QUERY_CACHE": "0",
           "PAPERTIDE_EMBED_EVERY_SECONDS": "0"}  # measure the site alone
    proc = subprocess.Popen([str(PAPERTIDE), "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(f"http://127.0.0.1:{port}/healthz") == 200 and len(worker_pids(proc.pid)) >= workers:
                return proc
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"the server did not come up; see {log}")


def worker_pids(parent: int) -> list[int]:
    """Children of the uvicorn supervisor that run the app (multiprocessing spawn workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                cmd = (entry / "cmdline").read_bytes()
                if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                    pids.append(int(entry.name))
    return sorted(pids)


def memory(pid: int) -> dict[str, int]:
    """RSS now, its peak, and its private (anonymous) and file-backed parts, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[key].split()[0]) // 1024 for name, key in
            (("rss", "VmRSS"), ("peak", "VmHWM"), ("anon", "RssAnon"), ("file", "RssFile"))}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the workers have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(label: str, base: str, paths: list[str], connections: int, duration: int,
        pids: list[int], rate: int | None = None) -> dict[str, str]:
    """Run wrk with a Lua script cycling through ``paths``; print its output; pick p50 and req/s.
    With ``rate``, the connections are paced to offer about that many requests/s in all.

    Also the workers' CPU time per request: on a shared machine that, unlike req/s,
    does not depend on what else is running."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lua = LUA % ", ".join(json.dumps(p) for p in paths)
    if rate:
        mean_ms = connections * 1000 / rate - 4  # minus about one response time
        lua += PACED % round(2 * mean_ms)
        label += f", paced (a random 0-{2 * mean_ms:.0f} ms pause before each request)"
    script.write_text(lua)
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
               "-s", str(script), base]
    print(f"\n### {label}: {' '.join(command[:-3])} <{len(paths)} paths> {base}")
    cpu_before, load = cpu_seconds(pids), os.getloadavg()[0]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pids) - cpu_before
    script.unlink()
    print(out.rstrip())
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    rps = re.search(r"^Requests/sec:\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    count = re.search(r"^\s+(\d+) requests in", out, re.M)
    per_request = cpu * 1000 / int(count.group(1)) if count and int(count.group(1)) else 0.0
    print(f"server CPU: {cpu:.1f} s for {count.group(1) if count else '?'} requests = {per_request:.2f} ms/request; "
          f"machine load average before the run: {load:.1f}")
    return {"label": label, "connections": str(connections), "p50": p50.group(1) if p50 else "?",
            "rps": rps.group(1) if rps else "?", "non2xx": errors.group(1) if errors else "0",
            "cpu_ms": f"{per_request:.2f}", "load": f"{load:.1f}"}


def queries(name: str) -> list[str]:
    with (DATA / "eval" / name).open() as lines:
        return [json.loads(line)["query"] for line in lines]


def query_encoder() -> str:
    """What the workers will embed queries with (the configured embedder's ONNX export, or torch)."""
    from papertide.index.embed_onnx import find_query_encoder
    from papertide.app.semantic import embedder_spec
    from papertide.settings import Settings

    settings = Settings()
    folder = find_query_encoder(embedder_spec(settings), Path(settings.models_dir).expanduser(),
                                settings.embed_max_tokens)
    if folder is None or settings.query_encoder == "torch":
        return "torch (no ONNX export for this embedder: `papertide --db <store> index` makes one)"
    return f"{'the 8-bit' if settings.query_encoder == 'auto' else 'the exact'} ONNX export in {folder}"


def search_paths(texts: list[str], mode: str = "keyword") -> list[str]:
    return ["/api/v1/search?" + urlencode({"q": q, "mode": mode, "limit": 20}) for q in texts]


def run(args: argparse.Namespace, db: Path) -> None:
    ensure_store(db)
    base = f"http://127.0.0.1:{args.port}"
    log = Path(tempfile.gettempdir()) / "papertide-bench-serve.log"
    server = start_server(db, args.port, args.workers, log)
    results = []
    pids = worker_pids(server.pid)
    try:
        topical, known = search_paths(queries("topical_dev.jsonl")), search_paths(queries("known_item_dev.jsonl"))
        for path in topical[:20] + ["/", "/?window=week", "/?window=month"]:  # warm caches and pages
            get(base + path)
        d = args.duration
        results.append(wrk("keyword search, short topical queries", base, topical, 1, d, pids))
        results.append(wrk("keyword search, short topical queries", base, topical, 32, d, pids))
        results.append(wrk("keyword search, short topical queries", base, topical, 32, d, pids, rate=250))
        results.append(wrk("keyword search, long known-item queries", base, known, 1, d, pids))
        results.append(wrk("keyword search, long known-item queries", base, known, 32, d, pids))
        if get(base + search_paths(["test"], "hybrid")[0]) == 200:
            print(f"\nqueries embedded by: {query_encoder()}")
            hybrid = search_paths(queries("known_item_dev.jsonl"), "hybrid")
            for path in hybrid[:10]:
                get(base + path)  # load the embedder and the vectors in both workers
            results.append(wrk("hybrid search, long known-item queries", base, hybrid, 1, d, pids))
            results.append(wrk("hybrid search, long known-item queries", base, hybrid, 8, d, pids))
            results.append(wrk("hybrid search, short topical queries", base,
                               search_paths(queries("topical_dev.jsonl"), "hybrid"), 8, d, pids))
        else:
            print("\n### hybrid search: not offered by this build (400 mode_unavailable); not measured")
        results.append(wrk("trending page /", base, ["/"], 1, d, pids))
        results.append(wrk("trending page /", base, ["/"], 32, d, pids))
        rss = {pid: memory(pid) for pid in pids}
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("\n## Summary")
    print("| scenario | connections | p50 | requests/s | non-2xx | server CPU ms/request | load before |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['label']} | {r['connections']} | {r['p50']} | {r['rps']} | {r['non2xx']} | {r['cpu_ms']} "
              f"| {r['load']} |")
    for pid, m in rss.items():
        print(f"worker {pid}: RSS {m['rss']} MB now, {m['peak']} MB peak (VmHWM); "
              f"private {m['anon']} MB, file-backed {m['file']} MB (index files mapped, shared between workers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="store to use, a path or a postgresql:// URL (imported into when it lacks "
                                     "the papers)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    if args.db:
        run(args, args.db)
        return
    with tempfile.TemporaryDirectory(prefix="papertide-bench-") as folder:
        run(args, Path(folder) / "bench.db")


if __name__ == "__main__":
    main()
