"""Subscriptions and composing, against a real SQLite store: double opt-in, signed links,
what each digest holds, and that queueing happens once per subscriber and period."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from digest_support import papers
from itsdangerous import TimestampSigner

from papertide.digest import subscriptions as subs
from papertide.digest.outbox import parse_message, preview, queue_due
from papertide.model import Signal
from papertide.errors import BadLink, InvalidSubscription, UnknownSubscriber
from papertide.settings import Settings
from papertide.store import open_store

NOW = datetime.now(timezone.utc)
TODAY = NOW.date()
SETTINGS = Settings({"base_url": "https://papers.example.org", "secret_key": "k", "digest_max_age_days": 0},
                    environ={})


@pytest.fixture
def store(db: str) -> Iterator:
    handle = open_store(db)
    try:
        yield handle
    finally:
        handle.close()


def subscribe(store, email: str = "ada@example.org", settings: Settings = SETTINGS, **options):
    follows = options.pop("follows", {"categories": ["cs.CV"]})
    request = subs.request_subscription(store, settings, email, follows, **options)
    return subs.confirm(store, settings, request.confirm_url)


def digest_ids(store, email: str, period: str) -> list[str]:
    sub = store.subscriber(email=email)
    row = store.outbox_row(f"digest:{sub.id}:{period}")
    return row.papers if row else []


def test_nothing_is_composed_before_the_address_confirms(store) -> None:
    store.ingest(papers(0, 8))
    request = subs.request_subscription(store, SETTINGS, " Ada@Example.org ", {"searches": ["diffusion"]},
                                        tz="Europe/Paris", hour=6, max_papers=5)
    assert request.subscriber.status == "requested" and request.subscriber.email == "ada@example.org"
    mail = store.outbox_row(request.message_key)
    assert mail.kind == "confirm" and mail.status == "queued"
    assert request.confirm_url in parse_message(mail.mime).text
    assert queue_due(store, SETTINGS, now=NOW, day=TODAY).due == 0
    sub = subs.confirm(store, SETTINGS, request.confirm_url)
    assert (sub.status, sub.hour, sub.tz, sub.max_papers) == ("confirmed", 6, "Europe/Paris", 5)
    assert sub.follows["searches"][0]["query"] == "diffusion"
    assert subs.confirm(store, SETTINGS, request.confirm_url).status == "confirmed"  # a second click is fine
    report = queue_due(store, SETTINGS, now=NOW, day=TODAY)
    assert (report.due, report.queued) == (1, 1)
    assert digest_ids(store, "ada@example.org", TODAY.isoformat()) == ["2611.00000"]


def test_a_change_waits_for_its_own_confirmation(store) -> None:
    subscribe(store, follows={"authors": ["Grace Hopper"]})
    change = subs.request_subscription(store, SETTINGS, "ada@example.org", {"categories": ["q-bio"]},
                                       frequency="weekly")
    sub = store.subscriber(email="ada@example.org")
    assert sub.status == "confirmed" and sub.follows["authors"] == ["Grace Hopper"] and sub.frequency == "daily"
    newer = subs.request_subscription(store, SETTINGS, "ada@example.org", {"categories": ["cs.CL"]})
    with pytest.raises(BadLink, match="replaced by a newer request"):
        subs.confirm(store, SETTINGS, change.confirm_url)
    sub = subs.confirm(store, SETTINGS, newer.confirm_url)
    assert sub.follows["categories"] == ["cs.CL"] and sub.follows["authors"] == []


def _token_made_days_ago(monkeypatch, days: float, make):
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time() - days * 86400))
    try:
        return make()
    finally:
        monkeypatch.setattr(TimestampSigner, "get_timestamp", real)


def test_links_are_signed_and_expire_where_sensible(store, monkeypatch) -> None:
    request = subs.request_subscription(store, SETTINGS, "ada@example.org", {"categories": ["cs.CV"]})
    token = request.confirm_url.rsplit("/", 1)[1]
    other = Settings({"secret_key": "not-the-key"}, environ={})
    with pytest.raises(BadLink, match="not valid"):
        subs.confirm(store, other, token)
    with pytest.raises(BadLink, match="not valid"):
        subs.confirm(store, SETTINGS, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    with pytest.raises(BadLink, match="not a unsubscribe link"):
        subs.unsubscribe(store, SETTINGS, token)
    late = _token_made_days_ago(monkeypatch, 4, lambda: subs.request_subscription(
        store, SETTINGS, "bob@example.org", {"categories": ["cs.CV"]}).confirm_url)
    with pytest.raises(BadLink, match="expired"):
        subs.confirm(store, SETTINGS, late)
    sub = subs.confirm(store, SETTINGS, token)
    old_unsubscribe = _token_made_days_ago(monkeypatch, 3650, lambda: subs.unsubscribe_link(store, SETTINGS, sub))
    old_manage = _token_made_days_ago(monkeypatch, 31, lambda: subs.manage_link(store, SETTINGS, sub))
    with pytest.raises(BadLink, match="expired"):
        subs.subscriber_for_manage(store, SETTINGS, old_manage)
    assert subs.unsubscribe(store, SETTINGS, old_unsubscribe).status == "unsubscribed"  # ten years on


def test_unconfirmed_requests_are_forgotten(store) -> None:
    subs.request_subscription(store, SETTINGS, "ada@example.org", {"categories": ["cs.CV"]})
    assert subs.purge_expired(store, SETTINGS, NOW + timedelta(hours=71)) == 0
    assert subs.purge_expired(store, SETTINGS, NOW + timedelta(hours=73)) == 1
    assert store.subscriber(email="ada@example.org") is None


def test_each_digest_holds_what_is_new_since_the_last(store) -> None:
    store.ingest(papers(0, 10))
    subscribe(store, max_papers=50)
    queue_due(store, SETTINGS, now=NOW, day=TODAY)
    first = digest_ids(store, "ada@example.org", TODAY.isoformat())
    assert sorted(first) == [f"2611.{n:05d}" for n in range(10)]
    store.ingest(papers(10, 5))
    tomorrow = TODAY + timedelta(days=1)
    assert queue_due(store, SETTINGS, now=NOW, day=tomorrow).queued == 1
    second = digest_ids(store, "ada@example.org", tomorrow.isoformat())
    assert sorted(second) == [f"2611.{n:05d}" for n in range(10, 15)]
    # The same period again: already queued, nothing composed or queued twice.
    assert queue_due(store, SETTINGS, now=NOW, day=tomorrow).due == 0


def test_topics_rank_group_and_deduplicate(store) -> None:
    store.ingest(papers(0, 16))
    subscribe(store, max_papers=4, follows={"searches": ["diffusion"], "authors": ["Author 0"],
                                            "categories": ["cs.CV"]})
    queue_due(store, SETTINGS, now=NOW, day=TODAY)
    ids = digest_ids(store, "ada@example.org", TODAY.isoformat())
    assert len(ids) == len(set(ids)) == 4
    rendered, origin = preview(store, SETTINGS, "ada@example.org", day=TODAY)
    assert origin.startswith("as queued")
    text = rendered.text
    assert text.index('== "diffusion" ==') < text.index("== By Author 0 ==") < text.index("== New in cs.CV ==")
    assert "Paper 0 on diffusion models" in text and "Also in: By Author 0" in text


def test_an_empty_digest_is_recorded_not_sent(store) -> None:
    subscribe(store, follows={"searches": ["quantum gravity"]})
    store.ingest(papers(0, 3))
    report = queue_due(store, SETTINGS, now=NOW, day=TODAY)
    assert (report.queued, report.empty) == (0, 1)
    sub = store.subscriber(email="ada@example.org")
    assert store.outbox_row(f"digest:{sub.id}:{TODAY}").status == "skipped"
    send_empty = SETTINGS.replace(digest_send_empty=True)
    subscribe(store, "bob@example.org", follows={"searches": ["quantum gravity"]})
    assert queue_due(store, send_empty, now=NOW, day=TODAY).queued == 1


def test_trending_does_not_repeat_what_was_sent(store) -> None:
    store.ingest(papers(0, 12))
    store.add_paper_signals([(f"2611.{n:05d}", Signal("upvotes", n + 1, NOW.isoformat(), "hf-daily"))
                             for n in range(12)])
    subscribe(store, max_papers=5, follows={"trending": True})
    queue_due(store, SETTINGS, now=NOW, day=TODAY)
    tomorrow = TODAY + timedelta(days=1)
    queue_due(store, SETTINGS, now=NOW + timedelta(days=1), day=tomorrow)
    first = digest_ids(store, "ada@example.org", TODAY.isoformat())
    second = digest_ids(store, "ada@example.org", tomorrow.isoformat())
    # Tomorrow's day has no new signals: the digest says so and goes on down the newest trending day.
    assert len(first) == len(second) == 5 and not set(first) & set(second)
    assert set(first) | set(second) <= {f"2611.{n:05d}" for n in range(12)}


def test_trending_in_a_digest_is_never_padded_with_papers_without_signals(store) -> None:
    store.ingest(papers(0, 12))
    store.add_paper_signals([("2611.00003", Signal("upvotes", 9, NOW.isoformat(), "hf-daily"))])
    subscribe(store, max_papers=5, follows={"trending": True})
    queue_due(store, SETTINGS, now=NOW, day=TODAY)
    assert digest_ids(store, "ada@example.org", TODAY.isoformat()) == ["2611.00003"]


def test_an_unavailable_search_mode_falls_back_with_a_note(store) -> None:
    store.ingest(papers(0, 8))
    subscribe(store, follows={"searches": [{"query": "diffusion", "mode": "hybrid"}]})
    rendered, origin = preview(store, SETTINGS, "ada@example.org", day=TODAY)
    assert origin.startswith("composed now")
    assert "Paper 0 on diffusion models" in rendered.text
    assert "hybrid search is not available here (no paper vectors" in rendered.text  # nothing indexed
    assert store.outbox_counts().get("queued", 0) == 1  # the confirmation mail only: preview wrote nothing


def test_unsubscribing_cancels_queued_digests(store) -> None:
    store.ingest(papers(0, 3))
    sub = subscribe(store)
    queue_due(store, SETTINGS, now=NOW, day=TODAY)
    subs.remove(store, SETTINGS, "ADA@example.org")
    assert store.outbox_row(f"digest:{sub.id}:{TODAY}").status == "cancelled"
    assert store.subscriber(id=sub.id).status == "unsubscribed"
    assert queue_due(store, SETTINGS, now=NOW, day=TODAY + timedelta(days=1)).due == 0
    with pytest.raises(UnknownSubscriber):
        subs.remove(store, SETTINGS, "nobody@example.org")


def test_manage_link_changes_the_schedule_and_checks_it(store) -> None:
    sub = subscribe(store)
    token = subs.manage_link(store, SETTINGS, sub)
    changed = subs.update_subscription(store, SETTINGS, token, frequency="weekly", hour=18, tz="Asia/Tokyo",
                                       max_papers=7)
    assert (changed.frequency, changed.hour, changed.tz, changed.max_papers) == ("weekly", 18, "Asia/Tokyo", 7)
    with pytest.raises(InvalidSubscription):
        subs.update_subscription(store, SETTINGS, token, tz="Atlantis/Capital")
    with pytest.raises(InvalidSubscription):
        subs.update_subscription(store, SETTINGS, token, follows={})


def test_a_semantic_saved_search_ranks_the_window_by_meaning(store) -> None:
    import tempfile

    from papertide.errors import SemanticUnavailable
    from papertide.index.embed import StaticEmbedder, distill_static, static_model_dir
    from papertide.app.semantic_index import run_index

    models = Path(tempfile.gettempdir()) / "papertide-test-models"  # shared with tests/test_semantic.py
    try:
        if not (static_model_dir(models) / "config.json").is_file():
            distill_static(static_model_dir(models))
        embedder = StaticEmbedder(static_model_dir(models))
    except SemanticUnavailable as exc:
        pytest.skip(f"semantic search unavailable: {exc}")
    settings = SETTINGS.replace(embedder="static", models_dir=str(models))
    store.ingest(papers(0, 16))
    run_index(store, embedder)
    subscribe(store, settings=settings, max_papers=4,
              follows={"searches": [{"query": "protein", "mode": "semantic"}, {"query": "speech", "mode": "hybrid"}]})
    queue_due(store, settings, now=NOW, day=TODAY)
    rendered, _ = preview(store, settings, "ada@example.org", day=TODAY)
    assert "not available" not in rendered.text
    ids = digest_ids(store, "ada@example.org", TODAY.isoformat())
    # Papers 4 and 12 are about proteins, 6 and 14 about speech: each topic's best two.
    assert sorted(ids) == ["2611.00004", "2611.00006", "2611.00012", "2611.00014"]
    store.ingest(papers(16, 8))  # the next window: only the new papers count
    run_index(store, embedder)
    tomorrow = TODAY + timedelta(days=1)
    queue_due(store, settings, now=NOW, day=tomorrow)
    ids = digest_ids(store, "ada@example.org", tomorrow.isoformat())  # grouped: protein's two, speech's two
    assert set(ids) <= {f"2611.{n:05d}" for n in range(16, 24)}
    assert (ids[0], ids[2]) == ("2611.00020", "2611.00022")
