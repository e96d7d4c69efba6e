"""Choosing, grouping and rendering a digest (pure), and what a subscription may follow."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from papertide.digest.compose import Topic, TopicHits, compose, count
from papertide.digest.render import (
    Cards,
    Rendered,
    build_message,
    encode_header,
    render_digest,
)
from papertide.digest.subscriptions import Follows, check_schedule, normalize_email
from papertide.errors import InvalidSubscription
from papertide.settings import Settings
from papertide.store.base import StoredPaper

TRENDING = Topic("trending")
SEARCH = Topic("search", "diffusion")
AUTHOR = Topic("author", "Grace Hopper")


def hits(topic: Topic, *ids: str) -> TopicHits:
    return TopicHits(topic, [(pid, 10.0 - i) for i, pid in enumerate(ids)])


def ids_of(groups) -> list[list[str]]:
    return [[item.paper_id for item in g.items] for g in groups]


def test_topics_take_turns_and_a_paper_appears_once() -> None:
    groups = compose([hits(TRENDING, "a", "b", "c", "d"), hits(SEARCH, "b", "e", "f"), hits(AUTHOR, "g")], 5)
    # Round 1: a (trending), b (search), g (author); round 2: c (trending), e (search).
    assert ids_of(groups) == [["a", "c"], ["b", "e"], ["g"]]
    assert count(groups) == 5
    b = groups[1].items[0]
    assert b.also == ["Trending"]  # found by trending too, shown once under the search


def test_best_first_within_a_topic_and_at_most_n() -> None:
    groups = compose([hits(SEARCH, "x1", "x2", "x3", "x4")], 3)
    assert ids_of(groups) == [["x1", "x2", "x3"]]
    assert [i.score for i in groups[0].items] == [10.0, 9.0, 8.0]


def test_papers_already_sent_are_left_out_and_empty_topics_dropped() -> None:
    groups = compose([hits(TRENDING, "a", "b"), hits(SEARCH)], 10, exclude={"a"})
    assert ids_of(groups) == [["b"]]
    assert compose([hits(TRENDING), hits(SEARCH)], 10) == []


def test_fewer_candidates_than_room() -> None:
    groups = compose([hits(TRENDING, "a"), hits(SEARCH, "a", "b")], 20)
    assert ids_of(groups) == [["a"], ["b"]]


def test_labels_and_keys() -> None:
    assert Topic("trending", categories=("cs.CV",)).label == "Trending in cs.CV"
    assert Topic("search", "segment anything", categories=("eess.IV",)).label == '"segment anything" in eess.IV'
    assert Topic("author", "Kaiming He").label == "By Kaiming He"
    assert Topic("category", "q-bio").label == "New in q-bio"
    assert Topic("search", "a").key != Topic("author", "a").key


def test_follows_accepts_the_web_form_shape() -> None:
    web = {"trending": ["day"], "categories": ["cs.CL"], "searches": ["vision transformer"], "authors": ["Yann LeCun"]}
    follows = Follows.from_dict(web).validate()
    assert [t.kind for t in follows.topics()] == ["trending", "search", "author", "category"]
    assert follows.as_dict()["searches"] == [{"query": "vision transformer", "mode": "keyword", "categories": []}]
    assert Follows.from_dict(follows.as_dict()).topics() == follows.topics()
    assert Follows.from_dict({"trending": True}).topics() == [Topic("trending")]


@pytest.mark.parametrize("follows, problem", [
    ({}, "follow at least one"),
    ({"categories": ["cs.CV; DROP TABLE"]}, "not a category"),
    ({"searches": [""]}, "1 to 500"),
    ({"searches": [{"query": "x", "mode": "telepathy"}]}, "unknown search mode"),
    ({"trending": ["fortnight"]}, "trending window"),
    ({"authors": ["x" * 201]}, "1 to 200"),
    ({"authors": [f"Author {i}" for i in range(51)]}, "at most 50"),
])
def test_follows_are_checked(follows: dict, problem: str) -> None:
    with pytest.raises(InvalidSubscription, match=problem):
        Follows.from_dict(follows).validate()


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "two@@example.org", "x@example.org\r\nBcc: y@z.org",
                                     "spaces in@example.org", "a" * 250 + "@example.org"])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidSubscription):
        normalize_email(address)


def test_addresses_are_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ada.Lovelace+papers@Example.ORG ") == "ada.lovelace+papers@example.org"


@pytest.mark.parametrize("frequency, hour, tz, most", [
    ("hourly", 7, "UTC", 20), ("daily", 24, "UTC", 20), ("daily", -1, "UTC", 20),
    ("daily", 7, "Nowhere/City", 20), ("daily", 7, "UTC", 0), ("daily", 7, "UTC", 101)])
def test_schedules_are_checked(frequency: str, hour: int, tz: str, most: int) -> None:
    with pytest.raises(InvalidSubscription):
        check_schedule(frequency, hour, tz, most)


def _paper(pid: str, title: str) -> StoredPaper:
    return StoredPaper(id=pid, title=title, authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Kurt Gödel"],
                       categories=["cs.CV"], published="2026-11-24", abstract="A <b>bold</b> claim & more. " * 30,
                       links={"abs": f"https://arxiv.org/abs/{pid}", "code": ["https://github.com/lab/x"]})


def test_rendered_digest_escapes_html_and_builds_valid_mime() -> None:
    settings = Settings({"base_url": "https://papers.example.org/", "smtp_from": "Pâpertide <d@example.org>"},
                        environ={})
    cards = Cards(settings)
    cards.add([_paper("2611.00001", "Attention <script>alert(1)</script> is all you need"),
               _paper("2611.00002", "Ünïcode → models")])
    groups = compose([hits(TRENDING, "2611.00001"), hits(SEARCH, "2611.00002", "2611.00001")], 5)
    rendered = render_digest(settings, email="ada@example.org", period="2026-11-25", groups=groups, cards=cards,
                             topics=[TRENDING, SEARCH], manage_url="https://papers.example.org/manage/T",
                             unsubscribe_url="https://papers.example.org/unsubscribe/U")
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "Attention <script>alert(1)</script> is all you need" in rendered.text  # plain text is not HTML
    assert "https://papers.example.org/papers/2611.00001" in rendered.html
    assert "Also in: Trending" not in rendered.text  # 2611.00001 is under Trending, found by the search too
    assert "Also in: \"diffusion\"" in rendered.text
    data = build_message(settings, to="ada@example.org", rendered=rendered, msg_id="<m.1@example.org>",
                         date=datetime(2026, 11, 25, 7, tzinfo=timezone.utc),
                         unsubscribe_url="https://papers.example.org/unsubscribe/U")
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    message = message_from_bytes(data, policy=default_policy)
    assert message.get_content_type() == "multipart/alternative" and not message.defects
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html.rstrip() == rendered.html.encode("ascii", "xmlcharrefreplace").decode().rstrip()  # 7-bit HTML
    assert "&#220;n&#239;code &#8594; models" in html
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == rendered.text.rstrip()
    assert message["Subject"] == rendered.subject
    assert str(message["From"]) == "Pâpertide <d@example.org>"
    assert message["List-Unsubscribe"] == "<https://papers.example.org/unsubscribe/U>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_long_subjects_become_encoded_words() -> None:
    subject = "Découvertes: " + "é" * 80
    encoded = encode_header(subject)
    assert all(len(line) <= 76 for line in encoded.split("\r\n "))
    data = build_message(Settings(environ={}), to="a@example.org", rendered=Rendered(subject, "<p>x</p>", "x"),
                         msg_id="<m@x>", date=datetime(2026, 1, 1, tzinfo=timezone.utc), unsubscribe_url=None)
    message = message_from_bytes(data, policy=default_policy)
    assert message["Subject"] == subject
    assert message["List-Unsubscribe"] is None


def test_a_digest_card_shows_latex_as_text() -> None:
    from papertide.digest.render import paper_view
    from papertide.settings import Settings
    from papertide.store.base import StoredPaper

    paper = StoredPaper(id="2501.00001", title=r"Na\"ive \emph{Bayes} for ``CT''",
                        abstract=r"We use \href{https://github.com/a/b}{this code} in M\"unchen.")
    view = paper_view(Settings(environ={}), paper)
    assert view["title"] == "Naïve Bayes for “CT”"
    assert view["snippet"] == "We use this code (https://github.com/a/b) in München."
