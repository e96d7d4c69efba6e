"""Snippets: the stretch of an abstract that holds a query's words, and those words marked.

One implementation for the command line, the site, the feeds and the digest (pure).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from typing import Sequence


def term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern marking words that start with any query term (so 'segment' marks 'segmentation')."""
    return _term_pattern(tuple(terms))


@lru_cache(maxsize=256)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({t.lower() for t in terms if t and len(t) > 1}, key=len, reverse=True)[:30]
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\w*", re.I | re.U)


def snippet(text: str, terms: Sequence[str], size: int = 280) -> str:
    """The stretch of ``text`` (about ``size`` chars) holding the most query words."""
    # Stored text has its spaces folded already, paragraphs apart by blank lines (model.clean_text).
    text = (text or "").replace("\n\n", " ").replace("\n", " ")
    if len(text) <= size:
        return text
    hits = _word_starts(text.lower(), {t.lower() for t in terms if t and len(t) > 1})
    start = 0
    if hits:  # the window starting 40 chars before a hit that holds the most hits
        best = max(hits[:64], key=lambda h: bisect_left(hits, h - 40 + size) - bisect_left(hits, h - 40))
        start = max(0, best - 40)
        start = text.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(text), start + size)
    if end < len(text):
        end = max(text.rfind(" ", start, end), start + size // 2)
    if text[start:end].count("$") % 2:  # never leave half a math span
        end = text.rfind("$", start, end)
    return ("… " if start else "") + text[start:end].strip() + (" …" if end < len(text) else "")


def _word_starts(lower: str, prefixes: set[str]) -> list[int]:
    """Where words starting with any prefix begin (str.find: far faster than a regex here)."""
    found = []
    for prefix in prefixes:
        at = lower.find(prefix)
        while at != -1:
            if at == 0 or not lower[at - 1].isalnum():
                found.append(at)
            at = lower.find(prefix, at + 1)
    return sorted(found)


def mark(text: str, terms: Sequence[str], before: str = "**", after: str = "**") -> str:
    """``text`` with the words ``term_pattern`` matches wrapped in ``before`` and ``after``."""
    pattern = term_pattern(terms)
    return pattern.sub(lambda m: before + m.group(0) + after, text) if pattern else text
