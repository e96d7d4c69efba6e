"""Trending: the formula on hand-computed cases, the store's window aggregates, the command."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from papertide.cli import cli
from papertide.errors import BadInput, PaperNotFound, SettingError
from papertide.model import Signal, make_record
from papertide.app.trending import trending
from papertide.rank.trending import TrendingParams, parse_at, score_papers
from papertide.settings import Settings
from papertide.sources.base import Page
from papertide.store import open_store
from papertide.store.base import SignalDelta

AT = date(2026, 8, 21)
# Only upvotes and stars count, gravity 1, age scale 7: decay = 1 + age / 7.
PARAMS = TrendingParams({"upvotes": 1.0, "github_stars": 0.5}, gravity=1.0, age_scale_days=7.0)


def delta(pid: str, kind: str, before: float | None, after: float, published: str = "2026-08-21",
          source: str = "hf-daily") -> SignalDelta:
    return SignalDelta(pid, published, kind, source, before, after)


# -- the formula, by hand ---------------------------------------------------------------
def test_one_signal_by_hand() -> None:
    # 10 upvotes gained (none before), published 7 days ago: ln(11) / (1 + 7/7) = 2.3979 / 2.
    ranking = score_papers([delta("a", "upvotes", None, 10, "2026-08-14")], at=AT, params=PARAMS)
    assert ranking.ids == ["a"]
    assert ranking.scores[0] == pytest.approx(math.log(11) / 2)
    assert ranking.scores[0] == pytest.approx(1.198948, abs=1e-6)
    why = ranking.explanations[0]
    assert (why.age_days, why.decay) == (7, 2.0)


def test_two_signals_sum_and_explanation_adds_up() -> None:
    # Upvotes 5 -> 8 (+3): ln 4 = 1.3863; stars 100 -> 163 (+63): 0.5 ln 64 = 2.0794; age 0.
    deltas = [delta("a", "upvotes", 5, 8), delta("a", "github_stars", 100, 163)]
    ranking = score_papers(deltas, at=AT, params=PARAMS)
    assert ranking.scores[0] == pytest.approx(math.log(4) + 0.5 * math.log(64))
    assert ranking.scores[0] == pytest.approx(3.465736, abs=1e-6)
    why = ranking.explanations[0]
    assert [c.kind for c in why.contributions] == ["github_stars", "upvotes"]
    assert sum(c.value for c in why.contributions) == ranking.scores[0]  # exactly, not approximately


def test_gravity_power() -> None:
    params = TrendingParams({"upvotes": 1.0}, gravity=2.0, age_scale_days=7.0)
    ranking = score_papers([delta("a", "upvotes", 0, 10, "2026-08-07")], at=AT, params=params)
    assert ranking.scores[0] == pytest.approx(math.log(11) / 9)  # (1 + 14/7)^2


def test_ties_go_to_the_newer_paper_then_the_smaller_id() -> None:
    deltas = [delta("b", "upvotes", 0, 3, "2026-08-21"), delta("a", "upvotes", 0, 3, "2026-08-21"),
              delta("c", "upvotes", 0, 3, "2026-08-25")]  # c: after `at`, age 0 like a and b
    ranking = score_papers(deltas, at=AT, params=PARAMS)
    assert ranking.scores[0] == ranking.scores[1] == ranking.scores[2]
    assert ranking.ids == ["c", "a", "b"]
    assert score_papers(list(reversed(deltas)), at=AT, params=PARAMS).ids == ["c", "a", "b"]


def test_zero_signals_and_zero_gain_are_not_ranked() -> None:
    assert score_papers([], at=AT, params=PARAMS).ids == []
    deltas = [delta("a", "upvotes", 7, 7), delta("b", "comments", 0, 5)]  # comments weigh 0 here
    assert score_papers(deltas, at=AT, params=PARAMS).ids == []


def test_future_published_date_counts_as_age_zero() -> None:
    ranking = score_papers([delta("a", "upvotes", None, 10, "2026-09-30")], at=AT, params=PARAMS)
    assert ranking.explanations[0].age_days == 0
    assert ranking.scores[0] == pytest.approx(math.log(11))
    unknown = score_papers([delta("a", "upvotes", None, 10, "")], at=AT, params=PARAMS)
    assert unknown.explanations[0].age_days == 0


def test_stars_dropping_count_as_no_gain_never_below_zero() -> None:
    deltas = [delta("a", "github_stars", 120, 80), delta("a", "upvotes", 0, 1)]
    ranking = score_papers(deltas, at=AT, params=PARAMS)
    stars = next(c for c in ranking.explanations[0].contributions if c.kind == "github_stars")
    assert (stars.gain, stars.value) == (-40, 0.0)
    assert ranking.scores[0] == pytest.approx(math.log(2))
    assert score_papers([delta("b", "github_stars", 120, 80)], at=AT, params=PARAMS).ids == []


def test_the_source_with_the_largest_gain_counts_once_per_kind() -> None:
    deltas = [delta("a", "github_stars", 10, 40, source="hf-daily"),
              delta("a", "github_stars", 10, 20, source="github")]
    why = score_papers(deltas, at=AT, params=PARAMS).explanations[0]
    assert [(c.source, c.gain) for c in why.contributions] == [("hf-daily", 30)]
    assert why.score == pytest.approx(0.5 * math.log(31))


def test_params_come_from_settings() -> None:
    settings = Settings({"trending_weight_upvotes": 2.5, "trending_gravity": 0.0}, environ={})
    params = TrendingParams.from_settings(settings)
    assert params.weights["upvotes"] == 2.5 and params.gravity == 0.0
    with pytest.raises(SettingError):
        TrendingParams.from_settings(Settings({"trending_age_scale_days": 0.0}, environ={}))


def test_parse_at() -> None:
    assert parse_at("2025-06-02") == datetime(2025, 6, 2, 23, 59, 59, tzinfo=timezone.utc)
    assert parse_at("2025-06-02T12:00:00Z") == datetime(2025, 6, 2, 12, tzinfo=timezone.utc)
    with pytest.raises(BadInput):
        parse_at("yesterday")


# -- against a real SQLite store -----------------------------------------------------------
def paper(pid: str, published: str, signals: list[Signal], *, title: str = "", cats: list[str] | None = None):
    return make_record(id=pid, source="hf-daily", title=title or f"Paper {pid}", published=published,
                       abstract=f"About {title or pid}.", categories=cats or ["cs.CV"], signals=signals)


def up(value: float, when: str, kind: str = "upvotes") -> Signal:
    return Signal(kind, value, when, "hf-daily")


@pytest.fixture
def store(new_db):
    s = open_store(new_db("t"))
    s.ingest(Page(records=[
        # Grows 10 -> 50 during the week before 2026-08-21, then 90 later (after `at`).
        paper("2608.00001", "2026-08-14", [up(10, "2026-08-10T00:00:00+00:00"), up(50, "2026-08-20T08:00:00Z"),
                                           up(90, "2026-08-25T00:00:00+00:00")], title="Diffusion for video"),
        # First seen inside the window with 5 upvotes.
        paper("2608.00002", "2026-08-19", [up(5, "2026-08-21T23:00:00+00:00")], title="Protein folding",
              cats=["q-bio.BM"]),
        # Signals only long ago; newest paper without signals.
        paper("2608.00003", "2026-08-01", [up(300, "2026-08-02T00:00:00+00:00")], title="Old favourite"),
        paper("2608.00004", "2026-08-20", [], title="Diffusion fresh paper"),
        paper("2608.00005", "2026-09-01", [], title="Published after at"),
    ]))
    yield s
    s.close()


def test_signal_deltas_read_the_window_only(store) -> None:
    rows = store.signal_deltas("2026-08-14T23:59:59", "2026-08-22T00:00:00")
    got = {(d.paper_id, d.kind): (d.before, d.after, d.published) for d in rows}
    assert got == {("2608.00001", "upvotes"): (10.0, 50.0, "2026-08-14"),
                   ("2608.00002", "upvotes"): (None, 5.0, "2026-08-19")}
    only_bio = store.signal_deltas("2026-08-14T23:59:59", "2026-08-22T00:00:00", ["q-bio"])
    assert [d.paper_id for d in only_bio] == ["2608.00002"]


def test_trending_as_of_a_past_day_ignores_later_observations(store) -> None:
    settings = Settings(environ={})
    result = trending(store, settings, window="week", at=parse_at("2026-08-21"), limit=10)
    ids = result.ranking.ids
    assert ids[:2] == ["2608.00001", "2608.00002"]
    first = result.ranking.explanations[0].contributions[0]
    assert (first.before, first.after) == (10.0, 50.0)  # not the 90 seen on 2026-08-25
    # Then by recency, up to `at`: 00004 (08-20), 00003 (08-01); 00005 is published after `at`.
    assert ids[2:] == ["2608.00004", "2608.00003"] and result.filled == 2
    assert result.ranking.scores[2:] == [0.0, 0.0]


def test_topic_and_category_restrict_the_list(store) -> None:
    settings = Settings(environ={})
    at = parse_at("2026-08-21")
    topical = trending(store, settings, window="week", at=at, topic="diffusion", limit=5)
    assert topical.ranking.ids == ["2608.00001", "2608.00004"]
    bio = trending(store, settings, window="week", at=at, categories=["q-bio"], limit=5)
    assert bio.ranking.ids == ["2608.00002"]


def test_a_window_without_signal_changes_shows_the_newest_one_that_has_them(store) -> None:
    settings = Settings(environ={})
    asked = parse_at("2026-11-30")  # months after the last observation (2026-08-25)
    result = trending(store, settings, window="day", at=asked, limit=10)
    assert result.asked_at == asked and result.at.isoformat() == "2026-08-25T00:00:00+00:00"
    assert result.notice == ("No signals changed in the day up to Nov 30, 2026; trending as of Aug 25, 2026, "
                             "the newest signals.")
    assert result.ranking.ids[:result.scored] == ["2608.00001"]  # 50 -> 90 that day
    assert all(score == 0.0 for score in result.ranking.scores[result.scored:])  # the newest after, never among
    week = trending(store, settings, window="week", at=parse_at("2026-08-21"), limit=10)
    assert week.asked_at is None and week.notice == ""  # a window with signals is what was asked


def test_a_fresh_store_without_signals_lists_by_recency(new_db) -> None:
    s = open_store(new_db("fresh"))
    s.ingest(Page(records=[paper("2501.00001", "2025-01-02", []), paper("2501.00002", "2025-01-03", [])]))
    result = trending(s, Settings(environ={}), window="day", at=parse_at("2025-02-01"), limit=5)
    assert result.ranking.ids == ["2501.00002", "2501.00001"] and result.filled == 2
    assert result.notice == "No signals changed in this day, nor before it: the newest papers."
    s.close()


def test_local_signals_are_running_totals(store) -> None:
    store.record_local_signal("2608.00004", "saves", at="2026-08-20T10:00:00+00:00")
    store.record_local_signal("2608.00004", "saves", at="2026-08-20T10:00:00+00:00")  # same second
    store.record_local_signal("2608.00004", "saves", at="2026-08-21T10:00:00+00:00", count=2)
    store.record_local_signal("2608.00004", "saves", at="2026-08-19T10:00:00+00:00")  # back-dated
    rows = store.signal_deltas("2026-08-01T00:00:00", "2026-08-30T00:00:00")
    saves = [d for d in rows if d.kind == "saves"]
    assert [(d.source, d.before, d.after) for d in saves] == [("local", None, 5.0)]
    day = store.signal_deltas("2026-08-20T12:00:00", "2026-08-22T00:00:00")
    assert [(d.before, d.after) for d in day if d.kind == "saves"] == [(3.0, 5.0)]
    with pytest.raises(BadInput):
        store.record_local_signal("2608.00004", "likes")
    with pytest.raises(PaperNotFound):
        store.record_local_signal("2699.99999", "clicks")


# -- the command ---------------------------------------------------------------------------
@pytest.fixture
def run(store, new_db):
    runner = CliRunner()
    db = new_db("t")

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", db, *args], catch_exceptions=False)
    return invoke


def test_json_shape_and_contributions_sum_to_score(run) -> None:
    result = run("trending", "--window", "week", "--at", "2026-08-21", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["window"] == "week" and data["at"] == "2026-08-21T23:59:59+00:00"
    assert [r["id"] for r in data["results"]] == ["2608.00001", "2608.00002", "2608.00004", "2608.00003"]
    for row in data["results"]:
        assert {"id", "title", "score", "signals"} <= row.keys()
        assert sum(s["contribution"] for s in row["signals"].values()) == pytest.approx(row["score"], abs=1e-12)
    assert data["results"][0]["signals"]["upvotes"]["gain"] == 40.0


def test_explain_lines_sum_to_the_score(run) -> None:
    result = run("trending", "--window", "month", "--at", "2026-08-21", "--explain")
    assert result.exit_code == 0, result.output
    blocks = re.findall(r"score (\d+\.\d+)\n((?:\s+\S.*= -?\d+\.\d+\n)+)\s+age .* sum = (\d+\.\d+)", result.stdout)
    assert len(blocks) == 3  # 00001, 00002 and 00003 (300 upvotes on 08-02 are inside a month)
    for score, lines, total in blocks:
        parts = [float(x) for x in re.findall(r"= (-?\d+\.\d+)\n", lines)]
        assert sum(parts) == pytest.approx(float(total), abs=5e-4)
        assert float(total) == pytest.approx(float(score), abs=5e-4)
    assert "no signals yet (by recency)" in result.stdout


def test_bad_at_is_one_clear_line(run) -> None:
    result = run("trending", "--at", "soon")
    assert result.exit_code == 1 and "not a date" in result.stderr


def test_the_worked_example_in_the_docs_with_default_settings() -> None:
    params = TrendingParams.from_settings(Settings(environ={}))
    deltas = [delta("a", "upvotes", 3, 43, "2026-08-19"), delta("a", "comments", None, 1, "2026-08-19")]
    ranking = score_papers(deltas, at=AT, params=params)
    assert ranking.explanations[0].decay == pytest.approx(1.2857, abs=1e-4)
    assert ranking.scores[0] == pytest.approx(3.1579, abs=1e-4)
    assert "score = 3.1579" in (Path(__file__).resolve().parents[1] / "docs" / "trending.md").read_text()


def test_topic_through_the_command_in_keyword_mode(run) -> None:
    result = run("trending", "--window", "week", "--at", "2026-08-21", "--topic", "diffusion", "--mode", "keyword",
                 "--json")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)["results"]] == ["2608.00001", "2608.00004"]
