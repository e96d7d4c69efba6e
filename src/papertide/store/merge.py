"""How a newly delivered record updates what the store already holds (pure).

The same paper from two sources, or in two versions, is one row. Metadata from
a more authoritative source (arXiv over Hugging Face), or a newer version from
the same kind of source, replaces what is there; otherwise a record only fills
fields that are still empty. Lists of links and keywords are unions, the
published date is the earliest known, the updated date the latest.
"""

from __future__ import annotations

from typing import Any

import orjson

from papertide.model import PaperRecord, unique

# Columns of ``papers`` that merging owns (the rest are bookkeeping).
FIELDS = ("version", "title", "abstract", "authors", "categories", "primary_category",
          "published", "updated", "doi", "journal_ref", "comment", "links", "keywords",
          "meta_source", "affiliations")
_JSON = frozenset(("authors", "categories", "links", "keywords", "affiliations"))
_UNION_LINKS = ("code", "versions")  # lists of links every source adds to
_REPLACEABLE = ("title", "abstract", "authors", "categories", "primary_category",
                "doi", "journal_ref", "comment", "affiliations")


def source_rank(source: str) -> int:
    """arXiv's own metadata beats aggregators'."""
    return 2 if "arxiv" in source else 1


def _newer(record: PaperRecord, row: dict[str, Any]) -> bool:
    rank, row_rank = source_rank(record.source), source_rank(row["meta_source"])
    if rank != row_rank:
        return rank > row_rank
    if record.version is not None and row["version"] is not None and record.version != row["version"]:
        return record.version > row["version"]
    if record.version is not None and row["version"] is None:
        return True
    return bool(record.updated) and record.updated > row["updated"]


def _merge_links(old: dict[str, Any], new: dict[str, Any], authoritative: bool) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if key in _UNION_LINKS:
            merged[key] = unique([*old.get(key, []), *value])
        elif value and (authoritative or not merged.get(key)):
            merged[key] = value
    return {k: v for k, v in merged.items() if v}


def _new_links(links: dict[str, Any]) -> dict[str, Any]:
    """``_merge_links({}, links, True)``, the common case, without its copying."""
    out = {}
    for key, value in links.items():
        if key in _UNION_LINKS:
            value = unique(value)
        if value:
            out[key] = value
    return out


def record_row(record: PaperRecord) -> dict[str, Any]:
    """The merge-owned columns of a brand-new paper (lists and dicts decoded)."""
    return {
        "version": record.version, "title": record.title, "abstract": record.abstract,
        "authors": list(record.authors), "categories": list(record.categories),
        "primary_category": record.primary_category, "published": record.published,
        "updated": record.updated, "doi": record.doi, "journal_ref": record.journal_ref,
        "comment": record.comment,
        "links": _new_links(record.links), "keywords": list(record.keywords),
        "meta_source": record.source, "affiliations": list(record.affiliations),
    }


def merge(row: dict[str, Any], record: PaperRecord) -> dict[str, Any]:
    """The row after ``record`` is applied; equal to ``row`` when nothing changes."""
    new = record_row(record)
    authoritative = _newer(record, row)
    merged = dict(row)
    for name in _REPLACEABLE:
        if new[name] and (authoritative or not row[name]):
            merged[name] = new[name]
    if authoritative:
        merged["meta_source"] = record.source
        if record.version is not None:
            merged["version"] = record.version
    merged["published"] = min(d for d in (row["published"], new["published"]) if d) \
        if row["published"] or new["published"] else ""
    merged["updated"] = max(row["updated"], new["updated"])
    merged["links"] = _merge_links(row["links"], new["links"], authoritative)
    merged["keywords"] = unique([*row["keywords"], *new["keywords"]])
    return merged


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def encode_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """The columns ``FIELDS`` then ``author_names``, ready for SQL, as one tuple."""
    # Spelled out rather than looped over FIELDS: this runs for every paper written (a test checks the order).
    return (row["version"], row["title"], row["abstract"], _dumps(row["authors"]), _dumps(row["categories"]),
            row["primary_category"], row["published"], row["updated"], row["doi"], row["journal_ref"],
            row["comment"], _dumps(row["links"]), _dumps(row["keywords"]), row["meta_source"],
            _dumps(row["affiliations"]), "\n".join(row["authors"]))


def new_values(record: PaperRecord) -> tuple[Any, ...]:
    """``encode_values(record_row(record))`` without the dict between them: the columns of
    a paper written for the first time, the case of nearly every paper of an import."""
    return (record.version, record.title, record.abstract, _dumps(record.authors), _dumps(record.categories),
            record.primary_category, record.published, record.updated, record.doi, record.journal_ref,
            record.comment, _dumps(_new_links(record.links)), _dumps(record.keywords), record.source,
            _dumps(record.affiliations), "\n".join(record.authors))


def decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _JSON:
        out[name] = orjson.loads(row[name])
    return out
