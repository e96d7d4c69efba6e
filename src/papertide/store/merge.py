"""How a newly delivered record updates what the store already holds (pure).

The same paper from two sources, or in two versions, is one row. Metadata from
a more authoritative source (arXiv over Hugging Face), or a newer version from
the same kind of source, replaces what is there; otherwise a record only fills
fields that are still empty. Lists of links and keywords are unions, the
published date is the earliest known, the updated date the latest.
"""

from __future__ import annotations

import json
from typing import Any

from papertide.model import PaperRecord, unique

# Columns of ``papers`` that merging owns (the rest are bookkeeping).
FIELDS = ("version", "title", "abstract", "authors", "categories", "primary_category",
          "published", "updated", "doi", "journal_ref", "comment", "links", "keywords",
          "meta_source")
_REPLACEABLE = ("title", "abstract", "authors", "categories", "primary_category",
                "doi", "journal_ref", "comment")


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
        if key == "code":
            merged["code"] = unique([*old.get("code", []), *value])
        elif value and (authoritative or not merged.get(key)):
            merged[key] = value
    return {k: v for k, v in merged.items() if v}


def record_row(record: PaperRecord) -> dict[str, Any]:
    """The merge-owned columns of a brand-new paper (lists and dicts decoded)."""
    return {
        "version": record.version, "title": record.title, "abstract": record.abstract,
        "authors": list(record.authors), "categories": list(record.categories),
        "primary_category": record.primary_category, "published": record.published,
        "updated": record.updated, "doi": record.doi, "journal_ref": record.journal_ref,
        "comment": record.comment,
        "links": _merge_links({}, record.links, True), "keywords": list(record.keywords),
        "meta_source": record.source,
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


def encode(row: dict[str, Any]) -> dict[str, Any]:
    """Merge-owned columns ready for SQL: JSON for lists and dicts."""
    out = dict(row)
    for name in ("authors", "categories", "links", "keywords"):
        out[name] = json.dumps(row[name], ensure_ascii=False)
    out["author_names"] = "\n".join(row["authors"])
    return out


def decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("authors", "categories", "links", "keywords"):
        out[name] = json.loads(row[name])
    return out
