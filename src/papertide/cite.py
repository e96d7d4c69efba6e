"""A paper as a BibTeX entry, for the paper page's cite box and the command line (pure).

arXiv papers are ``@misc`` with ``eprint``/``archivePrefix``/``primaryClass`` (what arXiv's own
export gives), plus the DOI when one is known; a medRxiv/bioRxiv preprint is ``@misc`` with its
DOI and server; a paper with a journal version (PubMed, or a preprint a journal published) is
``@article`` with the journal and the PMID where known. arXiv's titles are LaTeX already and are
kept; text from the biomedical sources is plain Unicode, so its special characters are escaped.
Written by bibtexparser, which also reads the result back (the tests check that).
"""

from __future__ import annotations

import re
from typing import Any

import bibtexparser
from bibtexparser.model import Entry, Field

_WORD = re.compile(r"[^\W\d_]+")
_SPECIAL = re.compile(r"([&%#_$])")
_STOP = frozenset("a an the on of in for and to with from towards toward via".split())
_SERVERS = {"medrxiv.org": "medRxiv", "biorxiv.org": "bioRxiv"}


def _ascii_word(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def cite_key(paper: Any) -> str:
    """'<first author's surname><year><first title word>', ASCII: 'ma2026segment'."""
    surname = _ascii_word(paper.authors[0].split()[-1]) if paper.authors and paper.authors[0].split() else ""
    words = [w for w in _WORD.findall(paper.title) if w.lower() not in _STOP]
    return f"{surname or 'anon'}{(paper.published or '')[:4]}{_ascii_word(words[0]) if words else ''}"


def _plain(text: str) -> str:
    """Unicode text made safe inside a BibTeX value (braces balanced, LaTeX specials escaped)."""
    return _SPECIAL.sub(r"\\\1", text.replace("\\", "").replace("{", "").replace("}", ""))


def _balanced(text: str) -> str:
    """LaTeX source (arXiv's titles) kept, unless its braces do not balance (then plain)."""
    depth = 0
    for char in text:
        depth += (char == "{") - (char == "}")
        if depth < 0:
            return _plain(text)
    return text if depth == 0 else _plain(text)


def bibtex(paper: Any) -> str:
    """One BibTeX entry for ``paper`` (a stored paper: id, title, authors, published, doi...)."""
    arxiv = ":" not in paper.id
    text = _balanced if arxiv else _plain
    fields = [("title", "{" + text(paper.title) + "}"),
              ("author", " and ".join(_plain(a) for a in paper.authors) or "Anonymous")]
    if paper.published:
        fields.append(("year", paper.published[:4]))
    journal = paper.links.get("journal") and paper.journal_ref
    kind = "article" if journal else "misc"
    if journal:
        fields.append(("journal", _plain(paper.journal_ref)))
    if arxiv:
        fields += [("eprint", paper.id), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
    server = next((name for host, name in _SERVERS.items() if host in (paper.links.get("abs") or "")), "")
    if server and not journal:
        fields += [("howpublished", server), ("publisher", "Cold Spring Harbor Laboratory")]
    journal_doi = (paper.links.get("journal") or "").removeprefix("https://doi.org/")
    if doi := (journal_doi if journal else "") or paper.doi:
        fields.append(("doi", doi))
    pmid = (paper.links.get("pubmed") or "").rstrip("/").rpartition("/")[2]
    if pmid.isdigit():
        fields.append(("pmid", pmid))
    if url := paper.links.get("abs") or getattr(paper, "url", ""):
        fields.append(("url", url))
    entry = Entry(kind, cite_key(paper), [Field(k, v) for k, v in fields])
    return bibtexparser.write_string(bibtexparser.Library([entry])).strip() + "\n"
