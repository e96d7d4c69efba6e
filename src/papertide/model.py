"""The paper record every source produces and the store consumes.

Sources build ``PaperRecord`` objects through ``make_record``, which cleans
text and rejects what cannot be stored with ``InvalidRecord`` and a reason.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

from papertide.errors import InvalidRecord

# New-style (2503.11677v2) and old-style (hep-th/9901001v1) arXiv identifiers.
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")
_ARXIV_PREFIX = re.compile(r"^(?:arxiv:|https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/)", re.I)
# C0/C1 control characters other than tab and newline, and lone surrogates (which a
# JSON parser may let through from a "\ud800" escape but UTF-8 cannot store).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\n]+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass
class Signal:
    """One observation of a signal (upvotes, comments, stars...) at a time."""

    kind: str
    value: float
    observed_at: str  # ISO 8601, UTC
    source: str


@dataclass
class PaperRecord:
    """A paper as one source saw it. Empty fields mean 'this source does not know'."""

    id: str
    title: str
    source: str
    version: int | None = None
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    primary_category: str = ""
    published: str = ""  # YYYY-MM-DD
    updated: str = ""    # YYYY-MM-DD
    doi: str = ""
    journal_ref: str = ""
    comment: str = ""
    links: dict[str, Any] = field(default_factory=dict)  # abs, pdf, code: [..], project
    keywords: list[str] = field(default_factory=list)
    affiliations: list[str] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    # Other ids of the same paper ('doi:<journal DOI>', 'pmid:123'): a record or paper stored
    # under any of them is this paper (a preprint and its journal version are one paper).
    aliases: list[str] = field(default_factory=list)


@dataclass
class Page:
    """One unit of work: stored, with its checkpoint, in one transaction."""

    records: list[PaperRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    checkpoint_key: str | None = None
    checkpoint: dict[str, Any] | None = None
    fetched: int = 0  # raw items seen, including skipped ones



@dataclass
class SignalDelta:
    """How one signal of one paper moved over a time window (trending's input)."""

    paper_id: str
    published: str          # the paper's YYYY-MM-DD ('' if unknown)
    kind: str               # upvotes, comments, github_stars, hf_featured, saves...
    source: str             # who observed it: hf-daily, github, local...
    before: float | None    # latest value before the window starts; None: none known
    after: float            # latest value at the window's end


@dataclass
class RepoState:
    """What papertide last heard from GitHub about one repository."""

    repo: str               # owner/name
    etag: str = ""
    stars: int | None = None
    status: str = "ok"      # ok | missing | blocked
    checked_at: str = ""


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """``'arXiv:2503.11677v2'`` -> ``('2503.11677', 2)``; raises InvalidRecord."""
    text = str(raw).strip()
    m = _ARXIV_NEW.match(text)  # the usual case, bare and new-style: one match
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else None
    text = _ARXIV_PREFIX.sub("", text)
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        m = pattern.match(text)
        if m:
            return m.group(1), int(m.group(2)) if m.group(2) else None
    raise InvalidRecord(f"not an arXiv id: {str(raw)[:40]!r}")


def canonical_id(raw: str) -> str:
    """The store id for user input: arXiv ids lose their version; a DOI (bare, 'doi:' or a
    doi.org link) becomes 'doi:<lower-case DOI>'; 'PMID:123' becomes 'pmid:123'."""
    text = str(raw).strip()
    try:
        return split_arxiv_id(text)[0]
    except InvalidRecord:
        pass
    if doi := normal_doi(text):
        return "doi:" + doi
    m = _PMID.match(text)
    return f"pmid:{int(m.group(1))}" if m else text


# A DOI: '10.' a registrant code, '/', a suffix of printable characters (Crossref's advice).
_DOI = re.compile(r"^10\.\d{4,9}/[^\s\"<>]+$")
_DOI_PREFIX = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", re.I)
_PMID = re.compile(r"^(?:pmid:?\s*)?(\d{1,9})$", re.I)


def normal_doi(raw: Any) -> str:
    """A DOI as papertide keys it (lower-case, without 'doi:' or a doi.org prefix); '' when
    ``raw`` is not a DOI (odd characters, spaces, markup)."""
    if not isinstance(raw, str):
        return ""
    text = _DOI_PREFIX.sub("", raw.strip()).rstrip(".")
    return text.lower() if _DOI.match(text) and text.isprintable() and len(text) <= 300 else ""


def id_family(paper_id: str) -> str:
    """'arxiv', 'doi' or 'pmid': which kind of id a paper has."""
    head, sep, _ = paper_id.partition(":")
    return head if sep and head in ("doi", "pmid") else "arxiv"


_TITLE_WORDS = re.compile(r"[^\W_]+")


def title_key(title: str, authors: list[str]) -> str:
    """'title:' and a hash of the title's words and the first author's surname, folded to
    lower case without accents: how a preprint and its journal version are recognised when no
    DOI links them. '' for titles too short to tell papers apart. (A 64-bit hash: every paper
    has one, and short keys keep the store's key index small and quick to write.)"""
    words = _TITLE_WORDS.findall(_fold(title))
    if len(words) < 4 or not authors:
        return ""
    surname = _TITLE_WORDS.findall(_fold(authors[0]))
    plain = f"{' '.join(words)}|{surname[-1] if surname else ''}"
    return "title:" + hashlib.blake2b(plain.encode(), digest_size=8).hexdigest()


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def paper_keys(record: PaperRecord) -> list[str]:
    """Every key that names ``record``'s paper besides its id: DOI, aliases, title key."""
    keys = [f"doi:{d}"] if record.doi and (d := normal_doi(record.doi)) else []
    keys += record.aliases
    if t := title_key(record.title, record.authors):
        keys.append(t)
    return [k for k in dict.fromkeys(keys) if k != record.id]


def clean_text(value: Any, *, field_name: str, keep_newlines: bool = False) -> str:
    """Text with control characters removed and whitespace folded.

    Runs of spaces, tabs and line breaks become one space; with ``keep_newlines``
    paragraphs (separated by a blank line) are kept, joined by one blank line.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRecord(f"{field_name} is {type(value).__name__}, not text")
    # Fast path, same result: when the text is printable apart from its line breaks it
    # holds no control characters and no whitespace but ' ' and '\n', so folding is a
    # split/join. Most titles and abstracts take it; the regexes below are far slower.
    flat = value.replace("\n", " ")
    if flat.isprintable() and not (keep_newlines and _PARAGRAPH_BREAK.search(value)):
        if "  " in flat or flat[:1] == " " or flat[-1:] == " ":
            return " ".join(flat.split())
        return flat
    value = _CONTROL.sub("", value)
    if keep_newlines:
        paragraphs = [_SPACES.sub(" ", p).strip() for p in _PARAGRAPH_BREAK.split(value)]
        return "\n\n".join(p for p in paragraphs if p)
    return _SPACES.sub(" ", value).strip()


def parse_day(value: Any, *, field_name: str) -> str:
    """An ISO date or datetime -> 'YYYY-MM-DD'; '' for missing; InvalidRecord if garbled."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidRecord(f"{field_name} is {type(value).__name__}, not a date")
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise InvalidRecord(f"invalid {field_name} date {text[:30]!r}") from None


def _text_list(values: Any, *, field_name: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, (list, tuple)):
        raise InvalidRecord(f"{field_name} is {type(values).__name__}, not a list")
    if _clean_names(values):
        out = dict.fromkeys(values)
        out.pop("", None)
        return list(out)
    out: dict[str, None] = {}  # ordered set: lists of thousands of authors stay linear
    for v in values:
        # Names are short and almost always clean already; skip the call when so.
        if not (isinstance(v, str) and v.isprintable() and v.strip() == v and "  " not in v):
            v = clean_text(v, field_name=field_name)
        if v:
            out[v] = None
    return list(out)


def _clean_names(values: list | tuple) -> bool:
    """Whether every item is text that ``clean_text`` would leave as it is, tested on the
    whole list at once (a list of hundreds of authors is then a few string operations)."""
    try:
        whole = "\x01".join(values)  # TypeError when an item is not text
    except TypeError:
        return False
    return ("".join(values).isprintable() and "  " not in whole and " \x01" not in whole
            and "\x01 " not in whole and whole[:1] != " " and whole[-1:] != " ")


# Field limits at the source boundary: a record past one is skipped, with the reason counted.
MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 2_000
MAX_AUTHORS = 10_000     # large collaborations list a few thousand
MAX_AFFILIATIONS = 200
MAX_NAME_CHARS = 2_000    # real records glue whole author lists into one "name" (512 chars seen)


def _check_length(value: Any, limit: int, field_name: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise InvalidRecord(f"{field_name} too long ({len(value):,} chars)")


def make_record(*, id: str, source: str, title: Any, max_abstract_chars: int = 20000,
                abstract: Any = None, authors: Any = None, categories: Any = None,
                version: int | None = None, primary_category: Any = None, published: Any = None,
                updated: Any = None, doi: Any = None, journal_ref: Any = None, comment: Any = None,
                links: dict[str, Any] | None = None, keywords: Any = None,
                signals: list[Signal] | None = None, aliases: list[str] | None = None,
                affiliations: Any = None) -> PaperRecord:
    """Validate and clean one record; raise InvalidRecord with a reason."""
    if len(id) > MAX_ID_CHARS:
        raise InvalidRecord(f"id too long ({len(id):,} chars)")
    # Lengths are checked before cleaning too: cleaning a 20 MB title alone took 17 s.
    _check_length(title, MAX_TITLE_CHARS, "title")
    _check_length(abstract, 2 * max_abstract_chars, "abstract")
    title_text = clean_text(title, field_name="title")  # cleaning never lengthens it
    if not title_text:
        raise InvalidRecord("missing title")
    abstract_text = clean_text(abstract, field_name="abstract", keep_newlines=True)
    _check_length(abstract_text, max_abstract_chars, "abstract")
    if isinstance(authors, (list, tuple)) and len(authors) > MAX_AUTHORS:
        raise InvalidRecord(f"too many authors ({len(authors):,})")
    names = _text_list(authors, field_name="authors")
    if any(len(name) > MAX_NAME_CHARS for name in names):
        raise InvalidRecord("author name too long")
    cats = _text_list(categories, field_name="categories")
    return PaperRecord(
        id=id, source=source, version=version, title=title_text, abstract=abstract_text,
        authors=names, categories=cats,
        primary_category=clean_text(primary_category, field_name="primary_category") or (cats[0] if cats else ""),
        published=parse_day(published, field_name="published"),
        updated=parse_day(updated, field_name="updated"),
        doi=clean_text(doi, field_name="doi"),
        journal_ref=clean_text(journal_ref, field_name="journal_ref"),
        comment=clean_text(comment, field_name="comment"),
        links=safe_links(links) if links else {},
        keywords=_text_list(keywords, field_name="keywords"),
        affiliations=_text_list(affiliations, field_name="affiliations")[:MAX_AFFILIATIONS],
        signals=signals or [],
        aliases=unique(aliases or []),
    )


def safe_url(url: object) -> str:
    """A link from a source, only if it is http(s): never javascript:, data: or relative tricks."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if url.lower().startswith(("https://", "http://")) and not any(c in url for c in "\"'<> \t\n\r\\"):
        return url
    return ""


def safe_links(links: dict[str, Any]) -> dict[str, Any]:
    """A paper's links with every one that is not http(s) left out: the one URL policy for
    everything that comes from a source, applied where records are made and where stored
    papers are read, so pages, feeds, mail, the API and the CLI all get only these."""
    out: dict[str, Any] = {}
    for key, value in links.items():
        if isinstance(value, list):
            kept = [url for url in map(safe_url, value) if url]
            if kept:
                out[key] = kept
        elif url := safe_url(value):
            out[key] = url
    return out


_HOMES = (("arxiv.org", "arXiv"), ("medrxiv.org", "medRxiv"), ("biorxiv.org", "bioRxiv"),
          ("pubmed.ncbi.nlm.nih.gov", "PubMed"), ("pmc.ncbi.nlm.nih.gov", "PubMed Central"),
          ("huggingface.co", "Hugging Face"), ("doi.org", "Journal"))


def link_label(url: Any) -> str:
    """What a link leads to, for its text: 'arXiv', 'medRxiv', 'PubMed'... ('Source' otherwise)."""
    host = url.split("/")[2].lower() if isinstance(url, str) and url.count("/") >= 2 else ""
    return next((label for domain, label in _HOMES if host == domain or host.endswith("." + domain)), "Source")


_LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"  # one part of a domain name
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~.-]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r")+$")


def normal_email(email: Any) -> str:
    """An address as papertide keys a person and a subscriber (trimmed, lower-cased); '' when
    ``email`` is not one."""
    address = (email if isinstance(email, str) else "").strip().lower()
    return address if len(address) <= 254 and _EMAIL.match(address) else ""


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(i for i in items if i))
