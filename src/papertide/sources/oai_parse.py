"""Parse arXiv OAI-PMH responses (``metadataPrefix=arXiv``) into records (pure, no I/O).

Elements are matched by local name, not namespace: real and hand-edited
responses put the ``<arXiv>`` block in arXiv's namespace, in the OAI one, or in
none. The whole response is parsed before anything is returned, so a malformed
page raises ``SourceGarbage`` and none of it reaches the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from papertide.errors import InvalidRecord, SourceGarbage
from papertide.model import PaperRecord, make_record, split_arxiv_id
from papertide.sources.links import code_links

# arXiv OAI identifiers look like ``oai:arXiv.org:1706.05371``.
_OAI_PREFIX = "oai:arXiv.org:"
# Simple text fields of the arXiv metadata format, by local name.
_TEXT_FIELDS = ("id", "created", "updated", "title", "categories", "comments",
                "journal-ref", "doi", "abstract")


@dataclass
class OAIResponse:
    """What one ListRecords (or GetRecord) response held."""

    records: list[PaperRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    token: str | None = None            # resumptionToken for the next page; None when done
    error: tuple[str, str] | None = None  # (code, message) of an OAI-PMH <error>
    fetched: int = 0                    # <record> elements seen


def local(tag: Any) -> str:
    """``'{ns}name'`` -> ``'name'``; '' for comments and processing instructions."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _text(element: Any) -> str:
    if len(element):  # mixed content: keep the text of nested elements too
        return "".join(element.itertext())
    return element.text or ""


def _child(element: Any, name: str) -> Any:
    for child in element:
        if local(child.tag) == name:
            return child
    return None


def parse_xml(body: bytes, *, label: str, root_name: str) -> Any:
    """The root element of ``body``; SourceGarbage for HTML, broken XML or the wrong document."""
    head = body[:300].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        raise SourceGarbage(f"{label} answered with an HTML page instead of XML")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, collect_ids=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        reason = (str(exc).strip() or "unreadable").splitlines()[0][:160]
        raise SourceGarbage(f"{label} sent malformed XML ({reason})") from None
    if local(root.tag) != root_name:
        raise SourceGarbage(f"{label} answered with <{local(root.tag)}>, not <{root_name}>")
    return root


def parse_response(body: bytes, *, label: str, max_abstract_chars: int = 20000) -> OAIResponse:
    """Records, skips, resumption token and OAI error of one response; SourceGarbage if unreadable."""
    root = parse_xml(body, label=label, root_name="OAI-PMH")
    out = OAIResponse()
    for child in root:
        name = local(child.tag)
        if name == "error":
            out.error = (child.get("code") or "unknown", " ".join(_text(child).split()))
        elif name in ("ListRecords", "GetRecord"):
            _read_container(child, out, max_abstract_chars)
    return out


def _read_container(container: Any, out: OAIResponse, max_abstract_chars: int) -> None:
    for element in container:
        name = local(element.tag)
        if name == "resumptionToken":
            out.token = (element.text or "").strip() or None
        elif name == "record":
            out.fetched += 1
            try:
                out.records.append(parse_record(element, max_abstract_chars=max_abstract_chars))
            except InvalidRecord as exc:
                out.skipped.append((_record_where(element, out.fetched), str(exc)))


def _record_where(record: Any, number: int) -> str:
    header = _child(record, "header")
    identifier = _child(header, "identifier") if header is not None else None
    text = (identifier.text or "").strip() if identifier is not None else ""
    return text.removeprefix(_OAI_PREFIX) or f"record {number}"


def parse_record(record: Any, *, max_abstract_chars: int = 20000) -> PaperRecord:
    """One ``<record>`` -> a record; InvalidRecord (reason 'deleted' for deletions)."""
    header = _child(record, "header")
    if header is None:
        raise InvalidRecord("record has no header")
    if header.get("status") == "deleted":
        raise InvalidRecord("deleted")
    metadata = _child(record, "metadata")
    arxiv = _child(metadata, "arXiv") if metadata is not None else None
    if arxiv is None:
        raise InvalidRecord("record has no arXiv metadata")
    fields: dict[str, str] = {}
    authors: list[str] = []
    for child in arxiv:
        name = local(child.tag)
        if name == "authors":
            authors = [_author_name(a) for a in child if local(a.tag) == "author"]
        elif name in _TEXT_FIELDS and name not in fields:
            fields[name] = _text(child)
    return _make(fields, authors, _record_where(record, 0), max_abstract_chars)


def _author_name(author: Any) -> str:
    """Forenames, then keyname(s), then suffix, whatever order the XML lists them in."""
    parts: dict[str, list[str]] = {"forenames": [], "keyname": [], "suffix": []}
    for child in author:
        name = local(child.tag)
        if name in parts and child.text and child.text.strip():
            parts[name].append(child.text.strip())
    return " ".join(parts["forenames"] + parts["keyname"] + parts["suffix"])


def _make(fields: dict[str, str], authors: list[str], where: str, max_abstract_chars: int) -> PaperRecord:
    raw_id = fields.get("id", "").strip() or where
    paper_id, _ = split_arxiv_id(raw_id)  # the arXiv format carries no version
    comment, abstract = fields.get("comments"), fields.get("abstract")
    links = {"abs": f"https://arxiv.org/abs/{paper_id}", "pdf": f"https://arxiv.org/pdf/{paper_id}",
             "code": code_links(comment, abstract)}
    return make_record(
        id=paper_id, version=None, source="arxiv-oai", title=fields.get("title"), abstract=abstract,
        authors=[a for a in authors if a], categories=fields.get("categories"),
        published=fields.get("created"), updated=fields.get("updated"), doi=fields.get("doi"),
        journal_ref=fields.get("journal-ref"), comment=comment, links=links,
        max_abstract_chars=max_abstract_chars,
    )
