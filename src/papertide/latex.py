"""LaTeX in titles and abstracts (arXiv's are LaTeX source) as readable Unicode text (pure).

pylatexenc does the work: accents (``M\\"uller`` -> Müller), ``\\emph{..}``, quotes
(````x''`` -> “x”), dashes, ``\\%``; ``\\href{url}{text}`` becomes "text (url)" and ``\\url{..}``
its URL, so that the pages can link them. Math is kept as written (``math=False``, for the
pages, which render it themselves) or made readable (``\\alpha`` -> α, ``x^2`` stays). Only text
holding a backslash or LaTeX quotes is converted: a medRxiv or PubMed abstract is plain text, and
its ``~`` or ``$`` mean what they say. Text pylatexenc cannot read is returned as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pylatexenc import latexwalker, macrospec
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db


def _arg(node: Any, l2tobj: Any, i: int) -> str:
    args = node.nodeargd.argnlist if node.nodeargd else []
    return l2tobj.nodelist_to_text([args[i]]).strip() if len(args) > i and args[i] is not None else ""


def _href(node: Any, l2tobj: Any) -> str:
    url, label = _arg(node, l2tobj, 0), _arg(node, l2tobj, 1)
    return f"{label} ({url})" if label and url and label != url else (label or url)


def _url(node: Any, l2tobj: Any) -> str:
    return _arg(node, l2tobj, 0)


_PARSE = latexwalker.get_default_latex_context_db()
_PARSE.add_context_category("papertide", prepend=True,
                            macros=[macrospec.MacroSpec("href", "{{"), macrospec.MacroSpec("url", "{")])
_TEXT = get_default_latex_context_db()
_TEXT.add_context_category("papertide", prepend=True, macros=[MacroTextSpec("href", simplify_repl=_href),
                                                              MacroTextSpec("url", simplify_repl=_url)])
_CONVERTERS = {math: LatexNodes2Text(latex_context=_TEXT, math_mode="text" if math else "verbatim",
                                     strict_latex_spaces=True) for math in (True, False)}


_BARE_PERCENT = re.compile(r"(?<!\\)%")


def looks_like_latex(text: str) -> bool:
    return "\\" in text or "``" in text


@lru_cache(maxsize=8192)  # pylatexenc takes a few ms per abstract; pages show the same ones again
def latex_to_text(text: str, math: bool = True) -> str:
    """``text`` with its LaTeX turned into Unicode (see the module's docstring)."""
    if not text or not looks_like_latex(text):
        return text
    # In an abstract a bare % is a percent sign, not the start of a LaTeX comment that would
    # swallow the rest of the line.
    text = _BARE_PERCENT.sub(r"\\%", text)
    try:
        nodes, _, _ = latexwalker.LatexWalker(text, latex_context=_PARSE, tolerant_parsing=True).get_latex_nodes()
        converted = _CONVERTERS[math].nodelist_to_text(nodes)
    except Exception:  # noqa: BLE001 - a parser's failure on odd source text is not the reader's problem
        return text
    return converted.replace("\xa0", " ")
