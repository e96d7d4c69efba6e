"""PubMed over NCBI's E-utilities: ``esearch`` over an entry-date slice, then ``efetch``.

A sync searches ``pubmed_query`` over the records entered (``datetype=edat``) between two
days with ``usehistory=y``, and reads the result from the history server with ``efetch``
(``WebEnv``/``query_key``) in pages of 500 XML records. esearch reaches only the first 10,000
records of a result, so a slice holding more is cut in halves until each fits (a single
day over 10,000 is read to its 10,000th record and the rest counted as skipped).

NCBI allows 3 requests a second, 10 with an ``api_key``; every request (retries too) keeps
that pace. 429 and 5xx are retried with backoff (``Retry-After`` when given). A page whose
XML is cut short is asked for once more, then read as far as it goes.

Checkpoint ``pubmed:<hash of the query>``::

    {"harvested_until": "2026-07-01", "from": ..., "until": ..., "slice": ["2026-06-28", "2026-06-29"],
     "retstart": 1500}

A run killed inside a slice searches that slice again (history sessions expire) and goes on
from ``retstart``; records already stored merge by id, so none is stored twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from lxml import etree

from papertide.errors import InvalidRecord, SourceGarbage, SourceUnavailable
from papertide.model import PaperRecord, make_record, normal_doi, utc_now
from papertide.settings import Settings
from papertide.sources.base import TRANSIENT_STATUSES, HttpClient, Page, SyncRequest
from papertide.sources.markup import slug
from papertide.sources.oai_parse import local, parse_xml

log = logging.getLogger(__name__)

NAME = "pubmed"
PAGE_SIZE = 500           # efetch records per request (NCBI allows up to 10,000; pages stay small)
SEARCH_LIMIT = 10_000     # esearch cannot page past this many records of one result
# Plain-text lists, read in one XPath call each (no element objects made in Python).
_MESH = etree.XPath("MeshHeadingList/MeshHeading/DescriptorName/text()", smart_strings=False)
_TYPES = etree.XPath("PublicationTypeList/PublicationType/text()", smart_strings=False)
_NAME_PARTS = frozenset(("LastName", "ForeName", "Initials", "CollectiveName"))
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


# -- parsing (pure) --

def _text(element: Any) -> str:
    """An element's text with inline markup (<i>, <sup>, MathML) turned into plain text
    (whitespace is folded later, by ``make_record``)."""
    if element is None:
        return ""
    return "".join(element.itertext()) if len(element) else element.text or ""


def _find(element: Any, path: str) -> Any:
    return element.find(path) if element is not None else None


def _day(element: Any) -> str:
    """A PubMed date element (Year, Month as a number or 'Jun', Day; or MedlineDate '2017 Jan-Feb')."""
    if element is None:
        return ""
    parts = {child.tag: (child.text or "").strip() for child in element}  # one pass over a few children
    year, month, day = parts.get("Year", ""), parts.get("Month", ""), parts.get("Day", "")
    if not year:
        medline = parts.get("MedlineDate", "").split()
        year, month = (medline + ["", ""])[:2] if medline else ("", "")
        month = month.split("-")[0]
    try:
        m = int(month) if month.isdigit() else _MONTHS.get(month[:3].lower(), 1)
        return date(int(year), m, int(day) if day.isdigit() else 1).isoformat()
    except ValueError:
        return ""


def _abstract(article: Any) -> str:
    """Paragraphs of the abstract; a structured one keeps its labels ('METHODS: ...')."""
    parts = []
    for node in article.iterfind("Abstract/AbstractText"):
        text = " ".join(_text(node).split())  # one paragraph per labelled part
        label = (node.get("Label") or "").strip()
        if text:
            parts.append(f"{label.upper()}: {text}" if label and label.upper() != "UNLABELLED" else text)
    return "\n\n".join(parts)


def _authors(article: Any) -> tuple[list[str], list[str]]:
    """Names ('ForeName LastName', or a collective's name) and each one's affiliations."""
    names, affiliations = [], []
    for author in article.iterfind("AuthorList/Author"):
        if author.get("ValidYN") == "N":
            continue
        parts: dict[str, str] = {}
        for child in author:  # one pass: thousands of authors a page, each with a few children
            if child.tag == "AffiliationInfo":
                affiliations += [_text(a) for a in child if a.tag == "Affiliation"]
            elif child.tag in _NAME_PARTS:
                parts[child.tag] = _text(child).strip()
        first = parts.get("ForeName") or parts.get("Initials", "")
        name = f"{first} {parts.get('LastName', '')}".strip() or parts.get("CollectiveName", "")
        if name:
            names.append(name)
    return names, affiliations  # make_record folds their whitespace and drops repeats


def make_article_record(node: Any, *, max_abstract_chars: int = 20000) -> PaperRecord:
    """One ``<PubmedArticle>`` as a record; InvalidRecord with a reason."""
    citation = node.find("MedlineCitation")
    pmid = (citation.findtext("PMID") or "").strip() if citation is not None else ""
    if not pmid.isdigit():
        raise InvalidRecord("missing PMID")
    article = citation.find("Article")
    if article is None:
        raise InvalidRecord("record has no Article")
    ids = {(a.get("IdType") or ""): (a.text or "").strip()
           for a in node.iterfind("PubmedData/ArticleIdList/ArticleId")}
    doi = next((normal_doi(e.text) for e in article.iterfind("ELocationID")
                if e.get("EIdType") == "doi" and normal_doi(e.text)), "") or normal_doi(ids.get("doi"))
    pmcid = ids.get("pmc", "")
    names, affiliations = _authors(article)
    journal = " ".join((article.findtext("Journal/Title") or article.findtext("Journal/ISOAbbreviation")
                        or "").split())
    issue = _find(article, "Journal/JournalIssue")
    printed = _day(_find(issue, "PubDate"))
    electronic = next((_day(d) for d in article.iterfind("ArticleDate") if _day(d)), "")
    entered = next((day for d in node.iterfind("PubmedData/History/PubMedPubDate")
                    if d.get("PubStatus") in ("entrez", "pubmed") and (day := _day(d))), "")
    volume = (issue.findtext("Volume") or "").strip() if issue is not None else ""
    number = (issue.findtext("Issue") or "").strip() if issue is not None else ""
    pages = (article.findtext("Pagination/MedlinePgn") or "").strip()
    published = min(d for d in (printed, electronic, entered, "9999") if d)
    ref = journal + (f" {volume}" if volume else "") + (f"({number})" if number else "") \
        + (f":{pages}" if pages else "") + (f" ({(printed or published)[:4]})" if journal and published != "9999" else "")
    mesh = [m.strip() for m in _MESH(citation)]
    types = [t.strip() for t in _TYPES(article)]
    links: dict[str, Any] = {"abs": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
                             "pubmed": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"}
    if doi:
        links["journal"] = f"https://doi.org/{doi}"
    if pmcid.upper().startswith("PMC"):
        links["pmc"] = f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid.upper()}/"
    title = _text(article.find("ArticleTitle")).strip() or _text(article.find("VernacularTitle")).strip()
    return make_record(
        id=f"pmid:{int(pmid)}", source=NAME, title=title.strip("[]") if title.startswith("[") else title,
        abstract=_abstract(article), authors=names,
        categories=[*(f"mesh.{slug(m)}" for m in mesh if slug(m)),
                    *(f"pubtype.{slug(t)}" for t in types if slug(t))],
        published=None if published == "9999" else published, updated=None, doi=doi, journal_ref=ref,
        affiliations=affiliations,
        links=links, keywords=mesh, max_abstract_chars=max_abstract_chars)


@dataclass
class Fetched:
    records: list[PaperRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    articles: int = 0
    error: str = ""       # the text of an <ERROR> body
    complete: bool = True  # False: the XML was cut short and read as far as it went


def parse_efetch(body: bytes, *, label: str, max_abstract_chars: int = 20000, recover: bool = False) -> Fetched:
    """An efetch page; SourceGarbage when it is not one (``recover``: keep the whole articles of
    a page cut short instead)."""
    out = Fetched()
    try:
        root = parse_xml(body, label=label, root_name=_root_name(body))
    except SourceGarbage:
        if not recover:
            raise
        parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser)
        if root is None:
            raise
        out.complete = False
    if local(root.tag) == "eFetchResult" or root.find("ERROR") is not None:
        out.error = " ".join(_text(root.find("ERROR")).split()) or "an error without a message"
        return out
    if local(root.tag) != "PubmedArticleSet":
        raise SourceGarbage(f"{label} answered with <{local(root.tag)}>, not <PubmedArticleSet>")
    nodes = list(root.iterfind("PubmedArticle"))
    if not out.complete:
        nodes = nodes[:-1]  # the article the cut went through may look whole, with half its text
    for node in nodes:
        out.articles += 1
        try:
            out.records.append(make_article_record(node, max_abstract_chars=max_abstract_chars))
        except InvalidRecord as exc:
            pmid = (node.findtext("MedlineCitation/PMID") or "").strip()
            out.skipped.append((f"pmid:{pmid}" if pmid else f"article {out.articles}", str(exc)))
    return out


def _root_name(body: bytes) -> str:
    return "eFetchResult" if b"<eFetchResult" in body[:500] else "PubmedArticleSet"


@dataclass
class Search:
    count: int
    webenv: str
    query_key: str


def parse_esearch(body: bytes, *, label: str) -> Search:
    root = parse_xml(body, label=label, root_name="eSearchResult")
    if (error := root.find("ERROR")) is not None:
        raise SourceUnavailable(f"{label} refused the search: {' '.join(_text(error).split())[:160]}")
    count = (root.findtext("Count") or "").strip()
    if not count.isdigit():
        raise SourceGarbage(f"{label} answered a search without a Count")
    return Search(int(count), (root.findtext("WebEnv") or "").strip(), (root.findtext("QueryKey") or "").strip())


# -- the source --

def _slash(day: str) -> str:
    return day.replace("-", "/")


def _next(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _middle(lo: str, hi: str) -> str:
    a, b = date.fromisoformat(lo), date.fromisoformat(hi)
    return (a + (b - a) // 2).isoformat()


class PubMedSource:
    """PubMed records matching a query, entered between two days."""

    name = NAME

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = utc_now) -> None:
        self.settings = settings
        self.sleep = sleep
        self.now = now

    def _client(self) -> HttpClient:
        per_second = 10.0 if self.settings.pubmed_api_key else 3.0
        return HttpClient(self.settings, sleep=self.sleep, retry_statuses=TRANSIENT_STATUSES, per_second=per_second * 0.95)

    def _params(self, **params: Any) -> dict[str, Any]:
        params.update(db="pubmed", tool=self.settings.pubmed_tool)
        if self.settings.pubmed_email:
            params["email"] = self.settings.pubmed_email
        if self.settings.pubmed_api_key:
            params["api_key"] = self.settings.pubmed_api_key
        return params

    def pages(self, request: SyncRequest, checkpoints: dict[str, dict]) -> Iterator[Page]:
        query = (request.query or self.settings.pubmed_query).strip()
        key = f"{NAME}:{hashlib.blake2b(query.encode(), digest_size=6).hexdigest()}"
        saved = checkpoints.get(key) or {}
        today = self.now()[:10]
        previous = saved.get("harvested_until")
        if saved.get("slice") and request.resumes(saved):
            start, until = saved["from"], saved["until"]
            lo, retstart = saved["slice"][0], int(saved.get("retstart") or 0)
            log.info("pubmed: resuming %s..%s at %s, record %d", start, until, lo, retstart)
        else:
            start, until = request.first_day(saved, today, self.settings.sync_days), request.until or today
            lo, retstart = start, 0
        client = self._client()

        def checkpoint(slice_: list[str] | None, at: int) -> dict[str, Any]:
            return {"harvested_until": previous if slice_ else until, "from": start, "until": until,
                    "slice": slice_, "retstart": at}

        try:
            while lo <= until:
                hi, search = self._fitting_slice(client, query, lo, until)
                over = max(0, search.count - SEARCH_LIMIT)
                count = min(search.count, SEARCH_LIMIT)
                if over and retstart == 0:
                    log.warning("pubmed: %s holds %d records; only the first %d can be read", lo, search.count,
                                SEARCH_LIMIT)
                while retstart < count:
                    fetched = self._efetch(client, query, lo, hi, search, retstart)
                    retstart += PAGE_SIZE
                    done = retstart >= count
                    skipped = fetched.skipped + ([(f"{lo}", "over 10,000 records in one day")] * over if done else [])
                    nxt = (checkpoint([_next(hi), until], 0) if hi < until else checkpoint(None, 0)) if done \
                        else checkpoint([lo, hi], retstart)
                    yield Page(records=fetched.records, skipped=skipped, fetched=fetched.articles,
                               checkpoint_key=key, checkpoint=nxt)
                if count == 0:
                    yield Page(checkpoint_key=key,
                               checkpoint=checkpoint([_next(hi), until], 0) if hi < until else checkpoint(None, 0))
                lo, retstart = _next(hi), 0
        finally:
            client.close()

    def _fitting_slice(self, client: HttpClient, query: str, lo: str, hi: str) -> tuple[str, Search]:
        """The longest slice from ``lo`` (ending at ``hi`` or halved towards it) whose result
        esearch can page through, and its search."""
        while True:
            search = self._esearch(client, query, lo, hi)
            if search.count <= SEARCH_LIMIT or lo == hi:
                return hi, search
            hi = _middle(lo, hi)

    def _label(self) -> str:
        url = self.settings.pubmed_url
        return f"PubMed E-utilities at {httpx.URL(url).host or url}"

    def _esearch(self, client: HttpClient, query: str, lo: str, hi: str) -> Search:
        url = self.settings.pubmed_url.rstrip("/") + "/esearch.fcgi"
        params = self._params(term=query, usehistory="y", retmax=0, datetype="edat",
                              mindate=_slash(lo), maxdate=_slash(hi))
        return parse_esearch(client.get(url, params).content, label=self._label())

    def _efetch(self, client: HttpClient, query: str, lo: str, hi: str, search: Search, retstart: int) -> Fetched:
        url = self.settings.pubmed_url.rstrip("/") + "/efetch.fcgi"
        label, limit = self._label(), self.settings.max_abstract_chars
        for attempt in (1, 2, 3):
            params = self._params(query_key=search.query_key, WebEnv=search.webenv, retstart=retstart,
                                  retmax=PAGE_SIZE, retmode="xml")
            body = client.get(url, params).content
            try:
                fetched = parse_efetch(body, label=label, max_abstract_chars=limit, recover=attempt == 3)
            except SourceGarbage:
                log.warning("%s: unreadable page at record %d; asking once more", label, retstart)
                continue
            if fetched.error:
                if attempt == 3:
                    raise SourceUnavailable(f"{label} refused a page: {fetched.error[:160]}")
                # Usually an expired history session: search the slice again for a new one.
                log.warning("%s: %s; searching again", label, fetched.error[:160])
                fresh = self._esearch(client, query, lo, hi)
                search.webenv, search.query_key = fresh.webenv, fresh.query_key
                continue
            if not fetched.complete:
                expected = min(PAGE_SIZE, max(0, min(search.count, SEARCH_LIMIT) - retstart))
                lost = max(0, expected - fetched.articles)
                fetched.skipped += [(f"page at {retstart}", "malformed XML")] * max(lost, 1)
            return fetched
        raise AssertionError("unreachable")
