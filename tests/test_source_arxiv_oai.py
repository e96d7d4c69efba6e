"""The arXiv OAI-PMH source against a real local HTTP server replaying recorded and hand-written answers."""

from __future__ import annotations

import socket
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from replay import Reply, ReplayServer

from papertide.errors import SourceGarbage, SourceUnavailable
from papertide.settings import Settings
from papertide.sources.arxiv_oai import ArxivOAISource, in_categories
from papertide.sources.base import SyncRequest
from papertide.store import open_store
from papertide.app.sync import run_sync

NOW = "2026-07-01T12:00:00+00:00"
FIRST = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2026-06-01",
         "until": "2026-06-30"}
WINDOW = SyncRequest(since="2026-06-01", until="2026-06-30", sets=["cs"])


# -- hand-written OAI-PMH answers ---------------------------------------------
def oai_record(paper_id: str, *, title: str = "A title", categories: str = "cs.CV",
               deleted: bool = False) -> str:
    status = ' status="deleted"' if deleted else ""
    header = (f"<header{status}><identifier>oai:arXiv.org:{paper_id}"
              f"</identifier><datestamp>2026-06-02</datestamp><setSpec>cs</setSpec></header>")
    if deleted:
        return f"<record>{header}</record>"
    return (f'<record>{header}<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/">'
            f"<id>{paper_id}</id><created>2026-06-01</created><updated>2026-06-02</updated>"
            f"<authors><author><keyname>Doe</keyname><forenames>Jane</forenames></author></authors>"
            f"<title>{escape(title)}</title><categories>{categories}</categories>"
            f"<comments>code at https://github.com/jane/{paper_id.replace('.', '')}</comments>"
            f"<abstract>About {escape(title)}.</abstract></arXiv></metadata></record>")


def oai_page(*records: str, token: str | None = None, error: tuple[str, str] | None = None) -> str:
    body = f'<error code="{error[0]}">{error[1]}</error>' if error else (
        "<ListRecords>" + "".join(records)
        + (f'<resumptionToken cursor="0">{token}</resumptionToken>' if token is not None else "")
        + "</ListRecords>")
    return ('<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f"<responseDate>2026-07-01T00:00:00Z</responseDate><request>x</request>{body}</OAI-PMH>")


def ids(*numbers: int) -> list[str]:
    return [f"2606.{n:05d}" for n in numbers]


# -- helpers -------------------------------------------------------------------
def make_source(url: str, sleeps: list[float], **overrides: object) -> ArxivOAISource:
    settings = Settings({"arxiv_oai_url": url + "/oai", "http_retries": 2, "http_timeout": 5.0,
                         "arxiv_sets": "cs", **overrides}, environ={})
    return ArxivOAISource(settings, sleep=sleeps.append, now=lambda: NOW)


def stored_ids(db: str) -> list[str]:
    store = open_store(db)
    try:
        return sorted(r[0] for r in store.db.execute("SELECT id FROM papers"))
    finally:
        store.close()


# -- recorded responses ----------------------------------------------------------
def test_recorded_fixtures_parse_and_store(replay: ReplayServer, shared_data: Path, db: str,
                                           sleeps: list[float]) -> None:
    files = sorted((shared_data / "fixtures" / "arxiv_oai_pmh").glob("*.xml"))
    assert len(files) == 15  # the README says 14; one GetRecord file more is there
    for n, path in enumerate(files):
        replay.add("/oai", {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": f"s{n}",
                            "from": "2016-01-01"}, Reply(body=path.read_bytes()))
    store = open_store(str(db))
    request = SyncRequest(since="2016-01-01", sets=[f"s{n}" for n in range(len(files))])
    report = run_sync(make_source(replay.url, sleeps), request, store)
    assert report.skipped_total == 0
    assert report.fetched == 30 and store.count() == 19  # the unit fixtures repeat papers

    single = store.get("1401.2122")
    assert single.title == "New integrable (3+1)-dimensional systems and contact geometry"
    assert single.authors == ["A. Sergyeyev"] and single.version is None
    assert single.categories[0] == single.primary_category == "math.AP"
    assert (single.published, single.updated) == ("2014-01-09", "2017-10-23")
    assert single.doi == "10.1007/s11005-017-1013-4"
    assert single.journal_ref.startswith("Lett. Math. Phys. 108")
    assert single.links["abs"] == "https://arxiv.org/abs/1401.2122"
    assert single.sources.keys() == {"arxiv-oai"}
    # The <arXiv> block without arXiv's xmlns (it inherits the OAI one) still parses.
    assert store.get("1601.03238").authors[:2] == ["Planck Collaboration", "Jieci Wang"]
    # A hand-edited author with two keynames keeps both, forenames first.
    assert store.get("1606.07066").authors[0] == "Curtis J. Saxton Walton"
    checkpoint = store.checkpoints("arxiv-oai:")["arxiv-oai:s0"]
    assert checkpoint == {"harvested_until": "2026-07-01", "token": None, "from": "2016-01-01", "until": None}


# -- paging, retries, errors -------------------------------------------------------
def test_resumption_token_paging_three_pages(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(*map(oai_record, ids(1, 2)), token="t1")))
    replay.add("/oai", {"verb": "ListRecords", "resumptionToken": "t1"},
               Reply(body=oai_page(*map(oai_record, ids(3, 4)), token="t2")))
    replay.add("/oai", {"verb": "ListRecords", "resumptionToken": "t2"},
               Reply(body=oai_page(oai_record(ids(5)[0]), token="")))
    store = open_store(str(db))
    report = run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert (report.fetched, report.new, store.count()) == (5, 5, 5)
    assert [r.query for r in replay.requests] == [
        FIRST, {"verb": "ListRecords", "resumptionToken": "t1"}, {"verb": "ListRecords", "resumptionToken": "t2"}]
    assert store.checkpoints("arxiv-oai:")["arxiv-oai:cs"] == {
        "harvested_until": "2026-06-30", "token": None, "from": "2026-06-01", "until": "2026-06-30"}
    paper = store.get("2606.00003")
    assert paper.links["code"] == ["https://github.com/jane/260600003"]
    assert paper.authors == ["Jane Doe"] and paper.published == "2026-06-01"
    assert sleeps == []


def test_503_with_retry_after_then_success(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body="busy", status=503, headers={"Retry-After": "7"},
                                    content_type="text/plain"),
               Reply(body=oai_page(oai_record(ids(1)[0]))))
    store = open_store(str(db))
    run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert sleeps == [7.0]
    assert store.count() == 1 and len(replay.requests) == 2


def test_no_records_match_is_an_empty_harvest(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(error=("noRecordsMatch", "nothing in this window"))))
    store = open_store(str(db))
    report = run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert (report.fetched, store.count()) == (0, 0)
    assert store.checkpoints("arxiv-oai:")["arxiv-oai:cs"]["harvested_until"] == "2026-06-30"


def test_other_oai_error_is_one_clear_line(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(error=("badArgument", "Illegal set 'cs'")), status=400))
    store = open_store(str(db))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert "badArgument" in str(caught.value) and "\n" not in str(caught.value)
    assert store.count() == 0 and store.checkpoints("arxiv-oai:") == {}


@pytest.mark.parametrize("body, words", [
    ('<?xml version="1.0"?><OAI-PMH><ListRecords><record><header>', "malformed XML"),
    ("<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>", "HTML"),
    ('<?xml version="1.0"?><rss><channel/></rss>', "not <OAI-PMH>"),
])
def test_garbage_raises_and_leaves_store_unchanged(replay: ReplayServer, db: str, sleeps: list[float],
                                                   body: str, words: str) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(oai_record(ids(1)[0]), token="t1")))
    replay.add("/oai", {"verb": "ListRecords", "resumptionToken": "t1"}, Reply(body=body))
    store = open_store(str(db))
    with pytest.raises(SourceGarbage) as caught:
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert stored_ids(db) == ids(1)  # page 1 kept; nothing of the garbage page
    assert store.checkpoints("arxiv-oai:")["arxiv-oai:cs"]["token"] == "t1"


def test_garbage_on_the_first_page_stores_nothing(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(oai_record(ids(1)[0]))[:-40]))
    store = open_store(str(db))
    with pytest.raises(SourceGarbage, match="^arXiv OAI-PMH at 127.0.0.1 sent malformed XML"):
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert store.count() == 0 and store.checkpoints("arxiv-oai:") == {}


def test_dropped_connection_is_retried(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    body = oai_page(*map(oai_record, ids(1, 2, 3)))
    replay.add("/oai", FIRST, Reply(body=body, drop_after=200), Reply(body=body))
    store = open_store(str(db))
    run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert store.count() == 3 and len(replay.requests) == 2
    assert sleeps == [1.0]  # backoff before the retry


def test_always_dropped_fails_with_one_line(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(*map(oai_record, ids(1, 2, 3))), drop_after=200))
    store = open_store(str(db))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    message = str(caught.value)
    assert message.startswith("cannot reach 127.0.0.1") and "\n" not in message
    assert len(replay.requests) == 3 and sleeps == [1.0, 2.0]
    assert store.count() == 0


def test_source_down_gives_one_line_and_unchanged_store(db: str, sleeps: list[float]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(str(db))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(f"http://127.0.0.1:{port}", sleeps), WINDOW, store)
    assert "cannot reach 127.0.0.1" in str(caught.value) and "\n" not in str(caught.value)
    assert store.count() == 0 and store.checkpoints("arxiv-oai:") == {}


# -- resuming and incremental runs --------------------------------------------------
def test_interrupted_harvest_resumes_from_stored_token(replay: ReplayServer, db: str,
                                                       sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(*map(oai_record, ids(1, 2)), token="t1")))
    replay.add("/oai", {"verb": "ListRecords", "resumptionToken": "t1"},
               Reply(body="internal error", status=500, content_type="text/plain"),
               Reply(body=oai_page(*map(oai_record, ids(3, 4)), token="")))
    store = open_store(str(db))
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert stored_ids(db) == ids(1, 2)
    assert store.checkpoints("arxiv-oai:")["arxiv-oai:cs"] == {
        "harvested_until": None, "token": "t1", "from": "2026-06-01", "until": "2026-06-30"}

    before = len(replay.requests)
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(sets=["cs"]), store)
    assert [r.query for r in replay.requests[before:]] == [{"verb": "ListRecords", "resumptionToken": "t1"}]
    assert report.new == 2 and stored_ids(db) == ids(1, 2, 3, 4)
    assert store.checkpoints("arxiv-oai:")["arxiv-oai:cs"]["harvested_until"] == "2026-06-30"


def test_refused_resumption_token_restarts_the_window(replay: ReplayServer, db: str,
                                                      sleeps: list[float]) -> None:
    store = open_store(str(db))
    # A run interrupted after page 1 left token "old" behind.
    replay.add("/oai", FIRST, Reply(body=oai_page(oai_record(ids(1)[0]), token="old")),
               Reply(body=oai_page(*map(oai_record, ids(1, 2, 3)))))
    replay.add("/oai", {"verb": "ListRecords", "resumptionToken": "old"},
               Reply(body="down", status=500, content_type="text/plain"),
               Reply(body=oai_page(error=("badResumptionToken", "expired"))))
    with pytest.raises(SourceUnavailable):
        run_sync(make_source(replay.url, sleeps), WINDOW, store)
    before = len(replay.requests)
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(sets=["cs"]), store)
    assert [r.query for r in replay.requests[before:]] == [
        {"verb": "ListRecords", "resumptionToken": "old"}, FIRST]
    assert stored_ids(db) == ids(1, 2, 3) and (report.new, report.unchanged) == (2, 1)


def test_incremental_run_starts_at_harvested_until(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", None, Reply(body=oai_page(oai_record(ids(1)[0]))))
    store = open_store(str(db))
    run_sync(make_source(replay.url, sleeps), SyncRequest(), store)  # fresh store: today - sync_days
    run_sync(make_source(replay.url, sleeps), SyncRequest(), store)  # next run: from harvested_until
    fresh_from = (date.fromisoformat(NOW[:10]) - timedelta(days=3)).isoformat()
    assert [r.query.get("from") for r in replay.requests] == [fresh_from, NOW[:10]]
    assert all("until" not in r.query and r.query["set"] == "cs" for r in replay.requests)
    assert store.count() == 1


# -- what is kept ---------------------------------------------------------------------
def test_category_filter_applies_only_to_default_sets(replay: ReplayServer, new_db,
                                                      sleeps: list[float]) -> None:
    page = oai_page(oai_record(ids(1)[0], categories="cs.CV cs.LG"), oai_record(ids(2)[0], categories="math.AG"),
                    oai_record(ids(3)[0], categories="math.OC q-bio.NC"), oai_record(ids(4)[0], categories="q-bioX"))
    replay.add("/oai", None, Reply(body=page))
    overrides = {"arxiv_categories": "cs.CV q-bio"}
    default_db, explicit_db = new_db("default"), new_db("explicit")
    report = run_sync(make_source(replay.url, sleeps, **overrides), SyncRequest(since="2026-06-01"),
                      open_store(str(default_db)))
    assert stored_ids(default_db) == ids(1, 3)
    assert report.skipped == {"not in arxiv_categories": 2}
    run_sync(make_source(replay.url, sleeps, **overrides), SyncRequest(since="2026-06-01", sets=["cs"]),
             open_store(str(explicit_db)))
    assert stored_ids(explicit_db) == ids(1, 2, 3, 4)
    assert in_categories(["q-bio.NC"], ["q-bio"]) and not in_categories(["q-biology"], ["q-bio"])


def test_deleted_and_broken_records_are_skipped(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add("/oai", FIRST, Reply(body=oai_page(
        oai_record(ids(1)[0]), oai_record(ids(2)[0], deleted=True), oai_record(ids(3)[0], title=""),
        oai_record("not-an-id"), oai_record(ids(5)[0]))))
    store = open_store(str(db))
    report = run_sync(make_source(replay.url, sleeps), WINDOW, store)
    assert stored_ids(db) == ids(1, 5)
    assert report.fetched == 5
    assert report.skipped == {"deleted": 1, "missing title": 1, "not an arXiv id:": 1}
    assert report.examples["deleted"] == "cs:2606.00002: deleted"
