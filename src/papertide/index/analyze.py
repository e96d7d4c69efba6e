"""Text to index terms, the same way for papers and for queries (pure).

Words are what SQLite's unicode61 tokenizer sees (runs of letters and digits),
lower-cased, with diacritics removed and Porter-stemmed, so the in-memory
BM25 index agrees with the FTS5 index on what a word is. The two need not
agree on every stem: FTS5 only answers yes/no questions (phrases, authors,
exclusions) and the in-memory index does all the scoring with its own terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import Stemmer

from papertide.index.query import WORD

_ASCII_WORD = re.compile(r"[a-z0-9]+")


def fold(word: str) -> str:
    """A lower-case word without diacritics ('Schrödinger' -> 'schrodinger')."""
    word = word.lower()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Analyzer:
    """Words to terms, with a cache: a corpus has far fewer distinct words than tokens."""

    max_cached = 50_000  # a long-running server sees endless new words in queries

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("porter")
        self._terms: dict[str, str] = {}

    def term(self, word: str) -> str:
        """The index term of one word as typed."""
        term = self._terms.get(word)
        if term is None:
            if len(self._terms) >= self.max_cached:
                self._terms.clear()
            term = self._terms[word] = self._stemmer.stemWord(fold(word))
        return term

    def words(self, text: str) -> list[str]:
        """The words of a text, lower-cased, in order (not yet stemmed)."""
        text = text.lower()
        # For ASCII text the simpler pattern finds exactly the same words, faster.
        return _ASCII_WORD.findall(text) if text.isascii() else WORD.findall(text)

    def terms(self, text: str) -> list[str]:
        return [self.term(w) for w in self.words(text)]


class TermIds(dict):
    """Word -> term id, growing as new words arrive; lookups of known words run at C speed
    (``map(ids.__getitem__, words)``), which is what makes indexing 80k papers take seconds."""

    def __init__(self, analyzer: Analyzer) -> None:
        super().__init__()
        self.analyzer = analyzer
        self.vocabulary: dict[str, int] = {}  # term -> id, ids in order of first sight

    def __missing__(self, word: str) -> int:
        term = self.analyzer.term(word)
        tid = self.vocabulary.setdefault(term, len(self.vocabulary))
        self[word] = tid
        return tid

    def ids(self, words: Iterable[str]) -> Iterable[int]:
        return map(self.__getitem__, words)
