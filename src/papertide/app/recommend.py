"""Recommendations for the people here: scored in batches, kept in the store, read by every view.

``update`` scores, for each person, the papers added since their last scoring (after a
sync: one batch for everyone), or, when their library or feedback changed, every paper of
the last ``recommend_days`` days again. ``for_person`` reads the stored list (what the
"For you" page, feed, API, CLI and digest show).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from papertide.model import utc_now
from papertide.rank.recommend import Batch, Person as Model, Pick, Space, recommend
from papertide.store.base import PaperText, Person, StoredPaper

KEEP = 200  # recommendations kept per person
BACKGROUND = 2000  # earlier papers that calibrate scores and hubness


@dataclass
class Recommendation:
    paper: StoredPaper
    score: float
    close_to: list[dict[str, str]]  # [{"id", "title"}] of the saved papers it is close to
    terms: list[str]
    author: str = ""

    @property
    def reason(self) -> str:
        parts = []
        if self.author:
            parts.append(f"by {self.author}, whom you follow")
        if self.close_to:
            parts.append("close to " + " and ".join(f"“{c['title']}”" for c in self.close_to))
        if self.terms:
            parts.append("shares " + ", ".join(self.terms))
        return "; ".join(parts) or "new in your fields"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.paper.id, "title": self.paper.title, "score": round(self.score, 4),
                "reason": self.reason, "close_to": self.close_to, "terms": self.terms, "author": self.author}


def text_of(title: str, abstract: str) -> str:
    return f"{title}. {abstract}"


def update(store: Any, *, emails: Iterable[str] | None = None, days: int = 30, today: date | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Bring stored recommendations up to date; counts of people rescored and updated."""
    people = store.people() if emails is None else [p for e in emails if (p := store.person(email=e))]
    watermark = store.paper_watermark()
    stale = [p for p in people if p.recs_stale]
    behind = [p for p in people if not p.recs_stale and p.recs_seq < watermark]
    today = today or datetime.now(timezone.utc).date()
    if stale:
        # The last ``days`` days up to the newest paper: a store not synced lately still recommends.
        newest = store.newest_published(today.isoformat())
        end = date.fromisoformat(newest) if newest else today
        window = ((end - timedelta(days=days)).isoformat(), (end + timedelta(days=1)).isoformat())
        _score(store, stale, store.paper_texts(published=window), replace=True, seq=watermark, progress=progress)
    if behind:
        low = min(p.recs_seq for p in behind)
        new = store.paper_texts(after_pk=low)
        _score(store, behind, new, replace=False, seq=watermark, progress=progress)
    return {"rescored": len(stale), "updated": len(behind), "people": len(people)}


def _score(store: Any, people: list[Person], candidates: list[PaperText], *, replace: bool, seq: int,
           progress: Callable[[int], None] | None) -> None:
    libraries = {p.id: store.library(p.id) for p in people}
    feedback = {p.id: store.feedback(p.id) for p in people}
    wanted = {e.paper_id for lib in libraries.values() for e in lib if e.paper_id}
    wanted |= {pid for fb in feedback.values() for pid in fb}
    texts = {c.id: text_of(c.title, c.abstract) for c in candidates}
    stored = {t.id: t for t in store.paper_texts(ids=wanted - set(texts))}
    texts.update((pid, text_of(t.title, t.abstract)) for pid, t in stored.items())
    titles = {pid: t.title for pid, t in stored.items()} | {c.id: c.title for c in candidates}
    # Background papers come from before the earliest candidate.
    first_day = min((c.published for c in candidates if c.published), default="9999")
    background = [t for t in store.sample_texts(first_day, BACKGROUND) if t.id not in texts]
    texts.update((t.id, text_of(t.title, t.abstract)) for t in background)
    models = {}
    for person in people:
        keys = []
        for n, e in enumerate(libraries[person.id]):
            key = e.paper_id or f"entry:{person.id}:{n}"
            if key not in texts:
                texts[key] = text_of(e.title, e.abstract)
            titles.setdefault(key, e.title)
            keys.append(key)
        fb = feedback[person.id]
        liked = [pid for pid, v in fb.items() if v > 0 and pid in texts]
        models[person.id] = Model(person.id, keys + liked, disliked=[pid for pid, v in fb.items() if v < 0],
                                  hidden=set(keys) | set(fb), authors=_followed_authors(store, person))
    batch = Batch(Space(texts, [t.id for t in background]), [c.id for c in candidates])
    authors = {c.id: c.authors for c in candidates}
    now = utc_now()
    for n, person in enumerate(people, 1):
        picks = recommend(batch, models[person.id], limit=KEEP, candidate_authors=authors)
        store.save_recommendations(person.id, [(p.paper, p.score, _reason(p, titles)) for p in picks],
                                   replace=replace, seq=seq, now=now, keep=KEEP)
        if progress:
            progress(n)


def _followed_authors(store: Any, person: Person) -> list[str]:
    subscriber = store.subscriber(email=person.email)
    if subscriber is None or subscriber.status != "confirmed":
        return []
    return list(subscriber.follows.get("authors", []))


def _reason(pick: Pick, titles: dict[str, str]) -> dict[str, Any]:
    close_to = [{"id": "" if k.startswith("entry:") else k, "title": titles.get(k, "")} for k in pick.close_to]
    return {"close_to": close_to, "terms": pick.terms, "author": pick.author}


def for_person(store: Any, person: Person, *, limit: int = 20, offset: int = 0, days: int = 30,
               score_now: bool = True) -> list[Recommendation]:
    """The person's best stored recommendations; with ``score_now``, scored first if they have
    none yet (a new library: seconds at 80k papers, so the site scores in the background instead).
    Later changes are scored by ``update`` after each sync, and by the site after each change."""
    rows = store.recommendations(person.id, limit, offset)
    if score_now and not rows and offset == 0 and (current := store.person(id=person.id)) and current.recs_stale:
        update(store, emails=[current.email], days=days)
        rows = store.recommendations(person.id, limit, offset)
    papers = store.get_many(pid for pid, _, _ in rows)
    return [Recommendation(papers[pid], score, reason.get("close_to", []), reason.get("terms", []),
                           reason.get("author", "")) for pid, score, reason in rows if pid in papers]

