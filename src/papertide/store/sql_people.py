"""People: accounts, sessions, libraries, feedback and stored recommendations (issue 15)."""

from __future__ import annotations

import json
import secrets
from typing import Any, Iterable

from papertide.store.base import LibraryEntry, Person, PaperText
from papertide.store.sql_util import _chunks

_ENTRY_COLUMNS = ("paper_id", "title", "abstract", "authors", "year", "doi", "arxiv_id", "tags", "note", "added_at")
_TEXTS = "SELECT pk, id, title, abstract, authors, published FROM papers"


class PeopleMixin:
    """Mixed into a store class (see ``PapersMixin``) that gives ``db`` and ``_write_txn``."""

    # -- accounts and sessions ----------------------------------------------------------
    def person(self, *, email: str | None = None, id: int | None = None,
               feed_token: str | None = None) -> Person | None:
        column, value = (("email", email) if email is not None else ("id", id) if id is not None
                         else ("feed_token", feed_token))
        row = self.db.execute(f"SELECT * FROM people WHERE {column} = ?", (value,)).fetchone()
        return _person(row) if row else None

    def people(self) -> list[Person]:
        return [_person(r) for r in self.db.execute("SELECT * FROM people ORDER BY id")]

    def ensure_person(self, email: str, now: str) -> Person:
        with self._write_txn():
            self.db.execute("INSERT INTO people (email, created_at, feed_token) VALUES (?, ?, ?) "
                            "ON CONFLICT (email) DO NOTHING", (email, now, secrets.token_urlsafe(24)))
        return self.person(email=email)  # type: ignore[return-value]

    def set_signin_nonce(self, person_id: int, nonce: str, now: str) -> None:
        with self._write_txn():
            self.db.execute("UPDATE people SET signin_nonce = ?, signin_sent_at = ? WHERE id = ?",
                            (nonce, now, person_id))

    def spend_signin_nonce(self, person_id: int, nonce: str) -> bool:
        """True once for the latest nonce: a sign-in link works one time."""
        if not nonce:
            return False
        with self._write_txn():
            cursor = self.db.execute("UPDATE people SET signin_nonce = '' WHERE id = ? AND signin_nonce = ?",
                                     (person_id, nonce))
        return cursor.rowcount == 1

    def new_feed_token(self, person_id: int) -> str:
        token = secrets.token_urlsafe(24)
        with self._write_txn():
            self.db.execute("UPDATE people SET feed_token = ? WHERE id = ?", (token, person_id))
        return token

    def add_session(self, person_id: int, token_hash: str, now: str, expires_at: str) -> None:
        with self._write_txn():
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self.db.execute("INSERT INTO sessions (token_hash, person_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                            (token_hash, person_id, now, expires_at))

    def session_person(self, token_hash: str, now: str) -> Person | None:
        row = self.db.execute("SELECT p.* FROM sessions s JOIN people p ON p.id = s.person_id "
                              "WHERE s.token_hash = ? AND s.expires_at > ?", (token_hash, now)).fetchone()
        return _person(row) if row else None

    def end_session(self, token_hash: str) -> None:
        with self._write_txn():
            self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def delete_person(self, person_id: int) -> dict[str, int]:
        """Erase a person and everything that is theirs; how many rows of each kind went."""
        counts = {}
        with self._write_txn():
            for table in ("library", "feedback", "recommendations", "sessions"):
                counts[table] = self.db.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,)).rowcount
            counts["people"] = self.db.execute("DELETE FROM people WHERE id = ?", (person_id,)).rowcount
        return counts

    # -- library ------------------------------------------------------------------------
    def library(self, person_id: int, tag: str | None = None) -> list[LibraryEntry]:
        rows = self.db.execute(f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM library WHERE person_id = ? "
                               "ORDER BY added_at DESC, id DESC", (person_id,))
        entries = [_entry(r) for r in rows]
        return [e for e in entries if tag in e.tags] if tag else entries

    def add_entries(self, person_id: int, entries: list[LibraryEntry]) -> list[LibraryEntry]:
        """Add the entries not in the library yet (same paper, or same title when not stored);
        the ones added."""
        have = self.library(person_id)
        papers = {e.paper_id for e in have if e.paper_id}
        titles = {e.title.casefold() for e in have if not e.paper_id}
        added = []
        for e in entries:
            if e.paper_id:
                if e.paper_id in papers:
                    continue
                papers.add(e.paper_id)
            else:
                if e.title.casefold() in titles:
                    continue
                titles.add(e.title.casefold())
            added.append(e)
        rows = [(person_id, *[json.dumps(getattr(e, c)) if c in ("authors", "tags") else getattr(e, c)
                              for c in _ENTRY_COLUMNS]) for e in added]
        if rows:
            with self._write_txn():
                self.db.executemany(f"INSERT INTO library (person_id, {', '.join(_ENTRY_COLUMNS)}) "
                                    f"VALUES (?, {', '.join('?' * len(_ENTRY_COLUMNS))})", rows)
                self.db.execute("UPDATE people SET recs_stale = 1 WHERE id = ?", (person_id,))
        return added

    def remove_entry(self, person_id: int, paper_id: str) -> bool:
        with self._write_txn():
            gone = self.db.execute("DELETE FROM library WHERE person_id = ? AND paper_id = ?",
                                   (person_id, paper_id)).rowcount
            if gone:
                self.db.execute("UPDATE people SET recs_stale = 1 WHERE id = ?", (person_id,))
        return bool(gone)

    def edit_entry(self, person_id: int, paper_id: str, *, tags: list[str] | None = None,
                   note: str | None = None) -> bool:
        sets, values = [], []
        if tags is not None:
            sets.append("tags = ?")
            values.append(json.dumps(tags))
        if note is not None:
            sets.append("note = ?")
            values.append(note)
        if not sets:
            return False
        with self._write_txn():
            return self.db.execute(f"UPDATE library SET {', '.join(sets)} WHERE person_id = ? AND paper_id = ?",
                                   (*values, person_id, paper_id)).rowcount == 1

    def match_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored paper each key names: an id itself, or a DOI, alias or title key of one."""
        keys = list(dict.fromkeys(k for k in keys if k))
        found: dict[str, str] = {}
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id FROM papers WHERE id IN ({marks})", chunk)
            found.update((pid, pid) for (pid,) in rows)
        found.update(self._papers_by_key([k for k in keys if k not in found]))
        return found

    # -- feedback -----------------------------------------------------------------------
    def set_feedback(self, person_id: int, paper_id: str, value: int | None, now: str) -> None:
        with self._write_txn():
            if value is None:
                self.db.execute("DELETE FROM feedback WHERE person_id = ? AND paper_id = ?", (person_id, paper_id))
            else:
                self.db.execute("INSERT INTO feedback (person_id, paper_id, value, at) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT (person_id, paper_id) DO UPDATE SET value = excluded.value, "
                                "at = excluded.at", (person_id, paper_id, value, now))
            if value == -1:
                self.db.execute("DELETE FROM recommendations WHERE person_id = ? AND paper_id = ?",
                                (person_id, paper_id))
            self.db.execute("UPDATE people SET recs_stale = 1 WHERE id = ?", (person_id,))

    def feedback(self, person_id: int) -> dict[str, int]:
        return {pid: int(v) for pid, v in self.db.execute(
            "SELECT paper_id, value FROM feedback WHERE person_id = ? ORDER BY at", (person_id,))}

    # -- recommendations ----------------------------------------------------------------
    def save_recommendations(self, person_id: int, rows: list[tuple[str, float, dict[str, Any]]], *,
                             replace: bool, seq: int, now: str, keep: int) -> None:
        """Store scored papers (``replace``: instead of the old ones, else merged with them), keep
        the best ``keep``, and note that papers up to ``seq`` are scored."""
        with self._write_txn():
            if replace:
                self.db.execute("DELETE FROM recommendations WHERE person_id = ?", (person_id,))
            if rows:
                self.db.executemany(
                    "INSERT INTO recommendations (person_id, paper_id, score, reason, computed_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (person_id, paper_id) DO UPDATE SET "
                    "score = excluded.score, reason = excluded.reason, computed_at = excluded.computed_at",
                    [(person_id, paper_id, score, json.dumps(reason), now) for paper_id, score, reason in rows])
            self.db.execute("DELETE FROM recommendations WHERE person_id = ? AND paper_id NOT IN (SELECT paper_id "
                            "FROM recommendations WHERE person_id = ? ORDER BY score DESC LIMIT ?)",
                            (person_id, person_id, keep))
            stale = "0" if replace else "recs_stale"
            self.db.execute(f"UPDATE people SET recs_seq = ?, recs_at = ?, recs_stale = {stale} WHERE id = ?",
                            (seq, now, person_id))

    def recommendations(self, person_id: int, limit: int, offset: int = 0) -> list[tuple[str, float, dict[str, Any]]]:
        # What was saved or dismissed since the scoring is left out at once.
        rows = self.db.execute(
            "SELECT paper_id, score, reason FROM recommendations r WHERE person_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM library l WHERE l.person_id = r.person_id AND l.paper_id = r.paper_id) AND NOT EXISTS "
            "(SELECT 1 FROM feedback f WHERE f.person_id = r.person_id AND f.paper_id = r.paper_id AND f.value < 0) "
            "ORDER BY score DESC, paper_id LIMIT ? OFFSET ?", (person_id, limit, offset))
        return [(pid, float(score), json.loads(reason)) for pid, score, reason in rows]

    # -- paper texts for the recommender -------------------------------------------------
    def paper_texts(self, *, after_pk: int | None = None, published: tuple[str, str] | None = None,
                    ids: Iterable[str] | None = None, limit: int | None = None) -> list[PaperText]:
        """Title, abstract, authors and day of the papers added after ``after_pk``, published in
        ``[start, end)``, or with these ids."""
        if ids is not None:
            found = []
            for chunk in _chunks(list(dict.fromkeys(ids))):
                found += self.db.execute(f"{_TEXTS} WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            return [_text(r) for r in found]
        where, params = [], []
        if after_pk is not None:
            where.append("pk > ?")
            params.append(after_pk)
        if published is not None:
            where.append("published >= ? AND published < ?")
            params += list(published)
        sql = f"{_TEXTS} WHERE {' AND '.join(where) or 'TRUE'} ORDER BY pk"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_text(r) for r in self.db.execute(sql, params)]

    def newest_published(self, until: str) -> str:
        """The latest publication day on or before ``until`` ('' for an empty store)."""
        row = self.db.execute("SELECT max(published) FROM papers WHERE published <= ?", (until,)).fetchone()
        return (row[0] or "")[:10] if row else ""

    def sample_texts(self, before: str, n: int) -> list[PaperText]:
        """``n`` papers published before ``before``, spread over all of them, the same ones each
        time (ordered by a multiplicative hash of their key: a fixed shuffle)."""
        rows = self.db.execute(f"{_TEXTS} WHERE published < ? ORDER BY (pk * 2654435761) % 4294967296, pk LIMIT ?",
                               (before, n)).fetchall()
        return [_text(r) for r in rows]


def _person(row: Any) -> Person:
    return Person(id=int(row["id"]), email=row["email"], created_at=row["created_at"], feed_token=row["feed_token"],
                  signin_nonce=row["signin_nonce"], signin_sent_at=row["signin_sent_at"],
                  recs_stale=bool(row["recs_stale"]), recs_seq=int(row["recs_seq"]), recs_at=row["recs_at"])


def _entry(row: Any) -> LibraryEntry:
    values = dict(zip(_ENTRY_COLUMNS, row))
    values["authors"] = json.loads(values["authors"])
    values["tags"] = json.loads(values["tags"])
    return LibraryEntry(**values)


def _text(row: Any) -> PaperText:
    authors = row[4]
    return PaperText(pk=int(row[0]), id=row[1], title=row[2] or "", abstract=row[3] or "",
                     authors=json.loads(authors) if isinstance(authors, str) else list(authors or []),
                     published=row[5] or "")
