"""The keyword index: tantivy, in a folder beside the store, following the store's change feed.

Every write to a paper gives it the next value of the store's sequence (``seq``). The index
remembers the sequence it has reached (``state.json``, written after each tantivy commit)
and catches up from there: a paper is deleted by id and added again, so catching up twice
does no harm, and a crash between a store commit and the index's leaves nothing that the
next catch-up does not mend. A folder that is missing, of another store, of another schema
or unreadable is rebuilt from the store with one log line.

Queries arrive as data (``ParsedQuery`` and ``Filters``) and are turned into tantivy query
objects in ``store/keyword_query.py``; no user text ever reaches tantivy's query parser.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tantivy

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1  # bump when the schema or the analyzers change: old folders are rebuilt
TEXT, NAMES = "paper_text", "paper_names"
_HEAP_BYTES = 200_000_000  # the writer's buffer, split between its threads
_WRITER_THREADS = 2


@dataclass
class IndexedPaper:
    """What the keyword index holds of one paper."""

    pk: int
    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: str  # YYYY-MM-DD or ''
    sources: list[str]


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    """Runs of letters and digits, lower-cased, without diacritics (and Porter-stemmed)."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
               .filter(tantivy.Filter.remove_long(40))
               .filter(tantivy.Filter.lowercase())
               .filter(tantivy.Filter.ascii_fold()))
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


TEXT_ANALYZER, NAME_ANALYZER = _analyzer(True), _analyzer(False)


@lru_cache(maxsize=50_000)
def term(word: str) -> str:
    """The index term of one query word ('' when the analyzer drops it)."""
    tokens = TEXT_ANALYZER.analyze(word)
    return tokens[0] if tokens else ""


def name_terms(words: Iterable[str]) -> list[str]:
    return [t for w in words for t in NAME_ANALYZER.analyze(w)]


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_text_field("id", stored=True, tokenizer_name="raw")
    b.add_unsigned_field("pk", indexed=True, fast=True)      # a digest's window of new papers
    b.add_text_field("text", tokenizer_name=TEXT)            # title and abstract, two values
    b.add_text_field("authors", tokenizer_name=NAMES)
    b.add_text_field("cat", tokenizer_name="raw")            # lower-cased categories and archives
    b.add_integer_field("day", indexed=True, fast=True)      # published as YYYYMMDD, 0 if unknown
    b.add_text_field("source", tokenizer_name="raw")
    return b.build()


SCHEMA = _schema()


def day_number(day: str) -> int:
    """'2025-03-07' -> 20250307; 0 for an unknown day."""
    return int(day[:10].replace("-", "")) if len(day) >= 10 and day[:4].isdigit() else 0


def category_terms(categories: Iterable[str]) -> list[str]:
    """Each category and its archive ('q-bio.NC' -> 'q-bio.nc', 'q-bio'), lower-cased."""
    terms: dict[str, None] = {}
    for cat in categories:
        cat = cat.lower()
        terms[cat] = None
        if "." in cat:
            terms[cat.split(".", 1)[0]] = None
    return list(terms)


def _document(paper: IndexedPaper) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("id", paper.id)
    doc.add_unsigned("pk", paper.pk)
    doc.add_text("text", paper.title)
    doc.add_text("text", paper.abstract)
    for name in paper.authors:
        doc.add_text("authors", name)
    for cat in category_terms(paper.categories):
        doc.add_text("cat", cat)
    doc.add_integer("day", day_number(paper.published))
    for source in paper.sources:
        doc.add_text("source", source)
    return doc


class KeywordIndex:
    """One tantivy index and the sequence of the store it has reached.

    ``folder`` None keeps it in memory (an in-memory store). Only the process that writes
    (``update``) takes tantivy's writer lock; readers see each commit after ``refresh``.
    """

    def __init__(self, folder: Path | None, store_uid: str) -> None:
        self.folder = folder
        self.store_uid = store_uid
        self.reached = 0
        self._writer: tantivy.IndexWriter | None = None
        self.index = self._open()

    # -- opening -----------------------------------------------------------------------
    def _open(self) -> tantivy.Index:
        if self.folder is None:
            return self._with_analyzers(tantivy.Index(SCHEMA))
        state = self._read_state()
        fits = state.get("store") == self.store_uid and state.get("schema") == SCHEMA_VERSION
        if fits:
            try:
                index = self._with_analyzers(tantivy.Index(SCHEMA, path=str(self.folder), reuse=True))
                self.reached = int(state.get("seq", 0))
                return index
            except (OSError, ValueError) as exc:
                log.warning("keyword index in %s is unreadable (%s); rebuilding it", self.folder, exc)
        elif self.folder.exists():
            log.info("keyword index in %s is of another store or version; rebuilding it", self.folder)
        else:
            log.info("building the keyword index in %s", self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_state()
        return self._with_analyzers(tantivy.Index(SCHEMA, path=str(self.folder), reuse=False))

    @staticmethod
    def _with_analyzers(index: tantivy.Index) -> tantivy.Index:
        index.register_tokenizer(TEXT, TEXT_ANALYZER)
        index.register_tokenizer(NAMES, NAME_ANALYZER)
        return index

    def _state_path(self) -> Path:
        return Path(self.folder or ".") / "state.json"

    def _read_state(self) -> dict:
        try:
            state = json.loads(self._state_path().read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self) -> None:
        if self.folder is None:
            return
        path = self._state_path()
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"store": self.store_uid, "schema": SCHEMA_VERSION, "seq": self.reached}))
        os.replace(scratch, path)

    # -- writing -----------------------------------------------------------------------
    def writer(self) -> tantivy.IndexWriter | None:
        """This process's writer, or None while another process holds the index's lock."""
        if self._writer is None:
            try:
                self._writer = self.index.writer(heap_size=_HEAP_BYTES, num_threads=_WRITER_THREADS)
            except ValueError as exc:  # tantivy's LockBusy: another process writes
                log.debug("keyword index is being written by another process: %s", exc)
                return None
        return self._writer

    def update(self, papers: Iterable[IndexedPaper], seq: int) -> bool:
        """Replace these papers in the index and commit, marking ``seq`` reached; False (and
        nothing done) when another process holds the writer."""
        writer = self.writer()
        if writer is None:
            return False
        for paper in papers:
            writer.delete_documents_by_term("id", paper.id)
            writer.add_document(_document(paper))
        writer.commit()
        self.reached = max(self.reached, seq)
        self._write_state()
        self.index.reload()
        return True

    def clear(self) -> bool:
        """Empty the index (before a rebuild); False when another process holds the writer."""
        writer = self.writer()
        if writer is None:
            return False
        writer.delete_all_documents()
        writer.commit()
        self.reached = 0
        self._write_state()
        self.index.reload()
        return True

    def refresh(self) -> None:
        """See what another process committed since."""
        if self.folder is not None:
            self.reached = max(self.reached, int(self._read_state().get("seq", 0)))
        self.index.reload()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()  # also lets go of the lock
            self._writer = None

    # -- reading -----------------------------------------------------------------------
    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def search(self, query: tantivy.Query, limit: int, searcher: tantivy.Searcher | None = None
               ) -> list[tuple[str, float]]:
        """(id, score) best first."""
        if limit <= 0:
            return []
        searcher = searcher or self.index.searcher()
        hits = searcher.search(query, limit, count=False).hits
        return [(searcher.doc(address)["id"][0], float(score)) for score, address in hits]

    def count(self, query: tantivy.Query) -> int:
        return self.index.searcher().search(query, 0, count=True).count

    def text_freq(self, value: str) -> int:
        """Papers whose title or abstract holds this index term."""
        return self.index.searcher().doc_freq("text", value)

    def num_docs(self) -> int:
        return self.index.searcher().num_docs
