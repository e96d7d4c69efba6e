"""Code-repository links found in free text (abstracts, comments)."""

from __future__ import annotations

import re
from typing import Any

_HOSTS = r"(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org|huggingface\.co/spaces)"
_REPO_URL = re.compile(
    r"https?://(?:www\.)?(" + _HOSTS + r")/([A-Za-z0-9][\w.\-]*)/([A-Za-z0-9_.\-]+)",
    re.IGNORECASE,
)
_WRAPPED = re.compile(r"(?<=[/\-_.])\s*\n\s*")  # a URL broken at a line end
_REPO_TAIL = re.compile(r"(\.git)?[.,;:)\]]*$")
# Paths on github.com that are not user/repo pairs.
_NOT_OWNERS = {"orgs", "topics", "features", "about", "sponsors", "marketplace", "settings", "login"}


def code_links(*texts: str | None) -> list[str]:
    """Canonical ``https://host/owner/repo`` URLs mentioned in the texts, in order."""
    found: list[str] = []
    for text in texts:
        if not text:
            continue
        # arXiv abstracts wrap lines; a URL broken at a newline is rejoined first.
        for m in _REPO_URL.finditer(_WRAPPED.sub("", text) if "\n" in text else text):
            host, owner, repo = m.group(1).lower(), m.group(2), m.group(3)
            repo = _REPO_TAIL.sub("", repo)
            if not repo or owner.lower() in _NOT_OWNERS:
                continue
            url = f"https://{host}/{owner}/{repo}"
            if url.lower() not in {u.lower() for u in found}:
                found.append(url)
    return found


# Host names of every link ``code_links`` accepts. Its rejoining of wrapped lines only
# drops whitespace after '/', '-', '_' or '.', so it cannot assemble 'http' or these names.
_CODE_HOSTS = ("github", "gitlab", "bitbucket", "codeberg", "huggingface")


def _code_link_span(text: Any) -> str:
    """The part of ``text`` where ``code_links`` can find a link ('' when none can be there).

    A cheap test that spares most texts the regexes: every link needs ':/' as it is in
    the text (the rejoining of wrapped lines happens after a '/' only), 'http' and one of
    the host names, and none starts before the first 'http' (found in the lower-cased
    text, which keeps the offsets of ASCII text).
    """
    if not isinstance(text, str) or ":/" not in text:
        return ""
    if not text.isascii():
        return text  # non-ASCII letters match case-insensitively in ways str.lower() differs
    lower = text.lower()
    start = lower.find("http")
    if start < 0 or not any(host in lower for host in _CODE_HOSTS):
        return ""
    return text[start:]


def find_code_links(*texts: Any) -> list[str]:
    """``code_links(*texts)``, faster: texts that cannot hold a link are skipped."""
    spans = [span for span in map(_code_link_span, texts) if span]
    return code_links(*spans) if spans else []


def github_repo(url: str | None) -> str | None:
    """``owner/repo`` for a GitHub URL, else None."""
    if not url:
        return None
    m = _REPO_URL.match(url.strip())
    if not m or m.group(1).lower() != "github.com":
        return None
    repo = re.sub(r"(\.git)?$", "", m.group(3))
    return f"{m.group(2)}/{repo}"
