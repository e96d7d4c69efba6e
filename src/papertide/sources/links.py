"""Code-repository links found in free text (abstracts, comments)."""

from __future__ import annotations

import re

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


def github_repo(url: str | None) -> str | None:
    """``owner/repo`` for a GitHub URL, else None."""
    if not url:
        return None
    m = _REPO_URL.match(url.strip())
    if not m or m.group(1).lower() != "github.com":
        return None
    repo = re.sub(r"(\.git)?$", "", m.group(3))
    return f"{m.group(2)}/{repo}"
