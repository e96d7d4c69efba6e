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
from collections.abc import Iterable, Sequence

import numpy as np
import Stemmer

from papertide.index.query import WORD

_ASCII_WORD = re.compile(r"[a-z0-9]+")

# Words that say little about a topic: long queries drop them, and pairs holding one get no
# phrase postings (index/phrases.py).
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up upon us very via was we were what when where which while who whom why
will with within without would you your yours yourself yourselves paper papers propose proposed
proposes approach approaches method methods using use used based new novel show shows work study
present presents introduce introduces
""".split())


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

    def forget(self) -> None:
        """Empty the cache of words seen."""
        self._terms = {}

    def stems(self, words: list[str], folded: bool = False) -> list[str]:
        """The index terms of many words at once (bypasses the cache)."""
        return self._stemmer.stemWords(words if folded else [fold(w) for w in words])

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
        self._table = _HashTable()  # word hash -> term id, for ``encode``

    def __missing__(self, word: str) -> int:
        term = self.analyzer.term(word)
        tid = self.vocabulary.setdefault(term, len(self.vocabulary))
        self[word] = tid
        return tid

    def ids(self, words: Iterable[str]) -> Iterable[int]:
        return map(self.__getitem__, words)

    def _ids_of(self, words: list[str], folded: bool = False) -> list[int]:
        """The term ids of many words; the ones never seen are stemmed all at once
        (``folded``: the words are lower-case ASCII already)."""
        new = [w for w in dict.fromkeys(words) if w not in self]
        vocabulary = self.vocabulary
        for word, term in zip(new, self.analyzer.stems(new, folded)):
            self[word] = vocabulary.setdefault(term, len(vocabulary))
        return [self[w] for w in words]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids of all the texts' words, in order; words per text), the same as
        ``ids(analyzer.words(text))`` text after text, but without a Python object per word.

        ASCII texts (nearly all of them) are cut into words by numpy over their bytes, and
        each word is known by a 64-bit hash of its lower-cased bytes; only a word seen for
        the first time goes through the analyzer. Other texts take the word-by-word path.
        """
        texts = [t or "" for t in texts]
        plain = np.array([t.isascii() for t in texts], dtype=bool)
        lengths = np.zeros(len(texts), dtype=np.int64)
        pieces: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, words per text) per batch
        batch: list[str] = []
        size = 0
        for text in (t for t, p in zip(texts, plain) if p):
            batch.append(text)
            size += len(text) + 1
            if size >= _BATCH_BYTES:
                pieces.append(self._encode_ascii(batch))
                batch, size = [], 0
        if batch:
            pieces.append(self._encode_ascii(batch))
        lengths[plain] = np.concatenate([c for _, c in pieces]) if pieces else 0
        plain_ids = np.concatenate([i for i, _ in pieces]) if pieces else np.zeros(0, np.int32)
        other = np.flatnonzero(~plain)
        other_ids = [np.fromiter(self.ids(self.analyzer.words(texts[i])), dtype=np.int32) for i in other]
        lengths[other] = [len(x) for x in other_ids]
        if not len(other):
            return plain_ids, lengths
        # Put each text's words where that text falls among all the texts.
        out = np.empty(int(lengths.sum()), dtype=np.int32)
        out_start = np.cumsum(lengths) - lengths
        own = lengths[plain]
        out[np.repeat(out_start[plain] - (np.cumsum(own) - own), own) + np.arange(len(plain_ids))] = plain_ids
        for i, ids in zip(other, other_ids):
            out[out_start[i]:out_start[i] + len(ids)] = ids
        return out, lengths

    def _encode_ascii(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' term ids, and the words per text."""
        raw = "\0".join(texts).encode("ascii")
        lowered = np.zeros(len(raw) + 8, dtype=np.uint8)  # 8 bytes of padding for the last word's key
        lowered[:len(raw)] = _WORD_BYTE[np.frombuffer(raw, dtype=np.uint8)]
        in_word = (lowered[:len(raw)] != 0).view(np.int8)
        edges = np.flatnonzero(np.diff(in_word, prepend=np.int8(0), append=np.int8(0)))
        starts, ends = edges[0::2], edges[1::2]
        # Words per text: text t ends where the join put its separator.
        text_ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1) - 1
        counts = np.diff(np.searchsorted(starts, text_ends), prepend=0)
        hashes = _word_keys(lowered, starts, ends)
        table = self._table
        ids = table.get(hashes)
        missing = np.flatnonzero(ids < 0)
        if len(missing):  # words never seen: each through the analyzer once
            new, first = np.unique(hashes[missing], return_index=True)
            places = missing[first]
            words = [raw[s:e].decode("ascii").lower() for s, e in zip(starts[places].tolist(), ends[places].tolist())]
            table.add(new, np.array(self._ids_of(words, folded=True), dtype=np.int32))
            ids[missing] = table.get(hashes[missing])
        return ids, counts


class _HashTable:
    """uint64 word key -> int32 term id, open addressing with linear probing, looked up
    for a whole array of hashes at once (numpy has no hash map of its own)."""

    def __init__(self, bits: int = 18) -> None:
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.values = np.full(1 << bits, -1, dtype=np.int32)  # -1: empty slot
        self.used = 0

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's home slot: the top bits of the hash times an odd constant (a short
        word's key has its top bytes zero, so they cannot be used as they are)."""
        shift = np.uint64(64 - (len(self.keys).bit_length() - 1))
        with np.errstate(over="ignore"):
            return ((hashes * _MIX) >> shift).astype(np.int64)

    def get(self, hashes: np.ndarray) -> np.ndarray:
        """The id of each hash, -1 where absent."""
        out = np.full(len(hashes), -1, dtype=np.int32)
        todo = np.arange(len(hashes))
        slots = self._slots(hashes)
        mask = len(self.keys) - 1
        while len(todo):
            values = self.values[slots]
            found = (self.keys[slots] == hashes[todo]) & (values >= 0)
            out[todo[found]] = values[found]
            go_on = ~found & (values >= 0)  # an occupied slot holding another word: probe on
            todo, slots = todo[go_on], (slots[go_on] + 1) & mask
        return out

    def add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Insert hashes that are not in the table yet."""
        if 2 * (self.used + len(hashes)) > len(self.keys):
            self._grow(self.used + len(hashes))
        mask = len(self.keys) - 1
        todo, slots = np.arange(len(hashes)), self._slots(hashes)
        while len(todo):  # all at once: each round fills every free slot one of them asks for
            free = np.flatnonzero(self.values[slots] < 0)
            taken, first = np.unique(slots[free], return_index=True)  # one hash per free slot
            won = free[first]
            self.keys[taken], self.values[taken] = hashes[todo[won]], ids[todo[won]]
            rest = np.ones(len(todo), dtype=bool)
            rest[won] = False
            todo, slots = todo[rest], (slots[rest] + 1) & mask  # the others probe on, as get() will
        self.used += len(hashes)

    def _grow(self, need: int) -> None:
        full = self.values >= 0
        keys, values = self.keys[full], self.values[full]
        bits = max(need * 2, 1).bit_length() + 1
        self.__init__(bits)
        self.add(keys, values)


_BATCH_BYTES = 1 << 20
# Byte -> its lower-case value if it belongs to a word ([A-Za-z0-9], as ``_ASCII_WORD`` sees
# lower-cased text), else 0.
_WORD_BYTE = np.zeros(256, dtype=np.uint8)
for _c in b"0123456789abcdefghijklmnopqrstuvwxyz":
    _WORD_BYTE[_c] = _c
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _WORD_BYTE[_c] = _c + 32
# The low n bytes of a uint64, for n = 0..8.
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection modulo 2**64
_LONG = np.uint64(1 << 63)


def _word_keys(lowered: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A uint64 key for each word ``lowered[s:e]`` (bytes, padded with 8 zeros at the end).

    A word of up to 8 bytes is its own key: its bytes, little-endian, read in one gather from
    an unaligned view (letters and digits are below 0x80, so the top bit stays 0). A longer
    word takes 8 bytes at a time, each mixed into the key by xor and an odd multiplication,
    and the top bit set: two long words share a key with odds of about one in 10**9 for a
    corpus's million words; they would then count as one term.
    """
    words = np.ndarray(shape=(len(lowered) - 7,), dtype="<u8", buffer=lowered, strides=(1,))
    lengths = ends - starts
    keys = words[starts] & _LOW_BYTES[np.minimum(lengths, 8)]
    long = np.flatnonzero(lengths > 8)
    if len(long):
        with np.errstate(over="ignore"):
            mixed = (keys[long] ^ lengths[long].astype(np.uint64)) * _MIX
            at, left = starts[long] + 8, lengths[long] - 8
            while len(at):  # the next 8 bytes of the words that still have some
                mixed = (mixed ^ (words[at] & _LOW_BYTES[np.minimum(left, 8)])) * _MIX
                more = left > 8
                if not more.all():
                    keys[long[~more]] = mixed[~more] | _LONG
                long, mixed, at, left = long[more], mixed[more], at[more] + 8, left[more] - 8
    return keys
