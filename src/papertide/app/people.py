"""People: found by address, created on first sign-in or save, erased on request, exported as JSON.

A person is known by email address, like a digest subscriber, and is the same person: the
digest of an address that has an account starts with its recommendations.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from papertide.app.library import now_iso
from papertide.errors import BadInput, UnknownPerson
from papertide.model import canonical_id
from papertide.store.base import LibraryEntry, Person

FEEDBACK = {"up": 1, "down": -1, "clear": None}


def normal_email(email: str) -> str:
    address = (email or "").strip().lower()
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or len(address) > 254 or any(c.isspace() for c in address):
        raise BadInput(f"{email!r} is not an email address")
    return address


def find(store: Any, email: str) -> Person:
    person = store.person(email=normal_email(email))
    if person is None:
        raise UnknownPerson(f"nobody signs in here as {email!r}")
    return person


def ensure(store: Any, email: str) -> Person:
    return store.ensure_person(normal_email(email), now_iso())


def rate(store: Any, person: Person, paper_id: str, verdict: str) -> None:
    """👍 ('up'), 👎 ('down': the paper is hidden from then on) or 'clear'."""
    if verdict not in FEEDBACK:
        raise BadInput("feedback is up, down or clear")
    paper = store.get(canonical_id(paper_id))
    if paper is None:
        from papertide.errors import PaperNotFound

        raise PaperNotFound(f"no paper {paper_id!r} here")
    store.set_feedback(person.id, paper.id, FEEDBACK[verdict], now_iso())
    if verdict == "up":
        store.record_local_signal(paper.id, "saves")


def delete(store: Any, person: Person) -> dict[str, int]:
    return store.delete_person(person.id)


def entry_json(entry: LibraryEntry) -> dict[str, Any]:
    return {k: v for k, v in asdict(entry).items()}


def export(store: Any, person: Person) -> dict[str, Any]:
    """Everything papertide keeps about a person."""
    return {"email": person.email, "created_at": person.created_at,
            "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "library": [entry_json(e) for e in store.library(person.id)],
            "feedback": [{"paper_id": pid, "value": "up" if v > 0 else "down"}
                         for pid, v in store.feedback(person.id).items()],
            "recommendations": [{"paper_id": pid, "score": round(score, 4), "reason": reason}
                                for pid, score, reason in store.recommendations(person.id, 1000)]}
