"""Source plugins: where papers come from. Each turns a request into pages of records."""

from __future__ import annotations

from typing import Callable

from papertide.errors import UnknownSource
from papertide.settings import Settings
from papertide.sources.base import Page, Source, SyncRequest


def _files(settings: Settings) -> Source:
    from papertide.sources.files import FilesSource
    return FilesSource(settings)


def _arxiv_oai(settings: Settings) -> Source:
    from papertide.sources.arxiv_oai import ArxivOAISource
    return ArxivOAISource(settings)


def _arxiv_api(settings: Settings) -> Source:
    from papertide.sources.arxiv_api import ArxivAPISource
    return ArxivAPISource(settings)


def _hf_daily(settings: Settings) -> Source:
    from papertide.sources.hf_daily import HFDailySource
    return HFDailySource(settings)


def _biorxiv(settings: Settings) -> Source:
    from papertide.sources.biorxiv import BiorxivSource
    return BiorxivSource(settings, "biorxiv")


def _medrxiv(settings: Settings) -> Source:
    from papertide.sources.biorxiv import BiorxivSource
    return BiorxivSource(settings, "medrxiv")


def _pubmed(settings: Settings) -> Source:
    from papertide.sources.pubmed import PubMedSource
    return PubMedSource(settings)


SOURCES: dict[str, Callable[[Settings], Source]] = {
    "files": _files,
    "arxiv-oai": _arxiv_oai,
    "arxiv-api": _arxiv_api,
    "hf-daily": _hf_daily,
    "medrxiv": _medrxiv,
    "biorxiv": _biorxiv,
    "pubmed": _pubmed,
}


def get_source(name: str, settings: Settings) -> Source:
    """The plugin called ``name``; raises UnknownSource."""
    try:
        factory = SOURCES[name]
    except KeyError:
        raise UnknownSource(f"no source called {name!r}; choose from {', '.join(SOURCES)}") from None
    return factory(settings)


__all__ = ["Page", "SOURCES", "Source", "SyncRequest", "get_source"]
