"""A stand-in for NCBI's E-utilities behind the replay server: esearch over entry dates with a
history session, efetch pages of it. The records are hand-made PubmedArticle elements in the
2025 DTD's shape (the recorded ones in ../shared/data/fixtures/pubmed_eutils are six)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from xml.sax.saxutils import escape

from replay import Received, Reply

XML = "text/xml; charset=utf-8"


def article(pmid: int, title: str, *, day: str = "2026-03-02", doi: str | None = None,
            authors: tuple[tuple[str, str], ...] = (("Ann", "Lee"),), abstract: str = "An abstract.",
            raw_title: str | None = None) -> str:
    """One PubmedArticle; ``raw_title`` is put in as XML (markup), ``title`` escaped."""
    y, m, d = day.split("-")
    names = "".join(f"<Author ValidYN=\"Y\"><LastName>{escape(last)}</LastName><ForeName>{escape(first)}"
                    f"</ForeName><AffiliationInfo><Affiliation>Hospital of {escape(last)}</Affiliation>"
                    f"</AffiliationInfo></Author>" for first, last in authors)
    doi_xml = f'<ELocationID EIdType="doi" ValidYN="Y">{escape(doi)}</ELocationID>' if doi else ""
    ids = f'<ArticleId IdType="doi">{escape(doi)}</ArticleId>' if doi else ""
    title_xml = raw_title if raw_title is not None else escape(title)
    return (f"<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\"><PMID Version=\"1\">{pmid}</PMID>"
            f"<Article PubModel=\"Electronic\"><Journal><Title>Journal of Medical AI</Title><JournalIssue>"
            f"<Volume>4</Volume><PubDate><Year>{y}</Year><Month>{m}</Month></PubDate></JournalIssue></Journal>"
            f"<ArticleTitle>{title_xml}</ArticleTitle>{doi_xml}<Abstract><AbstractText Label=\"BACKGROUND\">"
            f"{escape(abstract)}</AbstractText><AbstractText Label=\"METHODS\">We did it.</AbstractText></Abstract>"
            f"<AuthorList>{names}</AuthorList><PublicationTypeList><PublicationType>Journal Article"
            f"</PublicationType></PublicationTypeList><ArticleDate DateType=\"Electronic\"><Year>{y}</Year>"
            f"<Month>{m}</Month><Day>{d}</Day></ArticleDate></Article><MeshHeadingList><MeshHeading>"
            f"<DescriptorName UI=\"D000077321\">Deep Learning</DescriptorName></MeshHeading></MeshHeadingList>"
            f"</MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType=\"pubmed\">{pmid}</ArticleId>{ids}"
            f"</ArticleIdList></PubmedData></PubmedArticle>")


def article_set(articles: list[str]) -> str:
    return "<?xml version=\"1.0\" ?>\n<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>"


def esearch(count: int, webenv: str = "MCID_1", query_key: str = "1") -> str:
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\" ?><eSearchResult><Count>{count}</Count><RetMax>0</RetMax>"
            f"<RetStart>0</RetStart><QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv><IdList/>"
            f"</eSearchResult>")


@dataclass
class FakeEutils:
    """``records``: (pmid, entry day). Faults: request numbers (1-based) answered with a status."""

    records: list[tuple[int, str]]
    faults: dict[int, Reply] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    searches: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Received) -> Reply:
        with self._lock:
            self.times.append(time.monotonic())
            number = len(self.times)
        if number in self.faults:
            return self.faults[number]
        q = request.query
        if request.path.endswith("/esearch.fcgi"):
            lo, hi = q["mindate"].replace("/", "-"), q["maxdate"].replace("/", "-")
            self.searches.append((lo, hi))
            count = sum(lo <= day <= hi for _, day in self.records)
            return Reply(body=esearch(count, webenv=f"{lo}|{hi}"), content_type=XML)
        if request.path.endswith("/efetch.fcgi"):
            lo, hi = q["WebEnv"].split("|")
            chosen = sorted((r for r in self.records if lo <= r[1] <= hi), key=lambda r: -r[0])[:10_000]
            start, size = int(q["retstart"]), int(q["retmax"])
            page = [article(pmid, f"Synthetic paper {pmid} on deep learning for imaging", day=day)
                    for pmid, day in chosen[start:start + size]]
            return Reply(body=article_set(page), content_type=XML)
        return Reply(body="not found", status=404, content_type="text/plain")


def spread(count: int, first: str, days: int, start_pmid: int = 40_000_000) -> list[tuple[int, str]]:
    """``count`` records over ``days`` days from ``first``, evenly."""
    day0 = date.fromisoformat(first)
    return [(start_pmid + i, (day0 + timedelta(days=i % days)).isoformat()) for i in range(count)]
