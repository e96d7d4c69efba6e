"""Choose and group the papers of one digest (pure: plain data in, plain data out).

Each topic a subscriber follows brings its own ranked list: search relevance for a
saved search or an author, trending score for trending, recency for a category.
Scores of different topics cannot be compared, so the digest takes papers from the
topics in turn, each its best paper not yet taken, until it holds ``max_papers``.
A paper that several topics found appears once, under the first topic that took it,
with the others named beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable

KINDS = ("foryou", "trending", "search", "author", "category")


@dataclass(frozen=True)
class Topic:
    """One thing a subscriber follows."""

    kind: str                       # foryou | trending | search | author | category
    query: str = ""                 # search: the query; author: the name; category: the category; foryou: the address
    mode: str = "keyword"           # search mode of a saved search
    categories: tuple[str, ...] = ()  # trending or search restricted to these
    window: str = ""                # trending window (day, week, month); '' = by frequency

    @property
    def key(self) -> str:
        """Identical topics of different subscribers share this key (and their results)."""
        return "|".join((self.kind, self.query, self.mode, ",".join(self.categories), self.window))

    @property
    def label(self) -> str:
        """How the topic is titled in a digest."""
        cats = ", ".join(self.categories)
        if self.kind == "foryou":
            return "For you"
        if self.kind == "trending":
            return f"Trending in {cats}" if cats else "Trending"
        if self.kind == "author":
            return f"By {self.query}"
        if self.kind == "category":
            return f"New in {self.query}"
        return f'"{self.query}"' + (f" in {cats}" if cats else "")


@dataclass
class TopicHits:
    """A topic's candidates, best first."""

    topic: Topic
    hits: list[tuple[str, float]] = field(default_factory=list)  # (paper id, score)
    note: str = ""                  # e.g. why a search mode fell back to keyword
    why: dict[str, str] = field(default_factory=dict)  # for you: paper id -> reason

    @functools.cached_property
    def ids(self) -> frozenset[str]:
        return frozenset(pid for pid, _ in self.hits)


@dataclass
class DigestItem:
    paper_id: str
    score: float
    also: list[str] = field(default_factory=list)  # labels of other topics that found it
    why: str = ""  # for you: the reason it is recommended


@dataclass
class DigestGroup:
    topic: Topic
    items: list[DigestItem] = field(default_factory=list)
    note: str = ""


def compose(topic_hits: list[TopicHits], max_papers: int,
            exclude: Iterable[str] = ()) -> list[DigestGroup]:
    """Groups in topic order, each with its papers best first; at most ``max_papers`` in all.

    ``exclude`` holds papers the subscriber already had (trending lists repeat from day to day).
    """
    taken: dict[str, DigestItem] = {}
    excluded = set(exclude)
    groups = [DigestGroup(th.topic, note=th.note) for th in topic_hits]
    cursors = [0] * len(topic_hits)
    progressing = True
    while len(taken) < max_papers and progressing:
        progressing = False
        for index, th in enumerate(topic_hits):
            if len(taken) >= max_papers:
                break
            while cursors[index] < len(th.hits):
                pid, score = th.hits[cursors[index]]
                cursors[index] += 1
                if pid in taken or pid in excluded:
                    continue
                item = DigestItem(pid, score, why=th.why.get(pid, ""))
                taken[pid] = item
                groups[index].items.append(item)
                progressing = True
                break
    _name_other_topics(groups, topic_hits, taken)
    return [g for g in groups if g.items]


def _name_other_topics(groups: list[DigestGroup], topic_hits: list[TopicHits],
                       taken: dict[str, DigestItem]) -> None:
    for group in groups:
        for item in group.items:
            for th in topic_hits:
                if th.topic != group.topic and item.paper_id in th.ids and th.topic.label not in item.also:
                    item.also.append(th.topic.label)


def count(groups: list[DigestGroup]) -> int:
    """Papers in a composed digest."""
    return sum(len(g.items) for g in groups)
