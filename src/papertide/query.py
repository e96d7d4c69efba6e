"""Parse what a user types into a search box. Pure; never raises on any string.

Understood: words, ``"quoted phrases"``, ``-word`` / ``-"phrase"`` exclusion,
``author:Name`` / ``author:"First Last"``, ``category:cs.CV`` / ``cat:``, ``source:medrxiv``,
``since:2025-01-01`` / ``until:2025-06`` (a year or month means its start for
``since`` and its end for ``until``). Everything else is just text: FTS5
operators, stray quotes, SQL and emoji carry no meaning.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

# Word characters as the unicode61 tokenizer sees them (letters, digits).
WORD = re.compile(r"[^\W_]+", re.UNICODE)
# An unclosed quote is just a character: only a closed pair makes a phrase.
_PIECE = re.compile(r'(-?)(?:(\w+):)?(?:"([^"]*)"|(\S+))', re.UNICODE)
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
MAX_QUERY_CHARS = 4000

# Words that say little about a topic: long queries drop them, and their neighbouring-word
# phrases leave them out.
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


@dataclass
class ParsedQuery:
    words: list[str] = field(default_factory=list)          # free words, lower-case
    phrases: list[list[str]] = field(default_factory=list)  # each a list of words
    excluded: list[list[str]] = field(default_factory=list)  # words or phrases to exclude
    authors: list[list[str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases or self.authors)

    @property
    def text(self) -> str:
        """The free text of the query (words and phrases), for semantic search."""
        return " ".join([*self.words, *(" ".join(p) for p in self.phrases)])


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def parse_date(text: str, *, end: bool) -> str | None:
    """'2025', '2025-03' or '2025-03-07' -> an ISO day (start or end of the span); None if invalid."""
    m = _DATE.match(text.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if month is None:
            return f"{year:04d}-12-31" if end else f"{year:04d}-01-01"
        month_i = int(month)
        last = calendar.monthrange(year, month_i)[1]
        if day is None:
            return f"{year:04d}-{month_i:02d}-{last if end else 1:02d}"
        day_i = int(day)
        if not 1 <= day_i <= 31:
            return None
        return f"{year:04d}-{month_i:02d}-{min(day_i, last):02d}"  # 2025-02-30: the month's last day
    except (ValueError, calendar.IllegalMonthError):
        return None


def parse_query(text: str) -> ParsedQuery:
    """Split a query into words, phrases, exclusions and field filters."""
    query = ParsedQuery()
    text = (text or "")[:MAX_QUERY_CHARS]
    for m in _PIECE.finditer(text):
        negated, fieldname, quoted, bare = m.group(1) == "-", (m.group(2) or "").lower(), m.group(3), m.group(4)
        value = quoted if quoted is not None else bare or ""
        if fieldname and _apply_field(query, fieldname, value, quoted is not None):
            continue
        if fieldname:  # not a field we know: the 'name:' is just text
            value = f"{m.group(2)} {value}"
        words = words_of(value)
        if not words:
            continue
        if negated:
            query.excluded.append(words)
        elif quoted is not None and len(words) > 1:
            query.phrases.append(words)
        else:
            query.words.extend(words)
    return query


def _apply_field(query: ParsedQuery, name: str, value: str, quoted: bool) -> bool:
    if name == "author":
        words = words_of(value)
        if words:
            query.authors.append(words)
        return True
    if name in ("category", "cat"):
        for cat in re.split(r"[,\s]+", value.strip()):
            if re.fullmatch(r"[A-Za-z\-]+(\.[A-Za-z0-9\-]+)?", cat):
                query.categories.append(cat)
        return True
    if name == "source":
        query.sources += [s for s in re.split(r"[,\s]+", value.strip().lower()) if re.fullmatch(r"[a-z][a-z\-:]*", s)]
        return True
    if name in ("since", "until"):
        day = parse_date(value, end=name == "until")
        if day:
            setattr(query, name, day)
        return True
    return False
