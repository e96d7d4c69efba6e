"""The ``papertide`` command. Each command parses, calls one library function,
and turns papertide's named errors into one clear line and a non-zero exit."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, timedelta
from typing import Any, Callable

import click

from papertide import __version__
from papertide.errors import PapertideError
from papertide.model import canonical_id
from papertide.settings import Settings
from papertide.store import Filters, Store, open_store
from papertide.sync import SyncReport, run_sync
from papertide.sources import SOURCES, SyncRequest, get_source

log = logging.getLogger("papertide")


class Context:
    """What every command gets: resolved settings and a lazily opened store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.db)
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
@click.option("--db", envvar="PAPERTIDE_DB", help="Store: a SQLite file path (env PAPERTIDE_DB).")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
@click.version_option(__version__, prog_name="papertide")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: bool) -> None:
    """papertide: a self-hosted research-paper radar."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    ctx.obj = Context(Settings({"db": db}))
    ctx.call_on_close(lambda: ctx.obj._store and ctx.obj._store.close())


pass_context = click.make_pass_decorator(Context)


# -- ingest ------------------------------------------------------------------------
def _progress(label: str) -> Callable[[SyncReport], None]:
    """A one-line live counter on a terminal; a log line per page elsewhere."""
    tty = sys.stderr.isatty()

    def show(report: SyncReport) -> None:
        line = (f"{label}: {report.fetched:,} fetched, {report.new:,} new, {report.updated:,} updated, "
                f"{report.skipped_total:,} skipped")
        if tty:
            click.echo(f"\r\033[K{line}", err=True, nl=False)
        else:
            log.info(line)
    return show


def _report(report: SyncReport, as_json: bool) -> None:
    if sys.stderr.isatty():
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(f"{report.source}: fetched {report.fetched:,}, new {report.new:,}, updated {report.updated:,}, "
               f"unchanged {report.unchanged:,}, signals {report.signals:,}, skipped {report.skipped_total:,}")
    for reason, count in report.skipped.most_common():
        click.echo(f"  skipped {count:,}: {reason} (e.g. {report.examples[reason]})")


def _sync(obj: Context, source_name: str, request: SyncRequest, as_json: bool) -> SyncReport:
    source = get_source(source_name, obj.settings)
    report = run_sync(source, request, obj.store, on_page=_progress(source_name))
    _report(report, as_json)
    return report


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def import_(obj: Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Import JSONL files (arXiv records or Hugging Face daily items, plain or .gz)."""
    _sync(obj, "files", SyncRequest(paths=list(paths)), as_json)


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
@click.option("--set", "sets", multiple=True, help="OAI-PMH set (cs, eess, q-bio...); repeatable.")
@click.option("--date", "dates", multiple=True, help="A Hugging Face listing day; repeatable.")
@click.option("--id", "ids", multiple=True, help="An arXiv id to look up (arxiv-api); repeatable.")
@click.option("--query", help="An arXiv API search query (arxiv-api).")
@click.option("--max-results", type=click.IntRange(1), help="Stop an arxiv-api query after this many.")
@click.option("--json", "as_json", is_flag=True, help="Print each report as JSON.")
@pass_context
def sync(obj: Context, source: str, since: str | None, until: str | None, sets: tuple[str, ...],
         dates: tuple[str, ...], ids: tuple[str, ...], query: str | None, max_results: int | None,
         as_json: bool) -> None:
    """Fetch new papers from a source (default: arXiv OAI-PMH, then Hugging Face daily papers)."""
    request = SyncRequest(since=_day(since, "--from"), until=_day(until, "--until"), sets=list(sets),
                          dates=[_day(d, "--date") for d in dates], ids=list(ids), query=query,
                          max_results=max_results)
    if source == "arxiv-api" and not (ids or query):
        raise click.UsageError("arxiv-api needs --id or --query")
    if source != "all":
        _sync(obj, source, request, as_json)
        return
    # The default sources one after the other: one unreachable source does not stop the next.
    failed = []
    for name in ("arxiv-oai", "hf-daily"):
        try:
            _sync(obj, name, request, as_json)
        except PapertideError as exc:
            click.echo(f"papertide: error: {name}: {exc}", err=True)
            failed.append(name)
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
@pass_context
def search(obj: Context, query: str, limit: int, categories: tuple[str, ...], since: str | None,
           until: str | None, as_json: bool) -> None:
    """Search papers. Understands "phrases", -exclusions, author:, cat:, since:, until:."""
    from papertide.rank.search import search as run_search

    filters = Filters(categories=list(categories),
                      since=_span(since, "--since", end=False), until=_span(until, "--until", end=True))
    result = run_search(obj.store, query, filters=filters, limit=limit)
    papers = obj.store.get_many(pid for pid, _ in result.hits)
    hits = [(papers[pid], score) for pid, score in result.hits if pid in papers]
    if as_json:
        click.echo(json.dumps({"query": query, "took_ms": round(result.took_ms, 2), "mode": result.mode,
                               "results": [_result_json(p, s) for p, s in hits]}, ensure_ascii=False))
        return
    if not hits:
        click.echo("No papers match. Try fewer words, or check `papertide stats` for what is stored.")
    for rank, (paper, score) in enumerate(hits, 1):
        _print_paper_line(rank, paper, score)


def _span(value: str | None, name: str, *, end: bool) -> str | None:
    from papertide.index.query import parse_date

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
    """Show one paper by id (an arXiv id, with or without version)."""
    paper = obj.store.get(canonical_id(paper_id))
    if paper is None:
        _fail(f"no paper {paper_id!r} in the store")
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps({**asdict(paper), "url": paper.url}, ensure_ascii=False))
        return
    click.echo(click.style(paper.title, bold=True))
    click.echo(", ".join(paper.authors))
    click.echo(f"{paper.id}{'v' + str(paper.version) if paper.version else ''}  published {paper.published}"
               f"{'  updated ' + paper.updated if paper.updated else ''}  {' '.join(paper.categories)}")
    for key, value in paper.links.items():
        click.echo(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    for label, value in (("doi", paper.doi), ("journal", paper.journal_ref), ("comment", paper.comment)):
        if value:
            click.echo(f"{label}: {value}")
    click.echo("sources: " + ", ".join(f"{s} ({seen[:10]})" for s, seen in paper.sources.items()))
    click.echo("")
    click.echo(paper.abstract)


@cli.command()
@click.option("--days", default=1, show_default=True, type=click.IntRange(0), help="Added in the last N days.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--category", "categories", multiple=True, help="Only these categories.")
@pass_context
def new(obj: Context, days: int, limit: int, categories: tuple[str, ...]) -> None:
    """List the newest papers in the store."""
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


def main() -> None:
    cli(prog_name="papertide")
