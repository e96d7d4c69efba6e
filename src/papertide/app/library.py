"""A person's library: save, tag, annotate, import (BibTeX, RIS, CSL-JSON) and export BibTeX.

Imported entries are matched to stored papers by arXiv id, then DOI, then title (with the
first author's surname: the store's title key); an entry that matches nothing is kept with
its title and abstract, and still counts for recommendations. Parsing is bibtexparser's,
rispy's and the json module's; a malformed entry is reported with its line and skipped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from papertide.cite import bibtex, cite_key
from papertide.errors import BadInput, PaperNotFound
from papertide.latex import latex_to_text
from papertide.model import canonical_id, normal_doi, split_arxiv_id, title_key, utc_now
from papertide.store.base import LibraryEntry, StoredPaper

MAX_TAGS, MAX_TAG, MAX_NOTE = 20, 60, 5000
MAX_IMPORT_BYTES = 20_000_000
_ARXIV_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:\.pdf)?(?:[?#]|$)", re.I)
_TAG = re.compile(r"^[^\x00-\x1f<>\"]{1,60}$")
# bibtexparser logs a warning per broken entry; the import report already names each one by line.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)


@dataclass
class ImportReport:
    """What an import did: entries matched to stored papers, kept unmatched, and refused."""

    matched: int = 0
    unmatched: int = 0
    duplicates: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line or entry number, why)

    def as_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "unmatched": self.unmatched, "duplicates": self.duplicates,
                "malformed": [{"line": line, "error": why} for line, why in self.malformed]}


def clean_tags(tags: list[str] | str) -> list[str]:
    """Tags as kept: trimmed, unique, at most 20 of at most 60 characters; BadInput otherwise."""
    items = tags.split(",") if isinstance(tags, str) else tags
    found = list(dict.fromkeys(" ".join(t.split()) for t in items if t and t.strip()))
    if len(found) > MAX_TAGS or any(not _TAG.match(t) for t in found):
        raise BadInput(f"tags are at most {MAX_TAGS} names of 1 to {MAX_TAG} characters, without < > or quotes")
    return found


def stored_paper(store: Any, paper_id: str) -> StoredPaper:
    """The stored paper an id (or DOI, PMID, alias) names; PaperNotFound if none."""
    paper = store.get(canonical_id(paper_id))
    if paper is None:
        raise PaperNotFound(f"no paper {paper_id!r} here")
    return paper


def save(store: Any, person_id: int, paper_id: str, *, tags: list[str] | None = None, note: str = "") -> bool:
    """Put a stored paper in the library; whether it was new there. PaperNotFound if not stored."""
    paper = stored_paper(store, paper_id)
    if len(note) > MAX_NOTE:
        raise BadInput(f"a note is at most {MAX_NOTE} characters")
    added = store.add_entries(person_id, [_entry(paper, clean_tags(tags or []), note)])
    if added:
        store.record_local_signal(paper.id, "saves")
    return bool(added)


def remove(store: Any, person_id: int, paper_id: str) -> bool:
    return store.remove_entry(person_id, canonical_id(paper_id))


def edit(store: Any, person_id: int, paper_id: str, *, tags: list[str] | str | None = None,
         note: str | None = None) -> bool:
    if note is not None and len(note) > MAX_NOTE:
        raise BadInput(f"a note is at most {MAX_NOTE} characters")
    return store.edit_entry(person_id, canonical_id(paper_id), tags=None if tags is None else clean_tags(tags),
                            note=note)


def _entry(paper: StoredPaper, tags: list[str], note: str) -> LibraryEntry:
    return LibraryEntry(title=paper.title, paper_id=paper.id, abstract=paper.abstract, authors=list(paper.authors),
                        year=paper.published[:4], doi=paper.doi, arxiv_id="" if ":" in paper.id else paper.id,
                        tags=tags, note=note, added_at=utc_now())


# -- import ---------------------------------------------------------------------------
def import_file(store: Any, person_id: int, data: bytes | str, *, name: str = "",
                tags: list[str] | str | None = None) -> ImportReport:
    """Import a BibTeX, RIS or CSL-JSON file (told apart by content, then by ``name``)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise BadInput(f"an import is at most {MAX_IMPORT_BYTES // 1_000_000} MB")
    text = data.decode("utf-8-sig", "replace") if isinstance(data, bytes) else data
    kind = file_kind(text, name)
    report = ImportReport()
    parsed = {"bibtex": _bibtex, "ris": _ris, "csl-json": _csl_json}[kind](text, report)
    tags = clean_tags(tags or [])
    for entry in parsed:
        entry.tags = tags
    matches = _match(store, parsed)
    entries = []
    for entry in parsed:
        paper = matches.get(id(entry))
        if paper is not None:
            entries.append(_entry(paper, tags, entry.note))
            report.matched += 1
        else:
            entry.added_at = utc_now()
            entries.append(entry)
            report.unmatched += 1
    added = store.add_entries(person_id, entries)
    report.duplicates = len(entries) - len(added)
    for entry in added:  # a paper already saved counts once, however often it is imported
        if entry.paper_id:
            store.record_local_signal(entry.paper_id, "saves")
    return report


def file_kind(text: str, name: str = "") -> str:
    head = text.lstrip()[:2000]
    if head.startswith(("[", "{")):
        return "csl-json"
    if re.search(r"^TY  - ", head, re.M):
        return "ris"
    if "@" in head or name.lower().endswith(".bib"):
        return "bibtex"
    raise BadInput("this file is not BibTeX, RIS or CSL-JSON")


def _plain(value: Any) -> str:
    text = " ".join(str(value or "").split())
    return latex_to_text(text) if any(c in text for c in "\\{$") else text


def _bibtex(text: str, report: ImportReport) -> list[LibraryEntry]:
    import bibtexparser

    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # bibtexparser reports broken entries itself; anything else is not BibTeX
        raise BadInput(f"this BibTeX file cannot be read: {_first_line(str(exc))}") from None
    for block in library.failed_blocks:
        why = getattr(block.error, "abort_reason", "") or str(block.error)
        report.malformed.append((block.start_line + 1, _first_line(why or "not a BibTeX entry")))
    entries = []
    for item in library.entries:
        fields = {k.lower(): v for k, v in item.fields_dict.items()}
        get = lambda name: str(fields[name].value) if name in fields else ""  # noqa: E731
        title = _plain(get("title"))
        if not title:
            report.malformed.append((item.start_line + 1, f"entry {item.key!r} has no title"))
            continue
        authors = [_plain(a) for a in re.split(r"\s+and\s+", get("author")) if a.strip()]
        arxiv = get("eprint") if get("archiveprefix").lower() in ("arxiv", "") else ""
        entries.append(LibraryEntry(title=title, abstract=_plain(get("abstract")), authors=_names(authors),
                                    year=get("year")[:4], doi=normal_doi(get("doi")),
                                    arxiv_id=_arxiv(arxiv, get("url"), get("journal"), get("note")),
                                    note=""))
    return entries


def _ris(text: str, report: ImportReport) -> list[LibraryEntry]:
    import rispy

    entries = []
    try:
        records = rispy.loads(text)
    except Exception as exc:  # rispy raises plain IOError/ValueError for a broken file
        raise BadInput(f"this RIS file cannot be read: {_first_line(str(exc))}") from None
    for n, rec in enumerate(records, 1):
        title = _plain(rec.get("title") or rec.get("primary_title") or "")
        if not title:
            report.malformed.append((n, f"RIS record {n} has no title"))
            continue
        urls = " ".join(rec.get("urls") or [])
        entries.append(LibraryEntry(title=title, abstract=_plain(rec.get("abstract", "")),
                                    authors=_names(rec.get("authors") or rec.get("first_authors") or []),
                                    year=str(rec.get("year") or rec.get("publication_year") or "")[:4],
                                    doi=normal_doi(rec.get("doi", "")), arxiv_id=_arxiv("", urls)))
    return entries


def _csl_json(text: str, report: ImportReport) -> list[LibraryEntry]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"this CSL-JSON file is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    items = items if isinstance(items, list) else [items]
    entries = []
    for n, item in enumerate(items, 1):
        title = _plain(item.get("title", "")) if isinstance(item, dict) and isinstance(item.get("title"), str) else ""
        if not title:
            report.malformed.append((n, f"CSL-JSON item {n} has no title"))
            continue
        people = item.get("author") if isinstance(item.get("author"), list) else []
        authors = [" ".join(filter(None, [str(a.get("given", "")), str(a.get("family", ""))]))
                   or str(a.get("literal", "")) for a in people if isinstance(a, dict)]
        issued = item.get("issued") if isinstance(item.get("issued"), dict) else {}
        parts = issued.get("date-parts")
        first = parts[0] if isinstance(parts, list) and parts else None
        year = str(first[0]) if isinstance(first, list) and first else ""
        entries.append(LibraryEntry(title=title, abstract=_plain(item.get("abstract", "")), authors=authors,
                                    year=year[:4],
                                    doi=normal_doi(item.get("DOI", "")),
                                    arxiv_id=_arxiv(str(item.get("number", "")), str(item.get("URL", "")))))
    return entries


def _names(authors: list[str]) -> list[str]:
    """'Surname, Given' as 'Given Surname', the way the store keeps authors."""
    out = []
    for a in authors:
        surname, comma, given = a.partition(",")
        out.append(f"{given.strip()} {surname.strip()}".strip() if comma else a.strip())
    return [a for a in out if a]


def _arxiv(*texts: str) -> str:
    for text in texts:
        candidates = [text.strip().removeprefix("arXiv:").removeprefix("arxiv:")]
        candidates += [m.group(1) for m in _ARXIV_IN_URL.finditer(text)]
        candidates += re.findall(r"arXiv:\s*([0-9]{4}\.[0-9]{4,5}(?:v\d+)?)", text, re.I)
        for c in candidates:
            try:
                return split_arxiv_id(c)[0]
            except Exception:  # not an arXiv id
                continue
    return ""


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["malformed entry"])[0][:200]


def _match(store: Any, entries: list[LibraryEntry]) -> dict[int, StoredPaper]:
    """Stored papers for the entries: by arXiv id, else DOI, else title key (batched lookups)."""
    keys: dict[int, list[str]] = {}
    for e in entries:
        keys[id(e)] = [k for k in (e.arxiv_id, f"doi:{e.doi}" if e.doi else "", title_key(e.title, e.authors)) if k]
    found = store.match_keys([k for ks in keys.values() for k in ks])
    papers = store.get_many(set(found.values()))
    matched = {}
    for e in entries:
        pid = next((found[k] for k in keys[id(e)] if k in found), None)
        if pid and pid in papers:
            matched[id(e)] = papers[pid]
    return matched


# -- export ----------------------------------------------------------------------------
def export_bibtex(store: Any, person_id: int, *, tag: str | None = None, paper_id: str | None = None) -> str:
    """The library (or one tag, or one paper of it) as BibTeX."""
    entries = store.library(person_id, tag=tag)
    if paper_id is not None:
        wanted = canonical_id(paper_id)
        entries = [e for e in entries if e.paper_id == wanted]
    stored = store.get_many([e.paper_id for e in entries if e.paper_id])
    out, keys = [], set()
    for e in entries:
        paper = stored.get(e.paper_id or "") or StoredPaper(
            id=e.arxiv_id or (f"doi:{e.doi}" if e.doi else "entry:" + str(len(out))), title=e.title,
            abstract=e.abstract, authors=e.authors, published=e.year, doi=e.doi)
        text = bibtex(paper)
        key = cite_key(paper)
        if key in keys:  # two papers of one first author, year and first word
            text = text.replace("{" + key + ",", "{" + f"{key}{len(out)}" + ",", 1)
        keys.add(key)
        out.append(text)
    return "\n".join(out)
