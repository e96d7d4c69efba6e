"""The PubMed source against a real local HTTP server: the recorded E-utilities responses in
../shared/data/fixtures/pubmed_eutils, hand-made pages for what they lack, and a stand-in
E-utilities (tests/eutils_fake.py) for a 12,000-record backfill with faults and a kill."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eutils_fake import XML, FakeEutils, article, article_set, esearch, spread
from lxml import etree
from replay import Reply, ReplayServer

from papertide.app.sync import run_sync
from papertide.errors import SourceUnavailable
from papertide.settings import Settings
from papertide.sources.base import SyncRequest
from papertide.sources.pubmed import PubMedSource
from papertide.store import open_store

PAPERTIDE = str(Path(sys.executable).with_name("papertide"))
ESEARCH, EFETCH = "/esearch.fcgi", "/efetch.fcgi"
REQUEST = SyncRequest(since="2026-03-01", until="2026-03-03")


def source(url: str, sleeps: list[float] | None = None, **settings: object) -> PubMedSource:
    values = {"pubmed_url": url, "http_retries": 3, "http_timeout": 5.0, "pubmed_email": "lab@example.org",
              **settings}
    return PubMedSource(Settings(values, environ={}), sleep=sleeps.append if sleeps is not None else time.sleep,
                        now=lambda: "2026-03-04T08:00:00+00:00")


def recorded_articles(shared_data: Path) -> list[str]:
    """Every PubmedArticle of the recorded efetch answers, as XML text."""
    found = []
    for path in sorted((shared_data / "fixtures" / "pubmed_eutils").glob("pubmed*.xml")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
        found += [etree.tostring(a, encoding="unicode") for a in root.iter("PubmedArticle")]
    return found


def test_recorded_records_in_one_page(replay: ReplayServer, shared_data: Path, db: str,
                                      sleeps: list[float]) -> None:
    articles = recorded_articles(shared_data)
    replay.add(ESEARCH, None, Reply(body=esearch(len(articles)), content_type=XML))
    replay.add(EFETCH, None, Reply(body=article_set(articles), content_type=XML))
    store = open_store(db)
    report = run_sync(source(replay.url, sleeps), REQUEST, store)
    assert report.new == len(articles) == 8 and report.skipped_total == 0

    search_query, fetch_query = replay.requests[0].query, replay.requests[1].query
    assert search_query["usehistory"] == "y" and search_query["datetype"] == "edat"
    assert (search_query["mindate"], search_query["maxdate"]) == ("2026/03/01", "2026/03/03")
    assert search_query["tool"] == "papertide" and search_query["email"] == "lab@example.org"
    assert fetch_query["WebEnv"] == "MCID_1" and fetch_query["retmax"] == "500" and fetch_query["retstart"] == "0"

    telomere = store.get("pmid:27797938")  # MEDLINE: structured abstract, MeSH, inline markup, DOI, PMCID
    assert telomere.title.startswith("Leucocyte telomere length, genetic variants at the TERT gene region")
    assert telomere.abstract.startswith("OBJECTIVE: Telomere shortening")
    assert "\n\nDESIGN: We measured" in telomere.abstract and "r2<0.25" in telomere.abstract
    assert telomere.doi == "10.1136/gutjnl-2016-312510" and telomere.journal_ref == "Gut 66(6):1116-1122 (2017)"
    assert "mesh.pancreatic-neoplasms" in telomere.categories and "Pancreatic Neoplasms" in telomere.keywords
    assert telomere.links["pmc"] == "https://pmc.ncbi.nlm.nih.gov/articles/PMC5442267/"
    assert telomere.links["abs"] == "https://pubmed.ncbi.nlm.nih.gov/27797938/"
    assert telomere.authors[0] == "Ying Bao" and telomere.affiliations[0].startswith("Channing Division")
    assert store.get("doi:10.1136/gutjnl-2016-312510").id == "pmid:27797938"
    assert store.get("PMID:27797938".lower()).title == telomere.title
    store.close()


def test_bad_records_are_skipped_or_cleaned_with_reasons(replay: ReplayServer, db: str,
                                                          sleeps: list[float]) -> None:
    page = [
        article(1, "", raw_title=""),  # no title
        article(2, "", raw_title='Deep <i>learning</i> for <mml:math xmlns:mml="http://www.w3.org/1998/Math/'
                                 'MathML"><mml:msup><mml:mi>T</mml:mi><mml:mn>2</mml:mn></mml:msup></mml:math> '
                                 'MRI &lt;script&gt;'),
        article(3, "Odd DOI", doi="10.1000/abc def<x>"),
        article(4, "Names from afar", authors=(("Zoë", "Ångström"), ("Nguyễn", "Văn"))),
        "<PubmedArticle><MedlineCitation><PMID>x</PMID></MedlineCitation></PubmedArticle>",
    ]
    replay.add(ESEARCH, None, Reply(body=esearch(5), content_type=XML))
    replay.add(EFETCH, None,
               Reply(body="<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>", content_type=XML),
               Reply(body=article_set(page), content_type=XML))
    store = open_store(db)
    report = run_sync(source(replay.url, sleeps), REQUEST, store)
    assert report.skipped == {"missing title": 1, "missing PMID": 1}
    assert store.get("pmid:2").title == "Deep learning for T2 MRI <script>"  # text; the pages escape it
    assert store.get("pmid:3").doi == ""  # a DOI with spaces and markup is dropped, the record kept
    assert store.get("pmid:4").authors == ["Zoë Ångström", "Nguyễn Văn"]
    # The <ERROR> (an expired history session) sent the source back to esearch, then on.
    assert [r.path for r in replay.requests] == [ESEARCH, EFETCH, ESEARCH, EFETCH]
    store.close()


def test_a_page_cut_short_keeps_its_whole_records(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    whole = article_set([article(n, f"Paper number {n} about imaging") for n in range(1, 11)])
    cut = whole[: whole.index("<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\"><PMID Version"
                              "=\"1\">8<") + 120]
    replay.add(ESEARCH, None, Reply(body=esearch(10), content_type=XML))
    replay.add(EFETCH, None, Reply(body=cut, content_type=XML))
    store = open_store(db)
    report = run_sync(source(replay.url, sleeps), REQUEST, store)
    assert len(replay.requests) == 4  # asked three times, then read as far as it went
    assert store.count() == 7 and report.skipped == {"malformed XML": 3}
    store.close()


def test_a_search_error_is_one_line(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add(ESEARCH, None, Reply(body="<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>",
                                    content_type=XML))
    store = open_store(db)
    with pytest.raises(SourceUnavailable, match="^PubMed E-utilities at 127.0.0.1 refused the search: Invalid query$"):
        run_sync(source(replay.url, sleeps), REQUEST, store)
    store.close()


def _busiest_second(times: list[float]) -> int:
    return max(sum(t <= u < t + 1.0 for u in times) for t in times)


def test_a_12000_record_backfill_splits_pages_retries_and_keeps_the_pace(replay: ReplayServer,
                                                                        tmp_path: Path) -> None:
    records = spread(12_000, "2026-02-01", 10)
    fake = FakeEutils(records, faults={
        2: Reply(body="slow down", status=429, headers={"Retry-After": "1"}, content_type="text/plain"),
        6: Reply(body="slow down", status=429, content_type="text/plain"),
        11: Reply(body="unavailable", status=503, content_type="text/plain")})
    replay.handler = fake
    store = open_store(str(tmp_path / "s.db"))
    report = run_sync(source(replay.url), SyncRequest(since="2026-02-01", until="2026-02-10"), store)
    assert store.count() == report.new == 12_000 and report.skipped_total == 0  # every record, once
    # 12,000 is past esearch's 10,000: the ten days were cut in halves of 6,000.
    assert fake.searches[:3] == [("2026-02-01", "2026-02-10"), ("2026-02-01", "2026-02-05"),
                                 ("2026-02-06", "2026-02-10")]
    assert _busiest_second(fake.times) <= 3  # NCBI's limit without a key, measured at the server
    assert store.checkpoints("pubmed:").popitem()[1]["harvested_until"] == "2026-02-10"
    store.close()


def _sync(db: Path, url: str) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "PAPERTIDE_PUBMED_URL": url, "PAPERTIDE_PUBMED_API_KEY": "k3y",
           "PAPERTIDE_INDEX_DIR": str(db.parent / "index")}
    return subprocess.Popen([PAPERTIDE, "--db", str(db), "sync", "pubmed", "--from", "2026-02-01",
                             "--until", "2026-02-10"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


@pytest.mark.parametrize("seed", [2, 7, 9])
def test_a_backfill_killed_at_a_random_moment_resumes_to_the_same_result(replay: ReplayServer, tmp_path: Path,
                                                                         seed: int) -> None:
    records = spread(12_000, "2026-02-01", 10)
    fake = FakeEutils(records)
    replay.handler = fake
    db = tmp_path / "kill.db"
    run = _sync(db, replay.url)
    deadline = time.monotonic() + 30
    rng = random.Random(seed)
    wanted = rng.randint(3, 20)  # a random request of the ~27 the backfill makes ...
    while len(fake.times) < wanted and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.1))  # ... and a random moment after it (parsing, storing, indexing)
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    with sqlite3.connect(db) as conn:
        part = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
    assert 0 <= part < 12_000, "the run finished before it was killed"
    rerun = _sync(db, replay.url)
    assert rerun.wait(120) == 0, rerun.stderr.read().decode()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in conn.execute("SELECT id FROM papers")]
    assert len(ids) == len(set(ids)) == 12_000 and set(ids) == {f"pmid:{p}" for p, _ in records}
    key = [t for t in fake.times if t]  # with a key: at most 10 a second, measured at the server
    assert _busiest_second(key) <= 10
    print(f"seed {seed}: killed after {wanted} requests with {part:,} records stored")  # noqa: T201
