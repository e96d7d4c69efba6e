"""The bioRxiv/medRxiv source against a real local HTTP server replaying hand-made API pages
(tests/fixtures/biorxiv/README.md says why they are hand-made and what they hold)."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay import Reply, ReplayServer

from papertide.app.search import search
from papertide.app.sync import run_sync
from papertide.errors import SourceGarbage, SourceUnavailable
from papertide.settings import Settings
from papertide.sources.base import SyncRequest
from papertide.sources.biorxiv import BiorxivSource, authors_of, parse_day
from papertide.store import open_store

FIXTURES = Path(__file__).parent / "fixtures" / "biorxiv"
JSON = "application/json"
SPAN = "2026-06-28/2026-06-30"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def details(cursor: int) -> str:
    return f"/details/medrxiv/{SPAN}/{cursor}/json"


def source(url: str, sleeps: list[float], **settings: object) -> BiorxivSource:
    values = {"biorxiv_url": url, "http_retries": 2, "http_timeout": 5.0, "medrxiv_categories": "", **settings}
    return BiorxivSource(Settings(values, environ={}), "medrxiv", sleep=sleeps.append,
                         now=lambda: "2026-07-01T08:00:00+00:00")


def serve_all(replay: ReplayServer) -> None:
    for cursor in (0, 3, 6):
        replay.add(details(cursor), None, Reply(body=body(f"medrxiv_details_{cursor}.json"), content_type=JSON))
    replay.add(f"/pubs/medrxiv/{SPAN}/0", None, Reply(body=body("medrxiv_pubs_0.json"), content_type=JSON))


REQUEST = SyncRequest(since="2026-06-28", until="2026-06-30")


def test_pages_versions_and_journal_links(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    serve_all(replay)
    store = open_store(db)
    report = run_sync(source(replay.url, sleeps), REQUEST, store)
    # The cursor advanced by what each page returned (3, 3, 1), not by a page size it assumed.
    assert [r.path for r in replay.requests] == [details(0), details(3), details(6), f"/pubs/medrxiv/{SPAN}/0"]
    assert report.fetched == 8 and report.skipped == {"missing or invalid DOI": 1, "missing title": 1}
    assert store.count() == 4

    sepsis = store.get("doi:10.1101/2026.06.28.26310002")  # two versions, one paper: the newest wins
    assert sepsis.version == 2 and sepsis.title == "Predicting sepsis with transformers and x2 features (revised)"
    assert sepsis.published == "2026-06-28" and sepsis.updated == "2026-06-30"
    assert sepsis.links["versions"] == ["https://www.medrxiv.org/content/10.1101/2026.06.28.26310002v1",
                                        "https://www.medrxiv.org/content/10.1101/2026.06.28.26310002v2"]
    assert sepsis.authors == ["Chidi Okafor", "Ann Lee", "Jun Park"]
    assert sepsis.categories == ["medrxiv.health-informatics"] and "medrxiv" in sepsis.sources

    clicks = store.get("doi:10.1101/2026.06.28.26310001")  # unpadded date, non-ASCII names, a journal DOI
    assert clicks.published == "2026-06-28" and clicks.authors == ["Jürgen Müller", "Åsa Øster", "Văn An Nguyễn"]
    assert clicks.links["journal"] == "https://doi.org/10.1016/j.media.2026.103311"
    assert store.get("doi:10.1016/j.media.2026.103311").id == clicks.id  # found by its journal DOI too

    assert store.get("doi:10.1101/2026.06.29.26310003").abstract == ""  # no abstract: kept
    triage = store.get("doi:10.1101/2026.06.30.26310006")  # /pubs: published in a journal
    assert triage.journal_ref == "Nature Medicine, 2026-09-14"
    assert triage.links["journal"] == "https://doi.org/10.1038/s41591-026-04321-x"
    assert len(search(store, "cat:medrxiv.radiology-and-imaging").hits) == 2
    assert len(search(store, "sepsis source:arxiv-oai").hits) == 0
    assert [pid for pid, _ in search(store, "sepsis source:medrxiv").hits] == [sepsis.id]
    assert {pid for pid, _ in search(store, "cat:medrxiv").hits} == {
        "doi:10.1101/2026.06.28.26310001", "doi:10.1101/2026.06.28.26310002",
        "doi:10.1101/2026.06.29.26310003", "doi:10.1101/2026.06.30.26310006"}
    assert store.checkpoints("medrxiv:")["medrxiv:*"] == {
        "harvested_until": "2026-06-30", "from": "2026-06-28", "until": "2026-06-30", "cursor": None}
    store.close()


def test_an_empty_interval_is_done_at_once(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add(details(0), None, Reply(body=body("empty.json"), content_type=JSON))
    replay.add(f"/pubs/medrxiv/{SPAN}/0", None, Reply(body=body("empty.json"), content_type=JSON))
    store = open_store(db)
    report = run_sync(source(replay.url, sleeps), REQUEST, store)
    assert report.fetched == 0 and store.count() == 0 and len(replay.requests) == 2
    assert store.checkpoints("medrxiv:")["medrxiv:*"]["harvested_until"] == "2026-06-30"
    store.close()


def test_5xx_and_429_are_waited_for(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    serve_all(replay)
    replay.routes[(details(0), None)] = [
        Reply(body="oops", status=500, content_type="text/plain"),
        Reply(body="slow down", status=429, headers={"Retry-After": "7"}, content_type="text/plain"),
        Reply(body=body("medrxiv_details_0.json"), content_type=JSON)]
    replay.routes[(details(3), None)] = [
        Reply(body="slow down", status=429, content_type="text/plain"),
        Reply(body=body("medrxiv_details_3.json"), content_type=JSON)]
    store = open_store(db)
    run_sync(source(replay.url, sleeps), REQUEST, store)
    assert sleeps == [1.0, 7.0, 1.0]  # backoff, then Retry-After as asked, then backoff again
    assert store.count() == 4
    store.close()


def test_a_body_cut_short_stops_in_one_line_and_the_next_run_resumes(replay: ReplayServer, db: str,
                                                                   sleeps: list[float]) -> None:
    serve_all(replay)
    replay.routes[(details(3), None)] = [Reply(body=body("truncated.json"), content_type=JSON)]
    store = open_store(db)
    with pytest.raises(SourceGarbage, match="^medrxiv API at 127.0.0.1 sent malformed JSON$"):
        run_sync(source(replay.url, sleeps), REQUEST, store)
    assert store.count() == 3  # the first page stayed
    assert store.checkpoints("medrxiv:")["medrxiv:*"]["cursor"] == 3

    replay.routes[(details(3), None)] = [Reply(body=body("medrxiv_details_3.json"), content_type=JSON)]
    replay.requests.clear()
    run_sync(source(replay.url, sleeps), REQUEST, store)  # the same backfill resumes at its cursor
    assert replay.requests[0].path == details(3)
    assert store.count() == 4
    store.close()


def test_a_server_that_stays_down_is_one_line(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    replay.add(details(0), None, Reply(body="down", status=503, content_type="text/plain"))
    store = open_store(db)
    with pytest.raises(SourceUnavailable, match="^127.0.0.1 answered HTTP 503$"):
        run_sync(source(replay.url, sleeps), REQUEST, store)
    store.close()


def test_subjects_are_asked_of_the_api(replay: ReplayServer, db: str, sleeps: list[float]) -> None:
    serve_all(replay)
    store = open_store(db)
    run_sync(source(replay.url, sleeps, medrxiv_categories="Radiology and Imaging"), REQUEST, store)
    assert replay.requests[0].query == {"category": "Radiology and Imaging"}
    assert set(store.checkpoints("medrxiv:")) == {"medrxiv:Radiology and Imaging", "medrxiv:pubs"}
    store.close()


def test_field_helpers() -> None:
    assert parse_day("2026-6-3") == "2026-06-03"
    assert authors_of("van der Berg, K.; Consortium X") == ["K. van der Berg", "Consortium X"]


def test_a_sync_embeds_its_new_papers_when_the_store_has_vectors(replay: ReplayServer, tmp_path: Path) -> None:
    """The scheduled sync keeps semantic search up to date: its new papers are embedded after it."""
    import os
    import subprocess
    import sys
    import tempfile

    from papertide.app.semantic_index import run_index
    from papertide.index.embed import StaticEmbedder, distill_static, static_model_dir
    from papertide.model import Page, make_record

    models = Path(tempfile.gettempdir()) / "papertide-test-models"
    if not (static_model_dir(models) / "config.json").is_file():
        distill_static(static_model_dir(models))
    db = str(tmp_path / "s.db")
    store = open_store(db)
    store.ingest(Page(records=[make_record(id="2601.00001", source="files", title="An indexed paper on CT")]))
    embedder = StaticEmbedder(static_model_dir(models))
    run_index(store, embedder)
    store.close()
    serve_all(replay)
    env = {"PATH": "/usr/bin:/bin", "PAPERTIDE_BIORXIV_URL": replay.url, "PAPERTIDE_EMBEDDER": "static",
           "PAPERTIDE_MODELS_DIR": str(models), "PAPERTIDE_MEDRXIV_CATEGORIES": "",
           "PAPERTIDE_INDEX_DIR": str(tmp_path / "index"), "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run([str(Path(sys.executable).with_name("papertide")), "--db", db, "sync", "medrxiv",
                           "--from", "2026-06-28", "--until", "2026-06-30"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "index: 4 new papers embedded" in done.stdout
    store = open_store(db)
    try:
        assert store.count_to_embed(embedder.key) == 0 and store.count() == 5
    finally:
        store.close()
