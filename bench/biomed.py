"""The biomedical sources' figures (issue 16), each beside a baseline measured in the same run.

* PubMed efetch XML parsed (records/s; target >= 2,000): pages of 500 PubmedArticle made of
  the recorded real records in ``../shared/data/fixtures/pubmed_eutils`` (each given its own
  PMID), parsed with ``parse_efetch``, validation included. Baseline: arXiv OAI-PMH pages of
  real arXiv metadata (bench/oai_parse.py's builder) through ``parse_response``.
* bioRxiv/medRxiv JSON parsed (records/s; target >= 10,000): pages of 30 ``/details`` items
  whose titles, abstracts and authors are real arXiv metadata, through ``parse_answer``.
  Baseline: the same papers as Hugging Face daily items through ``hf_daily.parse_item``.
* A 12,000-record PubMed backfill through a local stand-in for the E-utilities over real HTTP
  (tests/eutils_fake.py; ten days cut in halves past esearch's 10,000, two 429s and a 503
  injected): wall time, requests, the busiest second measured at the server (NCBI allows 3
  without a key, 10 with one), and whether every record is stored once.

    .venv/bin/python bench/biomed.py [--records 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))  # the replay server and the E-utilities stand-in the tests use

from eutils_fake import FakeEutils, spread  # noqa: E402
from oai_parse import build_page  # noqa: E402
from replay import Reply, ReplayServer  # noqa: E402

from papertide.app.sync import run_sync  # noqa: E402
from papertide.settings import Settings  # noqa: E402
from papertide.sources.base import SyncRequest  # noqa: E402
from papertide.sources.biorxiv import parse_answer  # noqa: E402
from papertide.sources.hf_daily import parse_item  # noqa: E402
from papertide.sources.oai_parse import parse_response  # noqa: E402
from papertide.sources.pubmed import PubMedSource, parse_efetch  # noqa: E402
from papertide.store import open_store  # noqa: E402

_PMID = re.compile(rb"<PMID Version=\"1\">\d+</PMID>")


def _rate(work, count: int, repeat: int) -> float:
    """Records per second: the median of ``repeat`` timed runs of ``work``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return count / statistics.median(times)


def _papers(count: int) -> list[dict]:
    with gzip.open(DATA / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in itertools.islice(handle, count)]


def pubmed_pages(count: int) -> list[bytes]:
    real = []
    for path in sorted((DATA / "fixtures" / "pubmed_eutils").glob("pubmed*.xml")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        real += [etree.tostring(a) for a in root.iter("PubmedArticle")]
    articles = [_PMID.sub(f'<PMID Version="1">{30_000_000 + n}</PMID>'.encode(), real[n % len(real)], count=1)
                for n in range(count)]
    return [b"<?xml version=\"1.0\" ?><PubmedArticleSet>" + b"".join(articles[i:i + 500]) + b"</PubmedArticleSet>"
            for i in range(0, count, 500)]


def biorxiv_pages(papers: list[dict]) -> list[bytes]:
    items = [{"doi": f"10.1101/2026.01.01.{n:06d}", "title": p["title"], "abstract": p.get("abstract") or "",
              "authors": "; ".join(f"{a.rpartition(' ')[2]}, {a.rpartition(' ')[0]}" for a in p.get("authors", [])),
              "date": "2026-1-1", "version": "1", "type": "new results", "license": "cc_by",
              "category": "health informatics", "published": "NA", "server": "medrxiv"}
             for n, p in enumerate(papers)]
    return [json.dumps({"messages": [{"status": "ok", "cursor": i, "count": 30, "total": str(len(items))}],
                        "collection": items[i:i + 30]}).encode() for i in range(0, len(items), 30)]


def hf_items(papers: list[dict]) -> list[dict]:
    return [{"paper": {"id": p["id"], "title": p["title"], "summary": p.get("abstract") or "",
                       "authors": [{"name": a} for a in p.get("authors", [])], "publishedAt": "2026-01-01T00:00:00Z",
                       "upvotes": 3}, "numComments": 1} for p in papers]


def backfill(api_key: str) -> dict:
    records = spread(12_000, "2026-02-01", 10)
    faults = {} if api_key else {
        2: Reply(body="slow down", status=429, headers={"Retry-After": "1"}, content_type="text/plain"),
        6: Reply(body="slow down", status=429, content_type="text/plain"),
        11: Reply(body="unavailable", status=503, content_type="text/plain")}
    fake, server = FakeEutils(records, faults=faults), ReplayServer()
    server.handler = fake
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings({"pubmed_url": server.url, "pubmed_api_key": api_key, "http_retries": 3,
                             "index_dir": folder}, environ={})
        store = open_store(str(Path(folder) / "s.db"))
        started = time.perf_counter()
        report = run_sync(PubMedSource(settings), SyncRequest(since="2026-02-01", until="2026-02-10"), store)
        took = time.perf_counter() - started
        ids = [r[0] for r in store.db.execute("SELECT id FROM papers")]
        store.close()
    server.close()
    busiest = max(sum(t <= u < t + 1.0 for u in fake.times) for t in fake.times)
    return {"seconds": took, "requests": len(fake.times), "busiest_second": busiest, "new": report.new,
            "exactly_once": len(ids) == len(set(ids)) == 12_000 and set(ids) == {f"pmid:{p}" for p, _ in records}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each parser; the median is reported")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found: {DATA}", file=sys.stderr)
        return 2
    n = args.records
    pages = pubmed_pages(n)
    assert sum(len(parse_efetch(p, label="bench").records) for p in pages) == n
    oai = build_page(n)
    pubmed = _rate(lambda: [parse_efetch(p, label="bench") for p in pages], n, args.repeat)
    arxiv = _rate(lambda: parse_response(oai, label="bench"), n, args.repeat)
    print(f"PubMed efetch XML: {pubmed:,.0f} records/s (target >= 2,000); "
          f"baseline arXiv OAI-PMH XML: {arxiv:,.0f} records/s; ratio {pubmed / arxiv:.2f}")

    papers = _papers(n)
    json_pages, items = biorxiv_pages(papers), hf_items(papers)
    assert sum(len(parse_answer(p, label="bench", server="medrxiv").records) for p in json_pages) == n
    biorxiv = _rate(lambda: [parse_answer(p, label="bench", server="medrxiv") for p in json_pages], n, args.repeat)
    hf = _rate(lambda: [parse_item(json.loads(json.dumps(i)), source="hf-daily", observed_at="2026-01-01T00:00:00Z")
                        for i in items], n, args.repeat)
    print(f"bioRxiv/medRxiv JSON: {biorxiv:,.0f} records/s (target >= 10,000); "
          f"baseline Hugging Face daily items: {hf:,.0f} records/s; ratio {biorxiv / hf:.2f}")

    ok = pubmed >= 2000 and biorxiv >= 10_000
    for key, label in (("", "without a key (limit 3/s)"), ("k3y", "with an api_key (limit 10/s)")):
        result = backfill(key)
        print(f"PubMed backfill of 12,000 records {label}: {result['seconds']:.1f} s, {result['requests']} requests, "
              f"busiest second {result['busiest_second']} requests, every record stored exactly once: "
              f"{result['exactly_once']}")
        ok = ok and result["exactly_once"] and result["busiest_second"] <= (10 if key else 3)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
