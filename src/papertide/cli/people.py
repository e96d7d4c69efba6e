"""``papertide users``, ``library``, ``recommend`` and ``eval-recommend``: people from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from papertide.app import library as lib
from papertide.app import people
from papertide.app.recommend import for_person, update
from papertide.progress import Bar

user_option = click.option("--user", "email", required=True, help="The person's email address.")


@click.group("users")
def users_group() -> None:
    """The people who sign in here (the operator's view)."""


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def users_list(obj: Any, as_json: bool) -> None:
    """Every person, with the size of their library."""
    rows = [{"email": p.email, "created_at": p.created_at, "library": len(obj.store.library(p.id)),
             "feedback": len(obj.store.feedback(p.id))} for p in obj.store.people()]
    if as_json:
        click.echo(json.dumps(rows))
    for r in [] if as_json else rows:
        click.echo(f"{r['email']}  since {r['created_at'][:10]}  {r['library']} saved, {r['feedback']} rated")
    if not rows and not as_json:
        click.echo("Nobody has signed in yet.")


@users_group.command("show")
@click.argument("email")
@click.pass_obj
def users_show(obj: Any, email: str) -> None:
    """One person's account, library, feedback and recommendations, as JSON (their data export)."""
    click.echo(json.dumps(people.export(obj.store, people.find(obj.store, email)), ensure_ascii=False, indent=1))


@users_group.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_obj
def users_delete(obj: Any, email: str, yes: bool) -> None:
    """Erase a person and everything that is theirs (library, feedback, recommendations, sessions)."""
    person = people.find(obj.store, email)
    if not yes:
        click.confirm(f"Erase {person.email} and all their data?", abort=True)
    counts = people.delete(obj.store, person)
    click.echo(f"Erased {person.email}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if k != "people"))


@click.group("library")
def library_group() -> None:
    """A person's saved papers: add, remove, list, import, export."""


@library_group.command("add")
@user_option
@click.argument("paper_ids", nargs=-1, required=True)
@click.option("--tag", "tags", multiple=True, help="Tag the papers; repeatable.")
@click.option("--note", default="", help="A note on the papers.")
@click.pass_obj
def library_add(obj: Any, email: str, paper_ids: tuple[str, ...], tags: tuple[str, ...], note: str) -> None:
    """Save papers (by id) to the library."""
    person = people.ensure(obj.store, email)
    for pid in paper_ids:
        new = lib.save(obj.store, person.id, pid, tags=list(tags), note=note)
        click.echo(f"{'saved' if new else 'already saved'}: {pid}")


@library_group.command("remove")
@user_option
@click.argument("paper_ids", nargs=-1, required=True)
@click.pass_obj
def library_remove(obj: Any, email: str, paper_ids: tuple[str, ...]) -> None:
    """Remove papers from the library."""
    person = people.find(obj.store, email)
    for pid in paper_ids:
        click.echo(f"{'removed' if lib.remove(obj.store, person.id, pid) else 'not in the library'}: {pid}")


@library_group.command("list")
@user_option
@click.option("--tag", help="Only papers with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def library_list(obj: Any, email: str, tag: str | None, as_json: bool) -> None:
    """The library, newest first."""
    entries = obj.store.library(people.find(obj.store, email).id, tag=tag)
    if as_json:
        click.echo(json.dumps([people.entry_json(e) for e in entries], ensure_ascii=False))
        return
    for e in entries:
        tags = f"  [{', '.join(e.tags)}]" if e.tags else ""
        click.echo(f"{e.paper_id or '(not stored)':<16} {e.title}{tags}")
    if not entries:
        click.echo("The library is empty.")


@library_group.command("import")
@user_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--tag", "tags", multiple=True, help="Tag every imported paper; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def library_import(obj: Any, email: str, path: str, tags: tuple[str, ...], as_json: bool) -> None:
    """Import a BibTeX (Zotero, Mendeley...), RIS or CSL-JSON file."""
    person = people.ensure(obj.store, email)
    report = lib.import_file(obj.store, person.id, Path(path).read_bytes(), name=path, tags=list(tags))
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(f"{report.matched} matched to papers here, {report.unmatched} kept as they are (not stored here), "
               f"{report.duplicates} already in the library, {len(report.malformed)} malformed")
    for line, why in report.malformed:
        click.echo(f"  line {line}: {why}", err=True)


@library_group.command("export")
@user_option
@click.option("--tag", help="Only papers with this tag.")
@click.option("--paper", "paper_id", help="Only this paper.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of printing.")
@click.pass_obj
def library_export(obj: Any, email: str, tag: str | None, paper_id: str | None, output: str | None) -> None:
    """The library (or a tag of it) as BibTeX."""
    text = lib.export_bibtex(obj.store, people.find(obj.store, email).id, tag=tag, paper_id=paper_id)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {text.count('@')} entries to {output}")
    else:
        click.echo(text, nl=False)


@click.command("recommend")
@user_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def recommend_cmd(obj: Any, email: str, limit: int, as_json: bool) -> None:
    """New papers for a person, each with the reason it is there."""
    person = people.find(obj.store, email)
    update(obj.store, emails=[person.email], days=obj.settings.recommend_days)
    recs = for_person(obj.store, person, limit=limit, days=obj.settings.recommend_days)
    if as_json:
        click.echo(json.dumps({"user": person.email, "results": [r.as_dict() for r in recs]}, ensure_ascii=False))
        return
    if not recs:
        click.echo("Nothing to recommend yet: save or import some papers (`papertide library`).")
    for n, r in enumerate(recs, 1):
        click.echo(f"{n:>3}. {r.paper.id}  {r.paper.title}\n     {r.reason}")


@click.command("eval-recommend")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object of metrics.")
@click.pass_obj
def eval_recommend_cmd(obj: Any, path: str, as_json: bool) -> None:
    """Score the recommender on an author-continuation file, beside baselines."""
    from papertide.app.recommend_eval import evaluate, read_file

    total = len(read_file(Path(path)))
    bar = Bar("eval-recommend", total, "researchers")
    try:
        report = evaluate(obj.store, Path(path), progress=bar.update_to)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report))
        return
    rows = [("papertide", report)] + list(report["baselines"].items())
    click.echo(f"{report['researchers']} researchers, {report['candidates']} candidates")
    click.echo(f"{'':16} {'MRR@100':>8} {'R@50':>7} {'nDCG@10':>8}   MRR@100 by library size 1-3 / 4-9 / 10+")
    for name, m in rows:
        by = m["by_library_size"]
        click.echo(f"{name:16} {m['mrr@100']:8.4f} {m['recall@50']:7.4f} {m['ndcg@10']:8.4f}   "
                   + " / ".join(f"{by[b]['mrr@100']:.3f}" for b in ("1-3", "4-9", "10+")))
