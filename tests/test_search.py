"""Keyword search: query parsing, the tantivy index beside the store, and hostile queries."""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from papertide.cli import cli
from papertide.model import Page, make_record
from papertide.query import parse_query
from papertide.app.search import search
from papertide.store import Filters, open_store
from papertide.store.keyword_query import KeywordParams, adjacent_pairs, build, scoring_words

PAPERS = [
    dict(id="2501.00001", title="Graph neural networks for molecules",
         abstract="We train graph neural networks on molecular graphs.",
         authors=["Ada Lovelace", "Alan Turing"], categories=["cs.LG", "q-bio.QM"], published="2025-01-10"),
    dict(id="2501.00002", title="Neural rendering of scenes",
         abstract="A neural renderer; graph structures are not used. Neural neural neural.",
         authors=["Grace Hopper"], categories=["cs.CV"], published="2025-03-05"),
    dict(id="2501.00003", title="Protein folding with diffusion",
         abstract="Diffusion models predict protein structure from graph features.",
         authors=["Ada Lovelace"], categories=["q-bio.BM"], published="2025-06-20"),
    dict(id="2501.00004", title="Language models as planners",
         abstract="Large language models plan robot tasks. Neural planners are compared.",
         authors=["Alan Turing"], categories=["cs.CL", "cs.RO"], published="2025-09-01"),
    dict(id="2501.00005", title="Schrödinger bridges for images",
         abstract="Schrödinger bridge matching transfers images between domains.",
         authors=["Émile Borel"], categories=["cs.CV"], published=""),
    dict(id="2501.00006", title="A survey of graph transformers",
         abstract="Transformers on graphs: attention over graph neighbourhoods and neural message passing.",
         authors=["Grace Hopper", "Ada Lovelace"], categories=["cs.LG"], published="2026-02-14"),
]


def add(store, *papers: dict) -> None:
    store.ingest(Page(records=[make_record(source="test", **p) for p in papers]))


@pytest.fixture
def store(new_db):
    s = open_store(new_db("papers"))
    add(s, *PAPERS)
    yield s
    s.close()


def ids(store, query: str, **kw) -> list[str]:
    return [pid for pid, _ in search(store, query, **kw).hits]


# -- parsing and query building ---------------------------------------------------
def test_parse_query_understands_every_part() -> None:
    q = parse_query('graph "neural networks" -survey -"language models" author:"Ada Lovelace" '
                    'cat:q-bio since:2025-02 until:2025 foo:bar')
    assert q.words == ["graph", "foo", "bar"]
    assert q.phrases == [["neural", "networks"]]
    assert q.excluded == [["survey"], ["language", "models"]]
    assert q.authors == [["ada", "lovelace"]]
    assert q.categories == ["q-bio"]
    assert (q.since, q.until) == ("2025-02-01", "2025-12-31")


def test_parse_query_treats_broken_syntax_as_text() -> None:
    q = parse_query('NEAR( a* since:99999 cat:"" author: - "unbalanced quote')
    assert q.phrases == [] and q.since is None and q.categories == [] and q.authors == []
    assert "unbalanced" in q.words and "near" in q.words


def test_scoring_words_keeps_stopwords_of_short_queries_only() -> None:
    assert scoring_words(parse_query("all you need")) == ["all", "you", "need"]
    long = parse_query("a method for the segmentation of tumours in the liver from ct")
    assert scoring_words(long) == ["segmentation", "tumours", "liver", "ct"]


def test_adjacent_pairs_once_in_query_order() -> None:
    assert adjacent_pairs(["graph", "neural", "networks", "graph", "neural"]) == \
        [("graph", "neural"), ("neural", "networks"), ("networks", "graph")]


def test_a_query_without_text_has_no_index_query() -> None:
    assert build(parse_query(""), Filters()) is None
    assert build(parse_query("-graph cat:cs.CV since:2025"), Filters()) is None  # listed by date instead
    assert build(parse_query("graph"), Filters()) is not None


# -- search over a real store ------------------------------------------------------
def test_field_syntax(store) -> None:
    assert ids(store, '"graph neural"') == ["2501.00001"]
    assert set(ids(store, 'graph author:"Ada Lovelace"')) == {"2501.00001", "2501.00003", "2501.00006"}
    assert set(ids(store, 'author:"Lovelace Ada"')) == set()  # an author is a phrase
    assert set(ids(store, "graph cat:q-bio")) == {"2501.00001", "2501.00003"}
    assert set(ids(store, "graph cat:CS")) == {"2501.00001", "2501.00002", "2501.00006"}
    assert set(ids(store, "graph cat:cs.lg")) == {"2501.00001", "2501.00006"}  # categories ignore case
    assert set(ids(store, "neural since:2025-03 until:2025-12")) == {"2501.00002", "2501.00004"}
    assert "2501.00005" not in ids(store, "images until:2030")  # an unknown date never passes until:
    assert set(ids(store, "neural -graph")) == {"2501.00004"}
    assert set(ids(store, 'graph -"neural networks"')) == {"2501.00002", "2501.00003", "2501.00006"}
    assert set(ids(store, "graph -lovelace")) == {"2501.00002"}  # exclusions look at authors too
    assert ids(store, "schrodinger") == ["2501.00005"]  # diacritics folded
    assert ids(store, "Schrödinger BRIDGES") == ["2501.00005"]  # ... and stems and case
    assert set(ids(store, "neural", filters=Filters(categories=["cs.CV"]))) == {"2501.00002"}


def test_scores_are_best_first_and_papers_with_every_term_lead(store) -> None:
    hits = search(store, "graph neural", limit=10).hits
    found = [pid for pid, _ in hits]
    assert set(found[:3]) == {"2501.00001", "2501.00002", "2501.00006"}
    assert set(found[3:]) == {"2501.00003", "2501.00004"}
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


PHRASE_PAPERS = [
    dict(id="2502.00001", title="Models of language and of vision",
         abstract="Language everywhere: models read language; vision models see it; language is what models read.",
         authors=["A One"], categories=["cs.CL"], published="2025-02-01"),
    dict(id="2502.00002", title="Planning with large language models",
         abstract="We plan robot tasks with large language models.", authors=["B Two"], categories=["cs.CL"], published="2025-02-02"),
    dict(id="2502.00003", title="Language of bees", abstract="How bees talk; no models here.",
         authors=["C Three"], categories=["q-bio.PE"], published="2025-02-03"),
]


def test_short_queries_score_neighbouring_words_as_a_phrase(new_db) -> None:
    s = open_store(new_db("phrase"))
    add(s, *PHRASE_PAPERS)
    # Without the pair score, the paper saying "language" and "models" most often, never side
    # by side, wins; with it, the paper that says "language models" comes first.
    plain = s.keyword_search(parse_query("language models"), Filters(), 10)
    assert plain[0][0] == "2502.00002"
    from papertide.store import keyword_query

    no_pairs = s._fresh_index().search(
        keyword_query.build(parse_query("language models"), Filters(), params=KeywordParams(pair=0)), 10)
    assert no_pairs[0][0] == "2502.00001"
    s.close()


def test_author_only_and_empty_queries(store) -> None:
    assert set(ids(store, 'author:"Grace Hopper"')) == {"2501.00002", "2501.00006"}
    assert set(ids(store, "author:borel")) == {"2501.00005"}  # names folded too (Émile Borel)
    assert ids(store, "") == ["2501.00006", "2501.00004", "2501.00003", "2501.00002", "2501.00001", "2501.00005"]
    assert ids(store, "zzzunknownword") == []
    assert ids(store, "x" * 60) == []  # a word too long to index matches nothing, not everything


def test_empty_store(new_db) -> None:
    empty = open_store(new_db("empty"))
    assert ids(empty, "graph") == [] and ids(empty, "") == [] and ids(empty, '"a b" -c cat:cs') == []
    empty.close()


def test_results_follow_updates_and_other_processes_writes(new_db, store) -> None:
    other = open_store(new_db("papers"))
    assert ids(other, "quantum") == []
    add(store, dict(id="2501.00007", title="Quantum graph kernels", abstract="Quantum kernels.",
                    authors=["Paul Dirac"], categories=["quant-ph"], published="2025-11-11"))
    assert ids(store, "quantum") == ["2501.00007"]
    assert ids(other, "quantum") == ["2501.00007"]  # another connection sees the write
    add(store, dict(PAPERS[1], title="Neural rendering of quantum scenes", version=2))  # a newer version
    assert set(ids(other, "quantum")) == {"2501.00007", "2501.00002"}
    assert ids(other, "rendering") == ["2501.00002"]  # replaced, not added twice
    other.close()


def test_missing_damaged_or_foreign_index_folders_are_rebuilt(new_db, store,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    folder = store.keyword_folder()
    assert (folder / "state.json").exists()
    store.close()
    for damage in ("remove", "garble", "foreign"):
        if damage == "remove":
            shutil.rmtree(folder)
        elif damage == "garble":
            for path in folder.iterdir():
                if path.suffix not in (".json", ".lock"):
                    path.write_bytes(b"not an index")
        else:
            state = json.loads((folder / "state.json").read_text())
            (folder / "state.json").write_text(json.dumps({**state, "store": "another"}))
        caplog.clear()
        fresh = open_store(new_db("papers"))
        assert ids(fresh, "protein") == ["2501.00003"], damage
        assert len(ids(fresh, "graph", limit=50)) == 4
        assert any("keyword index" in r.getMessage() for r in caplog.records), damage
        fresh.close()


def test_reindex_rebuilds_from_the_store(store) -> None:
    assert store.reindex_keyword() == len(PAPERS)
    assert ids(store, "protein") == ["2501.00003"]


def test_doc_freqs_count_the_papers_holding_each_word(store) -> None:
    # "graph(s)": papers 1, 2, 3, 6 (in the abstract); Schrödinger: 5
    assert store.doc_freqs(["Graphs", "graph", "schrödinger", "zzzunseen", "!!"]) == \
        {"Graphs": 4, "graph": 4, "schrödinger": 1, "zzzunseen": 0}


def test_in_memory_store_and_a_window_of_new_papers() -> None:
    mem = open_store(":memory:")
    add(mem, *PAPERS)
    assert ids(mem, "diffusion protein")[0] == "2501.00003"
    assert ids(mem, "graph", window=(3, 6)) == ["2501.00006"]  # papers 4..6 by position
    assert ids(mem, "graph", window=(6, 6)) == []
    assert ids(mem, "", window=(4, 6)) == ["2501.00006", "2501.00005"]


def test_cli_search_json_contract(new_db, store) -> None:
    result = CliRunner().invoke(cli, ["--db", new_db("papers"), "search", "--json", "protein diffusion"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"query", "took_ms", "results"} <= set(data)
    assert data["results"][0]["id"] == "2501.00003"
    assert {"id", "title", "authors", "published", "score", "url"} <= set(data["results"][0])


ADVERSARIAL = ['"', '"unbalanced', "a*", "*", "NEAR(", 'NEAR("a" "b", 2)', "'; DROP TABLE papers; --",
               "🙂🚀 graph 🙂", "author:", 'cat:""', "-", "--", "since:99999", "until:2025-02-30",
               "graph " * 400, "x" * 2000, "AND OR NOT", "title: abstract:", "\x00\x1f", "^graph",
               'author:"', "-\"\"", "cat:cs.CV,,q-bio", "(( ))", "{graph}", "graph:neural", "🧬" * 700]
QUERY_EXAMPLES = 5000 if os.environ.get("PAPERTIDE_ATTACK_LONG") == "1" else 150  # scripts/attack --long
TANTIVY_SYNTAX = ["title:x", "a AND (b", "x^99", '"a"~5', "[a TO b]", "*", "abstract:graph", "id:2501.00001",
                  "graph OR neural", "+graph -neural", "graph~2", "{a TO *}", "pk:1", "day:>0", 'cat:"cs.CV"',
                  "\\", "/regex/", "graph^-1", "IN [a b]"]


@pytest.mark.parametrize("query", ADVERSARIAL + TANTIVY_SYNTAX)
def test_adversarial_queries_never_fail(store, query: str) -> None:
    assert isinstance(search(store, query).hits, list)


def test_tantivy_syntax_is_plain_text(store) -> None:
    assert ids(store, "title:protein") == ["2501.00003"]  # 'title' and 'protein' as words
    assert ids(store, "abstract:zzz") == []  # no field named by the user
    assert set(ids(store, "graph^99")) == set(ids(store, "graph 99"))


@settings(max_examples=QUERY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=300),
                 st.lists(st.sampled_from(ADVERSARIAL + TANTIVY_SYNTAX + ["graph", "neural", '"', "-", "author:",
                                                                          "cat:", "since:", "(", ")", "*", ":",
                                                                          "NEAR", "🙂"]),
                          max_size=12).map(" ".join)))
def test_any_string_is_a_query(store, query: str) -> None:
    result = search(store, query, limit=5)
    assert isinstance(result.hits, list) and len(result.hits) <= 5
