"""How fast the OAI-PMH parser turns a ListRecords page into records (target: >= 2,000 records/s).

Builds one large ListRecords response from real arXiv metadata in the shared
data (``../shared/data/arxiv/arxiv_cs_2025-2026.jsonl.gz`` beside the checkout)
and times ``parse_response`` on it, XML parsing and record validation included.

    .venv/bin/python bench/oai_parse.py [--records 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

from papertide.sources.oai_parse import parse_response

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "arxiv_cs_2025-2026.jsonl.gz"


def _author(name: str) -> str:
    forenames, _, keyname = name.rpartition(" ")
    fore = f"<forenames>{escape(forenames)}</forenames>" if forenames else ""
    return f"<author><keyname>{escape(keyname)}</keyname>{fore}</author>"


def _record(paper: dict) -> str:
    day = paper.get("first_seen") or "2025-03-18"
    optional = "".join(f"<{tag}>{escape(paper[key])}</{tag}>" for tag, key in
                       (("comments", "comment"), ("journal-ref", "journal_ref"), ("doi", "doi"))
                       if paper.get(key))
    return (f"<record><header><identifier>oai:arXiv.org:{paper['id']}</identifier>"
            f"<datestamp>{day}</datestamp><setSpec>cs</setSpec></header><metadata>"
            f'<arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{paper["id"]}</id><created>{day}</created>'
            f"<authors>{''.join(_author(a) for a in paper.get('authors', []))}</authors>"
            f"<title>{escape(paper['title'])}</title><categories>{' '.join(paper.get('categories', []))}"
            f"</categories>{optional}<abstract>{escape(paper.get('abstract') or '')}</abstract>"
            f"</arXiv></metadata></record>")


def build_page(count: int) -> bytes:
    """A ListRecords response holding ``count`` real papers (cycled if the file is shorter)."""
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        papers = [json.loads(line) for line in itertools.islice(handle, count)]
    records = (_record(p) for p in itertools.islice(itertools.cycle(papers), count))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            "<responseDate>2026-07-01T00:00:00Z</responseDate><request>bench</request><ListRecords>"
            + "".join(records) + '<resumptionToken cursor="0">next</resumptionToken></ListRecords></OAI-PMH>'
            ).encode("utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"shared data not found: {DATA}", file=sys.stderr)
        return 2
    body = build_page(args.records)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        parsed = parse_response(body, label="bench")
        best = min(best, time.perf_counter() - started)
    rate = len(parsed.records) / best
    print(f"{len(parsed.records)} records ({len(parsed.skipped)} skipped) from {len(body) / 1e6:.1f} MB "
          f"in {best:.3f}s: {rate:,.0f} records/s (target >= 2,000)")
    return 0 if rate >= 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
