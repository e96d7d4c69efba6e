"""The Hugging Face daily papers source against a real local HTTP server replaying recorded days."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from replay import Reply, ReplayServer

from papertide.errors import BadInput, SourceGarbage, SourceUnavailable
from papertide.settings import Settings
from papertide.sources.base import SyncRequest
from papertide.sources.hf_daily import HFDailySource
from papertide.store import open_store
from papertide.app.sync import run_sync

DAYS = ["2024-05-27", "2025-06-02", "2026-08-21"]
PATH = "/api/daily_papers"
JSON = "application/json"


def make_source(url: str, sleeps: list[float], now: str = "2026-08-21T12:00:00+00:00") -> HFDailySource:
    settings = Settings({"hf_url": url, "http_retries": 1, "http_timeout": 5.0}, environ={})
    return HFDailySource(settings, sleep=sleeps.append, now=lambda: now)


def recorded_day(shared_data: Path, day: str) -> bytes:
    return (shared_data / "fixtures" / "hf_daily_papers_api" / f"daily_papers_{day}.json").read_bytes()


def item(paper_id: str, upvotes: int) -> dict:
    return {"paper": {"id": paper_id, "title": f"Paper {paper_id}", "summary": "An abstract.",
                      "authors": [{"name": "Ann Lee"}], "publishedAt": "2026-08-20T00:00:00.000Z",
                      "upvotes": upvotes}, "numComments": 2}


def signal_rows(db: str, kind: str) -> list[tuple[str, str, float]]:
    store = open_store(db)
    try:
        return [tuple(r) for r in store.db.execute(
            "SELECT p.id, s.observed_at, s.value FROM signals s JOIN papers p ON p.pk = s.pk "
            "WHERE s.kind = ? ORDER BY p.id, s.observed_at", (kind,))]
    finally:
        store.close()


def test_schema_drift_across_three_recorded_days(replay: ReplayServer, shared_data: Path, new_db,
                                                 sleeps: list[float]) -> None:
    for day in DAYS:
        replay.add(PATH, {"date": day}, Reply(body=recorded_day(shared_data, day), content_type=JSON))
    db = new_db("t")
    store = open_store(str(db))
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(dates=list(reversed(DAYS))), store)
    assert [r.query["date"] for r in replay.requests] == DAYS  # oldest first
    assert report.skipped_total == 0 and report.fetched == 50 and store.count() == 50

    old = store.get("2405.15738")  # 2024: no ai_keywords, no githubRepo (the code link is in the abstract)
    assert old.title.startswith("ConvLLaVA") and old.keywords == []
    assert old.links["code"] == ["https://github.com/alibaba/conv-llava"]
    assert old.sources.keys() == {"hf-daily"} and old.published == "2024-05-24"
    assert any(store.get(i).keywords for i in ("2505.24864",))  # 2025: ai_keywords arrived
    with_code = [r for r in json.loads(recorded_day(shared_data, DAYS[2])) if r["paper"].get("githubRepo")]
    repo_paper = store.get(with_code[0]["paper"]["id"])
    assert repo_paper.links["code"] and repo_paper.links["hf"].startswith("https://huggingface.co/papers/")
    upvotes = dict((pid, value) for pid, _, value in signal_rows(db, "upvotes"))
    assert upvotes["2405.15738"] == 32 and upvotes["2608.19880"] == 163
    assert ("2405.15738", "2024-05-27T00:00:00+00:00", 1.0) in signal_rows(db, "hf_featured")
    assert signal_rows(db, "github_stars")  # only the 2026 schema has stars
    assert store.checkpoints("hf-daily:") == {"hf-daily:days": {"last_day": "2026-08-21"}}


def test_upvotes_over_two_syncs_are_two_observations(replay: ReplayServer, new_db,
                                                     sleeps: list[float]) -> None:
    replay.add(PATH, {"date": "2026-08-20"}, Reply(body=json.dumps([item("2608.00001", 10)]), content_type=JSON),
               Reply(body=json.dumps([item("2608.00001", 12)]), content_type=JSON))
    db = new_db("t")
    store = open_store(str(db))
    request = SyncRequest(dates=["2026-08-20"])
    run_sync(make_source(replay.url, sleeps, now="2026-08-20T09:00:00+00:00"), request, store)
    run_sync(make_source(replay.url, sleeps, now="2026-08-21T09:00:00+00:00"), request, store)
    run_sync(make_source(replay.url, sleeps, now="2026-08-22T09:00:00+00:00"), request, store)  # unchanged
    assert signal_rows(db, "upvotes") == [("2608.00001", "2026-08-20T09:00:00+00:00", 10.0),
                                          ("2608.00001", "2026-08-21T09:00:00+00:00", 12.0)]
    assert store.count() == 1


def test_default_days_follow_the_checkpoint_and_refetch_recent(new_db, replay: ReplayServer, tmp_path: Path,
                                                               sleeps: list[float]) -> None:
    replay.add(PATH, None, Reply(body="[]", content_type=JSON))
    store = open_store(new_db("t"))
    run_sync(make_source(replay.url, sleeps, now="2026-08-10T08:00:00+00:00"), SyncRequest(), store)
    first = [r.query["date"] for r in replay.requests]
    assert first == ["2026-08-07", "2026-08-08", "2026-08-09", "2026-08-10"]  # fresh: today - sync_days
    run_sync(make_source(replay.url, sleeps, now="2026-08-13T08:00:00+00:00"), SyncRequest(), store)
    second = [r.query["date"] for r in replay.requests[len(first):]]
    assert second == ["2026-08-11", "2026-08-12", "2026-08-13"]  # days after the last one done
    run_sync(make_source(replay.url, sleeps, now="2026-08-13T20:00:00+00:00"), SyncRequest(), store)
    third = [r.query["date"] for r in replay.requests[len(first) + len(second):]]
    assert third == ["2026-08-12", "2026-08-13"]  # the last two days, always again
    assert store.checkpoints("hf-daily:") == {"hf-daily:days": {"last_day": "2026-08-13"}}


def test_explicit_old_dates_do_not_move_the_checkpoint_back(new_db, replay: ReplayServer, tmp_path: Path,
                                                            sleeps: list[float]) -> None:
    replay.add(PATH, None, Reply(body="[]", content_type=JSON))
    store = open_store(new_db("t"))
    run_sync(make_source(replay.url, sleeps), SyncRequest(since="2026-08-19", until="2026-08-20"), store)
    run_sync(make_source(replay.url, sleeps), SyncRequest(dates=["2025-01-01"]), store)
    assert [r.query["date"] for r in replay.requests] == ["2026-08-19", "2026-08-20", "2025-01-01"]
    assert store.checkpoints("hf-daily:") == {"hf-daily:days": {"last_day": "2026-08-20"}}
    with pytest.raises(BadInput):
        run_sync(make_source(replay.url, sleeps), SyncRequest(dates=["2026-13-01"]), store)


@pytest.mark.parametrize("body", ['{"error": "Invalid date"}', "<html>oops</html>"])
def test_not_a_json_list_is_garbage(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float], body: str) -> None:
    replay.add(PATH, None, Reply(body=body, content_type=JSON))
    store = open_store(new_db("t"))
    with pytest.raises(SourceGarbage) as caught:
        run_sync(make_source(replay.url, sleeps), SyncRequest(dates=["2026-08-20"]), store)
    assert str(caught.value).startswith("Hugging Face daily papers for 2026-08-20: ")
    assert store.count() == 0 and store.checkpoints("hf-daily:") == {}


def test_broken_items_are_skipped(new_db, replay: ReplayServer, tmp_path: Path, sleeps: list[float]) -> None:
    items = [item("2608.00001", 3), {"paper": {"title": "no id"}}, "junk", item("2608.00002", 4)]
    replay.add(PATH, None, Reply(body=json.dumps(items), content_type=JSON))
    store = open_store(new_db("t"))
    report = run_sync(make_source(replay.url, sleeps), SyncRequest(dates=["2026-08-20"]), store)
    assert store.count() == 2 and report.fetched == 4
    assert report.skipped == {"paper has no id": 1, "item has no": 1}  # grouped by reason kind


def test_source_down(new_db, tmp_path: Path, sleeps: list[float]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(new_db("t"))
    with pytest.raises(SourceUnavailable) as caught:
        run_sync(make_source(f"http://127.0.0.1:{port}", sleeps), SyncRequest(dates=["2026-08-20"]), store)
    assert str(caught.value).startswith("cannot reach 127.0.0.1") and "\n" not in str(caught.value)
    assert store.count() == 0 and store.checkpoints("hf-daily:") == {}
    assert sleeps == [1.0]
