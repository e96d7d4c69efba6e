"""Turning source text into safe HTML: LaTeX shown cleanly, query words marked, snippets, sparklines.

Everything from a source is untrusted. Each function here escapes every piece of
source text itself and returns ``Markup`` only for what it built, so a template
can print the result without a ``|safe`` that would trust the source.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable, Sequence

from markupsafe import Markup, escape

from papertide.latex import latex_to_text
from papertide.model import safe_url
from papertide.snippets import snippet, term_pattern  # noqa: F401 (the pages' snippets)

# $$..$$, $..$ and \(..\) spans (not crossing a blank line), an escaped \$ is text.
_MATH = re.compile(r"(?<!\\)\$\$(.{1,400}?)(?<!\\)\$\$|(?<!\\)\$(.{1,300}?)(?<!\\)\$|\\\((.{1,300}?)\\\)", re.S)
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "times": "×", "cdot": "·", "pm": "±",
    "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼",
    "simeq": "≃", "equiv": "≡", "propto": "∝", "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "∑",
    "prod": "∏", "int": "∫", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩",
    "forall": "∀", "exists": "∃", "emptyset": "∅", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "Rightarrow": "⇒", "leftrightarrow": "↔", "mapsto": "↦", "ll": "≪", "gg": "≫", "circ": "∘", "ell": "ℓ",
    "sqrt": "√", "dots": "…", "ldots": "…", "cdots": "⋯", "langle": "⟨", "rangle": "⟩", "star": "⋆",
    "%": "%", "&": "&", "#": "#", "_": "_", "{": "{", "}": "}", "$": "$",
}
_BLACKBOARD = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "E": "𝔼", "P": "ℙ"}
_SPACING = re.compile(r"\\[,;:! ]|~")
_WRAPPERS = re.compile(r"\\(?:mathrm|mathbf|mathit|mathsf|mathtt|mathcal|mathscr|text|textbf|textit|textrm|"
                       r"operatorname|boldsymbol|bm|emph|hat|bar|tilde|vec|widetilde|widehat|overline)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_BB = re.compile(r"\\mathbb\s*\{?\s*([A-Za-z])\s*\}?")
_COMMAND = re.compile(r"\\([A-Za-z]+|[%&#_{}$])")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]*)\}|(\S))")
# A link in running text, without the punctuation that ends its sentence.
_URL = re.compile(r"https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _symbols(tex: str) -> str:
    """LaTeX commands inside math turned into Unicode; unknown commands lose their backslash."""
    tex = _SPACING.sub(" ", tex)
    for _ in range(3):  # nested wrappers, innermost first
        tex = _BB.sub(lambda m: _BLACKBOARD.get(m.group(1), m.group(1)), tex)
        tex = _FRAC.sub(r"(\1)/(\2)", tex)
        tex = _WRAPPERS.sub(r"\1", tex)
    tex = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b", "", tex)
    return _COMMAND.sub(lambda m: _SYMBOLS.get(m.group(1), m.group(1)), tex)


def _math_markup(tex: str) -> Markup:
    """One math span as escaped text with <sup>/<sub> for scripts."""
    text = _symbols(tex)
    out, last = [], 0
    for m in _SCRIPT.finditer(text):
        out.append(escape(text[last:m.start()].replace("{", "").replace("}", "")))
        tag = "sup" if m.group(1) == "^" else "sub"
        inner = m.group(2) if m.group(2) is not None else m.group(3)
        out.append(Markup(f"<{tag}>{escape(inner)}</{tag}>"))
        last = m.end()
    out.append(escape(text[last:].replace("{", "").replace("}", "")))
    return Markup('<span class="math">') + Markup("").join(out) + Markup("</span>")


def _math_plain(tex: str) -> str:
    return _symbols(tex).replace("{", "").replace("}", "")


def _spans(text: str) -> Iterable[tuple[bool, str]]:
    """(is_math, piece) in order."""
    last = 0
    for m in _MATH.finditer(text):
        if m.start() > last:
            yield False, text[last:m.start()]
        yield True, next(g for g in m.groups() if g is not None)
        last = m.end()
    if last < len(text):
        yield False, text[last:]


def _text_plain(piece: str) -> str:
    """Text outside math: LaTeX (accents, \\emph, quotes, \\href) as Unicode (papertide/latex.py)."""
    return latex_to_text(piece, math=False)


def _marked(piece: str, pattern: re.Pattern[str] | None) -> Markup:
    """Escaped text with query terms in <mark> and http(s) URLs as links."""
    piece = _text_plain(piece)
    out, last = [], 0
    for m in _URL.finditer(piece) if "://" in piece else ():
        url = safe_url(m.group(0))
        if not url:
            continue
        out.append(_terms_marked(piece[last:m.start()], pattern))
        out.append(Markup('<a href="%s" rel="nofollow noopener noreferrer">%s</a>') % (url, url))
        last = m.end()
    out.append(_terms_marked(piece[last:], pattern))
    return Markup("").join(out)


def _terms_marked(piece: str, pattern: re.Pattern[str] | None) -> Markup:
    if pattern is None:
        return escape(piece)
    out, last = [], 0
    for m in pattern.finditer(piece):
        out.append(escape(piece[last:m.start()]))
        out.append(Markup("<mark>") + escape(m.group(0)) + Markup("</mark>"))
        last = m.end()
    out.append(escape(piece[last:]))
    return Markup("").join(out)


def rich(text: str, terms: Sequence[str] = ()) -> Markup:
    """Source text as safe HTML: LaTeX spans rendered, query terms in <mark>."""
    pattern = term_pattern(terms)
    return Markup("").join(_math_markup(p) if is_math else _marked(p, pattern) for is_math, p in _spans(text or ""))


def rich_paragraphs(text: str, terms: Sequence[str] = ()) -> Markup:
    """Like ``rich``, one <p> per paragraph."""
    parts = [p for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return Markup("").join(Markup("<p>") + rich(p, terms) + Markup("</p>") for p in parts)


def plain(text: str) -> str:
    """Source text for places without markup (page titles, feeds, JSON): LaTeX as Unicode."""
    joined = "".join(_math_plain(p) if is_math else _text_plain(p) for is_math, p in _spans(text or ""))
    return _XML_INVALID.sub("", joined)


def preview(text: str, size: int = 260) -> tuple[str, bool]:
    """The first ``size`` chars of an abstract at a word boundary, and whether it was cut."""
    flat = " ".join((text or "").split())
    if len(flat) <= size:
        return flat, False
    cut = flat.rfind(" ", 0, size)
    head = flat[:cut if cut > size // 2 else size]
    if head.count("$") % 2:
        head = head[:head.rfind("$")]
    return head.rstrip(" ,.;:") + " …", True


def _timestamp(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def sparkline(series: Sequence[tuple[str, float]], label: str, width: int = 84, height: int = 22) -> Markup:
    """An inline SVG line of a signal over time (x by time), built only from numbers;
    nothing for fewer than two observations (a lone point says no more than the number)."""
    if len(series) < 2:
        return Markup("")
    times = [_timestamp(at) for at, _ in series]
    xs: list[float] = (times if all(t is not None for t in times) else list(range(len(series))))  # type: ignore[assignment]
    values = [v for _, v in series]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(values)), max(values)
    pad = 2.0

    def point(x: float, y: float) -> str:
        px = pad + (x - x0) / (x1 - x0) * (width - 2 * pad) if x1 > x0 else width - pad
        py = height - pad - ((y - y0) / (y1 - y0) * (height - 2 * pad) if y1 > y0 else 0.0)
        return f"{px:.1f},{py:.1f}"

    points = [point(x, v) for x, v in zip(xs, values, strict=True)]
    last_x, last_y = points[-1].split(",")
    summary = f"{label}: {_number(values[0])} to {_number(values[-1])} over {len(series)} observations"
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(summary)}"><title>{escape(summary)}</title>'
        f'<polyline points="{" ".join(points)}" fill="none" stroke="currentColor" stroke-width="1.5" '
        f'stroke-linejoin="round"/><circle cx="{last_x}" cy="{last_y}" r="2" fill="currentColor"/></svg>')


def chart(series: Sequence[tuple[str, float]], label: str, width: int = 560, height: int = 180) -> Markup:
    """A signal over time as an inline SVG chart: axes, the first and last day under the x axis,
    0 and the highest value beside the y axis, each observation a point with its date and value
    (hover, or a screen reader's description). Built only from numbers and dates; no script."""
    if not series:
        return Markup("")
    times = [_timestamp(at) for at, _ in series]
    if any(t is None for t in times):
        return Markup("")
    values = [float(v) for _, v in series]
    left, right, top, bottom = 48.0, 12.0, 12.0, 28.0
    x0, x1 = min(times), max(times)  # type: ignore[type-var]
    y1 = max(max(values), 1.0)

    def x(t: float) -> float:
        return left + ((t - x0) / (x1 - x0) if x1 > x0 else 1.0) * (width - left - right)

    def y(v: float) -> float:
        return height - bottom - v / y1 * (height - top - bottom)

    points = [(x(t), y(v), at, v) for t, (at, v) in zip(times, series, strict=True)]  # type: ignore[arg-type]
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
    first, last = series[0][0][:10], series[-1][0][:10]
    summary = f"{label}: {_number(values[0])} on {first} to {_number(values[-1])} on {last}, {len(series)} observations"
    dots = "".join(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3"><title>{escape(at[:16].replace("T", " "))}: '
                   f'{_number(v)}</title></circle>' for px, py, at, v in points)
    base = height - bottom
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(summary)}</title>'
        f'<g class="axes"><line x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}"/></g>'
        f'<g class="ticks"><text x="{left - 6}" y="{base}" text-anchor="end" dominant-baseline="middle">0</text>'
        f'<text x="{left - 6}" y="{top}" text-anchor="end" dominant-baseline="middle">{escape(compact(y1))}</text>'
        f'<line class="grid" x1="{left}" y1="{top}" x2="{width - right}" y2="{top}"/>'
        f'<text x="{left}" y="{height - 8}" text-anchor="start">{escape(first)}</text>'
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end">{escape(last)}</text></g>'
        f'<polyline points="{path}" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/>'
        f'<g class="points">{dots}</g></svg>')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def compact(value: float) -> str:
    """1234 -> '1.2k' for badges."""
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return _number(value)
