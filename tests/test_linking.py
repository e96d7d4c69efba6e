"""One paper, all its versions: a preprint and its journal version, fetched from different
sources over real HTTP, end as one paper; search shows it once; a digest never sends it twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from digest_support import seed
from fastapi.testclient import TestClient
from eutils_fake import XML, article, article_set, esearch
from replay import Reply, ReplayServer
from web_support import web_settings

from papertide.app.search import search
from papertide.app.sync import run_sync
from papertide.digest.runner import run_digests
from papertide.model import make_record
from papertide.settings import Settings
from papertide.sources.base import Page, SyncRequest
from papertide.sources.biorxiv import BiorxivSource
from papertide.sources.pubmed import PubMedSource
from papertide.store import open_store
from papertide.web.app import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "biorxiv"
SPAN = "2026-06-28/2026-06-30"
PREPRINT = "doi:10.1101/2026.06.28.26310001"
TITLE = "Interactive 3D CT segmentation from a few clicks in emergency radiology"
TODAY = datetime.now(timezone.utc).date()


def medrxiv(replay: ReplayServer, settings: Settings) -> BiorxivSource:
    for cursor in (0, 3, 6):
        replay.add(f"/details/medrxiv/{SPAN}/{cursor}/json", None,
                   Reply(body=(FIXTURES / f"medrxiv_details_{cursor}.json").read_bytes(),
                         content_type="application/json"))
    replay.add(f"/pubs/medrxiv/{SPAN}/0", None, Reply(body=(FIXTURES / "empty.json").read_bytes(),
                                                     content_type="application/json"))
    return BiorxivSource(settings.replace(biorxiv_url=replay.url, medrxiv_categories=""), "medrxiv",
                         sleep=lambda s: None)


def pubmed(replay: ReplayServer, settings: Settings, articles: list[str]) -> PubMedSource:
    replay.add("/esearch.fcgi", None, Reply(body=esearch(len(articles)), content_type=XML))
    replay.add("/efetch.fcgi", None, Reply(body=article_set(articles), content_type=XML))
    return PubMedSource(settings.replace(pubmed_url=replay.url), sleep=lambda s: None)


def test_preprint_then_journal_version_is_one_paper_sent_once(replay: ReplayServer, digest_settings,
                                                              smtp_server) -> None:
    settings = digest_settings(http_retries=1)
    seed(settings, ["ada@example.org"], count=0, follows={"searches": ["3D CT segmentation"]})
    store = open_store(settings.db)
    run_sync(medrxiv(replay, settings), SyncRequest(since="2026-06-28", until="2026-06-30"), store)
    first = run_digests(store, settings, day=TODAY)
    assert first.delivery.sent == 1 and TITLE in smtp_server.recorder.messages[0].message.as_string()
    papers = store.count()

    # The journal version, from PubMed: another title and id, the journal DOI medRxiv gave.
    journal = article(41297076, TITLE + ": a multicentre study", doi="10.1016/j.media.2026.103311",
                      authors=(("Jürgen", "Müller"), ("Åsa", "Øster")), day="2026-09-01")
    report = run_sync(pubmed(replay, settings, [journal]), SyncRequest(since="2026-09-01", until="2026-09-02"), store)
    assert (report.new, report.updated) == (0, 1) and store.count() == papers

    paper = store.get(PREPRINT)
    assert set(paper.sources) == {"medrxiv", "pubmed"}
    assert paper.links["journal"] == "https://doi.org/10.1016/j.media.2026.103311"
    assert paper.links["pubmed"] == "https://pubmed.ncbi.nlm.nih.gov/41297076/"
    assert paper.links["versions"] == ["https://www.medrxiv.org/content/10.1101/2026.06.28.26310001v1"]
    assert paper.journal_ref.startswith("Journal of Medical AI")
    assert store.get("pmid:41297076").id == PREPRINT  # the journal version's id leads to the same paper
    hits = search(store, TITLE).hits
    assert [pid for pid, _ in hits].count(PREPRINT) == 1 and len(hits) == 1

    second = run_digests(store, settings, day=TODAY + timedelta(days=1))
    assert second.delivery.sent == 0 and len(smtp_server.recorder.messages) == 1  # nothing sent twice
    store.close()

    mail = smtp_server.recorder.messages[0].message.get_body(("plain",)).get_content()
    assert "medRxiv: https://www.medrxiv.org/content/10.1101/2026.06.28.26310001v1" in mail
    assert "arXiv:" not in mail
    with TestClient(create_app(web_settings(settings.db))) as client:
        page = client.get("/papers/" + PREPRINT)
        assert page.status_code == 200
        published_in = page.text.split('class="published-in">', 1)[1].split("</p>", 1)[0]
        assert 'Published in <a href="https://doi.org/10.1016/j.media.2026.103311"' in published_in
        assert "Journal of Medical AI" in published_in
        assert 'the preprint is on <a href="https://www.medrxiv.org/content/10.1101/2026.06.28.26310001v1"' \
            in published_in
        assert ">PubMed</a>" in page.text and ">arXiv</a>" not in page.text
        assert client.get("/api/v1/papers/pmid:41297076").json()["id"] == PREPRINT
        assert client.get("/api/v1/papers/10.1016/J.MEDIA.2026.103311").json()["id"] == PREPRINT
        feed = client.get("/feeds/search.atom", params={"q": "3D CT segmentation"})
        assert feed.status_code == 200 and feed.text.count("<entry>") == 1
        assert "/papers/" + PREPRINT in feed.text


def test_title_and_first_author_link_kinds_of_id_but_not_two_arxiv_papers(replay: ReplayServer, db: str) -> None:
    store = open_store(db)
    arxiv = dict(source="files", title="Segment Anything in Medical Images with Few Clicks",
                 abstract="An arXiv abstract.", authors=["Jun Ma", "Bo Wang"], categories=["eess.IV"],
                 published="2026-01-10")
    store.ingest(Page(records=[make_record(id="2601.00001", **arxiv)]))
    store.ingest(Page(records=[make_record(id="2601.00002", **arxiv)]))  # same title, another arXiv paper
    assert store.count() == 2

    version = article(41000001, "Segment anything in medical images with few clicks.",
                      authors=(("Jun", "Ma"), ("Bo", "Wang")), doi="10.1038/s41467-026-00001-x")
    other = article(41000002, "Segment anything in medical images with few clicks.",
                    authors=(("Ann", "Other"),))  # the same title by someone else: another paper
    settings = Settings({"db": db, "http_retries": 1}, environ={})
    run_sync(pubmed(replay, settings, [version, other]), SyncRequest(since="2026-03-01", until="2026-03-02"), store)
    assert store.count() == 3
    merged = store.get("2601.00001")
    assert set(merged.sources) == {"files", "pubmed"} and merged.doi == "10.1038/s41467-026-00001-x"
    assert store.get("pmid:41000001").id == "2601.00001" and store.get("pmid:41000002").id == "pmid:41000002"
    store.close()


def test_reindex_gives_older_papers_their_keys(replay: ReplayServer, db: str) -> None:
    store = open_store(db)
    store.ingest(Page(records=[make_record(id="2601.00003", source="files", authors=["Jun Ma"],
                                           title="Universal segmentation of medical images from text prompts")]))
    store.db.execute("DELETE FROM paper_keys")  # as a store written before paper keys existed
    if hasattr(store.db, "commit"):
        store.db.commit()
    assert store.rekey_papers() == 1 and store.rekey_papers() == 0
    settings = Settings({"db": db, "http_retries": 1}, environ={})
    version = article(41000003, "Universal segmentation of medical images from text prompts.", authors=(("Jun", "Ma"),))
    run_sync(pubmed(replay, settings, [version]), SyncRequest(since="2026-03-01", until="2026-03-02"), store)
    assert store.count() == 1 and store.get("pmid:41000003").id == "2601.00003"
    store.close()


def test_cite_prints_bibtex_for_any_kind_of_id(db: str) -> None:
    from click.testing import CliRunner

    from papertide.cli import cli

    store = open_store(db)
    store.ingest(Page(records=[make_record(id="2601.00004", source="files", authors=["Jun Ma"], published="2026-01-05",
                                           title="Universal segmentation of medical images from text prompts")]))
    store.close()
    result = CliRunner().invoke(cli, ["--db", db, "cite", "arXiv:2601.00004v2"])
    assert result.exit_code == 0 and result.output.startswith("@misc{ma2026universal,")
    assert "eprint = {2601.00004}" in result.output
    missing = CliRunner().invoke(cli, ["--db", db, "cite", "pmid:1"])
    assert missing.exit_code == 1 and missing.output.strip() == "papertide: error: no paper 'pmid:1' in the store"
