"""BibTeX entries for papers of every source, read back by bibtexparser."""

from __future__ import annotations

import bibtexparser

from papertide.cite import bibtex, cite_key
from papertide.store.base import StoredPaper


def fields(text: str) -> tuple[str, str, dict[str, str]]:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks and len(library.entries) == 1
    entry = library.entries[0]
    return entry.entry_type, entry.key, {f.key: f.value for f in entry.fields}


def test_an_arxiv_paper_cites_its_eprint_and_keeps_its_latex_title() -> None:
    paper = StoredPaper(id="2503.11677", title="$\\mathcal{O}(n)$ attention for 3D CT & MRI",
                        authors=["Jürgen Müller", "Ann Lee"], published="2025-03-14", primary_category="cs.CV",
                        links={"abs": "https://arxiv.org/abs/2503.11677"})
    kind, key, f = fields(bibtex(paper))
    assert (kind, key) == ("misc", "muller2025mathcal")
    assert f["eprint"] == "2503.11677" and f["archivePrefix"] == "arXiv" and f["primaryClass"] == "cs.CV"
    assert f["title"] == "{$\\mathcal{O}(n)$ attention for 3D CT & MRI}" and f["author"] == "Jürgen Müller and Ann Lee"
    assert f["year"] == "2025" and f["url"] == "https://arxiv.org/abs/2503.11677"


def test_a_preprint_with_its_journal_version_is_an_article() -> None:
    paper = StoredPaper(id="doi:10.1101/2026.06.28.26310001", title="Sepsis & 50% {fewer} alarms",
                        authors=["Chidi Okafor"], published="2026-06-28", doi="10.1101/2026.06.28.26310001",
                        journal_ref="Journal of Medical AI 4 (2026)",
                        links={"abs": "https://www.medrxiv.org/content/10.1101/2026.06.28.26310001v1",
                               "journal": "https://doi.org/10.1016/j.media.2026.103311",
                               "pubmed": "https://pubmed.ncbi.nlm.nih.gov/41297076/"})
    kind, _, f = fields(bibtex(paper))
    assert kind == "article" and f["journal"] == "Journal of Medical AI 4 (2026)"
    assert f["doi"] == "10.1016/j.media.2026.103311" and f["pmid"] == "41297076"
    assert f["title"] == "{Sepsis \\& 50\\% fewer alarms}"  # plain text: specials escaped, braces balanced
    preprint = StoredPaper(id=paper.id, title="A preprint", authors=[], doi=paper.doi,
                           links={"abs": paper.links["abs"]})
    kind, key, f = fields(bibtex(preprint))
    assert kind == "misc" and f["howpublished"] == "medRxiv" and f["doi"] == "10.1101/2026.06.28.26310001"
    assert key == "anonpreprint" and f["author"] == "Anonymous"


def test_keys_are_ascii() -> None:
    assert cite_key(StoredPaper(id="x", title="The Über model", authors=["Zoë Ångström"],
                                published="2024-01-01")) == "angstrom2024uber"
