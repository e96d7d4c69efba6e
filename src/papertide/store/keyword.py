"""The keyword index: tantivy, in a folder beside the store, following the store's change feed.

Every write to a paper gives it the next value of the store's sequence (``seq``). The index
holds, beside the papers, one state document saying which sequence value and which paper
position (``pk``) it has reached; it is replaced in every commit, so it always describes
exactly what that commit holds, and a crash anywhere leaves nothing that the next catch-up
does not mend. Catching up replaces a paper the index may hold (delete by id, add) and adds
the papers past the position it reached. ``state.json`` names the store and the schema: a
folder that is missing, of another store or schema, or unreadable is rebuilt from the store
with one log line.

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
    b.add_unsigned_field("reached_seq", stored=True)        # the state document only
    b.add_unsigned_field("reached_pk", stored=True)
    return b.build()


SCHEMA = _schema()
STATE_ID = "\x00state"  # the id of the state document: no paper's id is empty or starts with NUL


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
    """One tantivy index and how far it has followed its store.

    ``folder`` None keeps it in memory (an in-memory store). Only the process that writes
    (``add``, ``commit``) takes tantivy's writer lock; readers see each commit after ``refresh``.
    """

    def __init__(self, folder: Path | None, store_uid: str) -> None:
        self.folder = folder
        self.store_uid = store_uid
        self._writer: tantivy.IndexWriter | None = None
        self.index = self._open()
        self.reached, self.reached_pk = self._committed_state()
        self.written, self.written_pk = self.reached, self.reached_pk  # added, maybe not committed yet

    # -- opening -----------------------------------------------------------------------
    def _open(self) -> tantivy.Index:
        if self.folder is None:
            return self._with_analyzers(tantivy.Index(SCHEMA))
        state = self._read_identity()
        if state == self._identity():
            try:
                return self._with_analyzers(tantivy.Index(SCHEMA, path=str(self.folder), reuse=True))
            except (OSError, ValueError) as exc:
                log.warning("keyword index in %s is unreadable (%s); rebuilding it", self.folder, exc)
        elif self.folder.exists():
            log.info("keyword index in %s is of another store or version; rebuilding it", self.folder)
        else:
            log.info("building the keyword index in %s", self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        index = self._with_analyzers(tantivy.Index(SCHEMA, path=str(self.folder), reuse=False))
        scratch = self.folder / "state.tmp"
        scratch.write_text(json.dumps(self._identity()))
        os.replace(scratch, self.folder / "state.json")
        return index

    @staticmethod
    def _with_analyzers(index: tantivy.Index) -> tantivy.Index:
        index.register_tokenizer(TEXT, TEXT_ANALYZER)
        index.register_tokenizer(NAMES, NAME_ANALYZER)
        return index

    def _identity(self) -> dict:
        return {"store": self.store_uid, "schema": SCHEMA_VERSION}

    def _read_identity(self) -> dict:
        try:
            state = json.loads((self.folder / "state.json").read_text("utf-8"))  # type: ignore[operator]
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _committed_state(self) -> tuple[int, int]:
        """(sequence, pk) the last commit reached, from its state document."""
        searcher = self.index.searcher()
        hits = searcher.search(tantivy.Query.term_query(SCHEMA, "id", STATE_ID), 1, count=False).hits
        if not hits:
            return 0, 0
        state = searcher.doc(hits[0][1])
        return int(state["reached_seq"][0]), int(state["reached_pk"][0])

    # -- writing -----------------------------------------------------------------------
    def writer(self) -> tantivy.IndexWriter | None:
        """This process's writer, or None while another process holds the index's lock."""
        if self._writer is None:
            try:
                self._writer = self.index.writer(heap_size=_HEAP_BYTES, num_threads=_WRITER_THREADS)
            except ValueError as exc:  # tantivy's LockBusy: another process writes
                log.debug("keyword index is being written by another process: %s", exc)
                return None
            if self.folder is not None:  # scratch of tantivy's atomic writes by a writer killed mid-write
                for stray in self.folder.glob(".tmp*"):
                    stray.unlink(missing_ok=True)
            self.index.reload()  # what the writer before us committed
            self.reached, self.reached_pk = self._committed_state()
            self.written, self.written_pk = self.reached, self.reached_pk
        return self._writer

    def add(self, papers: list[IndexedPaper], seq: int) -> bool:
        """Put these papers (written up to ``seq``) into the index, replacing those it may hold;
        False (and nothing done) when another process holds the writer. Seen after ``commit``."""
        writer = self.writer()
        if writer is None:
            return False
        for paper in papers:
            if paper.pk <= self.written_pk:  # past that position, no paper can be in the index yet
                writer.delete_documents_by_term("id", paper.id)
            writer.add_document(_document(paper))
        self.written = max(self.written, seq)
        self.written_pk = max([self.written_pk, *(p.pk for p in papers)])
        return True

    def commit(self) -> None:
        """Make what was added visible and durable, with the state that describes it."""
        if self._writer is None or (self.written, self.written_pk) == (self.reached, self.reached_pk):
            return
        self._writer.delete_documents_by_term("id", STATE_ID)
        self._writer.add_document(tantivy.Document(id=STATE_ID, reached_seq=self.written,
                                                   reached_pk=self.written_pk))
        self._writer.commit()
        self.reached, self.reached_pk = self.written, self.written_pk
        self.index.reload()

    def clear(self) -> bool:
        """Empty the index (before a rebuild); False when another process holds the writer."""
        writer = self.writer()
        if writer is None:
            return False
        writer.delete_all_documents()
        writer.commit()
        self.reached = self.reached_pk = self.written = self.written_pk = 0
        self.index.reload()
        return True

    def refresh(self) -> None:
        """See what another process committed since."""
        self.index.reload()
        if self._writer is None:
            self.reached, self.reached_pk = self._committed_state()

    def close(self) -> None:
        """Commit what was added and let go of the writer (and its lock)."""
        if self._writer is not None:
            self.commit()
            self._writer.wait_merging_threads()
            self._writer = None

    # -- reading -----------------------------------------------------------------------
    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def search(self, query: tantivy.Query, limit: int, searcher: tantivy.Searcher | None = None,
               newest: bool = False) -> list[tuple[str, float]]:
        """(id, score) best first; with ``newest``, (id, 0.0) newest published first."""
        if limit <= 0:
            return []
        searcher = searcher or self.index.searcher()
        if newest:
            hits = searcher.search(query, limit, count=False, order_by_field="day").hits
            return [(searcher.doc(address)["id"][0], 0.0) for _, address in hits]
        hits = searcher.search(query, limit, count=False).hits
        return [(searcher.doc(address)["id"][0], float(score)) for score, address in hits]

