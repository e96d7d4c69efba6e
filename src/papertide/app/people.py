"""People: found by address, created on first sign-in or save, erased on request, exported as JSON.

A person is known by email address, like a digest subscriber, and is the same person: the
digest of an address that has an account starts with its recommendations.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from papertide.app.library import stored_paper
from papertide.errors import BadInput, UnknownPerson
from papertide import model
from papertide.model import utc_now
from papertide.store.base import LibraryEntry, Person

FEEDBACK = {"up": 1, "down": -1, "clear": None}


def normal_email(email: str) -> str:
    """The address as a person is known by (the digest's rule: the same person); BadInput if it is not one."""
    address = model.normal_email(email)
    if not address:
        raise BadInput(f"{email!r} is not an email address")
    return address


def find(store: Any, email: str) -> Person:
    person = store.person(email=normal_email(email))
    if person is None:
        raise UnknownPerson(f"nobody signs in here as {email!r}")
    return person


def ensure(store: Any, email: str) -> Person:
    return store.ensure_person(normal_email(email), utc_now())


def rate(store: Any, person: Person, paper_id: str, verdict: str) -> None:
    """👍 ('up'), 👎 ('down': the paper is hidden from then on) or 'clear'."""
    if verdict not in FEEDBACK:
        raise BadInput("feedback is up, down or clear")
    paper = stored_paper(store, paper_id)
    store.set_feedback(person.id, paper.id, FEEDBACK[verdict], utc_now())
    if verdict == "up":
        store.record_local_signal(paper.id, "saves")


def delete(store: Any, person: Person) -> dict[str, int]:
    return store.delete_person(person.id)


def entry_json(entry: LibraryEntry) -> dict[str, Any]:
    return asdict(entry)


def export(store: Any, person: Person) -> dict[str, Any]:
    """Everything papertide keeps about a person."""
    return {"email": person.email, "created_at": person.created_at,
            "exported_at": utc_now(),
            "library": [entry_json(e) for e in store.library(person.id)],
            "feedback": [{"paper_id": pid, "value": "up" if v > 0 else "down"}
                         for pid, v in store.feedback(person.id).items()],
            "recommendations": [{"paper_id": pid, "score": round(score, 4), "reason": reason}
                                for pid, score, reason in store.recommendations(person.id, 1000)]}
