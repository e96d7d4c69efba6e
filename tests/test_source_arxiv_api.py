"""The arXiv Atom API source against a real local HTTP server replaying recorded answers."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from replay import Reply, ReplayServer

from papertide.errors import BadInput, SourceGarbage, SourceUnavailable
from papertide.settings import Settings
from papertide.sources.arxiv_api import ArxivAPISource
from papertide.sources.base import SyncRequest
from papertide.store import open_store
from papertide.app.sync import run_sync

API = "/api/query"


def make_source(url: str, sleeps: list[float], **overrides: object) -> ArxivAPISource:
    settings = Settings({"arxiv_api_url": url + API, "http_retries": 1, "http_timeout": 5.0,
                         "polite_delay": 0.25, **overrides}, environ={})
    return ArxivAPISource(settings, sleep=sleeps.append)


@pytest.fixture
def recorded(replay: ReplayServer, shared_data: Path) -> ReplayServer:
    """The replay server scripted with all recorded API answers under their own URLs."""
    files = sorted((shared_data / "fixtures" / "arxiv_api_atom" / "recorded_json").glob("*.json"))
    assert len(files) == 20
    for path in files:
        replay.add_recorded(str(path))
    return replay


def recorded_body(shared_data: Path, name: str) -> str:
    return json.loads((shared_data / "fixtures" / "arxiv_api_atom" / "recorded_json" / name).read_text())["body"]


def feed(*entries: str, total: int | None = None) -> str:
    total = len(entries) if total is None else total
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"<opensearch:totalResults>{total}</opensearch:totalResults>" + "".join(entries) + "</feed>")


def entry(versioned_id: str, title: str, updated: str = "2026-06-01T10:00:00Z") -> str:
    return (f"<entry><id>http://arxiv.org/abs/{versioned_id}</id><title>{title}</title>"
            f"<updated>{updated}</updated><published>2026-05-01T10:00:00Z</published>"
            f"<summary>About {title}.</summary><author><name>Ann Lee</name></author>"
            f'<category term="cs.CL"/><category term="cs.LG"/><arxiv:primary_category term="cs.CL"/></entry>')


def test_ids_from_recorded_answers(new_db, recorded: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    store = open_store(new_db("t"))
    wanted = ["2104.12255v1", "astro-ph/0601001", "quant-ph/0201082v1", "0000.0000"]
    # One sync per id: that is how the answers were recorded (one id, max_results=100).
    reports = [run_sync(make_source(recorded.url, sleeps), SyncRequest(ids=[i]), store) for i in wanted]
    assert [r.new for r in reports] == [1, 1, 1, 0] and store.count() == 3
    assert reports[-1].skipped == {"not found on arXiv": 1}
    assert reports[-1].examples["not found on arXiv"] == "0000.0000: not found on arXiv"

    paper = store.get("2104.12255")
    assert (paper.version, paper.title, paper.primary_category) == (1, "0", "cs.CR")
    assert paper.authors == ["Quan Thoi Minh Nguyen"] and paper.categories == ["cs.CR"]
    assert (paper.published, paper.updated) == ("2021-04-20", "2021-04-20")
    assert paper.abstract.startswith("What is the funniest number in cryptography?")
    assert paper.links["abs"] == "https://arxiv.org/abs/2104.12255"
    assert paper.sources.keys() == {"arxiv-api"}
    old = store.get("astro-ph/0601001")
    assert old.journal_ref == "ActaAstron.56:1-50,2006" and old.version == 1
    assert old.authors[0] == "Andrew Gould" and old.comment.startswith("62 pages")
    assert [r.query["id_list"] for r in recorded.requests] == wanted
    assert sleeps == []  # one request per run: no pause needed


def test_batched_ids_and_one_missing(new_db, recorded: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    store = open_store(new_db("t"))
    report = run_sync(make_source(recorded.url, sleeps), SyncRequest(ids=["0808.05394", "1707.08567"]), store)
    assert len(recorded.requests) == 1 and recorded.requests[0].query["id_list"] == "0808.05394,1707.08567"
    assert store.count() == 1 and report.skipped == {"not found on arXiv": 1}
    assert len(store.get("1707.08567").authors) == 34


def test_query_paged_until_max_results(new_db, recorded: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    store = open_store(new_db("t"))
    source = make_source(recorded.url, sleeps, arxiv_api_page_size=10)
    report = run_sync(source, SyncRequest(query="testing", max_results=60), store)
    assert [(r.query["start"], r.query["max_results"]) for r in recorded.requests] == [
        (str(s), "10") for s in range(0, 60, 10)]
    assert report.fetched == 60 and report.skipped_total == 0
    assert store.count() == report.new == 60
    assert sleeps == [0.25] * 5
    first = store.get("2202.12139")
    assert first.doi == "10.1109/ICSTW55395.2022.00035" and first.categories == ["cs.SE", "cs.LG"]


def test_query_stops_at_total_results(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    replay.add(API, {"search_query": "ti:x", "id_list": "", "sortBy": "relevance", "sortOrder": "descending",
                     "start": 0, "max_results": 2},
               Reply(body=feed(entry("2606.00001v1", "One"), entry("2606.00002v1", "Two"), total=3)))
    replay.add(API, {"search_query": "ti:x", "id_list": "", "sortBy": "relevance", "sortOrder": "descending",
                     "start": 2, "max_results": 2}, Reply(body=feed(entry("2606.00003v2", "Three"), total=3)))
    store = open_store(new_db("t"))
    run_sync(make_source(replay.url, sleeps, arxiv_api_page_size=2), SyncRequest(query="ti:x"), store)
    assert len(replay.requests) == 2 and store.count() == 3
    assert store.get("2606.00003").version == 2


def test_new_version_updates_the_paper(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    replay.add(API, None, Reply(body=feed(entry("2606.00001v1", "First title"))),
               Reply(body=feed(entry("2606.00001v2", "Better title", updated="2026-06-20T10:00:00Z"))))
    store = open_store(new_db("t"))
    source = make_source(replay.url, sleeps)
    run_sync(source, SyncRequest(ids=["2606.00001"]), store)
    assert (store.get("2606.00001").version, store.get("2606.00001").title) == (1, "First title")
    report = run_sync(source, SyncRequest(ids=["2606.00001"]), store)
    paper = store.get("2606.00001")
    assert (report.new, report.updated, store.count()) == (0, 1, 1)
    assert (paper.version, paper.title, paper.updated, paper.published) == (2, "Better title", "2026-06-20",
                                                                            "2026-05-01")


def test_invalid_id_is_skipped_without_asking(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    store = open_store(new_db("t"))
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(ids=["abc"]), store)
    assert replay.requests == [] and store.count() == 0
    assert report.skipped == {"not an arXiv id:": 1}


def test_error_entry_with_400_is_one_clear_line(new_db, replay: ReplayServer, shared_data: Path, tmp_path: Path,
                                                sleeps: list[float]) -> None:
    replay.add(API, None, Reply(body=recorded_body(shared_data, "id_abc_s0_m100_b79c8dcf6bc3.json"), status=400))
    store = open_store(new_db("t"))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(replay.url, sleeps), SyncRequest(query="au:"), store)
    assert str(caught.value) == "arXiv API at 127.0.0.1 refused the request: incorrect id format for abc"
    assert store.count() == 0


def test_error_entry_in_a_normal_answer_is_skipped(new_db, replay: ReplayServer, shared_data: Path, tmp_path: Path,
                                                   sleeps: list[float]) -> None:
    error = recorded_body(shared_data, "id_abc_s0_m100_b79c8dcf6bc3.json")
    error_entry = error[error.index("<entry>"):error.index("</entry>") + len("</entry>")]
    replay.add(API, None, Reply(body=feed(entry("2606.00001v1", "Fine"), error_entry)))
    store = open_store(new_db("t"))
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(query="all:fine"), store)
    assert store.count() == 1 and report.skipped == {"incorrect id format for abc": 1}


def test_garbage_and_missing_input(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    replay.add(API, None, Reply(body="<html><body>Rate limited</body></html>", content_type="text/html"))
    store = open_store(new_db("t"))
    with pytest.raises(SourceGarbage, match="HTML page instead of XML"):
        run_sync(make_source(replay.url, sleeps), SyncRequest(query="all:x"), store)
    with pytest.raises(BadInput):
        run_sync(make_source(replay.url, sleeps), SyncRequest(), store)
    assert store.count() == 0


def test_source_down(new_db, tmp_path: Path, sleeps: list[float]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(new_db("t"))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(f"http://127.0.0.1:{port}", sleeps), SyncRequest(ids=["2104.12255"]), store)
    assert str(caught.value).startswith("cannot reach 127.0.0.1") and "\n" not in str(caught.value)
    assert store.count() == 0
