"""The one table of settings: name, default, help.

Precedence, lowest first: the default here, a ``PAPERTIDE_<NAME>`` environment
variable, then an explicit CLI option. Settings are passed around as a
``Settings`` object, never read from globals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from papertide.errors import SettingError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "PAPERTIDE_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("db", str(Path("~/.papertide/papertide.db")),
            "Store location: a SQLite file path (a postgresql:// URL is reserved for the PostgreSQL backend)."),
    Setting("arxiv_oai_url", "https://oaipmh.arxiv.org/oai", "Base URL of arXiv's OAI-PMH endpoint."),
    Setting("arxiv_api_url", "https://export.arxiv.org/api/query", "URL of arXiv's Atom query API."),
    Setting("hf_url", "https://huggingface.co", "Base URL of Hugging Face (daily papers API lives below it)."),
    Setting("arxiv_sets", "cs eess q-bio", "OAI-PMH sets harvested by default (space-separated)."),
    Setting("arxiv_categories", "cs.CV cs.CL cs.AI cs.LG eess.IV q-bio",
            "Categories kept from a default harvest (space-separated; a bare archive such as q-bio keeps all of it)."),
    Setting("sync_days", 3, "How many days back a default sync reaches on a fresh store."),
    Setting("http_timeout", 30.0, "Seconds to wait for a source before giving up on a request."),
    Setting("http_retries", 4, "How many times a request is retried after a 503/429 or a dropped connection."),
    Setting("max_retry_after", 120.0, "Longest Retry-After (seconds) a source may ask for before the sync stops."),
    Setting("polite_delay", 3.0, "Seconds between two requests to the arXiv API (arXiv asks for 3)."),
    Setting("max_abstract_chars", 20000, "Records with a longer abstract are skipped as malformed."),
    Setting("batch_size", 2000, "Records written to the store per transaction during an import."),
    Setting("arxiv_api_page_size", 100, "Entries asked of the arXiv API per request (and ids per id_list batch)."),
    Setting("hf_refetch_days", 2, "Recent Hugging Face days fetched again on every sync, since their upvotes still change."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any) -> Any:
    kind = type(setting.default)
    if isinstance(value, kind):
        return value
    try:
        if kind is bool:
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise SettingError(f"setting {setting.name} expects {kind.__name__}, got {value!r}") from exc


class Settings:
    """Resolved settings; attribute access by name (``settings.db``)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        values = {}
        for s in SETTINGS:
            value = s.default
            if s.env in environ and environ[s.env] != "":
                value = environ[s.env]
            values[s.name] = _coerce(s, value)
        for name, value in (overrides or {}).items():
            if name not in _BY_NAME:
                raise SettingError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = _coerce(_BY_NAME[name], value)
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **overrides: Any) -> "Settings":
        merged = dict(self._values)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(merged, environ={})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)
