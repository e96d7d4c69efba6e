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
            "Store location: a SQLite file path, or a postgresql://user@host/db URL (docs/deploy.md)."),
    Setting("keyword_follow_seconds", 5.0,
            "papertide serve catches this host's keyword index up with the store this often (0: only "
            "when a search finds it behind)."),
    Setting("index_dir", str(Path("~/.papertide/index")),
            "With a PostgreSQL store: where this host keeps its keyword index (and, without "
            "secret_key, its signing key), in a folder named by the store's id."),
    Setting("arxiv_oai_url", "https://oaipmh.arxiv.org/oai", "Base URL of arXiv's OAI-PMH endpoint."),
    Setting("arxiv_api_url", "https://export.arxiv.org/api/query", "URL of arXiv's Atom query API."),
    Setting("hf_url", "https://huggingface.co", "Base URL of Hugging Face (daily papers API lives below it)."),
    Setting("biorxiv_url", "https://api.biorxiv.org", "Base URL of the bioRxiv/medRxiv API (one host for both servers)."),
    Setting("pubmed_url", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils", "Base URL of NCBI's E-utilities."),
    Setting("sync_sources", "arxiv-oai hf-daily medrxiv pubmed",
            "Sources a plain `papertide sync` fetches, in order (space-separated; add biorxiv for bioRxiv)."),
    Setting("medrxiv_categories", "",
            "medRxiv subjects fetched, as the API names them (comma-separated, e.g. 'radiology and imaging, "
            "health informatics'); empty: all."),
    Setting("biorxiv_categories", "bioinformatics",
            "bioRxiv subjects fetched, as the API names them (comma-separated); empty: all."),
    Setting("pubmed_query",
            '("artificial intelligence"[MeSH Terms] OR "machine learning"[MeSH Terms] OR "deep learning"[MeSH Terms] '
            'OR "neural networks, computer"[MeSH Terms] OR "large language model*"[Title/Abstract] OR '
            '"deep learning"[Title/Abstract] OR "machine learning"[Title/Abstract]) AND hasabstract',
            "PubMed search a sync fetches, over each day's newly entered records (docs/sources.md explains it)."),
    Setting("pubmed_tool", "papertide", "Tool name sent to NCBI with every E-utilities request (NCBI asks for it)."),
    Setting("pubmed_email", "", "Contact address sent to NCBI with every request (NCBI asks for one; empty: none)."),
    Setting("pubmed_api_key", "",
            "NCBI API key: 10 requests/s instead of 3. Never logged."),
    Setting("arxiv_sets", "cs eess q-bio", "OAI-PMH sets harvested by default (space-separated)."),
    Setting("arxiv_categories", "cs.CV cs.CL cs.AI cs.LG eess.IV q-bio",
            "Categories kept from a default harvest (space-separated; a bare archive such as q-bio keeps all of it)."),
    Setting("sync_days", 3, "How many days back a default sync reaches on a fresh store."),
    Setting("http_timeout", 30.0, "Seconds to wait for a source before giving up on a request."),
    Setting("http_retries", 4, "How many times a request is retried after a 503/429 or a dropped connection."),
    Setting("max_retry_after", 120.0, "Longest Retry-After (seconds) a source may ask for before the sync stops."),
    Setting("polite_delay", 3.0, "Seconds between two requests to the arXiv API (arXiv asks for 3)."),
    Setting("max_abstract_chars", 20000, "Records with a longer abstract are skipped as malformed."),
    Setting("batch_size", 5000, "Records written to the store per transaction during an import."),
    Setting("arxiv_api_page_size", 100, "Entries asked of the arXiv API per request (and ids per id_list batch)."),
    Setting("hf_refetch_days", 2, "Recent Hugging Face days fetched again on every sync, since their upvotes still change."),
    # -- trending (docs/trending.md explains the formula and how to tune it) --
    Setting("trending_weight_upvotes", 1.0, "Trending weight of Hugging Face upvotes gained in the window."),
    Setting("trending_weight_comments", 0.5, "Trending weight of Hugging Face comments gained in the window."),
    Setting("trending_weight_github_stars", 0.5, "Trending weight of GitHub stars gained in the window."),
    Setting("trending_weight_hf_featured", 1.0, "Trending weight of being featured in Hugging Face daily papers."),
    Setting("trending_weight_saves", 1.0, "Trending weight of saves by papertide's own users."),
    Setting("trending_weight_clicks", 0.25, "Trending weight of clicks by papertide's own users."),
    Setting("trending_weight_digest_opens", 0.5, "Trending weight of digest opens of a paper."),
    Setting("trending_gravity", 1.0, "How fast trending forgets old papers: the power of (1 + age / age scale)."),
    Setting("trending_age_scale_days", 7.0, "Age, in days, at which a paper's trending score is divided by 2^gravity."),
    Setting("trending_window_day", 1, "Length in days of the trending 'day' window."),
    Setting("trending_window_week", 7, "Length in days of the trending 'week' window."),
    Setting("trending_window_month", 30, "Length in days of the trending 'month' window."),
    Setting("trending_topic_limit", 1000, "How many search hits a trending --topic considers."),
    Setting("github_url", "https://api.github.com", "Base URL of the GitHub REST API (for repository stars)."),
    Setting("github_token", "", "GitHub token sent as a Bearer header (5,000 requests/hour instead of 60); never logged."),
    Setting("github_max_wait", 60.0, "Longest wait (seconds) for GitHub's rate limit to reset before `stars` stops."),
    # -- semantic and hybrid search (docs/semantic.md) --
    Setting("embedder", "all-MiniLM-L6-v2",
            "Embedding model: 'static' (distilled by `papertide distill`) or any sentence-transformers name or path."),
    Setting("embedder_documents", "auto",
            "Model that embeds the papers when it differs from the query model `embedder`: 'auto' takes the "
            "known pair (ncbi/MedCPT-Query-Encoder -> ncbi/MedCPT-Article-Encoder), 'none' the same model, "
            "else a name or path."),
    Setting("embed_query_prefix", "auto",
            "Text put before each query before embedding it: 'auto' the model's known instruction "
            "(bge, e5; docs/semantic.md), 'none' nothing, else this text."),
    Setting("embed_document_prefix", "auto",
            "Text put before each paper's title and abstract before embedding: 'auto' the model's known one "
            "(e5: 'passage: '), 'none' nothing, else this text. Changing it re-embeds."),
    Setting("models_dir", str(Path("~/.papertide/models")),
            "Folder for models papertide makes itself (the static embedder, the ONNX query encoder)."),
    Setting("embed_batch_size", 64, "Texts per batch given to the embedding model while indexing."),
    Setting("embed_query_threads", 1,
            "Threads (torch or onnxruntime) that embed one search query (0: as many as for indexing; "
            "more than 1 is slower under load)."),
    Setting("query_encoder", "auto",
            "How searches embed a query: 'auto' with the 8-bit ONNX model that `papertide index` exports "
            "(onnxruntime, no torch: fastest, least memory), 'onnx' with the exact ONNX export, each falling "
            "back to torch when there is none; 'torch' always with sentence-transformers."),
    Setting("embed_max_tokens", 256, "Longest text, in model tokens, an embedder reads (title and start of the abstract)."),
    Setting("hybrid_keyword_weight", 0.9, "Weight of the min-max-normalised keyword score in hybrid search (the rest is cosine)."),
    Setting("hybrid_candidates", 150, "Candidates taken from each of keyword and semantic search before hybrid fusion."),
    Setting("hybrid_feedback_docs", 0,
            "Hybrid search adds the mean vector of this many top keyword hits to the query vector (0: off)."),
    Setting("query_cache", 1024,
            "Query vectors kept per embedder, so a repeated query (the next page, a popular topic) skips the model (0: off)."),
    Setting("recommend_days", 30, "Recommendations come from the papers published in this many last days."),
    Setting("session_days", 30, "How long a sign-in lasts on one browser."),
    Setting("signin_expiry_minutes", 30, "How long a mailed sign-in link works (once)."),
    Setting("embed_every_seconds", 300.0,
            "papertide serve embeds new papers in the background (at the lowest CPU priority) this often when "
            "the semantic extra is installed (0: never; run `papertide index` instead)."),
    Setting("ann_threshold", 50000, "From this many vectors on, `index` builds an HNSW index and search uses it (0: never)."),
    # -- web site and API (docs/web.md) --
    Setting("base_url", "", "Public address of the site (feed and email links); empty: feeds take the request's "
            "host when it is one of allowed_hosts, mail points at http://127.0.0.1:8000."),
    Setting("allowed_hosts", "localhost,127.0.0.1,[::1]",
            "Without base_url: the Host names whose requests may build absolute feed links (comma-separated)."),
    Setting("forwarded_allow_ips", "",
            "Addresses of reverse proxies whose X-Forwarded-For / -Proto headers are trusted (comma-separated; "
            "empty: none, so a forged header cannot dodge a rate limit)."),
    Setting("secret_key", "",
            "Key that signs forms (CSRF) and every mailed link; empty: a random key made once in its own "
            "0600 file beside the store (<db>.secret). Never logged."),
    Setting("web_threads", 4, "Threads per web worker (they share the worker's one store, one call at a time)."),
    Setting("web_cache_seconds", 60,
            "Seconds a web worker reuses trending lists, trending pages and similar papers before asking the store again."),
    Setting("web_page_size", 20, "Papers per page on the site and by default in the API."),
    Setting("web_max_body_bytes", 65536, "Largest request body the site accepts (larger: 413)."),
    Setting("web_max_import_bytes", 20_000_000,
            "Largest library file (BibTeX, RIS, CSL-JSON) the site's import takes (larger: 413)."),
    Setting("rate_limit_search", 600,
            "Search, similar-paper and search-feed requests per client per minute (0: no limit)."),
    Setting("rate_limit_signin", 6, "Sign-in mails per client per minute; half as many per address (0: no limit)."),
    Setting("rate_limit_subscribe", 5, "Subscription requests and changes per client per minute (0: no limit)."),
    # -- daily digest (docs/digest.md) --
    Setting("smtp_host", "127.0.0.1", "SMTP server that sends digests and confirmation mails."),
    Setting("smtp_port", 25, "Port of the SMTP server (25; 587 with starttls; 465 with ssl)."),
    Setting("smtp_user", "", "SMTP login; empty: no authentication."),
    Setting("smtp_password", "", "SMTP password; never logged or printed."),
    Setting("smtp_tls", "none", "Encryption to the SMTP server: none, starttls or ssl."),
    Setting("smtp_from", "papertide <papertide@localhost>", "From address of digests and confirmation mails."),
    Setting("smtp_timeout", 30.0, "Seconds to wait for the SMTP server before a try counts as failed."),
    Setting("smtp_rate_per_second", 0.0, "Most messages sent per second (0: as fast as the server takes them)."),
    Setting("smtp_messages_per_connection", 100, "Messages sent over one SMTP connection before reconnecting."),
    Setting("smtp_retry_base", 30.0, "Wait (seconds) after a first transient SMTP failure; doubles with each try."),
    Setting("smtp_max_attempts", 8, "Tries of one message before it is marked failed."),
    Setting("smtp_retry_wait", 300.0,
            "Longest a `digest run` waits for retries before leaving messages queued for the next run."),
    Setting("digest_send_empty", False, "Send a digest even when nothing new matches (otherwise it is skipped)."),
    Setting("digest_max_papers", 20, "Default most papers in one digest (a subscriber may choose 1-100)."),
    Setting("digest_hour", 7, "Default local hour at which a digest is sent."),
    Setting("digest_max_age_days", 30, "Papers published longer ago than this are not news in a digest (0: no limit)."),
    Setting("digest_keep_days", 7, "Days the exact bytes of a sent message are kept in the outbox (the row stays)."),
    Setting("confirm_expiry_hours", 72, "Hours a confirmation link is valid; unconfirmed requests are then forgotten."),
    Setting("manage_link_days", 30, "Days a manage link from a digest stays valid (unsubscribe links never expire)."),
    Setting("digest_scheduler", True, "Run due digests once a minute inside `papertide serve` (off: use cron's `digest run`)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting_default(name: str) -> Any:
    """The default of one setting."""
    return _BY_NAME[name].default


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
