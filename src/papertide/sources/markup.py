"""Text out of the markup biomedical sources put in titles and abstracts (HTML, MathML, JATS),
and their subjects as categories."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lxml import etree, html

_TAG = re.compile(r"<[A-Za-z/!?]")
_SLUG = re.compile(r"[^0-9a-z]+")


def text_of_markup(value: Any) -> Any:
    """``value`` with any tags (``<i>``, ``<sub>``, ``<mml:math>``...) replaced by their text and
    entities decoded; anything that is not text is returned as it is for the record's checks."""
    if not isinstance(value, str) or not _TAG.search(value):
        return value
    try:
        fragment = html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return value
    for script in fragment.xpath("//script|//style"):
        script.drop_tree()
    return fragment.text_content()


@lru_cache(maxsize=20_000)  # subjects and MeSH headings repeat from record to record
def slug(text: str) -> str:
    """'Radiology and Imaging' -> 'radiology-and-imaging'."""
    return _SLUG.sub("-", text.lower()).strip("-")


def subject_category(prefix: str, subject: Any) -> str:
    """A source's subject as a category: ('medrxiv', 'Radiology and Imaging') ->
    'medrxiv.radiology-and-imaging', so that ``cat:medrxiv`` covers all of them."""
    if not isinstance(subject, str) or not slug(subject):
        return ""
    return f"{prefix}.{slug(subject)}"
