"""People (issue 15): libraries, import and export, feedback, recommendations, the CLI, the
offline evaluation. On both backends, over real arXiv papers from the shared data."""

from __future__ import annotations

import json
from pathlib import Path

import bibtexparser
from click.testing import CliRunner

from papertide.app import library as lib
from papertide.app import people
from papertide.app.recommend import for_person, update
from papertide.cli import cli

def _bib(records: list[dict], *, missing: int = 0, malformed: int = 0) -> str:
    """A BibTeX file as Zotero writes one: arXiv entries, some not stored here, some broken."""
    out = []
    for n, r in enumerate(records):
        authors = " and ".join(f"{a.split()[-1]}, {' '.join(a.split()[:-1])}" for a in r["authors"][:3])
        out.append(f"@article{{e{n},\n  title = {{{r['title']}}},\n  author = {{{authors}}},\n  year = {{2026}},\n"
                   f"  eprint = {{{r['id']}}},\n  archivePrefix = {{arXiv}},\n}}\n")
    for n in range(missing):
        out.append(f"@misc{{m{n},\n  title = {{A paper on protein folding kinetics number {n}}},\n"
                   f"  abstract = {{Protein folding kinetics measured in vitro.}},\n  author = {{Doe, Jane}},\n}}\n")
    for n in range(malformed):
        out.append(f"@article{{bad{n},\n  title = {{Unclosed brace {n},\n  year = 2026\n\n")
    return "\n".join(out)


def test_library_save_tag_note_remove_and_local_signal(people_store) -> None:
    person = people.ensure(people_store, "Ada@Example.org")
    pid = people_store.paper_texts(limit=1)[0].id
    assert lib.save(people_store, person.id, pid, tags=["to read"], note="check eq. 3")
    assert not lib.save(people_store, person.id, pid)  # saving twice keeps one entry
    [entry] = people_store.library(person.id)
    assert (entry.paper_id, entry.tags, entry.note) == (pid, ["to read"], "check eq. 3")
    assert lib.edit(people_store, person.id, pid, tags="a, b", note="")
    assert people_store.library(person.id, tag="b")[0].tags == ["a", "b"]
    history = people_store.signal_history([pid], ["saves"])
    assert history[pid]["saves"][-1][1] == 1  # the save counts for trending as a local signal
    assert lib.remove(people_store, person.id, pid) and people_store.library(person.id) == []


def test_bibtex_import_matches_keeps_unmatched_and_reports_malformed_lines(people_store, arxiv_slice) -> None:
    _, records = arxiv_slice
    person = people.ensure(people_store, "ada@example.org")
    text = _bib(records[:20], missing=3, malformed=1)
    report = lib.import_file(people_store, person.id, text.encode(), name="zotero.bib")
    assert (report.matched, report.unmatched) == (20, 3)
    assert len(report.malformed) == 1 and report.malformed[0][0] > text[:text.index("bad0")].count("\n")
    entries = people_store.library(person.id)
    assert len(entries) == 23 and sum(e.paper_id is None for e in entries) == 3
    again = lib.import_file(people_store, person.id, text.encode())
    assert again.duplicates == 23 and len(people_store.library(person.id)) == 23
    saves = people_store.signal_history([records[0]["id"]], ["saves"])[records[0]["id"]]["saves"]
    assert saves[-1][1] == 1  # importing the same file again counts no second save


def test_title_match_without_ids_and_ris_and_csl_json(people_store, arxiv_slice) -> None:
    _, records = arxiv_slice
    person = people.ensure(people_store, "ada@example.org")
    r = records[5]
    first = r["authors"][0]
    no_ids = f"@article{{x,\n  title = {{{r['title'].upper()}}},\n  author = {{{first}}},\n}}\n"
    assert lib.import_file(people_store, person.id, no_ids.encode()).matched == 1  # by normalised title
    ris = f"TY  - JOUR\nTI  - {records[6]['title']}\nAU  - {records[6]['authors'][0]}\nUR  - https://arxiv.org/abs/{records[6]['id']}\nER  - \n"
    assert lib.import_file(people_store, person.id, ris.encode(), name="x.ris").matched == 1
    csl = json.dumps([{"title": records[7]["title"], "DOI": "", "URL": f"https://arxiv.org/abs/{records[7]['id']}v2",
                       "author": [{"family": "X", "given": "Y"}]}])
    assert lib.import_file(people_store, person.id, csl.encode(), name="x.json").matched == 1
    assert {e.paper_id for e in people_store.library(person.id)} == {r["id"], records[6]["id"], records[7]["id"]}


def test_export_bibtex_reads_back_with_eprint(people_store, arxiv_slice) -> None:
    _, records = arxiv_slice
    person = people.ensure(people_store, "ada@example.org")
    lib.import_file(people_store, person.id, _bib(records[:5], missing=1).encode(), tags=["thesis"])
    parsed = bibtexparser.parse_string(lib.export_bibtex(people_store, person.id))
    assert not parsed.failed_blocks and len(parsed.entries) == 6
    eprints = {e.fields_dict["eprint"].value for e in parsed.entries if "eprint" in e.fields_dict}
    assert eprints == {r["id"] for r in records[:5]}
    one = bibtexparser.parse_string(lib.export_bibtex(people_store, person.id, paper_id=records[0]["id"]))
    assert len(one.entries) == 1 and len(bibtexparser.parse_string(lib.export_bibtex(people_store, person.id, tag="none")).entries) == 0


def test_recommendations_have_reasons_and_learn_from_feedback(people_store, arxiv_slice) -> None:
    _, records = arxiv_slice
    person = people.ensure(people_store, "ada@example.org")
    lib.import_file(people_store, person.id, _bib(records[:8]).encode())
    update(people_store, days=3650)
    recs = for_person(people_store, person, limit=10, days=3650)
    assert len(recs) == 10
    assert not {r.paper.id for r in recs} & {x["id"] for x in records[:8]}  # never what is saved
    saved_titles = {x["title"] for x in records[:8]}
    assert all(c["title"] in saved_titles for r in recs for c in r.close_to) and recs[0].close_to
    assert recs[0].reason.startswith("close to “")
    top = recs[0].paper.id
    people.rate(people_store, person, top, "down")
    assert top not in {r.paper.id for r in for_person(people_store, person, limit=50, days=3650)}  # hidden at once
    update(people_store, days=3650)  # rescored with the 👎
    assert top not in {r.paper.id for r in for_person(people_store, person, limit=200, days=3650)}


def test_delete_erases_everything_and_export_has_it(people_store, arxiv_slice) -> None:
    _, records = arxiv_slice
    ada, bob = people.ensure(people_store, "ada@example.org"), people.ensure(people_store, "bob@example.org")
    lib.import_file(people_store, ada.id, _bib(records[:3]).encode())
    lib.import_file(people_store, bob.id, _bib(records[3:4]).encode())
    people.rate(people_store, ada, records[10]["id"], "up")
    data = people.export(people_store, ada)
    assert len(data["library"]) == 3 and data["feedback"] == [{"paper_id": records[10]["id"], "value": "up"}]
    counts = people.delete(people_store, ada)
    assert counts["library"] == 3 and counts["feedback"] == 1
    assert people_store.person(email="ada@example.org") is None and people_store.library(ada.id) == []
    assert len(people_store.library(bob.id)) == 1  # the other person's data stays


def test_cli_library_recommend_and_users(db: str, people_store, arxiv_slice, tmp_path: Path) -> None:
    _, records = arxiv_slice
    bib = tmp_path / "lib.bib"
    bib.write_text(_bib(records[:6], missing=1, malformed=1))
    run = lambda *args: CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)  # noqa: E731
    out = run("library", "import", "--user", "ada@example.org", str(bib))
    assert out.exit_code == 0 and "6 matched" in out.output and "1 kept" in out.output and "1 malformed" in out.output
    listed = json.loads(run("library", "list", "--user", "ada@example.org", "--json").output)
    assert len(listed) == 7
    exported = tmp_path / "out.bib"
    assert run("library", "export", "--user", "ada@example.org", "-o", str(exported)).exit_code == 0
    assert len(bibtexparser.parse_file(str(exported)).entries) == 7
    people_store.set_feedback(people_store.person(email="ada@example.org").id, records[20]["id"], -1, "2026-12-01T00:00:00Z")
    rec = run("recommend", "--user", "ada@example.org", "--json")
    results = json.loads(rec.output)["results"]
    assert results and all(r["reason"] for r in results) and records[20]["id"] not in {r["id"] for r in results}
    assert "ada@example.org" in run("users", "list").output
    missing = CliRunner().invoke(cli, ["--db", db, "library", "list", "--user", "nobody@example.org"])
    assert missing.exit_code == 1 and missing.output.count("\n") == 1 and "Traceback" not in missing.output
    assert "Erased ada@example.org" in run("users", "delete", "ada@example.org", "--yes").output
    assert "Nobody" in run("users", "list").output


def test_eval_recommend_reports_metrics_and_baselines(db: str, people_store, arxiv_slice, tmp_path: Path) -> None:
    _, records = arxiv_slice
    days = sorted({r["first_seen"] for r in records})
    window = [days[len(days) // 2], days[-1]]
    inside = [r["id"] for r in records if window[0] <= r["first_seen"] < window[1]]
    before = [r["id"] for r in records if r["first_seen"] < window[0]]
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"qid": f"q{n}", "library": before[n * 3:n * 3 + 3], "window": window,
                                           "relevant": [inside[n]]}) + "\n" for n in range(5)))
    out = CliRunner().invoke(cli, ["--db", db, "eval-recommend", str(queries), "--json"], catch_exceptions=False)
    report = json.loads(out.output)
    assert {"mrr@100", "recall@50", "ndcg@10", "by_library_size", "baselines"} <= set(report)
    assert set(report["baselines"]) == {"random", "tfidf-centroid", "svm"}
    assert report["by_library_size"]["1-3"]["n"] == 5 and report["candidates"] == len(inside)


def test_new_papers_are_scored_for_everyone_after_an_import(db: str, people_store, arxiv_slice, tmp_path: Path) -> None:
    _, records = arxiv_slice
    person = people.ensure(people_store, "ada@example.org")
    lib.import_file(people_store, person.id, _bib(records[:6]).encode())
    update(people_store, days=3650)
    before = {pid for pid, _, _ in people_store.recommendations(person.id, 500)}
    newer = tmp_path / "new.jsonl"
    fresh = [{**r, "id": f"2612.{n:05d}", "first_seen": "2026-12-01"} for n, r in enumerate(records[10:40])]
    newer.write_text("".join(json.dumps(r) + "\n" for r in fresh))
    out = CliRunner().invoke(cli, ["--db", db, "import", str(newer)], catch_exceptions=False)
    assert out.exit_code == 0 and "recommend: 1 people given the new papers" in out.output
    after = {pid for pid, _, _ in people_store.recommendations(person.id, 500)}
    assert after - before and (after - before) <= {r["id"] for r in fresh}  # only the new papers were scored


def test_hostile_files_are_refused_or_reported_never_a_crash(people_store) -> None:
    from papertide.errors import BadInput

    person = people.ensure(people_store, "ada@example.org")
    csl = json.dumps([{"title": "Kept <b>as</b> it is", "issued": "2020", "author": "Y"}, 5, {"title": ["a"]},
                      {"title": "javascript:alert(1)", "issued": {"date-parts": "x"}, "author": [1, {"family": "Doe"}]}])
    report = lib.import_file(people_store, person.id, csl.encode(), name="x.json")
    assert (report.unmatched, len(report.malformed)) == (2, 2)
    for garbage in (b"\x00\x01\x02 not a library", b"[{]", b"TY  - JOUR\nnot closed"):
        try:
            lib.import_file(people_store, person.id, garbage)
        except BadInput as exc:
            assert str(exc)  # one clear line
    assert len(people_store.library(person.id)) == 2
