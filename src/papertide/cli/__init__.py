"""The ``papertide`` command. Each command parses, calls one library function,
and turns papertide's named errors into one clear line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import date, timedelta
from typing import Any

import click

from papertide import __version__, progress
from papertide.errors import PapertideError
from papertide.latex import latex_to_text
from papertide.model import canonical_id
from papertide.query import parse_query
from papertide.settings import Settings
from papertide.sources import SOURCES, SyncRequest
from papertide.store import Filters, Store, open_store
from papertide.cli.ingest import embed_new, recommend_new, sync_source

log = logging.getLogger("papertide")


class Context:
    """What every command gets: resolved settings and a lazily opened store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.db, index_dir=self.settings.index_dir)
        return self._store


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"papertide: error: {message}", err=True)
    sys.exit(code)


class Group(click.Group):
    """Maps papertide errors and Ctrl-C to one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PapertideError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; everything stored so far is kept, run the command again to resume", 130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="PAPERTIDE_DB",
              help="Store: a SQLite file path or a postgresql://user@host/db URL (env PAPERTIDE_DB).")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.version_option(__version__, prog_name="papertide")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: bool) -> None:
    """papertide: a self-hosted research-paper radar."""
    # papertide's own lines at INFO; libraries (httpx, onnxruntime's quantizer, torch...) only
    # when something is wrong, unless -v asks for everything.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("papertide").setLevel(logging.DEBUG if verbose else logging.INFO)
    ctx.obj = Context(Settings({"db": db}))
    ctx.call_on_close(lambda: ctx.obj._store and ctx.obj._store.close())


pass_context = click.make_pass_decorator(Context)


# -- ingest (bodies in cli/ingest.py) ---------------------------------------------
@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def import_(obj: Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Import JSONL files (arXiv records or Hugging Face daily items, plain or .gz)."""
    sync_source(obj.store, obj.settings, "files", SyncRequest(paths=list(paths)), as_json)
    recommend_new(obj.store, obj.settings, as_json)


def _day(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-03-18", param_hint=name) from None


@cli.command()
@click.argument("source", type=click.Choice(["all", *[s for s in SOURCES if s != "files"]]), default="all")
@click.option("--from", "since", help="First day (YYYY-MM-DD); default: where the last sync ended.")
@click.option("--until", help="Last day (YYYY-MM-DD); default: today.")
@click.option("--set", "sets", multiple=True,
              help="OAI-PMH set (cs, eess, q-bio...), or a bioRxiv/medRxiv subject ('Radiology and Imaging'); "
                   "repeatable.")
@click.option("--date", "dates", multiple=True, help="A Hugging Face listing day; repeatable.")
@click.option("--id", "ids", multiple=True, help="An arXiv id to look up (arxiv-api); repeatable.")
@click.option("--query", help="A search query: arXiv API syntax (arxiv-api) or PubMed's (pubmed; default: "
                                "the pubmed_query setting).")
@click.option("--max-results", type=click.IntRange(1), help="Stop an arxiv-api query after this many.")
@click.option("--json", "as_json", is_flag=True, help="Print each report as JSON.")
@pass_context
def sync(obj: Context, source: str, since: str | None, until: str | None, sets: tuple[str, ...],
         dates: tuple[str, ...], ids: tuple[str, ...], query: str | None, max_results: int | None,
         as_json: bool) -> None:
    """Fetch new papers from a source (default: each of the sync_sources setting in turn: arXiv
    OAI-PMH, Hugging Face daily papers, medRxiv and PubMed). --from/--until backfill a span."""
    request = SyncRequest(since=_day(since, "--from"), until=_day(until, "--until"), sets=list(sets),
                          dates=[_day(d, "--date") for d in dates], ids=list(ids), query=query,
                          max_results=max_results)
    if source == "arxiv-api" and not (ids or query):
        raise click.UsageError("arxiv-api needs --id or --query")
    if source != "all":
        sync_source(obj.store, obj.settings, source, request, as_json)
        embed_new(obj.store, obj.settings, as_json)
        recommend_new(obj.store, obj.settings, as_json)
        return
    # The default sources one after the other: one unreachable source does not stop the next.
    failed = []
    for name in obj.settings.sync_sources.split():
        try:
            sync_source(obj.store, obj.settings, name, request, as_json)
        except PapertideError as exc:
            click.echo(f"papertide: error: {name}: {exc}", err=True)
            failed.append(name)
    embed_new(obj.store, obj.settings, as_json)
    recommend_new(obj.store, obj.settings, as_json)
    if failed:
        sys.exit(1)


# -- find --------------------------------------------------------------------------
def _result_json(paper: Any, score: float) -> dict[str, Any]:
    return {"id": paper.id, "title": paper.title, "authors": paper.authors, "published": paper.published,
            "score": round(score, 4), "url": paper.url, "categories": paper.categories}


def _print_paper_line(rank: int, paper: Any, score: float | None) -> None:
    authors = ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 else "")
    cats = " ".join(paper.categories[:3])
    click.echo(f"{rank:>3}. {click.style(paper.title, bold=True)}")
    extra = f"  score {score:.2f}" if score else ""
    click.echo(f"     {paper.id}  {paper.published}  {cats}  {authors}{extra}")


@cli.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--category", "categories", multiple=True, help="Only these categories (cs.CV, q-bio...).")
@click.option("--since", help="Published on or after (YYYY-MM-DD, YYYY-MM or YYYY).")
@click.option("--until", help="Published on or before.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]),
              help="Ranking: keyword, semantic or hybrid (default: hybrid when `papertide index` has run).")
@pass_context
def search(obj: Context, query: str, limit: int, categories: tuple[str, ...], since: str | None,
           until: str | None, as_json: bool, mode: str | None) -> None:
    """Search papers. Understands "phrases", -exclusions, author:, cat:, since:, until:."""
    from papertide.app.search import search as run_search

    _known_categories(obj.store, [*categories, *parse_query(query).categories])
    filters = Filters(categories=list(categories),
                      since=_span(since, "--since", end=False), until=_span(until, "--until", end=True))
    if mode is None or mode != "keyword":
        from papertide.app.semantic import run_semantic_search
        from papertide.cli.semantic import warn_keyword_only

        result = run_semantic_search(obj.store, obj.settings, query, filters=filters, limit=limit, mode=mode,
                                     note=warn_keyword_only)
    else:
        result = run_search(obj.store, query, filters=filters, limit=limit)
    papers = obj.store.get_many(pid for pid, _ in result.hits)
    hits = [(papers[pid], score) for pid, score in result.hits if pid in papers]
    if as_json:
        from papertide.snippets import mark, snippet

        click.echo(json.dumps({"query": query, "took_ms": round(result.took_ms, 2), "mode": result.mode,
                               "results": [{**_result_json(p, s),
                                            "snippet": mark(snippet(p.abstract, result.terms, 240), result.terms)}
                                           for p, s in hits]}, ensure_ascii=False))
        return
    if not hits:
        click.echo("No papers match. Try fewer words, or check `papertide stats` for what is stored.")
    for rank, (paper, score) in enumerate(hits, 1):
        _print_paper_line(rank, paper, score)


def _span(value: str | None, name: str, *, end: bool) -> str | None:
    from papertide.query import parse_date

    if value is None:
        return None
    day = parse_date(value, end=end)
    if day is None:
        raise click.BadParameter(f"{value!r} is not a date like 2025, 2025-03 or 2025-03-18", param_hint=name)
    return day


@cli.command()
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="Print the paper as JSON.")
@pass_context
def show(obj: Context, paper_id: str, as_json: bool) -> None:
    """Show one paper by id: an arXiv id (with or without version), a DOI, doi:..., or pmid:..."""
    paper = obj.store.get(canonical_id(paper_id))
    if paper is None:
        _fail(f"no paper {paper_id!r} in the store")
    history = obj.store.signal_history([paper.id], SHOWN_SIGNALS).get(paper.id, {})
    signals = {kind: {"value": series[-1][1], "at": series[-1][0]} for kind, series in history.items() if series}
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps({**asdict(paper), "url": paper.url, "signals": signals}, ensure_ascii=False))
        return
    click.echo(click.style(latex_to_text(paper.title), bold=True))
    click.echo(", ".join(paper.authors))
    click.echo(f"{paper.id}{'v' + str(paper.version) if paper.version else ''}  published {paper.published}"
               f"{'  updated ' + paper.updated if paper.updated else ''}  {' '.join(paper.categories)}")
    for key, value in paper.links.items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    for label, value in (("doi", paper.doi), ("journal", paper.journal_ref), ("comment", paper.comment),
                         ("affiliations", "; ".join(paper.affiliations))):
        if value:
            click.echo(f"{label}: {value}")
    if signals:
        click.echo("signals: " + ", ".join(f"{kind.replace('_', ' ')} {s['value']:g} (as of {s['at'][:10]})"
                                           for kind, s in signals.items()))
    click.echo("sources: " + ", ".join(f"{s} ({seen[:10]})" for s, seen in paper.sources.items()))
    click.echo("")
    click.echo(latex_to_text(paper.abstract))


@cli.command()
@click.argument("paper_ids", nargs=-1, required=True)
@pass_context
def cite(obj: Context, paper_ids: tuple[str, ...]) -> None:
    """Print papers as BibTeX entries (ids as for `show`)."""
    from papertide.cite import bibtex

    papers = [(raw, obj.store.get(canonical_id(raw))) for raw in paper_ids]
    if missing := [raw for raw, paper in papers if paper is None]:
        _fail(f"no paper {missing[0]!r} in the store")
    click.echo("\n".join(bibtex(paper) for _, paper in papers), nl=False)


SHOWN_SIGNALS = ("upvotes", "github_stars", "comments", "saves")


def _known_categories(store: Any, categories: list[str]) -> None:
    """An unknown category (a typo) is an error naming it, not an empty list."""
    if categories:
        from papertide.app.search import check_categories

        check_categories(categories, store.categories())


@cli.command()
@click.option("--days", default=1, show_default=True, type=click.IntRange(0, 36500),
              help="Published in the last N days (0: any day).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--category", "categories", multiple=True, help="Only these categories.")
@pass_context
def new(obj: Context, days: int, limit: int, categories: tuple[str, ...]) -> None:
    """List the newest papers in the store."""
    _known_categories(obj.store, list(categories))
    since = (date.today() - timedelta(days=days)).isoformat() if days else None
    hits = obj.store.recent(Filters(categories=list(categories), since=since), limit)
    if not hits:
        hits = obj.store.recent(Filters(categories=list(categories)), limit)
        if hits:
            click.echo(f"Nothing published in the last {days} day(s); the newest papers stored:")
    papers = obj.store.get_many(pid for pid, _ in hits)
    for rank, (pid, _) in enumerate(hits, 1):
        _print_paper_line(rank, papers[pid], None)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def stats(obj: Context, as_json: bool) -> None:
    """What the store holds."""
    data = obj.store.stats()
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo(f"store: {data['path']}")
    click.echo(f"papers: {data['papers']:,}   signal observations: {data['signals']:,}")
    click.echo(f"published: {data['published'][0]} .. {data['published'][1]}   last added: {data['last_added']}")
    click.echo("by source: " + ", ".join(f"{k} {v:,}" for k, v in data["by_source"].items()))
    click.echo("top categories: " + ", ".join(f"{k} {v:,}" for k, v in data["top_categories"].items()))
    for key, when in data["checkpoints"].items():
        click.echo(f"checkpoint {key}: {when}")


# -- semantic search (issue 3; bodies in cli/semantic.py) ---------------------------
@cli.command()
@click.option("--embedder", help="Embedder to use instead of the setting (static, or a model name/path).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def index(obj: Context, embedder: str | None, as_json: bool) -> None:
    """Embed title and abstract of new or changed papers (resumable; needs papertide[semantic])."""
    from papertide.cli.semantic import run_index_command

    with obj.store.job_lock("index"):
        run_index_command(obj.store, obj.settings, embedder_spec=embedder, as_json=as_json)


@cli.command()
@click.option("--keyword/--no-keyword", default=True, show_default=True, help="Rebuild the keyword index.")
@click.option("--vectors", is_flag=True, help="Also embed every paper again with the configured embedder.")
@pass_context
def reindex(obj: Context, keyword: bool, vectors: bool) -> None:
    """Rebuild the keyword index (and with --vectors the paper vectors) from the store, and give
    papers stored by an older papertide the keys that link preprints to journal versions."""
    if added := obj.store.rekey_papers():
        click.echo(f"reindex: {added:,} paper keys added (papers stored before keys existed)")
    if keyword:
        click.echo(f"reindex: keyword index rebuilt, {obj.store.reindex_keyword():,} papers")
    if vectors:
        from papertide.cli.semantic import run_index_command

        run_index_command(obj.store, obj.settings, embedder_spec=None, as_json=False, fresh=True)


@cli.command("copy-store")
@click.argument("src")
@click.argument("dst")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def copy_store_(obj: Context, src: str, dst: str, as_json: bool) -> None:
    """Copy a whole store (papers, signals, checkpoints, subscribers, outbox) from SRC to DST,
    SQLite to PostgreSQL or back; resumable (run it again after Ctrl-C or a kill); verifies
    every table's count at the end. Vectors are not copied: run `papertide index` on DST."""
    from papertide.store.copy import copy_store

    index_dir = obj.settings.index_dir
    source = open_store(src, index_dir=index_dir)
    target = open_store(dst, index_dir=index_dir)
    started = time.monotonic()

    def shown(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-9)
        left = (total - done) / rate if rate else 0
        progress.show(f"copy-store: {done:,}/{total:,} papers ({100 * done / max(total, 1):.0f}%), "
                      f"{rate:,.0f}/s, about {left:,.0f} s left")
    try:
        report = copy_store(source, target, on_batch=shown)
    finally:
        progress.finish()
        source.close()
        target.close()
    if as_json:
        click.echo(json.dumps({"papers": report.papers, "resumed_after_pk": report.resumed_after,
                               "seconds": round(report.seconds, 2), "counts": report.counts}))
        return
    resumed = f" (resumed after pk {report.resumed_after:,})" if report.resumed_after else ""
    click.echo(f"copy-store: {report.papers:,} papers copied in {report.seconds:.1f} s{resumed}, "
               f"{report.rate:,.0f} papers/s; verified: " + ", ".join(f"{t} {n:,}" for t, n in report.counts.items()))


@cli.command()
@click.option("--from", "source", help="Model to distil from (default: all-MiniLM-L6-v2).")
@pass_context
def distill(obj: Context, source: str | None) -> None:
    """Make the fast static embedder (model2vec) from the default model, on this machine."""
    from papertide.cli.semantic import run_distill_command

    run_distill_command(obj.settings, source=source)


@cli.command()
@click.argument("paper_id")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def similar(obj: Context, paper_id: str, limit: int, as_json: bool) -> None:
    """Papers most similar to one paper (by its embedding; needs `papertide index`)."""
    from papertide.cli.semantic import run_similar_command

    run_similar_command(obj.store, obj.settings, canonical_id(paper_id), limit=limit, as_json=as_json)


@cli.command("eval")
@click.argument("queries", type=click.Path(exists=True))
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]), default="hybrid", show_default=True)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(10, 1000), help="Results per query.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object of metrics.")
@pass_context
def eval_(obj: Context, queries: str, mode: str, limit: int, as_json: bool) -> None:
    """Measure search quality: MRR@10, nDCG@10, Recall@10/100, latency (JSONL queries or a BEIR folder)."""
    from papertide.cli.semantic import run_eval_command

    run_eval_command(obj, queries, mode=mode, limit=limit, as_json=as_json)


# -- trending (issue 4; bodies in cli/trending.py) ----------------------------------
@cli.command()
@click.option("--window", type=click.Choice(["day", "week", "month"]), default="day", show_default=True,
              help="Growth of the signals over this window.")
@click.option("--topic", help="Only papers matching this search (any query `papertide search` takes).")
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]),
              help="How --topic searches (default: as `papertide search` does).")
@click.option("--category", "categories", multiple=True, help="Only these categories (cs.CV, q-bio...).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many papers.")
@click.option("--at", help="As of this day (its end, UTC) or ISO time, from the observations known then.")
@click.option("--explain", is_flag=True, help="Show each signal's contribution to each score.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (contributions included).")
@pass_context
def trending(obj: Context, window: str, topic: str | None, mode: str | None, categories: tuple[str, ...],
             limit: int, at: str | None, explain: bool, as_json: bool) -> None:
    """Papers gaining attention: signal growth, log-scaled, weighted, divided by age (docs/trending.md)."""
    from papertide.cli.trending import show_trending

    _known_categories(obj.store, list(categories))
    show_trending(obj.store, obj.settings, window=window, at=at, topic=topic, categories=list(categories),
                  limit=limit, explain=explain, as_json=as_json, mode=mode)


@cli.command()
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1),
              help="How many of the newest papers with GitHub links to refresh.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def stars(obj: Context, limit: int, as_json: bool) -> None:
    """Refresh GitHub stars of linked repositories (conditional requests; PAPERTIDE_GITHUB_TOKEN if set)."""
    from papertide.cli.trending import run_stars

    run_stars(obj.store, obj.settings, limit=limit, as_json=as_json)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@pass_context
def serve(obj: Context, host: str, port: int, workers: int) -> None:
    """Serve the web site and the JSON API (/api/v1) with uvicorn."""
    from papertide.web.app import serve as run_server

    obj.store.count()  # open (and migrate) the store once here, so a bad path fails before the workers start
    click.echo(f"papertide: serving {obj.settings.db} at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    run_server(obj.settings, host=host, port=port, workers=workers)


# -- digest (issue 6; bodies in digest/commands.py) ----------------------------------
@cli.command()
@click.argument("email")
@click.option("--trending", is_flag=True, help="Follow trending papers overall.")
@click.option("--trending-in", "trending_in", multiple=True,
              help="Follow trending papers in a category; repeatable.")
@click.option("--category", "categories", multiple=True,
              help="Follow new papers in a category (cs.CV, q-bio...); repeatable.")
@click.option("--search", "searches", multiple=True,
              help="Follow a saved search (any `papertide search` query); repeatable.")
@click.option("--search-mode", type=click.Choice(["keyword", "semantic", "hybrid"]), default="keyword",
              show_default=True, help="Search mode of the saved searches (keyword when a mode is unavailable).")
@click.option("--author", "authors", multiple=True, help="Follow an author's new papers; repeatable.")
@click.option("--frequency", type=click.Choice(["daily", "weekly"]), default="daily", show_default=True)
@click.option("--hour", type=click.IntRange(0, 23), help="Local hour to send at (default: digest_hour).")
@click.option("--tz", default="UTC", show_default=True,
              help="Time zone of the hour (Europe/Paris, America/New_York...).")
@click.option("--max", "max_papers", type=click.IntRange(1, 100),
              help="Most papers per digest (default: digest_max_papers).")
@pass_context
def subscribe(obj: Context, email: str, trending: bool, trending_in: tuple[str, ...], categories: tuple[str, ...],
              searches: tuple[str, ...], search_mode: str, authors: tuple[str, ...], frequency: str,
              hour: int | None, tz: str, max_papers: int | None) -> None:
    """Ask EMAIL to confirm a digest subscription (double opt-in: nothing is sent before)."""
    from papertide.cli import digest as commands

    commands.subscribe(obj.store, obj.settings, email, trending=trending, trending_in=list(trending_in),
                       categories=list(categories), searches=list(searches), search_mode=search_mode,
                       authors=list(authors), frequency=frequency, hour=hour, tz=tz, max_papers=max_papers)


@cli.group("subscriptions")
def subscriptions_group() -> None:
    """List, confirm and remove digest subscriptions."""


@subscriptions_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def subscriptions_list(obj: Context, as_json: bool) -> None:
    """Every subscriber, what they follow and their last digest."""
    from papertide.cli import digest as commands

    commands.list_subscribers(obj.store, as_json)


@subscriptions_group.command("confirm")
@click.argument("link_or_token")
@pass_context
def subscriptions_confirm(obj: Context, link_or_token: str) -> None:
    """Confirm a subscription with its confirm link (or just the token)."""
    from papertide.cli import digest as commands

    commands.confirm(obj.store, obj.settings, link_or_token)


@subscriptions_group.command("remove")
@click.argument("email")
@pass_context
def subscriptions_remove(obj: Context, email: str) -> None:
    """Unsubscribe EMAIL and cancel its queued digests."""
    from papertide.cli import digest as commands

    commands.remove(obj.store, obj.settings, email)


@cli.group("digest")
def digest_group() -> None:
    """Compose and send the digests; preview one; see the outbox."""


@digest_group.command("run")
@click.option("--date", "day", help="Send the digest of the period holding this day (YYYY-MM-DD) to everyone "
              "who has not had it, whatever their hour; default: whoever is due now.")
@click.option("--dry-run", is_flag=True, help="Compose and count, but queue and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def digest_run(obj: Context, day: str | None, dry_run: bool, as_json: bool) -> None:
    """Queue the due digests and send the outbox (for cron; exit 75: some stay queued)."""
    from papertide.cli import digest as commands

    code = commands.run(obj.store, obj.settings, _date_of(_day(day, "--date")), dry_run, as_json)
    if code:
        sys.exit(code)


@digest_group.command("preview")
@click.argument("email")
@click.option("--date", "day", help="The period holding this day (default: today in the subscriber's zone).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file instead of printing.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML.")
@pass_context
def digest_preview(obj: Context, email: str, day: str | None, output: str | None, text: bool) -> None:
    """Show EMAIL's digest: as queued or sent if it was, else as it would be now."""
    from papertide.cli import digest as commands

    commands.show_preview(obj.store, obj.settings, email, _date_of(_day(day, "--date")), output, text)


@digest_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def digest_status(obj: Context, as_json: bool) -> None:
    """Outbox counts: queued, sent, failed, bounced; and the latest problems."""
    from papertide.cli import digest as commands

    commands.show_status(obj.store, as_json)


def _date_of(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (docs/settings.md is made this way).")
def settings_cmd(markdown: bool) -> None:
    """List every setting, its environment variable, default and help."""
    from papertide.settings import SETTINGS

    if markdown:
        click.echo("| setting | environment variable | default | what it does |\n|---|---|---|---|")
    for s in SETTINGS:
        if markdown:
            click.echo(f"| `{s.name}` | `{s.env}` | `{s.default!r}` | {s.help} |")
        else:
            click.echo(f"{s.name}  ({s.env}, default {s.default!r})\n    {s.help}")


from papertide.cli.people import (eval_recommend_cmd, library_group, recommend_cmd,  # noqa: E402
                                  users_group)

for _command in (users_group, library_group, recommend_cmd, eval_recommend_cmd):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="papertide")
